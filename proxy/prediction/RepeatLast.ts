// RepeatLast owns the repeat-the-last-action baseline: p(last) = the training log's repeat rate, the rest by global frequency.
import { byAccount, type ActionEvent } from './ActionEvent.js';
import { sortPredictions, type Prediction, type Predictor, type PredictorFactory, type PredictorJSON } from './Predictor.js';
import { Unigram } from './Unigram.js';

export class RepeatLast implements Predictor {
  readonly kind = 'repeat-last';
  /** `repeatRate`: share of training events equal to the account's previous event */
  constructor(readonly unigram: Unigram, readonly repeatRate: number) {}

  predict(history: readonly ActionEvent[], limit?: number): Prediction[] {
    const last = history[history.length - 1]?.action;
    const m = new Map(this.unigram.p);
    if (last === undefined) return sortPredictions(m, limit);
    const rest = 1 - (m.get(last) ?? 0);
    for (const [a, p] of m) m.set(a, rest > 0 ? ((1 - this.repeatRate) * p) / rest : 0);
    m.set(last, this.repeatRate);
    return sortPredictions(m, limit);
  }

  toJSON(): PredictorJSON {
    return { kind: this.kind, unigram: this.unigram.toJSON(), repeatRate: this.repeatRate };
  }
}

export const repeatLastFactory: PredictorFactory = {
  kind: 'repeat-last',
  description: 'the account repeats its last action',
  train(events) {
    let repeats = 0;
    let pairs = 0;
    for (const seq of byAccount(events).values()) {
      for (let i = 1; i < seq.length; i++, pairs++) if (seq[i]!.action === seq[i - 1]!.action) repeats++;
    }
    // add-one so that a log without repeats (or without pairs) still leaves the last action a little probability
    return new RepeatLast(Unigram.fit(events), (repeats + 1) / (pairs + 2));
  },
  load(json) {
    const u = json.unigram as { counts: Record<string, number>; alpha: number };
    return new RepeatLast(new Unigram(u.counts, u.alpha), json.repeatRate as number);
  },
};
