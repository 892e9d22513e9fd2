// ProxyContext owns what every session of one database shares, built whole at start-up: its config, a pool per (shard, server user), the routing parts (catalog, analyzer, router, plugins), key versions, the admin console, statement names, its clients (the ClientRegistry: what databases share).
import type { WorkerPeers } from '../workers/WorkerPeers.js';
import type tls from 'node:tls';
import type { Config, ShardConfig, UserConfig } from '../../config/schema.js';
import { Pool } from '../pool/Pool.js';
import { StatementNames } from './StatementNames.js';
import type { ClientHandle } from './ClientHandle.js';
import { effectiveLevel, logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import type { AdminSource } from '../admin/AdminConsole.js';
import type { Catalog } from '../catalog/Catalog.js';
import type { Analyzer } from '../analyzer/Analyzer.js';
import { Router } from '../router/Router.js';
import type { PluginHost } from '../plugins/PluginHost.js';
import type { ServerConnection, ServerIdentity } from '../connection/ServerConnection.js';
import { ClientRegistry } from './ClientRegistry.js';
import { KeyFence } from '../router/KeyFence.js';
import { warmVerifiers } from '../auth/verifiers.js';
import { describeReshard, type Resharder } from '../shardManager/Resharder.js';

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
  /** what this database shares with the proxy's others (absent: a registry of its own) */
  registry?: ClientRegistry<ProxyContext>;
}

/** Pools are told apart by shard, server user and password: a client never rides on credentials it was not given. */
function poolKey(shard: string, identity: ServerIdentity): string {
  return `${shard}\u0000${identity.user}\u0000${identity.password}`;
}

export class ProxyContext {
  /** Requests are analysed and routed with several shards, plugins of the user's, the cache, the shard manager, the action log or tracing; else pass-through. */
  static needsRouting(config: Config): boolean {
    return config.shards.length > 1 || config.plugins.length > 0 || config.cache.enabled || config.shard_manager.enabled || config.action_log.enabled || config.telemetry.tracing.enabled;
  }

  readonly statementNames = new StatementNames();
  /** this database's registered clients (the registry has every database's) */
  readonly clients = new Map<number, ClientHandle>();
  private readonly users = new Map<string, UserConfig>();
  /** what the proxy's databases share: pids, every client (cancel routing), max_client_connections, shutdown */
  readonly registry: ClientRegistry<ProxyContext>;
  /** process-wide (the registry's): connections, refusals, cancels */
  readonly counters: ClientRegistry['counters'];
  /** failed logins per source address (auth.failure_*), process-wide (the registry's) */
  readonly authFailures: ClientRegistry['authFailures'];
  /** totals of clients that have left, process-wide (the registry's) */
  readonly closedTotals: ClientRegistry['closedTotals'];
  /** errors by SQLSTATE, routes by kind and key source, refusals: process-wide (the registry's) */
  readonly requestCounters: ClientRegistry['requestCounters'];

  /** pools by poolKey(shard, server user, password), created on first use; each has up to pool.size connections */
  readonly pools = new Map<string, Pool>();
  /** placement keys whose requests wait (a tenant being moved): the request path's one per-key hold */
  readonly fence = new KeyFence();
  /** shards held by the admin console's PAUSE (their pools hand out no connection until RESUME) */
  readonly pausedShards = new Set<string>();
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
    this.registry = parts.registry ?? new ClientRegistry<ProxyContext>(() => this.config, this.peers);
    this.counters = this.registry.counters;
    this.authFailures = this.registry.authFailures;
    this.closedTotals = this.registry.closedTotals;
    this.requestCounters = this.registry.requestCounters;
    this.registry.register([parts.config.database, ...(parts.config.databases?.[parts.config.database]?.aliases ?? [])], this);
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

  /** true once shutdown began (for every database): no new client is admitted, idle ones are closed */
  get shuttingDown(): boolean {
    return this.registry.shuttingDown;
  }

  /** The context serving database `name` (a name or an alias) in this proxy, if any. */
  database(name: string): ProxyContext | undefined {
    return this.registry.context(name);
  }

  /**
   * RELOAD: `next` (by default the config file read again) takes effect for new requests: users, log level, sharding
   * rules and new shards. A config that cannot be read changes nothing.
   */
  async reload(next?: Config): Promise<string> {
    // RELOAD of a proxy serving several databases reads the file once and reloads each (Server.reload)
    if (next === undefined && this.registry.reloadAll !== null) return this.registry.reloadAll();
    if (next === undefined) {
      if (!this.readConfig) throw new Error('RELOAD needs a config file (the proxy was started without --config)');
      next = this.readConfig();
    }
    // pools are per (shard, server user) and made on first use: new shards and users get theirs when a client needs one
    // with the Resharder, a shard new to the ring starts outside it and comes in with its keys once `next` is in effect
    const added = this.resharder === null ? [] : await this.resharder.syncShards(next.shards, this.config.shards);
    if (this.resharder === null) await this.catalog.syncShards(next.shards.map((s) => ({ name: s.name, host: s.host, port: s.port, database: s.database })));
    this.currentRouter = new Router(next);
    logger.setLevel(effectiveLevel(next.log.level));
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
    if (this.shuttingDown) pool.close();
    if (this.pausedShards.has(shardName)) void pool.pause();
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

  /** A client's pid (BackendKeyData), unique across the proxy's databases (the registry's). */
  nextPid(): number {
    return this.registry.nextPid();
  }

  /** An authenticated client of this database (false: listen.max_client_connections, counted over every database). */
  admitClient(session: ClientHandle): boolean {
    if (!this.registry.admit(session)) return false;
    this.clients.set(session.pid, session);
    return true;
  }

  /** A new connection: false when listen.max_client_connections are open already (it is refused before any work). */
  openSession(): boolean {
    return this.registry.openSession();
  }

  /** A connection counted by openSession whose session could not be started. */
  abandonSession(): void {
    this.registry.abandonSession();
  }

  forgetClient(session: ClientHandle): void {
    if (this.clients.get(session.pid) === session) this.clients.delete(session.pid);
    this.registry.forget(session);
  }

  /** Shutdown begins (for every database): no client is admitted from now on, and pools made later are closed at once. */
  beginShutdown(): void {
    this.registry.beginShutdown();
  }

  /** Resolves once shutdown has begun and no client of any database is registered. */
  drained(): Promise<void> {
    return this.registry.drained();
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

  /** A CancelRequest, for a client of any database (the registry finds it by pid). */
  cancel(pid: number, secret: number, done: () => void = () => {}): void {
    this.registry.cancel(pid, secret, done);
  }
}
