// Tests features.ts: the feature vector of fixed histories, every feature with its known value.
import t from 'tap';
import { buildFeatureSpace, featureNames, features, log2Bucket, MIX_TOP, type FeatureSpace } from '../../proxy/prediction/features.js';
import type { ActionEvent } from '../../proxy/prediction/ActionEvent.js';

const T0 = Date.UTC(2026, 0, 5, 13, 59, 0);
const ev = (dt: number, action: string, readOnly?: boolean): ActionEvent => ({ t: T0 + dt, account: 'a', action, readOnly });

t.test('log2 buckets', async (t) => {
  const cases: [number, number][] = [[0, 0], [0.5, 0], [1, 1], [2, 2], [3, 2], [4, 3], [1000, 10], [60_000, 16], [1e12, 24]];
  for (const [ms, b] of cases) t.equal(log2Bucket(ms), b, `${ms} ms`);
});

t.test('the feature space lists actions by frequency, ties by name, capped', async (t) => {
  const log = ['B', 'A', 'C', 'B', 'A', 'B'].map((a, i) => ev(i, a));
  t.same(buildFeatureSpace(log).actions, ['B', 'A', 'C']);
  t.same(buildFeatureSpace(log, 2).actions, ['B', 'A']);
});

const SPACE: FeatureSpace = { version: 1, actions: ['DescribeVolumes', 'CreateVolume', 'DeleteVolume', 'AttachVolume'] };
const OTHER = 4;
const NONE = 5;

function named(history: ActionEvent[]): Record<string, number> {
  const v = features(history, SPACE);
  return Object.fromEntries(featureNames().map((n, i) => [n, v[i]!]));
}

t.test('the vector has one value per name', async (t) => {
  t.equal(features([], SPACE).length, featureNames().length);
});

const mix0 = (m: number[]): Record<string, number> => Object.fromEntries(Array.from({ length: MIX_TOP }, (_, i) => [`mix${i}`, m[i] ?? 0]));

const CASES: [string, ActionEvent[], Record<string, number>][] = [
  ['no history', [], { last1: NONE, last2: NONE, last3: NONE, gapBucket: -1, hourUtc: -1, runLength: 0, distinct: 0, historyBucket: 0, ...mix0([]), readShare: 0, resourceBalance: 0 }],
  [
    'one event',
    [ev(0, 'CreateVolume')],
    { last1: 1, last2: NONE, last3: NONE, gapBucket: -1, hourUtc: 13, runLength: 1, distinct: 1, historyBucket: 1, ...mix0([0, 10]), readShare: 0, resourceBalance: 1 },
  ],
  [
    'a repeat, an unknown action, a read, hour rolls over',
    // DescribeVolumes (read), CreateVolume ×2, Frobnicate (OTHER, not a read), DeleteVolume 61 s later at 14:00:xx
    [ev(0, 'DescribeVolumes'), ev(1000, 'CreateVolume'), ev(1003, 'CreateVolume'), ev(2000, 'Frobnicate'), ev(63_000, 'DeleteVolume')],
    { last1: 2, last2: OTHER, last3: 1, gapBucket: 16, hourUtc: 14, runLength: 1, distinct: 4, historyBucket: 3, ...mix0([2, 4, 2]), readShare: 2, resourceBalance: 1 },
  ],
  [
    'a run of three, readOnly recorded wins over the verb',
    [ev(0, 'AttachVolume'), ev(10, 'DescribeVolumes', false), ev(12, 'DescribeVolumes', false), ev(13, 'DescribeVolumes', false)],
    { last1: 0, last2: 0, last3: 0, gapBucket: 1, hourUtc: 13, runLength: 3, distinct: 2, historyBucket: 3, ...mix0([8, 0, 0, 3]), readShare: 0, resourceBalance: 1 },
  ],
];
for (const [name, history, want] of CASES) {
  t.test(`features: ${name}`, async (t) => {
    t.same(named(history), want);
  });
}

t.test('only the last MIX_WINDOW events count for the mix', async (t) => {
  const history = [...Array.from({ length: 30 }, (_, i) => ev(i, 'CreateVolume')), ...Array.from({ length: 20 }, (_, i) => ev(100 + i, 'DescribeVolumes'))];
  const f = named(history);
  t.equal(f.mix0, 10);
  t.equal(f.mix1, 0);
  t.equal(f.historyBucket, 6); // 50 events
  t.equal(f.runLength, 8); // capped
});
