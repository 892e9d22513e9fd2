// VersionTracker owns the proxy's view of shard-key versions: one LISTEN connection per shard, per-key tokens that only grow, reconnect with back-off and epochs.
//
// Tokens. One process-wide counter; every event that may make cached data stale takes the next value:
//   - a version notification `<key> <version>` newer than the last version seen for that key on that shard
//     → the key's token;
//   - localWrite(key) (a write through this proxy) → the key's token;
//   - a notification for `*_<domain>` (TRUNCATE) → the domain's token;
//   - a LISTEN connection lost, and again when it is back → the epoch (notifications may have been missed).
// token(key) = max(key token, epoch, token of every truncated domain d with key ending in `_<d>`), so a cache entry
// tagged with token(key) at fill time is valid exactly while token(key) still returns that value.
// Domain match: the domain is taken from the notification (`*_<domain>`: everything after the first `_`), never
// parsed out of an ordinary key, because account ids and domains (a table outside every domain is its own domain:
// `volume_attachments`) may both contain `_`. A key is treated as belonging to every truncated domain it ends with
// (`_<d>`): with domains `attachments` and `volume_attachments`, a TRUNCATE of `attachments` also changes the
// token of `acct_volume_attachments`. That can only cost a cache miss, never a stale hit.
// Before the first reconnect the epoch is 0, so token(key) is 0 for a key never seen.
//
// Versions are remembered per shard (a key moved between shards starts over on its new shard, so "newer" is
// judged per shard); version(key) is the newest seen on any shard.
import pg from 'pg';
import type { ShardConfig } from '../../config/schema.js';
import { logger as rootLogger, type Logger } from '../logger.js';
import { readVersions, TRUNCATE_ACCOUNT, VERSIONS_CHANNEL } from './ShardSchema.js';

export interface VersionTrackerOptions {
  /** first delay before re-establishing a lost LISTEN connection (default 500 ms; doubles per failed attempt) */
  reconnectMs?: number;
  /** the longest delay between attempts (default 10 000 ms) */
  maxReconnectMs?: number;
  /** a `select 1` on each LISTEN connection this often; no answer within the same time → treated as lost (default 15 000 ms, 0 = off) */
  heartbeatMs?: number;
  /** connection timeout of a LISTEN connection (default 5000 ms) */
  connectTimeoutMs?: number;
  log?: Logger;
  /** the clock of stats.lastNotificationAt (default Date.now) */
  now?: () => number;
}

export interface VersionTrackerStats {
  /** version notifications received */
  notifications: number;
  /** LISTEN connections re-established after a loss (or after failing at start) */
  reconnects: number;
  /** keys tracked (seen in a notification, the initial read or a localWrite) */
  keys: number;
  /** now() of the last notification */
  lastNotificationAt: number | null;
}

interface KeyState {
  token: number;
  version: number;
}

interface ShardListener {
  readonly config: ShardConfig;
  client: pg.Client | null;
  /** last version seen per key on this shard */
  readonly seen: Map<string, number>;
  delay: number;
  timer: NodeJS.Timeout | null;
  /** drops the current connection (heartbeat timeout) */
  drop: (() => void) | null;
}

const TRUNCATE_PREFIX = `${TRUNCATE_ACCOUNT}_`;
const APPLICATION_NAME = 'prescient-versions';

export class VersionTracker {
  readonly stats: VersionTrackerStats = { notifications: 0, reconnects: 0, keys: 0, lastNotificationAt: null };
  private readonly keys = new Map<string, KeyState>();
  /** truncated domain → its token */
  private readonly domainTokens = new Map<string, number>();
  private readonly listeners: ShardListener[];
  private readonly callbacks: ((key: string, token: number) => void)[] = [];
  private counter = 0;
  private epochToken = 0;
  private started = false;
  private stopping = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly reconnectMs: number;
  private readonly maxReconnectMs: number;

