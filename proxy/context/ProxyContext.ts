// ProxyContext owns what every session shares, built whole at start-up: config, a pool per (shard, server user), the routing parts (catalog, analyzer, router, plugins), key versions, the admin console, statement names, the client registry, cancel routing.
import { workerOfPid, type WorkerPeers } from '../workers/WorkerPeers.js';
import type tls from 'node:tls';
import type { Config, ShardConfig, UserConfig } from '../../config/schema.js';
import { Pool } from '../pool/Pool.js';
import { StatementNames } from './StatementNames.js';
import type { ClientHandle } from './ClientHandle.js';
import { logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import type { AdminSource } from '../admin/AdminConsole.js';
import type { Catalog } from '../catalog/Catalog.js';
import type { Analyzer } from '../analyzer/Analyzer.js';
import { Router } from '../router/Router.js';
import type { PluginHost } from '../plugins/PluginHost.js';
import type { ServerConnection, ServerIdentity } from '../connection/ServerConnection.js';
import { FailureThrottle } from '../auth/FailureThrottle.js';
import { KeyFence } from '../router/KeyFence.js';
import { warmVerifiers } from '../auth/verifiers.js';
import { describeReshard, type Resharder } from '../shardManager/Resharder.js';
import { RequestCounters } from '../telemetry/RequestCounters.js';

/** The version tracker as the session uses it: writes through the proxy bump a key's token. */
export interface VersionWrites {
  token(key: string): number;
  version(key: string): number;
  localWrite(key: string): void;
}

/** Everything a context is made of, opened before it is built (createProxyContext does that). */
export interface ProxyContextParts {
  config: Config;
  secureContext: tls.SecureContext | null;
  catalog: Catalog;
  analyzer: Analyzer;
  router: Router;
  plugins: PluginHost;
  /** key versions (only with the result cache), and how to stop following them */
  versions: (VersionWrites & { stop(): Promise<void> }) | null;
  /** run after DDL was applied on every shard, before the client is answered (installs version triggers) */
  afterDdl: (() => Promise<void>) | null;
  /** reads the config file again for RELOAD; absent: the proxy was started without one */
  readConfig?: () => Config;
  /** the admin console over this context (called once, at the end of the constructor) */
  admin: (ctx: ProxyContext) => AdminSource;
  /** this process is one of `workers` (config.workers > 1): the other workers, through the primary */
  peers?: WorkerPeers | null;
}

/** Pools are told apart by shard, server user and password: a client never rides on credentials it was not given. */
function poolKey(shard: string, identity: ServerIdentity): string {
  return `${shard}\u0000${identity.user}\u0000${identity.password}`;
}

export class ProxyContext {
  /** Requests are analysed and routed with several shards, plugins of the user's, the cache, the shard manager or the action log; else pass-through. */
  static needsRouting(config: Config): boolean {
    return config.shards.length > 1 || config.plugins.length > 0 || config.cache.enabled || config.shard_manager.enabled || config.action_log.enabled;
  }

  readonly statementNames = new StatementNames();
  readonly clients = new Map<number, ClientHandle>();
  private stopping = false;
  private pidCounter = Math.floor(Math.random() * 1_000_000) + 1000;
  private readonly users = new Map<string, UserConfig>();
  readonly counters = { connections: 0, refused: 0, cancels: 0 };
  /** errors by SQLSTATE, routes by kind and key source, refusals: what the request path counts for the metrics */
  readonly requestCounters = new RequestCounters();
  /** failed logins per source address (auth.failure_*) */
  readonly authFailures = new FailureThrottle(() => ({
    limit: this.config.auth.failure_limit,
    windowMs: this.config.auth.failure_window_ms,
    delayMs: this.config.auth.failure_delay_ms,
  }));
  /** totals of clients that have left (live clients are added on read) */
  readonly closedTotals = { queries: 0, bytesIn: 0, bytesOut: 0 };

  /** pools by poolKey(shard, server user, password), created on first use; each has up to pool.size connections */
  readonly pools = new Map<string, Pool>();
  /** placement keys whose requests wait (a tenant being moved): the request path's one per-key hold */
  readonly fence = new KeyFence();
  /** adds and drains shards; RELOAD's shard list goes through it (set once by createProxyContext; null: synced as given) */
  resharder: Resharder | null = null;

  private currentConfig: Config;
  readonly secureContext: tls.SecureContext | null;
  readonly catalog: Catalog;
  readonly analyzer: Analyzer;
  private currentRouter: Router;
  readonly plugins: PluginHost;
  /** key versions (only with the result cache): writes through this proxy are reported here */
  readonly versions: VersionWrites | null;
  private readonly versionTracker: { stop(): Promise<void> } | null;
  /** run after DDL was applied on every shard, before the client is answered (installs version triggers) */
  readonly afterDdl: (() => Promise<void>) | null;
  private readonly readConfig: (() => Config) | undefined;
  /** the other workers (config.workers > 1), else null */
  readonly peers: WorkerPeers | null;
  /** see `routing` */
  private routes: boolean;
  /** what the admin console reads */
  readonly adminSource: AdminSource;
  private drainWaiters: (() => void)[] = [];

  /** ParameterStatus frames a server reported for a login, by user and settings (a later such login needs no server) */
  readonly loginReports = new Map<string, Buffer>();

  rememberLogin(key: string, report: Buffer): void {
    if (this.loginReports.size >= 1000) this.loginReports.clear();
    this.loginReports.set(key, report);
  }

  constructor(parts: ProxyContextParts) {
    this.currentConfig = parts.config;
    this.secureContext = parts.secureContext;
    this.catalog = parts.catalog;
    this.analyzer = parts.analyzer;
    this.currentRouter = parts.router;
    this.plugins = parts.plugins;
    this.versions = parts.versions;
    this.versionTracker = parts.versions;
    this.afterDdl = parts.afterDdl;
    this.readConfig = parts.readConfig;
    this.peers = parts.peers ?? null;
    this.routes = ProxyContext.needsRouting(parts.config);
    for (const u of parts.config.users) this.users.set(u.name, u);
    warmVerifiers(parts.config);
    this.adminSource = parts.admin(this);
  }

  /** The config in effect (after RELOAD: the reloaded one). */
  get config(): Config {
    return this.currentConfig;
  }

  /** The router in effect (RELOAD replaces it). */
  get router(): Router {
    return this.currentRouter;
  }

  /**
   * true when requests are analysed and routed: more than one shard, plugins of the user's, or the cache.
   * False keeps the single-shard pass-through path (no analysis, no per-request allocation).
   */
  get routing(): boolean {
    return this.routes;
  }

  /** true once shutdown began: no new client is admitted, idle ones are closed */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /**
   * RELOAD: `next` (by default the config file read again) takes effect for new requests: users, log level, sharding
   * rules and new shards. A config that cannot be read changes nothing.
   */
  async reload(next?: Config): Promise<string> {
    if (next === undefined) {
      if (!this.readConfig) throw new Error('RELOAD needs a config file (the proxy was started without --config)');
      next = this.readConfig();
    }
    // pools are per (shard, server user) and made on first use: new shards and users get theirs when a client needs one
    // with the Resharder, a shard new to the ring starts outside it and comes in with its keys once `next` is in effect
    const added = this.resharder === null ? [] : await this.resharder.syncShards(next.shards, this.config.shards);
    if (this.resharder === null) await this.catalog.syncShards(next.shards.map((s) => ({ name: s.name, host: s.host, port: s.port, database: s.database })));
    this.currentRouter = new Router(next);
    logger.setLevel(next.log.level);
    // server identities or settings may differ now: the next login of each kind asks a server again
    this.loginReports.clear();
    this.currentConfig = next;
    this.users.clear();
    for (const u of next.users) this.users.set(u.name, u);
    warmVerifiers(next);
    this.routes = ProxyContext.needsRouting(next);
    logger.info('configuration reloaded', { shards: next.shards.map((s) => s.name) });
    const adding = added.length === 0 || this.resharder === null ? '' : `; ${describeReshard(await this.resharder.addShards(added))}`;
    return `RELOAD: ${next.shards.length} shard(s), epoch ${this.catalog.epoch}${adding}`;
  }

  /** The configured shard of that name (after RELOAD: the reloaded one). */
  shard(name: string): ShardConfig | undefined {
    return this.config.shards.find((s) => s.name === name);
  }

  /** The name of the first configured shard (the only one in single-shard mode). */
  get firstShard(): string {
    return this.config.shards[0]!.name;
  }

  /**
   * Who a client logs in to a shard as (docs/server-identity.md): its users[].server_user, else the shard's forced
   * shards[].user, else its own name (with users[].server_password, else its own plaintext password).
   */
  serverIdentity(user: UserConfig | undefined, userName: string, shard: ShardConfig): ServerIdentity {
    if (user?.server_user !== undefined) return { user: user.server_user, password: user.server_password ?? '' };
    if (shard.user !== undefined) return { user: shard.user, password: shard.password };
    return { user: userName, password: user?.server_password ?? user?.password ?? '' };
  }

  /** The pool of connections to `shardName` logged in as `identity`, created on first use; undefined for an unknown shard. */
  poolFor(shardName: string, identity: ServerIdentity): Pool | undefined {
    const key = poolKey(shardName, identity);
    let pool = this.pools.get(key);
    if (pool) return pool;
    const shard = this.shard(shardName);
    if (!shard) return undefined;
    const cfg = this.config.pool;
    pool = new Pool(key, shard, identity, {
      size: cfg.size,
      queueTimeoutMs: cfg.queue_timeout_ms,
      idleTimeoutMs: cfg.idle_timeout_ms,
      connectTimeoutMs: cfg.connect_timeout_ms,
    });
    if (this.stopping) pool.close();
    this.pools.set(key, pool);
    return pool;
  }

  /** The pool a server connection belongs to. */
  poolOf(conn: ServerConnection): Pool {
    const pool = this.pools.get(conn.poolKey);
    if (pool) return pool;
    throw new ProxyError('NO_POOL', `server connection ${conn.id} to shard "${conn.shard.name}" belongs to no pool`, SqlState.InternalError);
  }

  /** Every pool, in creation order. */
  allPools(): Pool[] {
    return [...this.pools.values()];
  }

  findUser(name: string): UserConfig | undefined {
    return this.users.get(name);
  }

  /** An admin console user (database `prescient`), from `admin.users`. */
  findAdmin(name: string): UserConfig | undefined {
    const admins = (this.config as { admin?: { users?: UserConfig[] } }).admin?.users ?? [];
    return admins.find((u) => u.name === name);
  }

  /** A client's pid (BackendKeyData); with several workers, pid % workers is this worker's index (a CancelRequest finds it). */
  nextPid(): number {
    const count = this.peers?.count ?? 1;
    this.pidCounter = (this.pidCounter % Math.floor(0x7ffffff0 / count)) + 1;
    return this.pidCounter * count + (this.peers?.index ?? 0);
  }

  admitClient(session: ClientHandle): boolean {
    if (this.clients.size >= this.config.listen.max_client_connections) {
      this.counters.refused++;
      return false;
    }
    this.clients.set(session.pid, session);
    this.counters.connections++;
    return true;
  }

  /** client connections with a session not closed yet, authenticated or not (counted against listen.max_client_connections) */
  private openSessions = 0;

  /** A new connection: false when listen.max_client_connections are open already (it is refused before any work). */
  openSession(): boolean {
    if (this.openSessions >= this.config.listen.max_client_connections) {
      this.counters.refused++;
      return false;
    }
    this.openSessions++;
    return true;
  }

  /** A connection counted by openSession whose session could not be started. */
  abandonSession(): void {
    this.openSessions--;
  }

  forgetClient(session: ClientHandle): void {
    this.openSessions = Math.max(0, this.openSessions - 1);
    if (this.clients.get(session.pid) === session) {
      this.clients.delete(session.pid);
      this.closedTotals.queries += session.stats.queries;
      this.closedTotals.bytesIn += session.stats.bytesIn;
      this.closedTotals.bytesOut += session.stats.bytesOut;
    }
    this.checkDrained();
  }

  /** Shutdown begins: no client is admitted from now on, and pools made later are closed at once. */
  beginShutdown(): void {
    this.stopping = true;
  }

  /** Resolves once shutdown has begun and no client is registered. */
  drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkDrained();
    });
  }

  private checkDrained(): void {
    if (!this.stopping || this.clients.size > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** The end of shutdown: every pool, the version tracker, the plugins and the catalog are closed. */
  /** run first at close (the shard manager's loop) */
  readonly closers: (() => void)[] = [];

  async close(): Promise<void> {
    for (const stop of this.closers) stop();
    for (const pool of this.allPools()) pool.close();
    await this.versionTracker?.stop();
    await this.plugins.close();
    await this.catalog.close().catch((e: unknown) => logger.warn('closing the catalog failed', { error: (e as Error).message }));
  }

  /**
   * A CancelRequest goes to the server connection running that client's request, or nowhere: a client with no
   * request in flight has nothing to cancel, and a cancel sent anyway would land on whatever that server connection
   * runs next. `done` runs once the server has taken it (Postgres closes the cancel connection then), so the client's
   * CancelRequest connection is closed when the cancel has reached the server, as with Postgres itself.
   */
  cancel(pid: number, secret: number, done: () => void = () => {}): void {
    // another worker's client (the CancelRequest's connection landed here): that worker checks the secret and cancels
    if (this.peers && workerOfPid(pid, this.peers.count) !== this.peers.index) {
      logger.debug('cancel request for another worker\'s client: passed on', { pid, worker: workerOfPid(pid, this.peers.count) });
      this.peers.sendCancel(pid, secret);
      done();
      return;
    }
    const session = this.clients.get(pid);
    if (!session || session.secret !== secret) {
      logger.debug('cancel request for unknown client', { pid });
      done();
      return;
    }
    this.counters.cancels++;
    const server = session.cancelTarget;
    if (!server) {
      logger.debug('cancel request for a client with no request in flight', { pid });
      done();
      return;
    }
    server.cancel(done);
  }
}
