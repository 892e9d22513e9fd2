// Markov1 owns the first-order Markov baseline: p(next | last action), counted over all accounts, smoothed toward the global frequencies.
import { byAccount, type ActionEvent } from './ActionEvent.js';
import { sortPredictions, type Prediction, type Predictor, type PredictorFactory, type PredictorJSON } from './Predictor.js';
import { Unigram } from './Unigram.js';

/** pseudo-counts of the smoothing toward the global frequencies, and the add-α of those frequencies (OnlineMarkov1 uses the same) */
export const MARKOV_PRIOR = 1;
export const UNIGRAM_ALPHA = 0.5;

/**
 * p(n | l) = (c(l, n) + prior · u(n)) / (c(l) + prior): transition counts with additive smoothing whose pseudo-counts
 * follow the global frequencies u (an action never seen after l keeps a little probability; a last action never
 * seen in training, or no history at all, gives u itself).
 */
export class Markov1 implements Predictor {
  readonly kind = 'markov1';
  constructor(readonly unigram: Unigram, readonly transitions: Record<string, Record<string, number>>, readonly prior = MARKOV_PRIOR) {}

  /** The distribution after `last` (undefined: no history), as a map over the training vocabulary. */
  distribution(last: string | undefined): Map<string, number> {
    const row = last === undefined ? undefined : this.transitions[last];
    if (!row) return new Map(this.unigram.p);
    let total = 0;
    for (const c of Object.values(row)) total += c;
    const den = total + this.prior;
    const m = new Map<string, number>();
    for (const [a, p] of this.unigram.p) m.set(a, ((row[a] ?? 0) + this.prior * p) / den);
    return m;
  }

  predict(history: readonly ActionEvent[], limit?: number): Prediction[] {
    return sortPredictions(this.distribution(history[history.length - 1]?.action), limit);
  }

  toJSON(): PredictorJSON {
    return { kind: this.kind, unigram: this.unigram.toJSON(), transitions: this.transitions, prior: this.prior };
  }

  static fit(events: readonly ActionEvent[], prior = MARKOV_PRIOR): Markov1 {
    const t: Record<string, Record<string, number>> = {};
    for (const seq of byAccount(events).values()) {
      for (let i = 1; i < seq.length; i++) {
        const row = (t[seq[i - 1]!.action] ??= {});
        row[seq[i]!.action] = (row[seq[i]!.action] ?? 0) + 1;
      }
    }
    return new Markov1(Unigram.fit(events, UNIGRAM_ALPHA), t, prior);
  }

  static load(json: PredictorJSON): Markov1 {
    const u = json.unigram as { counts: Record<string, number>; alpha: number };
    return new Markov1(new Unigram(u.counts, u.alpha), json.transitions as Record<string, Record<string, number>>, json.prior as number);
  }
}

export const markov1Factory: PredictorFactory = {
  kind: 'markov1',
  description: 'first-order Markov chain over actions (all accounts pooled), smoothed toward global frequencies',
  train: (events) => Markov1.fit(events),
  load: (json) => Markov1.load(json),
};
