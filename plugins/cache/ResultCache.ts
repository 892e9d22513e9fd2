// ResultCache owns the cache's store: response frames by key, each tagged with its key's version token, bounded in
// bytes (LRU by second chance), with a per-entry cap, an optional TTL backstop and counters per domain.

export interface CacheEntry {
  /** the RowDescription, if any, then DataRow… CommandComplete as the server sent them, encoded in one buffer */
  frames: Buffer[];
  /** the RowDescription frame, if any (replayed only when the request describes its portal) */
  rowDescription: Buffer | null;
  bytes: number;
  /** the version token of `placementKey` when the read was sent (and still when it completed) */
  token: number;
  placementKey: string;
  domain: string;
  storedAt: number;
  /** hit since it was stored or last spared by eviction (the CLOCK bit; set by the cache) */
  used?: boolean;
  /** stored by a prefetch and not hit yet (a hit counts it used; leaving unhit counts it wasted) */
  prefetched?: boolean;
  /** a prefetched entry: the backend time, µs, its first hit saves */
  savesUs?: number;
  /** an account slice (AccountSlice): all the account's rows of a table, in this column's order (null: the server's) */
  slice?: { orderBy: string | null };
  /** a prefetched entry: what kind of prefetch it was (told back with its outcome) */
  origin?: string;
}

/** Told when a prefetched entry is used for the first time, or leaves the cache never used. */
export type PrefetchOutcome = (e: CacheEntry, used: boolean) => void;

export interface DomainStats {
  hits: number;
  misses: number;
  fills: number;
  /** entries found stale (their key's token moved) or dropped while filling */
  invalidations: number;
  evictions: number;
  bytes: number;
  entries: number;
  /** entries a prefetch stored; of them, hit by a client; left (stale, evicted, replaced) without a hit */
  prefetched: number;
  prefetchUsed: number;
  prefetchWasted: number;
  /** backend time the used prefetched entries saved, µs */
  prefetchSavedUs: number;
}

const emptyStats = (): DomainStats => ({ hits: 0, misses: 0, fills: 0, invalidations: 0, evictions: 0, bytes: 0, entries: 0, prefetched: 0, prefetchUsed: 0, prefetchWasted: 0, prefetchSavedUs: 0 });

export class ResultCache {
  private readonly entries = new Map<string, CacheEntry>();
  private bytes = 0;
  readonly byDomain = new Map<string, DomainStats>();

  constructor(
    readonly maxBytes: number,
    readonly maxEntryBytes: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  stats(domain: string): DomainStats {
    let s = this.byDomain.get(domain);
    if (s === undefined) this.byDomain.set(domain, (s = emptyStats()));
    return s;
  }

  get size(): number {
    return this.entries.size;
  }
  get totalBytes(): number {
    return this.bytes;
  }

  /** the last get() that hit was the first hit of an entry a prefetch stored */
  lastHitPrefetched = false;

  /** the prefetcher's ear: each prefetched entry's outcome (used, or left unused) */
  onPrefetchOutcome: PrefetchOutcome | null = null;

  /** The entry for `key` if its token is `current` (and within the TTL), counted as a hit; a stale one is dropped. */
  get(key: string, current: number, domain: string): CacheEntry | undefined {
    const e = this.lookup(key, current, domain);
    if (e === undefined) this.stats(domain).misses++;
    else this.hit(e, domain);
    return e;
  }

  /** The entry for `key` if its token is `current` (and within the TTL), not counted; a stale one is dropped. */
  lookup(key: string, current: number, domain: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.token !== current || (this.ttlMs > 0 && this.now() - e.storedAt > this.ttlMs)) {
      this.remove(key, e);
      this.stats(domain).invalidations++;
      return undefined;
    }
    return e;
  }

  /** `e` answered a request: a hit (and a prefetched entry's first use). */
  hit(e: CacheEntry, domain: string): void {
    const s = this.stats(domain);
    // LRU by second chance (CLOCK): a hit only marks the entry; eviction moves marked entries to the end instead of
    // evicting them. Moving the entry on every hit (delete + set) made the Map rehash its tombstones: 7 % of a hit's CPU
    e.used = true;
    s.hits++;
    this.lastHitPrefetched = e.prefetched === true || e.slice !== undefined;
    if (e.prefetched === true) {
      e.prefetched = false;
      s.prefetchUsed++;
      s.prefetchSavedUs += e.savesUs ?? 0;
      this.onPrefetchOutcome?.(e, true);
    } else if (e.slice !== undefined) s.prefetchSavedUs += e.savesUs ?? 0; // a slice saves a read each time it answers
  }

  /** Whether a current entry is there (no counting: a prefetch asks before it reads). */
  has(key: string, current: number): boolean {
    const e = this.entries.get(key);
    return e !== undefined && e.token === current && !(this.ttlMs > 0 && this.now() - e.storedAt > this.ttlMs);
  }

  /** Stores an entry (replacing one under the same key); false when it is over the per-entry cap. */
  set(key: string, e: CacheEntry): boolean {
    if (e.bytes > this.maxEntryBytes || e.bytes > this.maxBytes) return false;
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    this.entries.set(key, e);
    this.bytes += e.bytes;
    const s = this.stats(e.domain);
    s.fills++;
    if (e.prefetched === true) s.prefetched++;
    s.bytes += e.bytes;
    s.entries++;
    // oldest first; an entry hit since it was stored gets a second chance at the end (entries moved during the loop are
    // visited again, unmarked, so it ends)
    for (const [k, victim] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (victim === e) continue; // the entry just stored is never its own victim (it fits: checked above)
      if (victim.used === true) {
        victim.used = false;
        this.entries.delete(k);
        this.entries.set(k, victim);
        continue;
      }
      this.remove(k, victim);
      this.stats(victim.domain).evictions++;
    }
    return true;
  }

  private remove(key: string, e: CacheEntry): void {
    this.entries.delete(key);
    this.bytes -= e.bytes;
    const s = this.stats(e.domain);
    s.bytes -= e.bytes;
    s.entries--;
    if (e.prefetched === true) {
      s.prefetchWasted++;
      this.onPrefetchOutcome?.(e, false);
    }
  }

  clear(): void {
    for (const [k, e] of this.entries) this.remove(k, e);
  }
}
