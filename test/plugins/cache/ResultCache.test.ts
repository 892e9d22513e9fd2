// Tests for plugins/cache/ResultCache.ts (pure, injected clock): hits and misses, the version-token check (an entry is
// served only while its key's token is the one it was stored with), the TTL backstop, the per-entry cap, LRU eviction
// bounded in bytes, replacement, clear, and the per-domain counters staying equal to what the store holds.
import t from 'tap';
import { ResultCache, type CacheEntry, type DomainStats } from '../../../plugins/cache/ResultCache.js';

/** An entry of `bytes` bytes (one frame of that size) stored with `token`. */
function entry(bytes: number, token = 1, domain = 'volume', storedAt = 0): CacheEntry {
  const frame = Buffer.alloc(bytes, 0x44);
  return { frames: [frame], rowDescription: null, bytes, token, placementKey: `acct-1_${domain}`, domain, storedAt };
}

/** A settable clock. */
function clock(start = 0): { now: () => number; set(ms: number): void } {
  let ms = start;
  return { now: () => ms, set: (v: number) => void (ms = v) };
}

/** Sums of the per-domain counters that describe what is stored. */
function held(c: ResultCache): { bytes: number; entries: number } {
  let bytes = 0;
  let entries = 0;
  for (const s of c.byDomain.values()) {
    bytes += s.bytes;
    entries += s.entries;
  }
  return { bytes, entries };
}

t.test('a miss, a fill, then hits; counters per domain', async (t) => {
  const c = new ResultCache(10_000, 1_000, 0);
  t.equal(c.get('k', 1, 'volume'), undefined, 'empty cache: a miss');
  const e = entry(100);
  t.equal(c.set('k', e), true, 'stored');
  t.equal(c.get('k', 1, 'volume'), e, 'a hit returns the stored entry');
  t.equal(c.get('k', 1, 'volume'), e, 'and again');
  t.equal(c.get('other', 1, 'volume'), undefined, 'another key misses');
  t.same(c.stats('volume'), { hits: 2, misses: 2, fills: 1, invalidations: 0, evictions: 0, bytes: 100, entries: 1, prefetched: 0, prefetchUsed: 0, prefetchWasted: 0, prefetchSavedUs: 0 } satisfies DomainStats);
  t.same(c.stats('snapshot'), { hits: 0, misses: 0, fills: 0, invalidations: 0, evictions: 0, bytes: 0, entries: 0, prefetched: 0, prefetchUsed: 0, prefetchWasted: 0, prefetchSavedUs: 0 }, 'an untouched domain has zero counters');
  t.equal(c.size, 1);
  t.equal(c.totalBytes, 100);
});

t.test('version tokens: an entry is served only with the token it was stored with', async (t) => {
  // stored with token `stored`, asked for while the key's current token is `current`
  const cases: { name: string; stored: number; current: number; hit: boolean }[] = [
    { name: 'same token', stored: 5, current: 5, hit: true },
    { name: 'a write moved the token on by one', stored: 5, current: 6, hit: false },
    { name: 'many writes later', stored: 5, current: 500, hit: false },
    { name: 'token 0 (no version seen yet) stays servable while 0', stored: 0, current: 0, hit: true },
    { name: 'from 0 to 1', stored: 0, current: 1, hit: false },
    { name: 'a current token below the stored one (a tracker epoch) is not served either', stored: 5, current: 4, hit: false },
  ];
  for (const k of cases) {
    const c = new ResultCache(10_000, 1_000, 0);
    c.set('k', entry(64, k.stored));
    const got = c.get('k', k.current, 'volume');
    t.equal(got !== undefined, k.hit, `${k.name}: ${k.hit ? 'hit' : 'miss'}`);
    const s = c.stats('volume');
    if (k.hit) {
      t.same([s.hits, s.misses, s.invalidations, c.size, c.totalBytes], [1, 0, 0, 1, 64], `${k.name}: counted as a hit, entry kept`);
    } else {
      t.same([s.hits, s.misses, s.invalidations, c.size, c.totalBytes, s.entries, s.bytes], [0, 1, 1, 0, 0, 0, 0], `${k.name}: a miss and an invalidation; the stale entry is gone`);
      // the stale entry is dropped, not kept for a later token: the old token never brings it back
      t.equal(c.get('k', k.stored, 'volume'), undefined, `${k.name}: asking again with the old token misses`);
    }
  }
});

