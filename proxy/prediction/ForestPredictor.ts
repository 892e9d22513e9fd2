// ForestPredictor owns the random-forest next-action model: features → per-tree votes (counted here) → blended with Markov-1 and tempered.
import { RandomForestClassifier } from 'ml-random-forest';
import { byAccount, type ActionEvent } from './ActionEvent.js';
import { applyFastSplit } from './fastSplit.js';
import { CompiledForest } from './CompiledForest.js';
import { buildFeatureSpace, features, HISTORY_WINDOW, FEATURES_VERSION, type FeatureSpace } from './features.js';
import { Markov1 } from './Markov1.js';
import { LOG_LOSS_FLOOR } from './metrics.js';
import { topPredictions, type Prediction, type Predictor, type PredictorFactory, type PredictorJSON, type TrainOptions } from './Predictor.js';

/** The forest's knobs (defaults tuned on the CloudTrail and synthetic logs: docs/prediction.md). */
export interface ForestOptions {
  trees: number;
  maxDepth: number;
  /** share of the features each tree sees (ml-random-forest bags features per tree, not per split) */
  maxFeatures: number;
  /** a node with this many rows or fewer is a leaf */
  minNumSamples: number;
  /** bound on the training rows: a stratified (per account), most-recent sample */
  maxRows: number;
  /** share of each account's training rows (its latest) held out to fit the blend and temperature */
  calibrationShare: number;
  seed: number;
}

export const FOREST_DEFAULTS: ForestOptions = { trees: 30, maxDepth: 14, maxFeatures: 0.7, minNumSamples: 2, maxRows: 2500, calibrationShare: 0.2, seed: 42 };

/**
 * How the forest's vote shares are turned into probabilities: a blend with Markov-1 (smoothed, so every known
 * action keeps some probability) and with the account's own action frequencies in its window, then a temperature:
 * p ∝ (forest · votes + markov1 · p₁(next | last) + history · share in window)^(1/temperature). The weights sum to 1
 * and are fitted, with the temperature, for the lowest log loss on held-out rows.
 */
export interface Calibration {
  weights: { forest: number; markov1: number; history: number; own?: number };
  temperature: number;
  /** log loss on the held-out rows it was fitted on (NaN: none were held out, defaults used) */
  heldOutLogLoss: number;
  heldOutRows: number;
}

/** fewer held-out rows than this: the default blend, not a fitted one */
export const MIN_CALIBRATION_ROWS = 100;

const DEFAULT_CALIBRATION: Calibration = { weights: { forest: 0.5, markov1: 0.5, history: 0 }, temperature: 1, heldOutLogLoss: NaN, heldOutRows: 0 };

/** The distributions the forest blends, over the model's vocabulary (markov.unigram.actions). */
interface Components {
  forest: Float64Array;
  markov1: Float64Array;
  history: Float64Array;
  /** the account's own transitions in its window: what it did after its last action the times before (Markov-1 of the account) */
  own: Float64Array;
}

interface Row {
  account: string;
  /** position in the account's sequence */
  i: number;
  t: number;
  x: number[];
  y: number;
  action: string;
  /** the account's window before it */
  history: readonly ActionEvent[];
}

/** One row per event: the features of the account's history before it, labelled with its action's class. */
function buildRows(events: readonly ActionEvent[], space: FeatureSpace): Row[] {
  const index = new Map(space.actions.map((a, i) => [a, i]));
  const rows: Row[] = [];
  for (const [account, seq] of byAccount(events)) {
    for (let i = 0; i < seq.length; i++) {
      const history = seq.slice(Math.max(0, i - HISTORY_WINDOW), i);
      rows.push({ account, i, t: seq[i]!.t, x: features(history, space), y: index.get(seq[i]!.action) ?? space.actions.length, action: seq[i]!.action, history });
    }
  }
  return rows;
}

/**
 * At most `max` rows: each account gets an equal quota of its latest rows (a busy account cannot crowd the others
 * out), then the latest of the rest fill what is left. Returned in time order.
 */
