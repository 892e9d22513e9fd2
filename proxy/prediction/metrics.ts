// metrics owns the scores of a probabilistic next-action predictor: top-k accuracy, log loss, expected calibration error.
import type { Prediction } from './Predictor.js';

/** The floor of p(true action) in the log loss (an action the model never saw would otherwise cost infinity). */
export const LOG_LOSS_FLOOR = 1e-6;
export const ECE_BINS = 10;

export interface Scores {
  /** predictions scored */
  n: number;
  top1: number;
  top3: number;
  /** mean −ln max(p(true action), LOG_LOSS_FLOOR), nats */
  logLoss: number;
  /** expected calibration error of the top-1 prediction over ECE_BINS equal-width confidence bins */
  ece: number;
  /** mean probability of the top-1 prediction (compare with top1: over- or under-confidence) */
  meanConfidence: number;
}

/** Accumulates one model's predictions against what happened. */
export class ScoreBoard {
  private n = 0;
  private hit1 = 0;
  private hit3 = 0;
  private loss = 0;
  private conf = 0;
  private readonly binConf = new Float64Array(ECE_BINS);
  private readonly binHits = new Float64Array(ECE_BINS);
  private readonly binCount = new Float64Array(ECE_BINS);

  /** `predictions`: most probable first (as Predictor.predict returns them); `actual`: the action that came next. */
  add(predictions: readonly Prediction[], actual: string): void {
    this.n++;
    const top = predictions[0];
    const hit = top?.action === actual;
    if (hit) this.hit1++;
    if (predictions.slice(0, 3).some((p) => p.action === actual)) this.hit3++;
    const p = predictions.find((x) => x.action === actual)?.p ?? 0;
    this.loss -= Math.log(Math.max(LOG_LOSS_FLOOR, p));
    const c = top?.p ?? 0;
    this.conf += c;
    const b = Math.min(ECE_BINS - 1, Math.floor(c * ECE_BINS));
    this.binConf[b]! += c;
    this.binCount[b]!++;
    if (hit) this.binHits[b]!++;
  }

  scores(): Scores {
    const n = this.n;
    let ece = 0;
    for (let b = 0; b < ECE_BINS; b++) {
      const k = this.binCount[b]!;
      if (k > 0) ece += (k / n) * Math.abs(this.binHits[b]! / k - this.binConf[b]! / k);
    }
    return n === 0
      ? { n: 0, top1: NaN, top3: NaN, logLoss: NaN, ece: NaN, meanConfidence: NaN }
      : { n, top1: this.hit1 / n, top3: this.hit3 / n, logLoss: this.loss / n, ece, meanConfidence: this.conf / n };
  }
}
