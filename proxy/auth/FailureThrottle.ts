// FailureThrottle owns counting failed logins per source address and saying how late a failure is answered.
//
// Like PgBouncer's and Postgres' auth_delay: only failures are delayed, a right password never is, and the delay is a
// timer, never a wait on the event loop. The table is bounded: beyond `maxAddresses` the least recently failed
// address is forgotten.

export interface FailureThrottleOptions {
  /** failures within the window before further failures are delayed */
  limit: number;
  windowMs: number;
  delayMs: number;
}

interface Entry {
  count: number;
  windowStart: number;
}

export class FailureThrottle {
  private readonly table = new Map<string, Entry>();

  constructor(
    private readonly options: () => FailureThrottleOptions,
    private readonly now: () => number = Date.now,
    readonly maxAddresses = 10_000,
  ) {}

  /** Records a failed login from `address`; returns how many ms its answer is to be delayed (0: at once). */
  fail(address: string): number {
    const { limit, windowMs, delayMs } = this.options();
    const t = this.now();
    let e = this.table.get(address);
    if (e) this.table.delete(address);
    if (!e || t - e.windowStart >= windowMs) e = { count: 0, windowStart: t };
    e.count++;
    // most recent last: the first entry is the one to forget
    this.table.set(address, e);
    if (this.table.size > this.maxAddresses) this.table.delete(this.table.keys().next().value!);
    return e.count > limit ? delayMs : 0;
  }

  /** Failures counted for `address` in its current window (for tests and SHOW commands). */
  failures(address: string): number {
    const e = this.table.get(address);
    if (!e || this.now() - e.windowStart >= this.options().windowMs) return 0;
    return e.count;
  }

  get size(): number {
    return this.table.size;
  }
}
