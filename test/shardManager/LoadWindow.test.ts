// Owns: LoadWindow — per-second buckets on an injected clock: totals per shard over the window, old seconds dropped,
// the heaviest keys merged across buckets with their share.
import t from 'tap';
import { LoadWindow } from '../../proxy/shardManager/LoadWindow.js';

t.test('shard totals and hot keys over the window; seconds older than the window are gone', async (t) => {
  let now = 1_000_000;
  const w = new LoadWindow(10, 16, () => now);
  const rec = (shard: string, account: string, rows = 1): void =>
    w.record({ shard, placementKey: `${account}_volume`, actionKey: `${account}_DescribeVolumes`, rows, backendUs: 100, error: false });
  for (let s = 0; s < 5; s++) {
    for (let i = 0; i < 8; i++) rec('s1', 'acct-7');
    rec('s2', 'acct-1', 3);
    rec('s2', 'acct-2', 3);
    now += 1000;
  }
  t.same(w.shardLoad(), [
    { shard: 's1', requests: 40, rows: 40, backendUs: 4000, errors: 0 },
    { shard: 's2', requests: 10, rows: 30, backendUs: 1000, errors: 0 },
  ]);
  const hot = w.hotspots('placement', 2);
  t.same(hot.map((h) => [h.key, h.requests, h.share]), [['acct-7_volume', 40, 0.8], ['acct-1_volume', 5, 0.1]]);
  t.equal(w.hotspots('action', 1)[0]!.key, 'acct-7_DescribeVolumes');
  // at second 11 of the run (seconds 0–4 recorded) the window holds seconds 2–11: the first two have left
  now += 6000;
  t.equal(w.requests(), 30, 'three seconds of 10 requests left');
  now += 10_000;
  t.same(w.shardLoad(), [], 'nothing once the window has passed');
  // a slot is reused for a new second: its old counts do not come back
  rec('s1', 'acct-9');
  t.same(w.hotspots('placement', 5).map((h) => h.key), ['acct-9_volume']);
});

t.test('errors are counted per shard; a request without a key counts for its shard only', async (t) => {
  const w = new LoadWindow(5, 8, () => 0);
  w.record({ shard: 's1', rows: 0, backendUs: 10, error: true });
  w.record({ shard: 's1', placementKey: 'a_x', rows: 2, backendUs: 10, error: false });
  t.same(w.shardLoad(), [{ shard: 's1', requests: 2, rows: 2, backendUs: 20, errors: 1 }]);
  t.same(w.hotspots('placement', 5).map((h) => [h.key, h.share]), [['a_x', 0.5]]);
});

t.test('a key routed to another shard later: its requests by shard, and the newest shard', async (t) => {
  let now = 0;
  const w = new LoadWindow(10, 8, () => now);
  for (let i = 0; i < 3; i++) w.record({ shard: 's0', placementKey: 'a_x', rows: 0, backendUs: 1, error: false });
  now += 1000;
  for (let i = 0; i < 2; i++) w.record({ shard: 's1', placementKey: 'a_x', rows: 0, backendUs: 1, error: false });
  const [k] = w.hotspots('placement', 1);
  t.equal(k!.shard, 's1');
  t.same(k!.byShard, { s0: 3, s1: 2 });
});

t.test('the last `seconds` of the window: shard totals, hot keys and their shares over that span only', async (t) => {
  let now = 0;
  const w = new LoadWindow(60, 16, () => now);
  const rec = (shard: string, key: string, n: number): void => {
    for (let i = 0; i < n; i++) w.record({ shard, placementKey: key, rows: 0, backendUs: 1, error: false });
  };
  // 50 s of a steady tenant, then 5 s in which another one steps up
  for (let s = 0; s < 55; s++) {
    rec('s0', 'steady_x', 10);
    if (s >= 50) rec('s1', 'step_x', 30);
    now += 1000;
  }
  now -= 1000; // still in the last second recorded
  const cases: [span: number | undefined, s0: number, s1: number, top: string, share: number][] = [
    [undefined, 550, 150, 'steady_x', 550 / 700],
    [60, 550, 150, 'steady_x', 550 / 700],
    [10, 100, 150, 'step_x', 150 / 250],
    [5, 50, 150, 'step_x', 150 / 200],
    [1000, 550, 150, 'steady_x', 550 / 700], // at most the whole window
  ];
  for (const [span, s0, s1, top, share] of cases) {
    t.same(w.shardLoad(span).map((s) => [s.shard, s.requests]), [['s0', s0], ['s1', s1]], `shards over ${span ?? 'the window'}`);
    const [k] = w.hotspots('placement', 1, span);
    t.same([k!.key, k!.share], [top, share], `the hottest over ${span ?? 'the window'}`);
    t.equal(w.requests(span), s0 + s1);
  }
});
