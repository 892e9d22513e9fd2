// evaluate owns the offline evaluation: a time-ordered split per account, every model trained on the head and scored on the tail.
import { byAccount, collapseRepeats, type ActionEvent } from './ActionEvent.js';
import { builtinPredictors } from './builtinPredictors.js';
import { ForestPredictor } from './ForestPredictor.js';
import { HISTORY_WINDOW } from './features.js';
import { ScoreBoard, type Scores } from './metrics.js';
import type { Prediction, Predictor, PredictorFactory, TrainOptions } from './Predictor.js';

export interface EvalOptions {
  /** share of each account's events (its earliest) used for training */
  trainShare: number;
  factories: readonly PredictorFactory[];
  train: TrainOptions;
}

export const EVAL_DEFAULTS: EvalOptions = { trainShare: 0.7, factories: builtinPredictors, train: {} };

export interface ModelReport extends Scores {
  trainMs: number;
  /** mean µs per predict() call (one history at a time, as the proxy calls it) */
  predictUs: number;
}

export interface SplitReport {
  events: number;
  accounts: number;
  trainEvents: number;
  testEvents: number;
  vocabulary: number;
  /** the test events whose action never occurs in the training part (no model can get them right) */
  unseenTestActions: number;
  models: Record<string, ModelReport>;
  /** forest only: the fitted blend weight and temperature */
  forestCalibration?: ForestPredictor['calibration'];
}

/** Splits each account's events in time order: the first `share` train, the rest test. */
export function splitByAccount(events: readonly ActionEvent[], share: number): { train: ActionEvent[]; test: { account: string; seq: ActionEvent[]; from: number }[] } {
  const train: ActionEvent[] = [];
  const test: { account: string; seq: ActionEvent[]; from: number }[] = [];
  for (const [account, seq] of byAccount(events)) {
    const cut = Math.floor(seq.length * share);
    train.push(...seq.slice(0, cut));
    if (cut < seq.length) test.push({ account, seq, from: cut });
  }
  return { train, test };
}

/** Trains every model on the head of each account and scores it on the tail. */
export function evaluateSplit(events: readonly ActionEvent[], options: Partial<EvalOptions> = {}): SplitReport {
  const o = { ...EVAL_DEFAULTS, ...options };
  const { train, test } = splitByAccount(events, o.trainShare);
  const seen = new Set(train.map((e) => e.action));
  const cases: { history: ActionEvent[]; actual: string }[] = [];
  for (const { seq, from } of test) {
    for (let i = from; i < seq.length; i++) cases.push({ history: seq.slice(Math.max(0, i - HISTORY_WINDOW), i), actual: seq[i]!.action });
  }
  const report: SplitReport = {
    events: events.length,
    accounts: byAccount(events).size,
    trainEvents: train.length,
    testEvents: cases.length,
    vocabulary: new Set(events.map((e) => e.action)).size,
    unseenTestActions: cases.filter((c) => !seen.has(c.actual)).length,
    models: {},
  };
  for (const f of o.factories) {
    const t0 = performance.now();
    const model = f.train(train, o.train);
    const trainMs = performance.now() - t0;
    const board = new ScoreBoard();
    const predictions: Prediction[][] = model instanceof ForestPredictor ? model.predictMany(cases.map((c) => c.history)) : cases.map((c) => model.predict(c.history));
    cases.forEach((c, k) => board.add(predictions[k]!, c.actual));
    report.models[modelKey(f.kind)] = { ...board.scores(), trainMs: Math.round(trainMs), predictUs: predictCost(model, cases.map((c) => c.history)) };
    if (model instanceof ForestPredictor) report.forestCalibration = model.calibration;
  }
  return report;
}

/** JSON key of a model kind: `repeat-last` → `repeatLast`. */
export function modelKey(kind: string): string {
  return kind.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}

/**
 * µs of one predict() call: the mean over up to 500 of the histories, best of three passes after a warm-up (the
 * machine is shared: the best pass is the one least disturbed by other processes).
 */
function predictCost(model: Predictor, histories: readonly (readonly ActionEvent[])[]): number {
  const hs = histories.slice(0, 500);
  if (hs.length === 0) return NaN;
  for (const h of hs.slice(0, 50)) model.predict(h);
  let best = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    for (const h of hs) model.predict(h);
    best = Math.min(best, ((performance.now() - t0) * 1000) / hs.length);
  }
  return Math.round(best * 10) / 10;
}

export interface EvalReport extends SplitReport {
  source: string;
  trainShare: number;
  /** the same evaluation after collapsing repeated identical consecutive actions of an account */
  collapsed: SplitReport;
}

export function evaluate(events: readonly ActionEvent[], source: string, options: Partial<EvalOptions> = {}): EvalReport {
  const o = { ...EVAL_DEFAULTS, ...options };
  return { source, trainShare: o.trainShare, ...evaluateSplit(events, o), collapsed: evaluateSplit(collapseRepeats(events), o) };
}
