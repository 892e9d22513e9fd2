// Owns: the consistent-hashing properties of ShardRing (minimal movement on add/remove, balance) and its lookup cost.
import t from 'tap';
import { ShardRing } from '../../proxy/catalog/ShardRing.js';

const N = 100_000;
const DOMAINS = ['volume', 'snapshot', 'instance', 'network'];
const keys = Array.from({ length: N }, (_, i) => `acct-${i >> 2}_${DOMAINS[i & 3]}`);
const names = Array.from({ length: 17 }, (_, i) => `shard-${String.fromCharCode(97 + i)}`);

function owners(ring: ShardRing): string[] {
  return keys.map((k) => ring.ownerName(k)!);
}

t.test('adding a shard to n moves ~1/(n+1) of keys, only onto the new shard', async (t) => {
  let worst = 0;
  const figures: string[] = [];
  for (let n = 1; n <= 15; n++) {
    const before = owners(new ShardRing(names.slice(0, n)));
    const after = owners(new ShardRing(names.slice(0, n + 1)));
    let moved = 0;
    let elsewhere = 0;
    for (let i = 0; i < N; i++) {
      if (before[i] !== after[i]) {
        moved++;
        if (after[i] !== names[n]) elsewhere++;
      }
    }
    const expected = N / (n + 1);
    const rel = Math.abs(moved - expected) / expected;
    worst = Math.max(worst, rel);
    figures.push(`${n}->${n + 1}: ${(moved / N).toFixed(4)}`);
    t.equal(elsewhere, 0, `n=${n}: no key moves between old shards`);
    t.ok(rel < 0.1, `n=${n}: moved ${moved}, expected ${expected.toFixed(0)} (rel err ${rel.toFixed(4)})`);
  }
  t.comment(`moved fractions ${figures.join(', ')}; worst relative error ${worst.toFixed(4)}`);
});

t.test('removing any one shard moves only that shard\'s keys', async (t) => {
  for (const n of [2, 3, 5, 8, 16]) {
    const full = names.slice(0, n);
    const before = owners(new ShardRing(full));
    let bad = 0;
    for (const gone of full) {
      const after = owners(new ShardRing(full.filter((x) => x !== gone)));
      for (let i = 0; i < N; i++) if (before[i] !== after[i] && before[i] !== gone) bad++;
    }
    t.equal(bad, 0, `n=${n}: removing each shard in turn moves only its own keys`);
  }
});

t.test('per-shard key counts within ±10% of the mean (n ≤ 16, 100k keys)', async (t) => {
  let worst = 0;
  for (let n = 1; n <= 16; n++) {
    const counts = new Map<string, number>();
    for (const o of owners(new ShardRing(names.slice(0, n)))) counts.set(o, (counts.get(o) ?? 0) + 1);
    t.equal(counts.size, n, `n=${n}: every shard gets keys`);
    const mean = N / n;
    let dev = 0;
    for (const c of counts.values()) dev = Math.max(dev, Math.abs(c - mean) / mean);
    worst = Math.max(worst, dev);
    t.ok(dev <= 0.1, `n=${n}: max deviation ${(dev * 100).toFixed(2)}%`);
  }
  t.comment(`worst per-shard deviation over n=1..16: ${(worst * 100).toFixed(2)}%`);
});

t.test('lookups are deterministic and independent of shard order', async (t) => {
  const a = new ShardRing(['x', 'y', 'z']);
  const b = new ShardRing(['z', 'x', 'y']);
  const differ = keys.slice(0, 20000).filter((k) => a.ownerName(k) !== b.ownerName(k)).length;
  t.equal(differ, 0, 'same owners whatever the order of the shard list');
  t.equal(new ShardRing([]).lookup('k'), undefined, 'empty ring');
  t.equal(new ShardRing(['only']).lookup('k'), 'only', 'one shard');
  t.throws(() => new ShardRing(['a', 'a']), 'duplicate names rejected');
});

t.test('lookup cost (no timed assertion)', async (t) => {
  for (const n of [3, 16]) {
    const ring = new ShardRing(names.slice(0, n));
    let sink = 0;
    for (const k of keys) sink += ring.indexOf(k); // warm up
    let best = Infinity;
    for (let rep = 0; rep < 5; rep++) {
      const t0 = process.hrtime.bigint();
      for (const k of keys) sink += ring.indexOf(k);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / N);
    }
    t.comment(`ShardRing ${n} shards: ${best.toFixed(1)} ns/lookup (best of 5 × 100k, key ~16 chars)`);
    t.ok(sink >= 0);
  }
});
