// Owns: CatalogSnapshot in isolation — placementOf rules (explicit first, hashing over active shards only) and its lookup cost.
import t from 'tap';
import { CatalogSnapshot, CatalogErrorCode, type ShardRow } from '../../proxy/catalog/Catalog.js';

const shardRows = (n: number, inactive: string[] = [], draining: string[] = []): ShardRow[] =>
  Array.from({ length: n }, (_, i) => {
    const name = `s${i}`;
    const status = inactive.includes(name) ? 'inactive' : draining.includes(name) ? 'draining' : 'active';
    return { id: i + 1, name, host: 'h', port: 5432, database: 'app', status, version: 1 };
  });

t.test('hashing only over active shards; explicit placements win, even on a draining shard', async (t) => {
  const snap = CatalogSnapshot.empty().apply(1, shardRows(4, ['s3'], ['s2']), []);
  const keys = Array.from({ length: 10000 }, (_, i) => `acct-${i}_volume`);
  const used = new Set(keys.map((k) => snap.placementOf(k).shard.name));
  t.same([...used].sort(), ['s0', 's1'], 'draining and inactive shards get no hashed keys');
  const next = snap.apply(2, shardRows(4, ['s3'], ['s2']), [
    { shard_key: keys[0], shard_id: 3, version: 1 },
    { shard_key: keys[1], shard_id: 4, version: 5 },
    { shard_key: keys[2], shard_id: null, version: 2 },
  ]);
  t.same(next.placementOf(keys[0]), { shard: next.shard('s2'), explicit: true, version: 1 });
  t.same(next.placementOf(keys[1]), { shard: next.shard('s3'), explicit: true, version: 5 }, 'inactive: reported, caller decides');
  t.same(next.placementOf(keys[2]), { shard: snap.placementOf(keys[2]).shard, explicit: false, version: 2 });
  t.equal(snap.placementOf(keys[0]).explicit, false, 'older snapshot untouched');
  t.equal(next.explicitPlacements().length, 2);
  t.throws(() => CatalogSnapshot.empty().apply(1, shardRows(2, ['s0', 's1']), []).placementOf('k'), {
    code: CatalogErrorCode.NoActiveShards,
  });
});

t.test('placementOf cost (no timed assertion; target well under 1 µs)', async (t) => {
  const N = 100_000;
  const keys = Array.from({ length: N }, (_, i) => `acct-${i >> 2}_${['volume', 'snapshot', 'instance', 'network'][i & 3]}`);
  for (const n of [3, 16]) {
    // 1000 explicit placements among the keys
    const placed = keys.filter((_, i) => i % 100 === 0).map((k) => ({ shard_key: k, shard_id: 1, version: 1 }));
    const snap = CatalogSnapshot.empty().apply(1, shardRows(n), placed);
    let sink = 0;
    for (const k of keys) sink += snap.placementOf(k).version;
    let best = Infinity;
    for (let rep = 0; rep < 5; rep++) {
      const t0 = process.hrtime.bigint();
      for (const k of keys) sink += snap.placementOf(k).version;
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / N);
    }
    // fresh flat key strings (as decoded from wire bytes) defeat V8's cached string hash
    const fresh = keys.map((k) => Buffer.from(k).toString('utf8'));
    const t0 = process.hrtime.bigint();
    for (const k of fresh) sink += snap.placementOf(k).version;
    const cold = Number(process.hrtime.bigint() - t0) / N;
    t.comment(`placementOf, ${n} shards, 1000 explicit: ${best.toFixed(1)} ns warm (best of 5 × 100k), ${cold.toFixed(1)} ns with fresh key strings`);
    t.ok(sink > 0);
  }
});
