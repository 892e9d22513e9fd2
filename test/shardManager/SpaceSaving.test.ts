// Owns: SpaceSaving — exact while the keys fit, and on a skewed stream every key heavier than total/capacity kept, with
// count ≥ true weight ≥ count - error for every counter.
import t from 'tap';
import { SpaceSaving } from '../../proxy/shardManager/SpaceSaving.js';

/** a deterministic Zipf(s) stream over n keys */
function zipfStream(n: number, s: number, length: number, seed = 7): string[] {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
  const sum = weights.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const w of weights) cdf.push((acc += w / sum));
  let x = seed;
  const rand = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length }, () => {
    const r = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return `acct-${lo}`;
  });
}

t.test('exact while every key has a counter', async (t) => {
  const s = new SpaceSaving(4);
  for (const [k, w] of [['a', 3], ['b', 1], ['a', 2], ['c', 5]] as const) s.offer(k, w, 1, 10);
  t.same(s.top(3).map((h) => [h.key, h.count, h.error, h.rows, h.us]), [['a', 5, 0, 2, 20], ['c', 5, 0, 1, 10], ['b', 1, 0, 1, 10]]);
  t.equal(s.total, 11);
});

t.test('a new key takes over the smallest counter, inheriting its count as error', async (t) => {
  const s = new SpaceSaving(2);
  s.offer('a', 5);
  s.offer('b', 2);
  s.offer('c', 1);
  t.same(s.get('c'), { key: 'c', count: 3, error: 2, rows: 0, us: 0 });
  t.equal(s.get('b'), undefined);
  t.equal(s.size, 2);
});

t.test('a Zipf stream: the heavy keys are all found, every count within its error', async (t) => {
  const cases = [
    { keys: 10_000, s: 1.1, capacity: 64 },
    { keys: 10_000, s: 1.5, capacity: 32 },
    { keys: 1_000, s: 0.8, capacity: 128 },
  ];
  for (const c of cases) {
    const stream = zipfStream(c.keys, c.s, 200_000);
    const truth = new Map<string, number>();
    const sketch = new SpaceSaving(c.capacity);
    for (const k of stream) {
      truth.set(k, (truth.get(k) ?? 0) + 1);
      sketch.offer(k);
    }
    const name = `${c.keys} keys, Zipf ${c.s}, ${c.capacity} counters`;
    t.ok(sketch.size <= c.capacity, `${name}: bounded`);
    let bad = 0;
    for (const h of sketch.entries()) {
      const tv = truth.get(h.key) ?? 0;
      if (!(h.count >= tv && tv >= h.count - h.error)) bad++;
    }
    t.equal(bad, 0, `${name}: count ≥ true ≥ count - error for every counter`);
    const threshold = stream.length / c.capacity;
    const heavy = [...truth].filter(([, v]) => v > threshold).map(([k]) => k);
    t.ok(heavy.every((k) => sketch.get(k) !== undefined), `${name}: all ${heavy.length} keys above total/capacity kept`);
    const top5 = [...truth].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k]) => k);
    t.same(sketch.top(5).map((h) => h.key), top5, `${name}: the top 5 in order`);
  }
});