  constructor(
    shards: ShardConfig[],
    private readonly opts: VersionTrackerOptions = {},
  ) {
    this.log = opts.log ?? rootLogger.child({ component: 'versions' });
    this.now = opts.now ?? Date.now;
    this.reconnectMs = Math.max(1, opts.reconnectMs ?? 500);
    this.maxReconnectMs = Math.max(this.reconnectMs, opts.maxReconnectMs ?? 10_000);
    this.listeners = shards.map((config) => ({ config, client: null, seen: new Map(), delay: this.reconnectMs, timer: null, drop: null }));
  }

  /**
   * Opens one LISTEN connection per shard and reads the shard's current versions (LISTEN first, so nothing
   * committed in between is missed). A shard that cannot be reached (or lacks the prescient schema) is logged and
   * retried with back-off; start() does not fail for it, and `connected` stays false until it is up.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.stopping = false;
    await Promise.all(this.listeners.map((l) => this.connect(l, true)));
    this.started = true;
    const every = this.opts.heartbeatMs ?? 15_000;
    if (every > 0) {
      this.heartbeat = setInterval(() => this.beat(every), every);
      this.heartbeat.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await Promise.all(
      this.listeners.map(async (l) => {
        if (l.timer) clearTimeout(l.timer);
        l.timer = null;
        const c = l.client;
        l.client = null;
        l.drop = null;
        if (c) await endWithin(c, 1000);
      }),
    );
  }

  /** true while every shard's LISTEN connection is up */
  get connected(): boolean {
    return this.listeners.every((l) => l.client !== null);
  }

  /** the current epoch token (0 until a LISTEN connection was lost) */
  get epoch(): number {
    return this.epochToken;
  }

  /** A per-key token that only grows: changes on every newer version notification for the key, every localWrite, a TRUNCATE of its domain and every LISTEN loss/reconnect. */
  token(key: string): number {
    let t = this.keys.get(key)?.token ?? 0;
    if (this.epochToken > t) t = this.epochToken;
    if (this.domainTokens.size > 0) {
      for (const [domain, dt] of this.domainTokens) {
        if (dt > t && key.length > domain.length && key.endsWith(domain) && key.charCodeAt(key.length - domain.length - 1) === 95 /* _ */) t = dt;
      }
    }
    return t;
  }

  /** A write through this proxy touched `key` (called at dispatch and again when the transaction ends, before the client sees it). */
  localWrite(key: string): void {
    const s = this.state(key);
    s.token = ++this.counter;
    this.emit(key, s.token);
  }

  /** The newest database version seen for the key on any shard (0 if none). */
  version(key: string): number {
    return this.keys.get(key)?.version ?? 0;
  }

  /**
   * Called on every token change: (key, new token) for a key's notification or localWrite; (`*_<domain>`, token)
   * for a TRUNCATE (every key of the domain changed); ('*', epoch) when a LISTEN connection was lost or is back
   * (every key changed).
   */
  onChange(cb: (key: string, token: number) => void): void {
    this.callbacks.push(cb);
  }

  private state(key: string): KeyState {
    let s = this.keys.get(key);
    if (s === undefined) {
      s = { token: 0, version: 0 };
      this.keys.set(key, s);
      this.stats.keys = this.keys.size;
    }
    return s;
  }

  private emit(key: string, token: number): void {
    for (const cb of this.callbacks) {
      try {
        cb(key, token);
      } catch (e) {
        this.log.error('version onChange callback failed', { key, error: (e as Error).message });
      }
    }
  }

  private bumpEpoch(reason: string, shard: string): void {
    this.epochToken = ++this.counter;
    this.log.info('version epoch bumped', { reason, shard, epoch: this.epochToken });
    this.emit('*', this.epochToken);
  }

  /** Records `version` of `key` on shard `l`; bumps the token (when `bump`) if it is newer than the last seen there. */
  private observe(l: ShardListener, key: string, version: number, bump: boolean): boolean {
    const prev = l.seen.get(key) ?? 0;
    if (!(version > prev)) return false;
    l.seen.set(key, version);
    const s = this.state(key);
    if (version > s.version) s.version = version;
    if (!bump) return true;
    const token = ++this.counter;
    if (key.startsWith(TRUNCATE_PREFIX)) {
      // every key of the domain: kept apart, token(key) takes the max
      this.domainTokens.set(key.slice(TRUNCATE_PREFIX.length), token);
    }
    s.token = token;
    this.emit(key, token);
    return true;
  }

