// Owns: Planner — nothing moves until the imbalance has lasted `sustain`; then the moves that cut the peak most per row
// moved, within max_concurrent_moves and max_moves_per_hour; a moved key cools down; a key hotter than a shard's fair
// share is reported, not moved; a dry run records nothing.
import t from 'tap';
import { Planner, type PlannerConfig, type PlannerInput } from '../../proxy/shardManager/Planner.js';

const CFG: PlannerConfig = { imbalance: 1.25, sustain: 10, max_concurrent_moves: 2, max_moves_per_hour: 3, cooldown: 300 };

/** s1 carries 3 warm tenants beside the others' even load */
const skewed = (): PlannerInput => ({
  shards: [{ shard: 's1', load: 700 }, { shard: 's2', load: 200 }, { shard: 's3', load: 300 }],
  keys: [
    { key: 'a_volume', shard: 's1', load: 150 },
    { key: 'b_volume', shard: 's1', load: 150 },
    { key: 'c_volume', shard: 's1', load: 100 },
    { key: 'd_volume', shard: 's2', load: 50 },
  ],
  running: 0,
});

t.test('an imbalance must last `sustain` seconds; then the best moves, busiest to idlest', async (t) => {
  let now = 0;
  const p = new Planner(CFG, () => now);
  const first = p.plan(skewed());
  t.equal(first.moves.length, 0, 'not at once');
  t.match(first.held, /imbalance for 0 s of 10 s/);
  t.equal(first.peak, 1.75);
  now = 11_000;
  const plan = p.plan(skewed());
  t.same(plan.moves.map((m) => [m.key, m.from, m.to]), [['a_volume', 's1', 's2'], ['b_volume', 's1', 's3']], 'two moves (max_concurrent_moves), each to the idlest shard then');
  t.ok(plan.moves.every((m) => m.peakAfter < m.peakBefore), 'each lowers the peak');
  now = 12_000;
  t.equal(p.plan(skewed()).moves.length, 1, 'cooling down: a and b stay; one more within the hour budget (3)');
  now = 13_000;
  t.match(p.plan(skewed()).held, /max_moves_per_hour used/);
});

t.test('fewer rows moved wins when the gain is alike', async (t) => {
  let now = 0;
  const p = new Planner({ ...CFG, sustain: 0, max_concurrent_moves: 1 }, () => now);
  const input = skewed();
  const rows = new Map([['a_volume', 10_000], ['b_volume', 10]]);
  const plan = p.plan({ ...input, rows: (k) => rows.get(k) ?? 1_000 });
  t.equal(plan.moves[0]!.key, 'b_volume', 'the same load for a thousandth of the rows');
  now += 1;
});

t.test('a key hotter than a shard\'s fair share is reported, not chased', async (t) => {
  const p = new Planner({ ...CFG, sustain: 0 }, () => 0);
  const plan = p.plan({
    shards: [{ shard: 's1', load: 900 }, { shard: 's2', load: 100 }],
    keys: [{ key: 'hot_volume', shard: 's1', load: 800 }, { key: 'x_volume', shard: 's1', load: 100 }],
    running: 0,
  });
  t.same(plan.tooHot.map((k) => k.key), ['hot_volume']);
  t.same(plan.moves.map((m) => m.key), ['x_volume'], 'the other key of its shard moves instead');
});

t.test('in balance, or one shard only: nothing moves; a dry run records nothing', async (t) => {
  const p = new Planner({ ...CFG, sustain: 0 }, () => 0);
  t.match(p.plan({ shards: [{ shard: 's1', load: 110 }, { shard: 's2', load: 100 }], keys: [], running: 0 }).held, 'in balance');
  t.match(p.plan({ shards: [{ shard: 's1', load: 100 }], keys: [], running: 0 }).held, 'fewer than two shards');
  const dry = p.plan(skewed(), true);
  t.equal(dry.moves.length, 2);
  t.equal(p.plan(skewed(), true).moves.length, 2, 'the same again: nothing was recorded');
  t.match(p.plan({ ...skewed(), running: 2 }).held, 'max_concurrent_moves under way');
});
