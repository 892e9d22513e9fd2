// KeyFence owns the per-key hold of the request path: while a placement key is fenced (a tenant being moved), requests
// for it wait before they take a server connection, and go on in order, routed again, when it opens.

/** The hold on one key: when it was closed, and who waits. */
interface Hold {
  since: number;
  waiters: (() => void)[];
}

export class KeyFence {
  private readonly holds = new Map<string, Hold>();
  /** sessions whose request or open transaction uses each key */
  private readonly using = new Map<string, number>();
  private readonly drainWaiters = new Map<string, (() => void)[]>();

  /** A session's request or transaction uses `key` (until leave). */
  enter(key: string): void {
    this.using.set(key, (this.using.get(key) ?? 0) + 1);
  }

  /** The session's request ended, or its transaction (committed, rolled back, or the session gone). */
  leave(key: string): void {
    const n = (this.using.get(key) ?? 0) - 1;
    if (n > 0) {
      this.using.set(key, n);
      return;
    }
    this.using.delete(key);
    const waiters = this.drainWaiters.get(key);
    if (waiters === undefined) return;
    this.drainWaiters.delete(key);
    for (const w of waiters) w();
  }

  /** sessions using `key` now */
  users(key: string): number {
    return this.using.get(key) ?? 0;
  }

  /** Resolves once no session uses `key` (at once when none does). */
  drained(key: string): Promise<void> {
    if (!this.using.has(key)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.drainWaiters.get(key) ?? [];
      list.push(resolve);
      this.drainWaiters.set(key, list);
    });
  }

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether new requests for `key` wait now (no waiter is added). */
  isClosed(key: string): boolean {
    return this.holds.has(key);
  }

  /** null: the key is open, go on (the fast path: one map lookup); else a Promise that resolves when it opens. */
  admit(key: string): Promise<void> | null {
    if (this.holds.size === 0) return null;
    const hold = this.holds.get(key);
    if (hold === undefined) return null;
    return new Promise((resolve) => hold.waiters.push(resolve));
  }

  /** New requests for `key` wait from now on (closing a closed key changes nothing). */
  close(key: string): void {
    if (!this.holds.has(key)) this.holds.set(key, { since: this.now(), waiters: [] });
  }

  /** Requests waiting for `key` go on, in the order they came; returns how many waited. */
  open(key: string): number {
    const hold = this.holds.get(key);
    if (hold === undefined) return 0;
    this.holds.delete(key);
    for (const go of hold.waiters) go();
    return hold.waiters.length;
  }

  /** The fenced keys, with how long each has been closed and how many requests wait (for the admin console). */
  fenced(): { key: string; closedMs: number; waiting: number }[] {
    const at = this.now();
    return [...this.holds].map(([key, h]) => ({ key, closedMs: at - h.since, waiting: h.waiters.length }));
  }
}
