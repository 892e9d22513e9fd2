// MostFrequent owns the most-frequent-action baseline: the account's own action counts in its history, backed off to global ones.
import type { ActionEvent } from './ActionEvent.js';
import { HISTORY_WINDOW } from './features.js';
import { sortPredictions, type Prediction, type Predictor, type PredictorFactory, type PredictorJSON } from './Predictor.js';
import { Unigram } from './Unigram.js';

/** p(a) = (count of a in the account's window + prior · global p(a)) / (window size + prior). */
export class MostFrequent implements Predictor {
  readonly kind = 'most-frequent';
  constructor(readonly unigram: Unigram, readonly prior = 1) {}

  predict(history: readonly ActionEvent[], limit?: number): Prediction[] {
    const win = history.slice(Math.max(0, history.length - HISTORY_WINDOW));
    const counts = new Map<string, number>();
    for (const e of win) counts.set(e.action, (counts.get(e.action) ?? 0) + 1);
    const den = win.length + this.prior;
    const m = new Map<string, number>();
    for (const [a, p] of this.unigram.p) m.set(a, (this.prior * p) / den);
    for (const [a, c] of counts) m.set(a, (m.get(a) ?? 0) + c / den);
    return sortPredictions(m, limit);
  }

  toJSON(): PredictorJSON {
    return { kind: this.kind, unigram: this.unigram.toJSON(), prior: this.prior };
  }
}

export const mostFrequentFactory: PredictorFactory = {
  kind: 'most-frequent',
  description: "the account's most frequent action in its window, falling back to the global frequencies",
  train(events) {
    return new MostFrequent(Unigram.fit(events));
  },
  load(json) {
    const u = json.unigram as { counts: Record<string, number>; alpha: number };
    return new MostFrequent(new Unigram(u.counts, u.alpha), json.prior as number);
  },
};
