// Pool owns the server connections of one shard and server user: idle list, waiting queue with timeout, growth, idle expiry, PAUSE.
import type { ShardConfig } from '../../config/schema.js';
import { ServerConnection, type ServerIdentity } from '../connection/ServerConnection.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { logger } from '../logger.js';
import { ServerPipeline, type PipelineOwner } from './ServerPipeline.js';

export type AcquireCallback = (err: ProxyError | null, conn: ServerConnection | null) => void;

interface Waiter {
  cb: AcquireCallback;
  timer: NodeJS.Timeout | null;
  done: boolean;
  /** the caller's signal (its client left): the waiter leaves the queue */
  signal: AbortSignal | null;
  onAbort: (() => void) | null;
}

export interface PoolOptions {
  size: number;
  queueTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

export class Pool implements PipelineOwner {
  private readonly idle: ServerConnection[] = [];
  /** connections carrying several clients' autocommit Queries at once (pool.pipeline > 1) */
  private readonly pipelines: ServerPipeline[] = [];
  private readonly waiters: Waiter[] = [];
  private waitHead = 0;
  /** waiters not served, timed out or gone yet (the queue also holds settled ones until they reach its head) */
  private pending = 0;
  /** open or opening connections */
  private total = 0;
  private opening = 0;
  private readonly all = new Set<ServerConnection>();
  private readonly sweeper: NodeJS.Timeout;
  closed = false;
  /** PAUSE: no connection is handed out; requests wait in the queue (their queue timeout runs) until resume() */
  private held = false;
  /** PAUSE callers waiting for every connection to be back */
  private drainWaiters: (() => void)[] = [];
  /** counters for SHOW POOLS / stats */
  readonly stats = { acquired: 0, waited: 0, timeouts: 0, connectFailures: 0, opened: 0, closedConns: 0 };

  constructor(
    /** the context's key of this pool (its connections carry it as poolKey) */
    readonly key: string,
    readonly shard: ShardConfig,
    /** the server user (and password) every connection of this pool logs in with */
    readonly identity: ServerIdentity,
    readonly options: PoolOptions,
    /** the clock of idle expiry (lastUsed and the sweep); tests inject one */
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweepIdle(this.now()), Math.max(250, Math.min(5000, options.idleTimeoutMs / 2 || 1000)));
    this.sweeper.unref();
  }

  get size(): number { return this.options.size; }
  /** the server user of this pool's connections */
  get user(): string { return this.identity.user; }
  get idleCount(): number { return this.idle.length; }
  get activeCount(): number { return this.total - this.idle.length - this.opening; }
  get waitingCount(): number { return this.pending; }
  get totalCount(): number { return this.total; }
  /** true between pause() and resume() */
  get paused(): boolean { return this.held; }
  /** every open connection (idle, handed out, being reset), for SHOW SERVERS */
  connections(): ServerConnection[] { return [...this.all]; }
  /** whether `conn` sits in the idle list */
  isIdle(conn: ServerConnection): boolean { return this.idle.includes(conn); }

