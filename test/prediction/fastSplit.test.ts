// Tests fastSplit.ts: the linear-sweep Gini split finds splits as good as ml-cart's own search, on random nodes.
import t from 'tap';
import { RandomForestClassifier } from 'ml-random-forest';
import { applyFastSplit, giniBestSplit } from '../../proxy/prediction/fastSplit.js';
import { makeRng } from '../../workload/rng.js';

type Split = { maxGain: number; maxColumn: number | undefined };

// ml-cart's own bestSplit, reached (as fastSplit does) through a tree trained on four rows, before the patch
const probe = new RandomForestClassifier({ nEstimators: 1, maxFeatures: 1, seed: 1, noOOB: true, replacement: false, useSampleBagging: false, treeOptions: { gainThreshold: 0, maxDepth: 1 } });
probe.train([[0], [1], [2], [3]], [0, 0, 1, 1]);
const root = (probe as unknown as { estimators: { root: { bestSplit(XT: unknown, y: number[]): Split } }[] }).estimators[0]!.root;
const original = Object.getPrototypeOf(root).bestSplit as (XT: unknown, y: number[]) => Split;

const NODES: [string, number, number, number, number][] = [
  // name, rows, features, distinct values per feature, classes
  ['small, many ties', 30, 3, 3, 2],
  ['medium', 200, 6, 12, 5],
  ['wide value range', 150, 4, 100, 8],
  ['one class', 40, 3, 5, 1],
];
for (const [name, n, f, values, classes] of NODES) {
  t.test(`same best gain as ml-cart: ${name}`, async (t) => {
    const rng = makeRng(name);
    const cols = Array.from({ length: f }, () => Array.from({ length: n }, () => rng.int(values)));
    // labels depend on the first feature, plus noise
    const y = Array.from({ length: n }, (_, i) => (rng.next() < 0.7 ? cols[0]![i]! % classes : rng.int(classes)));
    const XT = { rows: f, getRow: (i: number) => cols[i]! };
    const a = original.call(root, XT, y);
    const b = giniBestSplit(XT, y);
    if (classes === 1) t.ok(b.maxGain <= 1e-12, 'no gain to be had');
    else {
      t.ok(Math.abs(a.maxGain - b.maxGain) < 1e-9, `gain ${a.maxGain} ≈ ${b.maxGain}`);
      t.equal(b.maxColumn, a.maxColumn, 'same feature');
    }
  });
}

t.test('after the patch a forest trains on 2,000 rows and predicts its training rows well', async (t) => {
  applyFastSplit();
  const rng = makeRng('fit');
  const X = Array.from({ length: 2000 }, () => Array.from({ length: 8 }, () => rng.int(20)));
  const y = X.map((r) => (r[0]! < 10 ? r[1]! % 3 : 3 + (r[2]! % 3)));
  const rf = new RandomForestClassifier({ nEstimators: 5, maxFeatures: 8, seed: 3, noOOB: true, replacement: false, useSampleBagging: true, treeOptions: { gainThreshold: 0, maxDepth: 20 } });
  rf.train(X, y);
  const p = rf.predict(X);
  const acc = p.filter((c, i) => c === y[i]).length / X.length;
  t.ok(acc > 0.95, `training accuracy ${acc}`);
});