t.test('TTL backstop with an injected clock', async (t) => {
  const cases: { name: string; ttl: number; age: number; hit: boolean }[] = [
    { name: 'no TTL: a day later still served', ttl: 0, age: 86_400_000, hit: true },
    { name: 'within the TTL', ttl: 1000, age: 999, hit: true },
    { name: 'exactly at the TTL', ttl: 1000, age: 1000, hit: true },
    { name: 'one ms past the TTL', ttl: 1000, age: 1001, hit: false },
    { name: 'long past the TTL', ttl: 1000, age: 60_000, hit: false },
  ];
  for (const k of cases) {
    const clk = clock(10_000);
    const c = new ResultCache(10_000, 1_000, k.ttl, clk.now);
    c.set('k', entry(10, 1, 'volume', 10_000));
    clk.set(10_000 + k.age);
    t.equal(c.get('k', 1, 'volume') !== undefined, k.hit, k.name);
    t.equal(c.size, k.hit ? 1 : 0, `${k.name}: ${k.hit ? 'kept' : 'dropped'}`);
    t.equal(c.stats('volume').invalidations, k.hit ? 0 : 1, `${k.name}: invalidations`);
  }
});

t.test('size caps: an entry over max_entry_bytes or over max_bytes is refused', async (t) => {
  const cases: { name: string; maxBytes: number; maxEntry: number; bytes: number; stored: boolean }[] = [
    { name: 'under both caps', maxBytes: 1000, maxEntry: 100, bytes: 99, stored: true },
    { name: 'exactly the entry cap', maxBytes: 1000, maxEntry: 100, bytes: 100, stored: true },
    { name: 'one byte over the entry cap', maxBytes: 1000, maxEntry: 100, bytes: 101, stored: false },
    { name: 'entry cap above the total: the total bounds it', maxBytes: 50, maxEntry: 100, bytes: 51, stored: false },
    { name: 'exactly the total', maxBytes: 50, maxEntry: 100, bytes: 50, stored: true },
  ];
  for (const k of cases) {
    const c = new ResultCache(k.maxBytes, k.maxEntry, 0);
    t.equal(c.set('k', entry(k.bytes)), k.stored, `${k.name}: set() says ${k.stored}`);
    t.equal(c.size, k.stored ? 1 : 0, `${k.name}: size`);
    t.equal(c.totalBytes, k.stored ? k.bytes : 0, `${k.name}: bytes`);
    t.equal(c.stats('volume').fills, k.stored ? 1 : 0, `${k.name}: fills`);
  }
  // a refused entry does not touch what is there
  const c = new ResultCache(1000, 100, 0);
  const kept = entry(80);
  c.set('k', kept);
  t.equal(c.set('k', entry(101)), false, 'an oversized replacement is refused');
  t.equal(c.get('k', 1, 'volume'), kept, 'and the old entry is still served');
});

t.test('replacing a key counts its bytes once', async (t) => {
  const c = new ResultCache(1000, 1000, 0);
  c.set('k', entry(100, 1));
  const newer = entry(300, 2);
  c.set('k', newer);
  t.equal(c.size, 1);
  t.equal(c.totalBytes, 300);
  t.same(held(c), { bytes: 300, entries: 1 });
  t.equal(c.stats('volume').fills, 2);
  t.equal(c.get('k', 1, 'volume'), undefined, 'the replaced token is no longer served');
  c.set('k', newer);
  t.equal(c.get('k', 2, 'volume'), newer, 'the new one is');
});

t.test('LRU eviction in bytes: least recently used first, a hit refreshes', async (t) => {
  const cases: { name: string; ops: string[]; left: string[]; evictions: number }[] = [
    // each entry is 100 bytes, the cache holds 300
    { name: 'the fourth fill evicts the first', ops: ['set a', 'set b', 'set c', 'set d'], left: ['b', 'c', 'd'], evictions: 1 },
    { name: 'a hit on the oldest makes the second the victim', ops: ['set a', 'set b', 'set c', 'get a', 'set d'], left: ['a', 'c', 'd'], evictions: 1 },
    { name: 'refilling a key refreshes it too', ops: ['set a', 'set b', 'set c', 'set a', 'set d'], left: ['a', 'c', 'd'], evictions: 1 },
    { name: 'a big entry evicts several', ops: ['set a', 'set b', 'set c', 'set big'], left: ['c', 'big'], evictions: 2 },
    { name: 'an entry the size of the whole cache evicts all others', ops: ['set a', 'set b', 'set whole'], left: ['whole'], evictions: 2 },
    { name: 'every entry hit: each gets a second chance, then the oldest goes', ops: ['set a', 'set b', 'set c', 'get a', 'get b', 'get c', 'set d'], left: ['b', 'c', 'd'], evictions: 1 },
    { name: 'hits after a second chance count again', ops: ['set a', 'set b', 'set c', 'get a', 'set d', 'get a', 'set e'], left: ['a', 'd', 'e'], evictions: 2 },
    { name: 'a miss does not refresh anything', ops: ['set a', 'set b', 'set c', 'get x', 'set d'], left: ['b', 'c', 'd'], evictions: 1 },
  ];
  const sizes: Record<string, number> = { big: 200, whole: 300 };
  for (const k of cases) {
    const c = new ResultCache(300, 300, 0);
    for (const op of k.ops) {
      const [verb, key] = op.split(' ') as [string, string];
      if (verb === 'set') c.set(key, entry(sizes[key] ?? 100));
      else c.get(key, 1, 'volume');
    }
    t.equal(c.stats('volume').evictions, k.evictions, `${k.name}: evictions`);
    t.ok(c.totalBytes <= 300, `${k.name}: within max_bytes (${c.totalBytes})`);
    // read last: a get refreshes the order, which no longer matters here
    const left = ['a', 'b', 'c', 'd', 'e', 'big', 'whole', 'x'].filter((key) => c.get(key, 1, 'volume') !== undefined);
    t.same(left.sort(), [...k.left].sort(), `${k.name}: what is left`);
  }
});

