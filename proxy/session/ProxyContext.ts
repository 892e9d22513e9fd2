// ProxyContext owns what every session shares: config, a pool per (shard, server user), the routing parts (catalog, analyzer, router,
// plugins), statement names, the client registry, cancel routing.
import type tls from 'node:tls';
import type { Config, ShardConfig, UserConfig } from '../../config/schema.js';
import { Pool } from '../pool/Pool.js';
import { StatementNames } from './PreparedStatements.js';
import type { ClientSession } from './ClientSession.js';
import { logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import type { AdminSource } from '../admin/AdminConsole.js';
import type { Catalog } from '../catalog/Catalog.js';
import type { Analyzer } from '../analyzer/Analyzer.js';
import type { Router } from '../router/Router.js';
import type { PluginHost } from '../plugins/PluginHost.js';
import type { ServerConnection, ServerIdentity } from '../connection/ServerConnection.js';
import { FailureThrottle } from '../auth/FailureThrottle.js';
import { KeyFence } from '../router/KeyFence.js';
import { warmVerifiers } from './ClientAuth.js';

/** The version tracker as the session uses it: writes through the proxy bump a key's token. */
export interface VersionWrites {
  token(key: string): number;
  version(key: string): number;
  localWrite(key: string): void;
}

/** What routing needs; null parts mean single-shard pass-through (no analysis per request). */
export interface RoutingParts {
  catalog: Catalog;
  analyzer: Analyzer;
  router: Router;
  plugins: PluginHost;
}

/** Pools are told apart by shard, server user and password: a client never rides on credentials it was not given. */
function poolKey(shard: string, identity: ServerIdentity): string {
  return `${shard}\u0000${identity.user}\u0000${identity.password}`;
}

export class ProxyContext {
  readonly statementNames = new StatementNames();
  readonly clients = new Map<number, ClientSession>();
  shuttingDown = false;
  /** what the admin console reads (set by the server once everything is wired) */
  adminSource: AdminSource | null = null;
  private pidCounter = Math.floor(Math.random() * 1_000_000) + 1000;
  private readonly users: Map<string, UserConfig>;
  readonly counters = { connections: 0, refused: 0, cancels: 0 };
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
  /** catalog, analyzer, router and plugins, once the server has opened them */
  parts: RoutingParts | null = null;
  /**
   * true when requests are analysed and routed: more than one shard, or plugins with request hooks.
   * False keeps the single-shard pass-through path (no analysis, no per-request allocation).
   */
  routing = false;
  /** key versions (only with the result cache): writes through this proxy are reported here */
  versions: VersionWrites | null = null;
  /** run after DDL was applied on every shard, before the client is answered (installs version triggers) */
  afterDdl: (() => Promise<void>) | null = null;

  /** ParameterStatus frames a server reported for a login, by user and settings (a later such login needs no server) */
  readonly loginReports = new Map<string, Buffer>();

  rememberLogin(key: string, report: Buffer): void {
    if (this.loginReports.size >= 1000) this.loginReports.clear();
    this.loginReports.set(key, report);
  }

  constructor(
    public config: Config,
    readonly secureContext: tls.SecureContext | null,
    private readonly onClientGone: () => void = () => {},
  ) {
    this.users = new Map(config.users.map((u) => [u.name, u]));
    warmVerifiers(config);
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

  /** Replaces the config after RELOAD (users and settings; pools follow the shard list). */
  setConfig(config: Config): void {
    // server identities or settings may differ now: the next login of each kind asks a server again
    this.loginReports.clear();
    this.config = config;
    this.users.clear();
    for (const u of config.users) this.users.set(u.name, u);
    warmVerifiers(config);
  }

  findUser(name: string): UserConfig | undefined {
    return this.users.get(name);
  }

  /** An admin console user (database `prescient`), from `admin.users`. */
  findAdmin(name: string): UserConfig | undefined {
    const admins = (this.config as { admin?: { users?: UserConfig[] } }).admin?.users ?? [];
    return admins.find((u) => u.name === name);
  }

  nextPid(): number {
    this.pidCounter = (this.pidCounter % 0x7ffffff0) + 1;
    return this.pidCounter;
  }

  admitClient(session: ClientSession): boolean {
    if (this.clients.size >= this.config.listen.max_client_connections) {
      this.counters.refused++;
      return false;
    }
    this.clients.set(session.pid, session);
    this.counters.connections++;
    return true;
  }

  /** client connections with a session not closed yet, authenticated or not (counted against listen.max_client_connections) */
  openSessions = 0;

  /** A new connection: false when listen.max_client_connections are open already (it is refused before any work). */
  openSession(): boolean {
    if (this.openSessions >= this.config.listen.max_client_connections) {
      this.counters.refused++;
      return false;
    }
    this.openSessions++;
    return true;
  }

  forgetClient(session: ClientSession): void {
    this.openSessions = Math.max(0, this.openSessions - 1);
    if (this.clients.get(session.pid) === session) {
      this.clients.delete(session.pid);
      this.closedTotals.queries += session.stats.queries;
      this.closedTotals.bytesIn += session.stats.bytesIn;
      this.closedTotals.bytesOut += session.stats.bytesOut;
    }
    this.onClientGone();
  }

  /**
   * A CancelRequest goes to the server connection running that client's request, or nowhere: a client with no
   * request in flight has nothing to cancel, and a cancel sent anyway would land on whatever that server connection
   * runs next. `done` runs once the server has taken it (Postgres closes the cancel connection then), so the client's
   * CancelRequest connection is closed when the cancel has reached the server, as with Postgres itself.
   */
  cancel(pid: number, secret: number, done: () => void = () => {}): void {
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
