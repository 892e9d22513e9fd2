// fastSplit owns the one speed-up we apply to ml-cart 2.1.1 (under ml-random-forest 2.1.0): a linear-sweep Gini split search.
import { RandomForestClassifier } from 'ml-random-forest';

/**
 * ml-cart's TreeNode.bestSplit tries every adjacent pair of the sorted feature as a threshold (duplicates included)
 * and recomputes the Gini impurity of both halves from scratch each time, with an O(n·classes) class count: a node
 * costs O(features · n² · classes). That is why one tree on 4k rows takes seconds (../shared/DEPENDENCIES.md).
 * This replacement keeps the criterion (Gini gain, threshold = midpoint of two neighbouring values, `x < v` goes
 * left, the first best split in feature order then ascending threshold wins) and computes it in one sweep over the
 * sorted values with running class counts: O(features · n log n) per node. Applied once, on the prototype.
 */
interface Mat {
  rows: number;
  getRow(i: number): number[];
}
interface SplitNode {
  kind: string;
  gainFunction: string;
  bestSplit(XT: Mat, y: number[]): { maxGain: number; maxColumn: number | undefined; maxValue: number | undefined; numberSamples: number | undefined };
}

let applied = false;

export function applyFastSplit(): void {
  if (applied) return;
  applied = true;
  // TreeNode is not exported: reach its prototype through a tree trained on four rows
  const probe = new RandomForestClassifier({ nEstimators: 1, maxFeatures: 1, seed: 1, noOOB: true, replacement: false, useSampleBagging: false, treeOptions: { gainThreshold: 0, maxDepth: 1 } });
  probe.train([[0], [1], [2], [3]], [0, 0, 1, 1]);
  const root = (probe as unknown as { estimators: { root: SplitNode }[] }).estimators[0]!.root;
  const proto = Object.getPrototypeOf(root) as SplitNode;
  const original = proto.bestSplit;
  proto.bestSplit = function (this: SplitNode, XT: Mat, y: number[]) {
    if (this.kind !== 'classifier' || this.gainFunction !== 'gini') return original.call(this, XT, y);
    return giniBestSplit(XT, y);
  };
}

/** The best Gini split of a node: `XT` is the node's rows transposed (one row per feature), `y` the class labels. */
export function giniBestSplit(XT: Mat, y: number[]): { maxGain: number; maxColumn: number | undefined; maxValue: number | undefined; numberSamples: number | undefined } {
  const n = y.length;
  let k = 0;
  for (const c of y) if (c + 1 > k) k = c + 1;
  const total = new Float64Array(k);
  for (const c of y) total[c]!++;
  let sumSqTotal = 0;
  for (let c = 0; c < k; c++) sumSqTotal += total[c]! * total[c]!;
  const parentGini = n === 0 ? 0 : 1 - sumSqTotal / (n * n);
  let bestGain = -Infinity;
  let maxColumn: number | undefined;
  let maxValue: number | undefined;
  let numberSamples: number | undefined;
  const order = new Array<number>(n);
  const left = new Float64Array(k);
  for (let f = 0; f < XT.rows; f++) {
    const x = XT.getRow(f);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => x[a]! - x[b]!);
    left.fill(0);
    let sqL = 0;
    let sqR = sumSqTotal;
    for (let i = 1; i < n; i++) {
      // move row order[i-1] from the right half to the left half
      const c = y[order[i - 1]!]!;
      const l = left[c]!;
      const r = total[c]! - l;
      sqL += 2 * l + 1;
      sqR -= 2 * r - 1;
      left[c] = l + 1;
      const a = x[order[i - 1]!]!;
      const b = x[order[i]!]!;
      if (a === b) continue; // not a boundary: the partition `x < v` cannot fall between equal values
      const nl = i;
      const nr = n - i;
      const gain = parentGini - ((1 - sqL / (nl * nl)) * nl + (1 - sqR / (nr * nr)) * nr) / n;
      if (gain > bestGain) {
        bestGain = gain;
        maxColumn = f;
        maxValue = (a + b) / 2;
        numberSamples = n;
      }
    }
  }
  return { maxGain: bestGain, maxColumn, maxValue, numberSamples };
}