t.test('evictions are counted in the victim\'s domain', async (t) => {
  const c = new ResultCache(200, 200, 0);
  c.set('v', entry(100, 1, 'volume'));
  c.set('s', entry(100, 1, 'snapshot'));
  c.set('s2', entry(100, 1, 'snapshot'));
  t.equal(c.stats('volume').evictions, 1, 'the volume entry was the victim');
  t.equal(c.stats('snapshot').evictions, 0);
  t.same([c.stats('volume').entries, c.stats('volume').bytes], [0, 0]);
  t.same([c.stats('snapshot').entries, c.stats('snapshot').bytes], [2, 200]);
});

t.test('a long mixed sequence never exceeds max_bytes and the counters match the store', async (t) => {
  const maxBytes = 5_000;
  const clk = clock(0);
  const c = new ResultCache(maxBytes, 1_200, 500, clk.now);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const tokens = new Map<string, number>();
  const domains = ['volume', 'snapshot', 'instance'];
  let servedStale = 0;
  let overBound = 0;
  let mismatch = 0;
  for (let i = 0; i < 5_000; i++) {
    clk.set(i);
    const key = `k${rand(40)}`;
    const domain = domains[Number(key.slice(1)) % 3]!;
    const op = rand(10);
    if (op < 4) {
      tokens.set(key, (tokens.get(key) ?? 0) + (rand(3) === 0 ? 1 : 0));
      c.set(key, entry(1 + rand(1_400), tokens.get(key) ?? 0, domain, i));
    } else if (op < 5) {
      tokens.set(key, (tokens.get(key) ?? 0) + 1); // a write
    } else {
      const current = tokens.get(key) ?? 0;
      const got = c.get(key, current, domain);
      if (got && (got.token !== current || i - got.storedAt > 500)) servedStale++;
    }
    if (c.totalBytes > maxBytes) overBound++;
    const h = held(c);
    if (h.bytes !== c.totalBytes || h.entries !== c.size) mismatch++;
  }
  t.equal(servedStale, 0, 'no entry served with a token other than the current one, or past its TTL');
  t.equal(overBound, 0, 'total bytes never above max_bytes');
  t.equal(mismatch, 0, 'per-domain bytes and entries always sum to the store\'s');
  const all = [...c.byDomain.values()];
  t.ok(all.reduce((n, s) => n + s.hits, 0) > 0, 'the sequence had hits');
  t.ok(all.reduce((n, s) => n + s.evictions, 0) > 0, 'and evictions');
  t.ok(all.reduce((n, s) => n + s.invalidations, 0) > 0, 'and invalidations');
});

t.test('clear() empties the store and its byte counters, and keeps the traffic counters', async (t) => {
  const c = new ResultCache(1000, 1000, 0);
  c.set('a', entry(100, 1, 'volume'));
  c.set('b', entry(200, 1, 'snapshot'));
  c.get('a', 1, 'volume');
  c.clear();
  t.equal(c.size, 0);
  t.equal(c.totalBytes, 0);
  t.same(held(c), { bytes: 0, entries: 0 });
  t.equal(c.stats('volume').hits, 1, 'hits survive a clear');
  t.equal(c.stats('volume').fills, 1, 'fills survive a clear');
  t.equal(c.get('a', 1, 'volume'), undefined, 'nothing served after a clear');
});
