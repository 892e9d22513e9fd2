// ProxyContext owns what every session shares: config, a pool per shard, the routing parts (catalog, analyzer, router,
// plugins), statement names, the client registry, cancel routing.
import type tls from 'node:tls';
import type { Config, UserConfig } from '../../config/schema.js';
import type { Pool } from '../pool/Pool.js';
import { StatementNames } from './PreparedStatements.js';
import type { ClientSession } from './ClientSession.js';
import { logger } from '../logger.js';
import type { AdminSource } from '../admin/AdminConsole.js';
import type { Catalog } from '../catalog/Catalog.js';
import type { Analyzer } from '../analyzer/Analyzer.js';
import type { Router } from '../router/Router.js';
import type { PluginHost } from '../plugins/PluginHost.js';
import type { ServerConnection } from '../connection/ServerConnection.js';
import { FailureThrottle } from '../auth/FailureThrottle.js';
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

  /** the first shard's pool (the only one in single-shard mode) */
  readonly pool: Pool;
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

  constructor(
    public config: Config,
    readonly pools: Map<string, Pool>,
    readonly secureContext: tls.SecureContext | null,
    private readonly onClientGone: () => void = () => {},
  ) {
    this.pool = pools.values().next().value!;
    this.users = new Map(config.users.map((u) => [u.name, u]));
    warmVerifiers(config);
  }

  /** The pool a server connection belongs to. */
  poolOf(conn: ServerConnection): Pool {
    return this.pools.get(conn.shard.name) ?? this.pool;
  }

  /** Replaces the config after RELOAD (users and settings; pools follow the shard list). */
  setConfig(config: Config): void {
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

  /** A CancelRequest goes to the server connection running that client's query, or nowhere. */
  cancel(pid: number, secret: number): void {
    const session = this.clients.get(pid);
    if (!session || session.secret !== secret) {
      logger.debug('cancel request for unknown client', { pid });
      return;
    }
    this.counters.cancels++;
    session.server?.cancel();
  }
}