export function stratifiedRecent<T extends { account: string; t: number }>(rows: readonly T[], max: number): T[] {
  if (rows.length <= max) return [...rows];
  const groups = new Map<string, T[]>();
  for (const r of rows) {
    const g = groups.get(r.account);
    if (g) g.push(r);
    else groups.set(r.account, [r]);
  }
  const quota = Math.floor(max / groups.size);
  const chosen = new Set<T>();
  for (const g of groups.values()) {
    g.sort((a, b) => a.t - b.t);
    for (const r of g.slice(Math.max(0, g.length - quota))) chosen.add(r);
  }
  const rest = rows.filter((r) => !chosen.has(r)).sort((a, b) => b.t - a.t);
  for (const r of rest) {
    if (chosen.size >= max) break;
    chosen.add(r);
  }
  return [...chosen].sort((a, b) => a.t - b.t);
}

function trainForest(rows: readonly Row[], o: ForestOptions): RandomForestClassifier {
  applyFastSplit();
  const sample = stratifiedRecent(rows, o.maxRows);
  const nFeatures = sample[0]?.x.length ?? 1;
  const rf = new RandomForestClassifier({
    nEstimators: o.trees,
    maxFeatures: Math.max(1, Math.round(o.maxFeatures * nFeatures)),
    replacement: false,
    useSampleBagging: true,
    noOOB: true,
    seed: o.seed,
    treeOptions: { gainThreshold: 0, maxDepth: o.maxDepth, minNumSamples: o.minNumSamples },
  });
  rf.train(sample.map((r) => r.x), sample.map((r) => r.y));
  return rf;
}

export class ForestPredictor implements Predictor {
  readonly kind = 'forest';
  /** every action seen in training, sorted: the actions this model gives a probability */
  readonly vocabulary: string[];
  private readonly vocabIndex: Map<string, number>;
  /** for each vocabulary action: its forest class, or -1 (it shares OTHER) */
  private readonly forestClass: Int32Array;
  /** for each vocabulary action outside the feature space: its share of OTHER (by global frequency) */
  private readonly otherShare: Float64Array;
  private readonly compiled: CompiledForest;
  private readonly markovRows = new Map<string, Float64Array>();

  constructor(
    readonly space: FeatureSpace,
    readonly rf: RandomForestClassifier,
    readonly markov: Markov1,
    readonly calibration: Calibration,
    readonly options: ForestOptions,
  ) {
    this.compiled = new CompiledForest(rf, space.actions.length + 1);
    this.vocabulary = markov.unigram.actions;
    this.vocabIndex = new Map(this.vocabulary.map((a, j) => [a, j]));
    const classOf = new Map(space.actions.map((a, i) => [a, i]));
    this.forestClass = Int32Array.from(this.vocabulary, (a) => classOf.get(a) ?? -1);
    this.otherShare = new Float64Array(this.vocabulary.length);
    let total = 0;
    this.vocabulary.forEach((a, j) => this.forestClass[j]! < 0 && (total += markov.unigram.get(a)));
    this.vocabulary.forEach((a, j) => this.forestClass[j]! < 0 && total > 0 && (this.otherShare[j] = markov.unigram.get(a) / total));
  }

  /** Vote shares per class (feature-space action index, OTHER last) for each feature vector, from the flattened trees. */
  votes(xs: readonly number[][]): Float64Array[] {
    return xs.map((x) => this.compiled.votes(x));
  }

  /** The same vote shares counted from ml-random-forest's own predictionValues (the reference the compiled trees are tested against). */
  votesFromLibrary(xs: readonly number[][]): Float64Array[] {
    const classes = this.space.actions.length + 1;
    const pv = this.rf.predictionValues(xs as number[][]);
    const out: Float64Array[] = [];
    for (let r = 0; r < xs.length; r++) {
      const v = new Float64Array(classes);
      const trees = pv.getRow(r) as number[];
      for (const c of trees) v[c]! += 1 / trees.length;
      out.push(v);
    }
    return out;
  }

