// Predictor owns the next-action predictor interface every model implements, and the registry a plugin adds models to.
import type { ActionEvent } from './ActionEvent.js';

/** One possible next action and its probability. */
export interface Prediction {
  action: string;
  p: number;
}

/** A predictor as stored in a model file: `kind` names the factory that loads it, the rest is the model's own. */
export interface PredictorJSON {
  kind: string;
  [field: string]: unknown;
}

/**
 * A next-action model. `predict` is pure and synchronous (the proxy calls it on the event loop or in a worker):
 * given one account's events, oldest first (only the latest HISTORY_WINDOW are used; an empty history is a new
 * account), it returns the probability of each action the model knows as the account's next action, most probable
 * first, probabilities summing to 1 over all of them (an action missing from the full list has probability 0 for
 * this model). `limit`: only the `limit` most probable (the prefetcher wants a few; cheaper).
 */
export interface Predictor {
  readonly kind: string;
  predict(history: readonly ActionEvent[], limit?: number): Prediction[];
  toJSON(): PredictorJSON;
}

/** Training knobs every factory accepts (a factory may ignore them). */
export interface TrainOptions {
  /** seed for anything random (sampling, bagging) */
  seed?: number;
  /** bound on the training rows (the forest's training cost grows with their square) */
  maxRows?: number;
  /** a model's own knobs */
  [knob: string]: unknown;
}

/** How a kind of model is trained from a log and loaded from its JSON. */
export interface PredictorFactory {
  kind: string;
  /** what it is, one line (for `prescient eval`'s report and the docs) */
  description: string;
  /** `events`: the training log, several accounts, any order */
  train(events: readonly ActionEvent[], options?: TrainOptions): Predictor;
  load(json: PredictorJSON): Predictor;
}

const FACTORIES = new Map<string, PredictorFactory>();

/** Adds a kind of model (a plugin calls this); a second factory of the same kind replaces the first. */
export function registerPredictor(factory: PredictorFactory): void {
  FACTORIES.set(factory.kind, factory);
}

export function predictorFactory(kind: string): PredictorFactory {
  const f = FACTORIES.get(kind);
  if (!f) throw new Error(`unknown predictor kind "${kind}" (known: ${[...FACTORIES.keys()].join(', ') || 'none'})`);
  return f;
}

export function predictorKinds(): string[] {
  return [...FACTORIES.keys()];
}

/** Loads a predictor from its JSON through the factory of its kind. */
export function loadPredictor(json: PredictorJSON): Predictor {
  return predictorFactory(json.kind).load(json);
}

const byProbability = (a: Prediction, b: Prediction): number => b.p - a.p || (a.action < b.action ? -1 : a.action > b.action ? 1 : 0);

/** A probability map as a Prediction list, most probable first (ties by name, so the order is deterministic), at most `limit`. */
export function sortPredictions(m: Map<string, number>, limit = Infinity): Prediction[] {
  const all = [...m].map(([action, p]) => ({ action, p }));
  return limit < all.length ? topPredictions(all, limit) : all.sort(byProbability);
}

/** The `limit` most probable of `all`, in order, without sorting all of them. */
export function topPredictions(all: Prediction[], limit: number): Prediction[] {
  const top: Prediction[] = [];
  for (const x of all) {
    if (top.length === limit && byProbability(x, top[limit - 1]!) >= 0) continue;
    let i = Math.min(top.length, limit - 1);
    if (top.length === limit) top.pop();
    while (i > 0 && byProbability(x, top[i - 1]!) < 0) i--;
    top.splice(i, 0, x);
  }
  return top;
}
