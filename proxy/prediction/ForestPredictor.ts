// ForestPredictor owns the random-forest next-action model: features → per-tree votes (counted here) → blended with Markov-1 and tempered.
import { RandomForestClassifier } from 'ml-random-forest';
import { byAccount, type ActionEvent } from './ActionEvent.js';
import { applyFastSplit } from './fastSplit.js';
import { buildFeatureSpace, features, HISTORY_WINDOW, FEATURES_VERSION, type FeatureSpace } from './features.js';
import { Markov1 } from './Markov1.js';
import { LOG_LOSS_FLOOR } from './metrics.js';
import { sortPredictions, type Prediction, type Predictor, type PredictorFactory, type PredictorJSON, type TrainOptions } from './Predictor.js';

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

/** How the vote shares and Markov-1 are combined: p ∝ (alpha · votes + (1 − alpha) · markov1)^(1/temperature). */
export interface Calibration {
  alpha: number;
  temperature: number;
  /** log loss on the held-out rows it was fitted on (NaN: none were held out, defaults used) */
  heldOutLogLoss: number;
  heldOutRows: number;
}

interface Row {
  account: string;
  /** position in the account's sequence */
  i: number;
  t: number;
  x: number[];
  y: number;
  action: string;
  /** the last action before it (Markov-1's context) */
  last: string | undefined;
}

/** One row per event: the features of the account's history before it, labelled with its action's class. */
function buildRows(events: readonly ActionEvent[], space: FeatureSpace): Row[] {
  const index = new Map(space.actions.map((a, i) => [a, i]));
  const rows: Row[] = [];
  for (const [account, seq] of byAccount(events)) {
    for (let i = 0; i < seq.length; i++) {
      const history = seq.slice(Math.max(0, i - HISTORY_WINDOW), i);
      rows.push({ account, i, t: seq[i]!.t, x: features(history, space), y: index.get(seq[i]!.action) ?? space.actions.length, action: seq[i]!.action, last: seq[i - 1]?.action });
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
  private readonly index: Map<string, number>;
  /** actions outside the feature space, with their share of OTHER (by global frequency) */
  private readonly otherShare: Map<string, number>;

  constructor(
    readonly space: FeatureSpace,
    readonly rf: RandomForestClassifier,
    readonly markov: Markov1,
    readonly calibration: Calibration,
    readonly options: ForestOptions,
  ) {
    this.index = new Map(space.actions.map((a, i) => [a, i]));
    this.otherShare = new Map();
    let total = 0;
    for (const [a, p] of markov.unigram.p) if (!this.index.has(a)) total += p;
    for (const [a, p] of markov.unigram.p) if (!this.index.has(a)) this.otherShare.set(a, total > 0 ? p / total : 0);
  }

  /** Vote shares per class (feature-space action index, OTHER last) for each feature vector: counted from every tree's vote. */
  votes(xs: readonly number[][]): Float64Array[] {
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

  /** The calibrated distribution from vote shares and the last action. */
  combine(votes: Float64Array, last: string | undefined, cal: Pick<Calibration, 'alpha' | 'temperature'> = this.calibration): Map<string, number> {
    const m = this.markov.distribution(last);
    const other = votes[this.space.actions.length] ?? 0;
    let z = 0;
    for (const [a, pm] of m) {
      const i = this.index.get(a);
      const pf = i !== undefined ? votes[i]! : other * (this.otherShare.get(a) ?? 0);
      const q = Math.pow(cal.alpha * pf + (1 - cal.alpha) * pm, 1 / cal.temperature);
      m.set(a, q);
      z += q;
    }
    for (const [a, q] of m) m.set(a, z > 0 ? q / z : 0);
    return m;
  }

  predict(history: readonly ActionEvent[]): Prediction[] {
    const h = history.length > HISTORY_WINDOW ? history.slice(history.length - HISTORY_WINDOW) : history;
    const [v] = this.votes([features(h, this.space)]);
    return sortPredictions(this.combine(v!, h[h.length - 1]?.action));
  }

  /** Predictions for many histories at once (one predictionValues call: what eval uses). */
  predictMany(histories: readonly (readonly ActionEvent[])[]): Prediction[][] {
    const hs = histories.map((h) => (h.length > HISTORY_WINDOW ? h.slice(h.length - HISTORY_WINDOW) : h));
    const vs = hs.length ? this.votes(hs.map((h) => features(h, this.space))) : [];
    return hs.map((h, i) => sortPredictions(this.combine(vs[i]!, h[h.length - 1]?.action)));
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
    let calibration: Calibration = { alpha: 0.5, temperature: 1, heldOutLogLoss: NaN, heldOutRows: 0 };
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
      calibration = fitCalibration(probe, heldRows);
    }
    return new ForestPredictor(space, trainForest(allRows, o), Markov1.fit(events), calibration, o);
  }
}

/** at most 0.95: the smoothed Markov-1 share keeps every known action possible (a wrong certainty costs the log-loss floor) */
const ALPHAS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
const TEMPERATURES = [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.15, 1.3, 1.5, 1.75, 2, 2.5];

/** The blend weight and temperature with the lowest log loss on `rows` (grid search). */
function fitCalibration(model: ForestPredictor, rows: readonly Row[]): Calibration {
  const votes = model.votes(rows.map((r) => r.x));
  let best: Calibration = { alpha: 0.5, temperature: 1, heldOutLogLoss: Infinity, heldOutRows: rows.length };
  for (const alpha of ALPHAS) {
    for (const temperature of TEMPERATURES) {
      let loss = 0;
      rows.forEach((r, k) => (loss -= Math.log(Math.max(LOG_LOSS_FLOOR, model.combine(votes[k]!, r.last, { alpha, temperature }).get(r.action) ?? 0))));
      loss /= rows.length;
      if (loss < best.heldOutLogLoss) best = { alpha, temperature, heldOutLogLoss: loss, heldOutRows: rows.length };
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