  /** The forest's, Markov-1's and the window's distributions over the vocabulary, for one history (its window) and its votes. */
  components(votes: Float64Array, history: readonly ActionEvent[]): Components {
    const V = this.vocabulary.length;
    const other = votes[this.space.actions.length] ?? 0;
    const forest = new Float64Array(V);
    for (let j = 0; j < V; j++) {
      const c = this.forestClass[j]!;
      forest[j] = c >= 0 ? votes[c]! : other * this.otherShare[j]!;
    }
    const markov1 = this.markovRow(history[history.length - 1]?.action);
    let hist: Float64Array = new Float64Array(V);
    let n = 0;
    for (const e of history) {
      const j = this.vocabIndex.get(e.action);
      n++;
      if (j !== undefined) hist[j]! += 1;
    }
    if (n === 0) hist = markov1;
    else for (let j = 0; j < V; j++) hist[j]! /= n;
    // what followed the last action earlier in the window; none: the window's shares
    const last = history[history.length - 1]?.action;
    let own: Float64Array = new Float64Array(V);
    let m = 0;
    for (let k = 0; k + 1 < history.length; k++) {
      if (history[k]!.action !== last) continue;
      const j = this.vocabIndex.get(history[k + 1]!.action);
      m++;
      if (j !== undefined) own[j]! += 1;
    }
    if (m === 0) own = hist;
    else for (let j = 0; j < V; j++) own[j]! /= m;
    return { forest, markov1, history: hist, own };
  }

  /** Markov-1's distribution after `last` over the vocabulary, computed once per last action. */
  private markovRow(last: string | undefined): Float64Array {
    const key = last ?? '';
    let row = this.markovRows.get(key);
    if (!row) {
      row = new Float64Array(this.vocabulary.length);
      for (const [a, p] of this.markov.distribution(last)) row[this.vocabIndex.get(a)!] = p;
      this.markovRows.set(key, row);
    }
    return row;
  }

  /** The calibrated distribution (over the vocabulary, same order). */
  static mix(c: Components, cal: Pick<Calibration, 'weights' | 'temperature'>, out = new Float64Array(c.forest.length)): Float64Array {
    const { forest: wf, markov1: wm, history: wh } = cal.weights;
    const wo = cal.weights.own ?? 0;
    const inv = 1 / cal.temperature;
    let z = 0;
    for (let j = 0; j < out.length; j++) {
      const q = Math.pow(wf * c.forest[j]! + wm * c.markov1[j]! + wh * c.history[j]! + wo * c.own[j]!, inv);
      out[j] = q;
      z += q;
    }
    if (z > 0) for (let j = 0; j < out.length; j++) out[j]! /= z;
    return out;
  }

  private toPredictions(p: Float64Array, limit = Infinity): Prediction[] {
    const all = Array.from(this.vocabulary, (action, j) => ({ action, p: p[j]! }));
    return limit < all.length ? topPredictions(all, limit) : all.sort((a, b) => b.p - a.p || (a.action < b.action ? -1 : 1));
  }

  predict(history: readonly ActionEvent[], limit?: number): Prediction[] {
    const h = history.length > HISTORY_WINDOW ? history.slice(history.length - HISTORY_WINDOW) : history;
    const [v] = this.votes([features(h, this.space)]);
    return this.toPredictions(ForestPredictor.mix(this.components(v!, h), this.calibration), limit);
  }

  /** Predictions for many histories at once (one predictionValues call: what eval uses). */
  predictMany(histories: readonly (readonly ActionEvent[])[]): Prediction[][] {
    const hs = histories.map((h) => (h.length > HISTORY_WINDOW ? h.slice(h.length - HISTORY_WINDOW) : h));
    const vs = hs.length ? this.votes(hs.map((h) => features(h, this.space))) : [];
    return hs.map((h, i) => this.toPredictions(ForestPredictor.mix(this.components(vs[i]!, h), this.calibration)));
  }

  toJSON(): PredictorJSON {
    return { kind: this.kind, featuresVersion: this.space.version, space: this.space, options: this.options, calibration: this.calibration, markov: this.markov.toJSON(), forest: this.rf.toJSON() };
  }

  static load(json: PredictorJSON): ForestPredictor {
    if (json.featuresVersion !== FEATURES_VERSION) throw new Error(`forest model: features version ${String(json.featuresVersion)}, this build computes version ${FEATURES_VERSION}: retrain it`);
    const rf = RandomForestClassifier.load(json.forest as Parameters<typeof RandomForestClassifier.load>[0]);
    const cal = json.calibration as Calibration;
    return new ForestPredictor(json.space as FeatureSpace, rf, Markov1.load(json.markov as PredictorJSON), { ...cal, heldOutLogLoss: cal.heldOutLogLoss ?? NaN }, json.options as ForestOptions);
  }

