// Tests the models on fixed sequences with known answers: a deterministic chain is learned, a uniform one is not over-confident.
import t from 'tap';
import type { ActionEvent } from '../../proxy/prediction/ActionEvent.js';
import { builtinPredictors } from '../../proxy/prediction/builtinPredictors.js';
import { evaluateSplit } from '../../proxy/prediction/evaluate.js';
import { ForestPredictor, stratifiedRecent } from '../../proxy/prediction/ForestPredictor.js';
import { Markov1 } from '../../proxy/prediction/Markov1.js';
import { loadPredictor, predictorFactory, predictorKinds, registerPredictor, type Predictor } from '../../proxy/prediction/Predictor.js';
import { makeRng } from '../../workload/rng.js';
import { features } from '../../proxy/prediction/features.js';

const SMALL = { trees: 10, maxRows: 1200, seed: 7 };

/** `accounts` accounts, each `length` events of `next(previous, rng)` one second apart, starting at staggered times. */
function log(accounts: number, length: number, next: (prev: string | undefined, i: number, rng: { int(n: number): number }) => string, seed = 'x'): ActionEvent[] {
  const rng = makeRng(seed);
  const out: ActionEvent[] = [];
  for (let a = 0; a < accounts; a++) {
    let prev: string | undefined;
    for (let i = 0; i < length; i++) {
      prev = next(prev, a + i, rng);
      out.push({ t: 1_700_000_000_000 + a * 333 + i * 1000, account: `acct-${a}`, action: prev });
    }
  }
  return out;
}

const CHAIN = ['A', 'B', 'C'];
const chain = (prev: string | undefined, i: number): string => (prev === undefined ? CHAIN[i % 3]! : CHAIN[(CHAIN.indexOf(prev) + 1) % 3]!);
const UNIFORM = ['A', 'B', 'C', 'D', 'E', 'F'];
const uniform = (_: string | undefined, __: number, rng: { int(n: number): number }): string => UNIFORM[rng.int(UNIFORM.length)]!;

t.test('the built-in kinds are registered', async (t) => {
  for (const k of ['repeat-last', 'most-frequent', 'markov1', 'forest']) t.ok(predictorKinds().includes(k), k);
  t.equal(builtinPredictors.length, 4);
});

t.test('a deterministic chain A→B→C→A… is learned by Markov-1 and the forest', async (t) => {
  const r = evaluateSplit(log(20, 60, chain), { train: SMALL });
  for (const k of ['markov1', 'forest']) {
    t.equal(r.models[k]!.top1, 1, `${k} top-1`);
    t.ok(r.models[k]!.logLoss < 0.2, `${k} log loss ${r.models[k]!.logLoss}`);
  }
  // repeat-last learns that repeats never come (the last action gets the lowest probability), not the order
  t.ok(r.models.repeatLast!.top1 < 1);
});

t.test('a uniform random sequence: no model is over-confident', async (t) => {
  const r = evaluateSplit(log(20, 100, uniform, 'uniform'), { train: SMALL });
  for (const [k, m] of Object.entries(r.models)) {
    t.ok(m.meanConfidence < 0.3, `${k}: mean top-1 probability ${m.meanConfidence.toFixed(3)} near 1/6`);
    // most-frequent's window of 50 events is a noisy estimate: it is the one baseline left out of the ECE bound
    if (k !== 'mostFrequent') t.ok(m.ece < 0.05, `${k}: ECE ${m.ece.toFixed(3)}`);
    t.ok(m.top1 < 0.3, `${k}: top-1 ${m.top1.toFixed(3)} near chance`);
  }
});

t.test('predictions are a distribution, most probable first', async (t) => {
  const events = log(10, 40, chain);
  for (const f of builtinPredictors) {
    const p = f.train(events, SMALL).predict(events.filter((e) => e.account === 'acct-1').slice(0, 5));
    t.ok(Math.abs(p.reduce((s, x) => s + x.p, 0) - 1) < 1e-9, `${f.kind}: sums to 1`);
    t.ok(p.every((x, i) => i === 0 || p[i - 1]!.p >= x.p), `${f.kind}: sorted`);
  }
});