  private onNotification(l: ShardListener, n: pg.Notification): void {
    if (n.channel !== VERSIONS_CHANNEL || !n.payload) return;
    const sp = n.payload.lastIndexOf(' ');
    const version = Number(n.payload.slice(sp + 1));
    if (sp <= 0 || !Number.isFinite(version)) {
      this.log.warn('malformed version notification', { shard: l.config.name, payload: n.payload });
      return;
    }
    this.stats.notifications++;
    this.stats.lastNotificationAt = this.now();
    this.observe(l, n.payload.slice(0, sp), version, true);
  }

  private async connect(l: ShardListener, initial: boolean): Promise<void> {
    if (this.stopping) return;
    const c = l.config;
    const client = new pg.Client({
      host: c.host,
      port: c.port,
      database: c.database,
      user: c.user,
      password: c.password,
      application_name: APPLICATION_NAME,
      keepAlive: true,
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 5000,
    });
    let lost = false;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      const wasUp = l.client === client;
      if (wasUp) {
        l.client = null;
        l.drop = null;
        if (!this.stopping) {
          this.log.warn('version LISTEN connection lost', { shard: c.name, error: err?.message });
          // cached entries can no longer be trusted: writes from now until we are back go unseen
          this.bumpEpoch('listen connection lost', c.name);
        }
      }
      destroy(client);
      this.scheduleReconnect(l);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => this.onNotification(l, n));
    let versions: Map<string, bigint | number>;
    try {
      await client.connect();
      await client.query(`listen ${VERSIONS_CHANNEL}`);
      versions = await readVersions(client);
    } catch (err) {
      this.log[initial ? 'warn' : 'debug']('version LISTEN connection failed', {
        shard: c.name,
        error: (err as Error).message,
        code: (err as { code?: string }).code,
        retryInMs: l.delay,
      });
      onLost(err as Error);
      return;
    }
    if (lost) return;
    if (this.stopping) {
      await client.end().catch(() => {});
      return;
    }
    l.client = client;
    l.drop = () => onLost(new Error('heartbeat timed out'));
    l.delay = this.reconnectMs;
    // after an outage: every key whose version moved while we were away gets a new token, then a new epoch for the rest
    let changed = 0;
    for (const [key, v] of versions) if (this.observe(l, key, Number(v), !initial)) changed++;
    if (!initial) {
      this.stats.reconnects++;
      this.log.info('version LISTEN connection re-established', { shard: c.name, keysChanged: changed });
      this.bumpEpoch('listen connection re-established', c.name);
    }
  }

  private scheduleReconnect(l: ShardListener): void {
    if (this.stopping || l.timer) return;
    const delay = l.delay;
    l.delay = Math.min(delay * 2, this.maxReconnectMs);
    l.timer = setTimeout(() => {
      l.timer = null;
      void this.connect(l, false);
    }, delay);
    l.timer.unref();
  }

  private beat(timeoutMs: number): void {
    for (const l of this.listeners) {
      const client = l.client;
      if (!client) continue;
      let answered = false;
      const timer = setTimeout(() => {
        if (!answered && l.client === client) l.drop?.();
      }, timeoutMs);
      timer.unref();
      client.query('select 1').then(
        () => {
          answered = true;
          clearTimeout(timer);
        },
        () => {
          answered = true;
          clearTimeout(timer);
        },
      );
    }
  }
}

/** Ends a client cleanly, or destroys its socket if the server does not answer in time. */
async function endWithin(client: pg.Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const outcome = await Promise.race([client.end().then(() => 'ended' as const, () => 'ended' as const), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') destroy(client);
}

/** Ends a client without waiting on a socket that may be dead. */
function destroy(client: pg.Client): void {
  client.end().catch(() => {});
  (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
}