  static train(events: readonly ActionEvent[], options: TrainOptions = {}): ForestPredictor {
    const o: ForestOptions = { ...FOREST_DEFAULTS };
    for (const k of Object.keys(FOREST_DEFAULTS) as (keyof ForestOptions)[]) if (typeof options[k] === 'number') o[k] = options[k] as number;
    const space = buildFeatureSpace(events);
    // time-ordered split of each account: its latest events are held out to fit the blend and the temperature
    const fitPart: ActionEvent[] = [];
    const heldPart = new Set<ActionEvent>();
    for (const seq of byAccount(events).values()) {
      const cut = seq.length - Math.floor(seq.length * o.calibrationShare);
      seq.forEach((e, i) => (i < cut ? fitPart.push(e) : heldPart.add(e)));
    }
    const allRows = buildRows(events, space);
    let calibration: Calibration = DEFAULT_CALIBRATION;
    if (heldPart.size > 0 && fitPart.length > 0) {
      // rows whose target is held out (their histories may reach into the fit part: that is the account's past)
      const byKey = new Map(allRows.map((r) => [`${r.account}\u0000${r.i}`, r]));
      const heldRows: Row[] = [];
      const seqs = byAccount(events);
      for (const [account, seq] of byAccount([...heldPart])) {
        const offset = (seqs.get(account)?.length ?? 0) - seq.length;
        for (let j = 0; j < seq.length; j++) heldRows.push(byKey.get(`${account}\u0000${offset + j}`)!);
      }
      const fitRows = buildRows(fitPart, space);
      const probe = new ForestPredictor(space, trainForest(fitRows, o), Markov1.fit(fitPart), calibration, o);
      // a handful of rows would fit noise (a temperature below 1 on 20 rows made a tiny log overconfident)
      if (heldRows.length >= MIN_CALIBRATION_ROWS) calibration = fitCalibration(probe, heldRows);
      else calibration = { ...DEFAULT_CALIBRATION, heldOutRows: heldRows.length };
    }
    return new ForestPredictor(space, trainForest(allRows, o), Markov1.fit(events), calibration, o);
  }
}

/** weights (forest, history, own) on a 0.1 grid; Markov-1 gets the rest, at least 0.05 so every known action stays possible */
const WEIGHTS: Calibration['weights'][] = [];
for (let f = 0; f <= 9; f++) for (let h = 0; f + h <= 9; h++) for (let o = 0; f + h + o <= 9; o++) WEIGHTS.push({ forest: f / 10, history: h / 10, own: o / 10, markov1: (10 - f - h - o) / 10 });
WEIGHTS.push({ forest: 0.95, history: 0, own: 0, markov1: 0.05 }, { forest: 0.85, history: 0.1, own: 0, markov1: 0.05 }, { forest: 0.85, history: 0, own: 0.1, markov1: 0.05 });
const TEMPERATURES = [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.15, 1.3, 1.5, 1.75, 2, 2.5];

/** The blend weights and temperature with the lowest log loss on `rows` (grid search). */
function fitCalibration(model: ForestPredictor, rows: readonly Row[]): Calibration {
  const votes = model.votes(rows.map((r) => r.x));
  const comps = rows.map((r, k) => model.components(votes[k]!, r.history));
  const truth = rows.map((r) => model.vocabulary.indexOf(r.action));
  let best: Calibration = { ...DEFAULT_CALIBRATION, heldOutLogLoss: Infinity, heldOutRows: rows.length };
  const buf = new Float64Array(model.vocabulary.length);
  for (const weights of WEIGHTS) {
    for (const temperature of TEMPERATURES) {
      let loss = 0;
      for (let k = 0; k < rows.length; k++) {
        const p = ForestPredictor.mix(comps[k]!, { weights, temperature }, buf);
        loss -= Math.log(Math.max(LOG_LOSS_FLOOR, truth[k]! >= 0 ? p[truth[k]!]! : 0));
      }
      loss /= rows.length;
      if (loss < best.heldOutLogLoss - 1e-12) best = { weights: { ...weights }, temperature, heldOutLogLoss: loss, heldOutRows: rows.length };
    }
  }
  return best;
}

export const forestFactory: PredictorFactory = {
  kind: 'forest',
  description: 'random forest (ml-random-forest 2.1.0) over the history features, votes counted per tree, blended with Markov-1 and tempered on held-out rows',
  train: (events, options) => ForestPredictor.train(events, options),
  load: (json) => ForestPredictor.load(json),
};