t.test('an empty history (a new account) gets the global frequencies from Markov-1', async (t) => {
  const m = Markov1.fit(log(3, 10, () => 'A').concat(log(1, 10, () => 'B')));
  const p = m.predict([]);
  t.equal(p[0]!.action, 'A');
  t.ok(p[0]!.p > 0.7);
});

t.test('toJSON → loadPredictor gives identical predictions for every kind', async (t) => {
  const events = log(20, 50, uniform, 'rt');
  const histories = [[], ...[3, 10, 49].map((n) => events.filter((e) => e.account === 'acct-2').slice(0, n))];
  for (const f of builtinPredictors) {
    const a: Predictor = f.train(events, SMALL);
    const b = loadPredictor(JSON.parse(JSON.stringify(a.toJSON())));
    for (const h of histories) t.same(b.predict(h), a.predict(h), `${f.kind}, history of ${h.length}`);
  }
});

t.test('a plugin can register another kind', async (t) => {
  registerPredictor({
    kind: 'always-x',
    description: 'test',
    train: () => ({ kind: 'always-x', predict: () => [{ action: 'X', p: 1 }], toJSON: () => ({ kind: 'always-x' }) }),
    load: () => predictorFactory('always-x').train([]),
  });
  t.same(loadPredictor({ kind: 'always-x' }).predict([]), [{ action: 'X', p: 1 }]);
  t.throws(() => loadPredictor({ kind: 'nope' }), /unknown predictor kind "nope"/);
});

t.test('stratifiedRecent: an equal quota of each account, latest first, then the latest of the rest', async (t) => {
  const rows = [...Array.from({ length: 10 }, (_, i) => ({ account: 'busy', t: i })), { account: 'quiet', t: 0.5 }];
  t.same(stratifiedRecent(rows, 4).map((r) => `${r.account}${r.t}`), ['quiet0.5', 'busy7', 'busy8', 'busy9']);
  t.equal(stratifiedRecent(rows, 100).length, 11);
});

t.test('the flattened trees vote exactly as predictionValues does, before and after a save/load', async (t) => {
  const events = log(30, 60, uniform, 'votes');
  const f = ForestPredictor.train(events, { ...SMALL, trees: 15 });
  const g = ForestPredictor.load(JSON.parse(JSON.stringify(f.toJSON())));
  const rng = makeRng('rows');
  // rows from real histories and random rows (values off the training grid reach other leaves)
  const xs = [...byAccountHistories(events).map((h) => features(h, f.space)), ...Array.from({ length: 200 }, () => features([], f.space).map(() => rng.int(70) - 5))];
  for (const m of [f, g]) {
    const a = m.votes(xs);
    const b = m.votesFromLibrary(xs);
    t.ok(a.every((v, i) => v.every((x, c) => Math.abs(x - b[i]![c]!) < 1e-12)), `${m === f ? 'trained' : 'loaded'}: ${xs.length} rows agree`);
    t.ok(a.every((v) => Math.abs(v.reduce((s, x) => s + x, 0) - 1) < 1e-9), 'vote shares sum to 1');
  }
});

function byAccountHistories(events: ActionEvent[]): ActionEvent[][] {
  const out: ActionEvent[][] = [];
  for (let a = 0; a < 30; a++) {
    const seq = events.filter((e) => e.account === `acct-${a}`);
    for (let i = 0; i < seq.length; i += 7) out.push(seq.slice(Math.max(0, i - 50), i));
  }
  return out;
}

t.test('predict(history, limit) is the head of the full list, for every kind', async (t) => {
  const events = log(20, 50, uniform, 'limit');
  const h = events.filter((e) => e.account === 'acct-3').slice(0, 20);
  for (const f of builtinPredictors) {
    const m = f.train(events, SMALL);
    const all = m.predict(h);
    for (const k of [1, 3, 5]) t.same(m.predict(h, k), all.slice(0, k), `${f.kind}, limit ${k}`);
  }
});
