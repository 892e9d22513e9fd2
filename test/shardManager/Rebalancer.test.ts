// Owns: Rebalancer — the loop on an injected clock over a real LoadWindow and a stand-in mover: a hot-tenant step is
// acted on within `recent` + `sustain` seconds (the whole window would dilute it), a key hotter than a shard's fair
// share is reported and never moved, `moves: false` only plans until a RELOAD switches it on, and a draining or drained
// shard (not active in the catalog) is never a target, however idle.
import t from 'tap';
import type { Config } from '../../config/schema.js';
import { LoadWindow } from '../../proxy/shardManager/LoadWindow.js';
import type { Mover } from '../../proxy/shardManager/Mover.js';
import { Rebalancer } from '../../proxy/shardManager/Rebalancer.js';

const SHARDS = ['s0', 's1', 's2', 's3'];

interface Sim {
  /** moves started: [key, to, second] */
  moves: [string, string, number][];
  cfg: { shard_manager: Record<string, unknown> };
  /** shards the mover does not accept (draining or drained in the catalog) */
  closed: Set<string>;
  /** runs `seconds` more seconds of load (requests per second per key), the loop looking once a second */
  run(seconds: number, load: (second: number) => Record<string, number>): Promise<void>;
}

function sim(shardManager: Record<string, unknown>): Sim {
  let now = 0;
  const window = new LoadWindow(Number(shardManager.window ?? 60), 64, () => now);
  const placement = new Map<string, string>();
  const shardOf = (key: string): string => placement.get(key) ?? SHARDS[Number(/\d+/.exec(key)?.[0] ?? 0) % SHARDS.length]!;
  const moves: [string, string, number][] = [];
  const closed = new Set<string>();
  const cfg = {
    shards: SHARDS.map((name) => ({ name, user: 'mover' })),
    sharding: { domains: { volume: {} } },
    shard_manager: { imbalance: 1.25, sustain: 10, max_concurrent_moves: 2, max_moves_per_hour: 60, cooldown: 300, fence_timeout_ms: 5000, recent: 10, moves: true, ...shardManager },
  };
  const mover = {
    move: async (account: string, domain: string, to: string): Promise<void> => {
      const key = `${account}_${domain}`;
      moves.push([key, to, now / 1000]);
      placement.set(key, to);
    },
    accepts: (shard: string): boolean => !closed.has(shard),
  } as unknown as Mover;
  const r = new Rebalancer(() => cfg as unknown as Config, window, mover, shardOf, () => now);
  return {
    moves,
    cfg,
    closed,
    async run(seconds, load) {
      const start = now / 1000;
      for (let s = 0; s < seconds; s++) {
        for (const [key, n] of Object.entries(load(start + s))) {
          const shard = shardOf(key);
          for (let i = 0; i < n; i++) window.record({ shard, placementKey: key, rows: 0, backendUs: 1, error: false });
        }
        now += 1000;
        r.tick();
        await new Promise((res) => setImmediate(res)); // the stand-in moves settle
      }
    },
  };
}

/** 40 tenants of 10 requests per second, ten on each shard */
const even = (): Record<string, number> => Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`t${i}_volume`, 10]));

t.test('a hot-tenant step: acted on within recent + sustain seconds, the shards even again, the hot key itself not moved', async (t) => {
  const cases: { name: string; recent: number; hot: number; within: number }[] = [
    // t4 (on s0) steps from 10 to 70 per second: 160 on s0 of a mean 115 (1.39); it alone is below the mean. Over the
    // last 10 s the peak passes 1.25 once 7 of them are after the step, then `sustain` (10 s)
    { name: 'recent 10 s', recent: 10, hot: 70, within: 18 },
    // the same over the whole 60-s window: the step is diluted; 1.25 is passed after 37 s, and 10 s more
    { name: 'recent = the whole window (60 s)', recent: 60, hot: 70, within: 50 },
    // t4 steps to 200 per second: more than a shard's fair share (mean 147.5): reported, never moved
    { name: 'a key hotter than the mean', recent: 10, hot: 200, within: 13 },
  ];
  for (const c of cases) {
    const s = sim({ recent: c.recent });
    await s.run(60, even);
    t.same(s.moves, [], `${c.name}: balanced, nothing moves`);
    await s.run(60, () => ({ ...even(), t4_volume: c.hot }));
    t.ok(s.moves.length > 0, `${c.name}: moves made: ${s.moves.map((m) => m.join(' ')).join(', ')}`);
    const first = s.moves[0]![2] - 60;
    t.ok(first <= c.within && first >= c.within - 5, `${c.name}: the first move ${first} s after the step (${c.within - 5}–${c.within})`);
    t.notOk(s.moves.some((m) => m[0] === 't4_volume'), `${c.name}: the hot key itself stays (moving it would move the hot spot)`);
    t.ok(s.moves.every((m) => m[1] !== 's0'), `${c.name}: nothing moves onto the hot shard`);
  }
});

t.test('moves: false plans only; switched on (RELOAD), the loop moves after `sustain`', async (t) => {
  const s = sim({ moves: false });
  const skewed = (): Record<string, number> => ({ ...even(), t0_volume: 60, t8_volume: 60 });
  await s.run(30, skewed);
  t.same(s.moves, [], 'nothing moves while moves is false');
  s.cfg.shard_manager.moves = true;
  await s.run(15, skewed);
  t.ok(s.moves.length > 0, `moves once on: ${s.moves.map((m) => m.join(' ')).join(', ')}`);
  t.ok(s.moves[0]![2] >= 30 + 10, 'not before the imbalance has lasted `sustain` seconds since switched on');
});

t.test('the planner follows a RELOAD of its thresholds', async (t) => {
  const s = sim({ imbalance: 2 });
  const skewed = (): Record<string, number> => ({ ...even(), t0_volume: 60, t8_volume: 60 });
  await s.run(20, skewed);
  t.same(s.moves, [], 'peak-to-mean 1.87 is below an imbalance of 2');
  s.cfg.shard_manager.imbalance = 1.25;
  await s.run(15, skewed);
  t.ok(s.moves.length > 0, 'above the reloaded 1.25: moves');
});

t.test('a shard the mover does not accept (draining or drained): never a target, its keys left to the drain', async (t) => {
  const s = sim({});
  s.closed.add('s3');
  // s3's keys idle (being drained), s0 hot: s3 is the idlest shard, the one the planner would pick were it offered
  const skewed = (): Record<string, number> => Object.fromEntries(Object.entries({ ...even(), t0_volume: 60, t8_volume: 60 }).filter(([k]) => Number(/\d+/.exec(k)![0]) % 4 !== 3));
  await s.run(40, skewed);
  t.ok(s.moves.length > 0, `moves made: ${s.moves.map((m) => m.join(' ')).join(', ')}`);
  t.ok(s.moves.every((m) => m[1] !== 's3'), 'none to the draining shard');
  t.ok(s.moves.every((m) => Number(/\d+/.exec(m[0])![0]) % 4 !== 3), 'none of its keys moved by the planner');
});
