// Tests metrics.ts: top-1/top-3, log loss (with its floor) and expected calibration error on hand-computed examples.
import t from 'tap';
import { ScoreBoard, LOG_LOSS_FLOOR } from '../../proxy/prediction/metrics.js';
import type { Prediction } from '../../proxy/prediction/Predictor.js';

const P = (...xs: [string, number][]): Prediction[] => xs.map(([action, p]) => ({ action, p }));

const CASES: { name: string; cases: [Prediction[], string][]; want: { top1: number; top3: number; logLoss: number; ece: number; meanConfidence: number } }[] = [
  {
    name: 'four predictions, four bins',
    cases: [
      [P(['A', 0.8], ['B', 0.2]), 'A'], // top-1 hit, conf 0.8 (bin 8)
      [P(['A', 0.6], ['B', 0.3], ['C', 0.1]), 'C'], // top-3 hit, conf 0.6 (bin 6)
      [P(['B', 0.5], ['A', 0.5]), 'A'], // top-3 hit, conf 0.5 (bin 5)
      [P(['A', 1]), 'D'], // unknown action: p floored; conf 1.0 falls in the last bin
    ],
    want: {
      top1: 1 / 4,
      top3: 3 / 4,
      logLoss: -(Math.log(0.8) + Math.log(0.1) + Math.log(0.5) + Math.log(LOG_LOSS_FLOOR)) / 4, // 4.2586
      ece: (0.2 + 0.6 + 0.5 + 1) / 4, // each bin holds one prediction: |accuracy − confidence| weighted 1/4
      meanConfidence: (0.8 + 0.6 + 0.5 + 1) / 4,
    },
  },
  {
    name: 'two predictions in one bin average before the difference',
    cases: [
      [P(['A', 0.7], ['B', 0.3]), 'A'],
      [P(['A', 0.75], ['B', 0.25]), 'B'],
    ],
    want: { top1: 0.5, top3: 1, logLoss: -(Math.log(0.7) + Math.log(0.25)) / 2, ece: Math.abs(0.5 - 0.725), meanConfidence: 0.725 },
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const b = new ScoreBoard();
    for (const [p, actual] of c.cases) b.add(p, actual);
    const s = b.scores();
    t.equal(s.n, c.cases.length);
    for (const k of Object.keys(c.want) as (keyof typeof c.want)[]) t.ok(Math.abs(s[k] - c.want[k]) < 1e-12, `${k}: ${s[k]} ≈ ${c.want[k]}`);
  });
}

t.test('the hand-computed log loss of the first example', async (t) => {
  t.ok(Math.abs(-(Math.log(0.8) + Math.log(0.1) + Math.log(0.5) + Math.log(1e-6)) / 4 - 4.258596) < 1e-6);
});

t.test('no predictions: NaN scores, not a division by zero', async (t) => {
  t.ok(Number.isNaN(new ScoreBoard().scores().top1));
});
