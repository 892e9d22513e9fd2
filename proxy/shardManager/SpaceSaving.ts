// SpaceSaving owns finding the heaviest keys of a stream in bounded memory (Metwally et al.'s Space-Saving): at most `capacity` counters, each key's count overestimated by at most its `error`.

/** A counted key: `count` ≥ its true weight ≥ `count - error`; `rows` and `us` are summed since it was last taken in. */
export interface HeavyHitter {
  key: string;
  count: number;
  error: number;
  rows: number;
  us: number;
  /** the last tag offered with the key (the shard a placement key was routed to) */
  tag?: string;
}

/**
 * Weighted Space-Saving over a binary min-heap of the counters (offer is O(log capacity)). Any key whose true weight
 * is above total / capacity is guaranteed to be among the counters.
 */
export class SpaceSaving {
  private readonly heap: HeavyHitter[] = [];
  private readonly at = new Map<string, number>();
  /** the sum of every weight offered */
  total = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('SpaceSaving capacity must be at least 1');
  }

  get size(): number {
    return this.heap.length;
  }

  /** Counts `weight` for `key` (and rows and backend µs alongside, not used for the ranking). */
  offer(key: string, weight = 1, rows = 0, us = 0, tag?: string): void {
    this.total += weight;
    const i = this.at.get(key);
    if (i !== undefined) {
      const c = this.heap[i]!;
      c.count += weight;
      c.rows += rows;
      c.us += us;
      if (tag !== undefined) c.tag = tag;
      this.down(i);
      return;
    }
    if (this.heap.length < this.capacity) {
      this.heap.push({ key, count: weight, error: 0, rows, us, tag });
      this.at.set(key, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    // the smallest counter is taken over: the new key inherits its count as possible overestimate
    const min = this.heap[0]!;
    this.at.delete(min.key);
    this.heap[0] = { key, count: min.count + weight, error: min.count, rows, us, tag };
    this.at.set(key, 0);
    this.down(0);
  }

  /** The counter of `key`, if it has one. */
  get(key: string): HeavyHitter | undefined {
    const i = this.at.get(key);
    return i === undefined ? undefined : this.heap[i];
  }

  /** The `n` largest counters, largest first. */
  top(n: number): HeavyHitter[] {
    return [...this.heap].sort((a, b) => b.count - a.count || a.key.localeCompare(b.key)).slice(0, n);
  }

  /** every counter, in no order */
  entries(): readonly HeavyHitter[] {
    return this.heap;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.count <= h[i]!.count) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && h[l]!.count < h[m]!.count) m = l;
      if (r < n && h[r]!.count < h[m]!.count) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b;
    h[j] = a;
    this.at.set(b.key, i);
    this.at.set(a.key, j);
  }
}