  /**
   * PAUSE: from now on no connection is handed out — requests wait in the queue, counted as waiting, each still
   * bounded by the queue timeout — and no connection is opened. Resolves once every connection is back (the
   * transactions in flight have finished), or at resume().
   */
  pause(): Promise<void> {
    this.held = true;
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkDrained();
    });
  }

  /** RESUME: the requests held since pause() get connections, in the order they came. */
  resume(): void {
    if (!this.held) return;
    this.held = false;
    this.settleDrainWaiters();
    for (const c of this.idle.splice(0)) this.release(c);
    while (this.waitingCount > 0 && this.total < this.options.size && this.opening < this.waitingCount) this.grow();
  }

  private checkDrained(): void {
    if (this.drainWaiters.length > 0 && this.activeCount <= 0) this.settleDrainWaiters();
  }

  private settleDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * A connection: an idle one at once, else the first to come free or be opened; rejects with a 53300-class error
   * after the queue timeout (57P01 once the pool is closed). `signal`: the caller went away (its client left) — it
   * leaves the queue at once, so nobody waits behind it and PAUSE does not count it. Callers on the hot path try
   * `tryAcquire` first.
   */
  acquire(signal?: AbortSignal): Promise<ServerConnection> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => this.wait((err, c) => (c ? resolve(c) : reject(err ?? new ProxyError('POOL_ERROR', 'no server connection', SqlState.ConnectionFailure))), signal));
  }

  /** Hands out an idle connection at once (the synchronous fast path), or null: then `acquire` waits for one. */
  tryAcquire(): ServerConnection | null {
    if (this.held) return null;
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.closed) {
        this.stats.acquired++;
        conn.handedOutAt = this.now();
        return conn;
      }
    }
    return null;
  }

  /**
   * For background work (prefetch): an idle connection only when no client waits for one; never opens a connection
   * and never queues, so background requests cannot take a connection a client is waiting for. null: try later.
   */
  tryAcquireBackground(): ServerConnection | null {
    if (this.waitingCount > 0) return null;
    return this.tryAcquire();
  }

  /**
   * pool.pipeline > 1: a connection an autocommit Query of a client with these settings can ride, with fewer than
   * `depth` Queries in flight on it — one already carrying others first (so that many clients' Queries share a few
   * connections and their writes), else an idle one with the same settings. null (take the usual path) when there is
   * none, or when a client waits for a connection of its own: then no pipeline takes riders, so one drains and its
   * connection goes to that client.
   */
  tryPipeline(settingsKey: string, depth: number): ServerPipeline | null {
    if (this.closed || this.held || this.waitingCount > 0) return null;
    for (const p of this.pipelines) if (p.settingsKey === settingsKey && p.depth < depth && !p.conn.closed) return p;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if (c.closed || c.setParamsKey !== settingsKey) continue;
      this.idle.splice(i, 1);
      this.stats.acquired++;
      c.handedOutAt = this.now();
      const p = new ServerPipeline(c, settingsKey, this);
      this.pipelines.push(p);
      return p;
    }
    return null;
  }

  /** A pipeline carries nothing any more: its connection goes back like any other. */
  pipelineEmpty(pipe: ServerPipeline): void {
    const i = this.pipelines.indexOf(pipe);
    if (i >= 0) this.pipelines.splice(i, 1);
    this.release(pipe.conn);
  }

  /** Queues for a connection; the callback gets one, or a 53300-class error after the queue timeout. */
  private wait(cb: AcquireCallback, signal?: AbortSignal): void {
    if (this.closed) {
      cb(new ProxyError('POOL_CLOSED', 'the pool is shutting down', SqlState.AdminShutdown), null);
      return;
    }
    if (signal?.aborted) {
      cb(new ProxyError('CLIENT_GONE', 'the client went away', SqlState.ConnectionFailure), null);
      return;
    }
    const waiter: Waiter = { cb, timer: null, done: false, signal: signal ?? null, onAbort: null };
    if (this.options.queueTimeoutMs > 0) {
      waiter.timer = setTimeout(() => {
        if (waiter.done) return;
        this.settle(waiter);
        this.stats.timeouts++;
        if (this.held) cb(new ProxyError('POOL_QUEUE_TIMEOUT', `pool queue timeout: shard "${this.shard.name}" is paused (PAUSE) and was not resumed within ${this.options.queueTimeoutMs} ms`, SqlState.TooManyConnections), null);
        else cb(new ProxyError('POOL_QUEUE_TIMEOUT', `pool queue timeout: no server connection to shard "${this.shard.name}" as user "${this.identity.user}" became free within ${this.options.queueTimeoutMs} ms (pool size ${this.options.size})`, SqlState.TooManyConnections), null);
      }, this.options.queueTimeoutMs);
    }
    if (signal) {
      waiter.onAbort = () => {
        if (waiter.done) return;
        this.settle(waiter);
        cb(new ProxyError('CLIENT_GONE', 'the client went away', SqlState.ConnectionFailure), null);
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
    }
    this.waiters.push(waiter);
    this.pending++;
    this.stats.waited++;
    this.grow();
  }

  /** A waiter leaves the queue's count (served, timed out, failed or gone); its entry is skipped when it reaches the head. */
  private settle(w: Waiter): void {
    w.done = true;
    this.pending--;
    if (w.timer) clearTimeout(w.timer);
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
  }

  private nextWaiter(): Waiter | null {
    while (this.waitHead < this.waiters.length) {
      const w = this.waiters[this.waitHead++]!;
      if (this.waitHead > 1024 && this.waitHead * 2 > this.waiters.length) {
        this.waiters.splice(0, this.waitHead);
        this.waitHead = 0;
      }
      if (!w.done) return w;
    }
    this.waiters.length = 0;
    this.waitHead = 0;
    return null;
  }

  private grow(): void {
    if (this.held || this.total >= this.options.size || this.opening >= this.waitingCount) return;
    this.total++;
    this.opening++;
    ServerConnection.connect(this.shard, this.identity, this.options.connectTimeoutMs).then(
      (conn) => {
        this.opening--;
        this.stats.opened++;
        this.all.add(conn);
        conn.poolKey = this.key;
        conn.setCloseHandler((c) => this.forget(c, 'closed'));
        logger.info('server connection opened', { shard: this.shard.name, user: this.identity.user, server: conn.id, backend_pid: conn.pid });
        if (this.closed) {
          conn.terminate();
          return;
        }
        this.release(conn);
      },
      (err: ProxyError) => {
        this.opening--;
        this.total--;
        this.stats.connectFailures++;
        logger.warn('server connection failed', { shard: this.shard.name, user: this.identity.user, sqlstate: err.sqlState, reason: err.message });
        // every waiter would meet the same failure: tell them now rather than at their timeout
        let w;
        while ((w = this.nextWaiter())) {
          this.settle(w);
          w.cb(err, null);
        }
      },
    );
  }

  /** Returns a connection: to the first waiter, else to the idle list. */
  release(conn: ServerConnection): void {
    conn.owner = null;
    if (conn.closed) return;
    if (conn.unsynced || conn.txStatus !== 0x49) {
      // only a connection seen idle after a Sync is clean: anything else could carry one client's transaction to another
      logger.warn('a server connection in an unknown state was closed instead of pooled', { shard: this.shard.name, server: conn.id, unsynced: conn.unsynced, tx: String.fromCharCode(conn.txStatus) });
      this.discard(conn);
      return;
    }
    // a CancelRequest for the request just finished may still reach the server: nobody gets the connection before
    if (conn.cancelling) {
      conn.afterCancel(() => this.release(conn));
      return;
    }
    if (conn.socket.isPaused()) conn.socket.resume();
    conn.lastUsed = this.now();
    const w = this.held ? null : this.nextWaiter();
    if (w) {
      this.settle(w);
      this.stats.acquired++;
      conn.handedOutAt = this.now();
      w.cb(null, conn);
      return;
    }
    if (this.closed) {
      conn.terminate();
      return;
    }
    this.idle.push(conn);
    if (this.held) this.checkDrained();
  }

  /** Closes a connection that is in an unknown state; a waiter may get a fresh one. */
  discard(conn: ServerConnection): void {
    conn.owner = null;
    conn.destroy();
    this.forget(conn, 'discarded: its state was unknown (a client left mid-request or mid-transaction)');
  }

  private forget(conn: ServerConnection, reason: string): void {
    if (!this.all.delete(conn)) return;
    logger.info('server connection closed', { shard: this.shard.name, user: this.identity.user, server: conn.id, backend_pid: conn.pid, reason, age_ms: Date.now() - conn.connectedAt });
    this.total--;
    this.stats.closedConns++;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    const p = this.pipelines.findIndex((x) => x.conn === conn);
    if (p >= 0) this.pipelines.splice(p, 1);
    if (this.held) this.checkDrained();
    else if (this.waitingCount > 0) this.grow();
  }

  /** Closes idle connections unused for longer than idleTimeoutMs; the sweeper timer calls it (tests call it directly). */
  sweepIdle(now: number = this.now()): void {
    if (this.options.idleTimeoutMs <= 0) return;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if (now - c.lastUsed > this.options.idleTimeoutMs) {
        this.idle.splice(i, 1);
        c.terminate();
        this.forget(c, `idle for more than ${this.options.idleTimeoutMs} ms (pool.idle_timeout_ms)`);
      }
    }
  }

  /** Closes idle connections now and the rest as they come back. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.idle.splice(0)) c.terminate();
    let w;
    while ((w = this.nextWaiter())) {
      this.settle(w);
      w.cb(new ProxyError('POOL_CLOSED', 'the pool is shutting down', SqlState.AdminShutdown), null);
    }
  }
}
