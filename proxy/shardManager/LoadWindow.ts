// LoadWindow owns the shard manager's view of load: a rolling window of per-second buckets with requests, rows and backend time per shard (exact) and per placement key and account_action key (the heaviest, by Space-Saving in bounded memory).
import { SpaceSaving, type HeavyHitter } from './SpaceSaving.js';

/** One finished request, as the window counts it. */
export interface LoadSample {
  shard: string;
  /** `account_domain`, when the request had a key */
  placementKey?: string;
  /** `account_action`, when the request named an action */
  actionKey?: string;
  rows: number;
  /** time from sending to the server to its last answer, µs */
  backendUs: number;
  error: boolean;
}

export interface ShardLoad {
  shard: string;
  requests: number;
  rows: number;
  backendUs: number;
  errors: number;
}

export interface KeyLoad {
  key: string;
  /** requests in the window (an overestimate by at most `error`) */
  requests: number;
  error: number;
  rows: number;
  backendUs: number;
  /** requests / all requests in the window */
  share: number;
  /** the shard it was last routed to (placement keys) */
  shard?: string;
  /** its requests by the shard they went to (per second, the shard of that second's last request) */
  byShard?: Record<string, number>;
}

interface Bucket {
  second: number;
  shards: Map<string, ShardLoad>;
  placement: SpaceSaving;
  action: SpaceSaving;
  requests: number;
}

export class LoadWindow {
  private readonly buckets: Bucket[];
  private current: Bucket;

  constructor(
    /** seconds the window covers */
    readonly seconds: number,
    /** counters per bucket for each kind of key */
    readonly heavyHitters: number,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = Array.from({ length: seconds }, () => this.emptyBucket(-1));
    this.current = this.buckets[0]!;
  }

  private emptyBucket(second: number): Bucket {
    return { second, shards: new Map(), placement: new SpaceSaving(this.heavyHitters), action: new SpaceSaving(this.heavyHitters), requests: 0 };
  }

  /** The bucket of this second (older buckets of the same slot are cleared). */
  private bucket(): Bucket {
    const second = Math.floor(this.now() / 1000);
    if (this.current.second === second) return this.current;
    const slot = ((second % this.seconds) + this.seconds) % this.seconds;
    let b = this.buckets[slot]!;
    if (b.second !== second) this.buckets[slot] = b = this.emptyBucket(second);
    this.current = b;
    return b;
  }

  record(s: LoadSample): void {
    const b = this.bucket();
    b.requests++;
    let sh = b.shards.get(s.shard);
    if (sh === undefined) b.shards.set(s.shard, (sh = { shard: s.shard, requests: 0, rows: 0, backendUs: 0, errors: 0 }));
    sh.requests++;
    sh.rows += s.rows;
    sh.backendUs += s.backendUs;
    if (s.error) sh.errors++;
    if (s.placementKey !== undefined) b.placement.offer(s.placementKey, 1, s.rows, s.backendUs, s.shard);
    if (s.actionKey !== undefined) b.action.offer(s.actionKey, 1, s.rows, s.backendUs);
  }

  /** buckets of the last `seconds` seconds (this one included; at most the whole window) */
  private live(seconds = this.seconds): Bucket[] {
    const second = Math.floor(this.now() / 1000);
    const span = Math.max(1, Math.min(seconds, this.seconds));
    return this.buckets.filter((b) => b.second > second - span && b.second <= second);
  }

  /** Totals per shard over the window, or its last `seconds` (shards with no request are absent). */
  shardLoad(seconds?: number): ShardLoad[] {
    const out = new Map<string, ShardLoad>();
    for (const b of this.live(seconds)) {
      for (const s of b.shards.values()) {
        const o = out.get(s.shard) ?? { shard: s.shard, requests: 0, rows: 0, backendUs: 0, errors: 0 };
        o.requests += s.requests;
        o.rows += s.rows;
        o.backendUs += s.backendUs;
        o.errors += s.errors;
        out.set(s.shard, o);
      }
    }
    return [...out.values()].sort((a, b) => a.shard.localeCompare(b.shard));
  }

  /** All requests in the window, or in its last `seconds`. */
  requests(seconds?: number): number {
    return this.live(seconds).reduce((n, b) => n + b.requests, 0);
  }

  /** The heaviest placement keys (`account_domain`) or account_action keys over the window (or its last `seconds`), heaviest first. */
  hotspots(kind: 'placement' | 'action', n: number, seconds?: number): KeyLoad[] {
    const merged = new Map<string, { requests: number; error: number; rows: number; backendUs: number; shard?: string; second: number; byShard: Record<string, number> }>();
    let all = 0;
    for (const b of this.live(seconds).sort((x, y) => x.second - y.second)) {
      all += b.requests;
      const sketch = b[kind];
      for (const c of sketch.entries() as HeavyHitter[]) {
        const m = merged.get(c.key) ?? { requests: 0, error: 0, rows: 0, backendUs: 0, second: b.second, byShard: {} };
        m.requests += c.count;
        m.error += c.error;
        m.rows += c.rows;
        m.backendUs += c.us;
        // buckets oldest first: the newest shard wins
        if (c.tag !== undefined) {
          m.shard = c.tag;
          m.byShard[c.tag] = (m.byShard[c.tag] ?? 0) + c.count;
        }
        merged.set(c.key, m);
      }
    }
    return [...merged]
      .sort((a, b) => b[1].requests - a[1].requests || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([key, m]) => ({ key, requests: m.requests, error: m.error, rows: m.rows, backendUs: m.backendUs, share: all > 0 ? m.requests / all : 0, ...(m.shard !== undefined ? { shard: m.shard, byShard: m.byShard } : {}) }));
  }
}
