// Server owns the listening socket and the proxy's lifecycle: start, accept, graceful shutdown.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { ClientSession } from './session/ClientSession.js';
import { ProxyContext } from './session/ProxyContext.js';
import { logger } from './logger.js';
import * as Be from './protocol/BackendMessage.js';
import { StartupCode } from './protocol/MessageCode.js';
import { proxyAdminSource } from './admin/proxyAdminSource.js';
import { createCatalog } from './catalog/createCatalog.js';
import { Analyzer } from './analyzer/Analyzer.js';
import { Router } from './router/Router.js';
import { PluginHost } from './plugins/PluginHost.js';
import { routingAdminCommands } from './admin/routingAdminCommands.js';
import type { AdminResult } from './admin/AdminConsole.js';
import type { PluginServices } from './plugins/api.js';
import { VersionTracker } from './versions/VersionTracker.js';
import { ensureShardSchemas } from './versions/ensureShardSchemas.js';
import { ProxyError, SqlState } from './protocol/SqlState.js';

/** At the shutdown timeout: how long clients get to read their 57P01 before their sockets are destroyed. */
const SHUTDOWN_GOODBYE_MS = 1000;

/** Options the composition root passes in besides the config. */
export interface ServerOptions {
  /** folder of the config file: plugin module paths are relative to it */
  configDir?: string;
  /** re-reads the config file for RELOAD */
  reloadConfig?: () => Config;
}

const TOO_MANY_CLIENTS = Be.ErrorResponse({ severity: 'FATAL', code: SqlState.TooManyConnections, message: 'sorry, too many clients already' });

/** at most this many refused sockets wait for their first bytes at once; the rest are refused before reading */
const MAX_REFUSING = 64;
const REFUSE_GRACE_MS = 1000;
let refusing = 0;

/**
 * A connection beyond listen.max_client_connections gets FATAL 53300 and is closed. One that opens with SSLRequest or
 * GSSENCRequest is answered 'N' first, so that libpq shows the message (Postgres too refuses after the start-up
 * packet); it gets REFUSE_GRACE_MS for that, and only MAX_REFUSING such sockets wait at once: beyond, or for any other
 * first bytes, the error goes out at once. Nothing beyond an 8-byte header is read or kept.
 */
function refuseTooMany(socket: net.Socket): void {
  socket.on('error', () => socket.destroy());
  const bye = (): void => {
    socket.removeAllListeners('data');
    socket.end(TOO_MANY_CLIENTS, () => socket.destroy());
  };
  if (refusing >= MAX_REFUSING) return bye();
  refusing++;
  let finished = false;
  const finish = (send: boolean): void => {
    if (finished) return;
    finished = true;
    refusing--;
    clearTimeout(timer);
    if (send) bye();
    else socket.destroy();
  };
  const timer = setTimeout(() => finish(true), REFUSE_GRACE_MS);
  let head = Buffer.alloc(0);
  let negotiated = false;
  socket.on('data', (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]).subarray(0, 8);
    if (head.length < 8) return;
    const code = head.readInt32BE(4);
    if (!negotiated && head.readInt32BE(0) === 8 && (code === StartupCode.SSLRequest || code === StartupCode.GSSENCRequest)) {
      negotiated = true;
      head = Buffer.alloc(0);
      socket.write('N');
      return;
    }
    finish(true);
  });
  socket.on('close', () => finish(false));
}

export class Server {
  readonly ctx: ProxyContext;
  private readonly listener: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private shutdownWaiters: (() => void)[] = [];

  constructor(
    readonly config: Config,
    private readonly options: ServerOptions = {},
  ) {
    const t = config.listen.tls;
    const secure = t
      ? tls.createSecureContext({ cert: readFileSync(t.cert), key: readFileSync(t.key), ca: t.ca ? readFileSync(t.ca) : undefined })
      : null;
    this.ctx = new ProxyContext(config, secure, () => this.checkDrained());
    this.ctx.adminSource = proxyAdminSource(this.ctx);
    this.listener = net.createServer((socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    if (!this.ctx.openSession()) {
      logger.debug('connection refused: too many clients', { remote: socket.remoteAddress });
      refuseTooMany(socket);
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.checkDrained();
    });
    try {
      new ClientSession(socket, this.ctx);
    } catch (e) {
      this.ctx.openSessions--;
      logger.error('cannot start session', { error: (e as Error).message });
      socket.destroy();
    }
  }

  private versions: VersionTracker | null = null;
  private adminExtra = new Map<string, (args: string) => AdminResult | Promise<AdminResult>>();

  /** Requests are analysed and routed with several shards, plugins of the user's, or the cache; else pass-through. */
  static needsRouting(config: Config): boolean {
    return config.shards.length > 1 || config.plugins.length > 0 || config.cache.enabled;
  }

  /** Opens the catalog (schema migrated, shards synced from config), loads the SQL parser and the plugins. */
  async init(): Promise<void> {
    const config = this.config;
    const catalog = createCatalog(config.catalog);
    await catalog.open();
    try {
      await catalog.syncShards(config.shards.map((s) => ({ name: s.name, host: s.host, port: s.port, database: s.database })));
      await Analyzer.init();
      if (config.cache.enabled) {
        // versioned shards: the prescient schema and triggers where missing, then a LISTEN connection per shard
        await ensureShardSchemas(config);
        const tracker = new VersionTracker(config.shards);
        await tracker.start();
        this.versions = tracker;
        this.ctx.versions = tracker;
        // a table created through the proxy gets its version triggers before the client hears of it
        this.ctx.afterDdl = async () => {
          await ensureShardSchemas(config);
        };
      }
      const entries = [
        ...config.sharding.key_plugins.map((name) => ({ name })),
        ...(config.cache.enabled ? [{ name: 'result-cache' }] : []),
        ...config.plugins,
      ];
      const adminExtra = new Map<string, (args: string) => AdminResult | Promise<AdminResult>>();
      const router = new Router(config);
      const services: PluginServices = {
        versions: this.ctx.versions ?? undefined,
        placementKey: (account, action, tables) => `${account}_${this.ctx.parts?.router.domainOf(action ?? null, tables) ?? router.domainOf(action ?? null, tables) ?? 'default'}`,
        adminCommand: (name, run) => void adminExtra.set(name.toUpperCase().replace(/\s+/g, ' ').trim(), run),
      };
      const plugins = await PluginHost.load(entries, { config, configDir: this.options.configDir, services });
      this.adminExtra = adminExtra;
      const analyzer = new Analyzer({
        accountColumn: config.sharding.account_column,
        tableAccountColumns: Object.fromEntries(
          Object.entries(config.sharding.tables).flatMap(([t, v]) => (v.account_column ? [[t, v.account_column]] : [])),
        ),
      });
      this.ctx.parts = { catalog, analyzer, router, plugins };
    } catch (e) {
      await catalog.close().catch(() => {});
      throw e;
    }
    this.ctx.routing = Server.needsRouting(config);
    const extra = routingAdminCommands(this.ctx, () => this.reload());
    for (const [k, v] of this.adminExtra) extra.set(k, v);
    this.ctx.adminSource!.extra = extra;
    catalog.onChange((epoch) => logger.debug('catalog changed', { epoch }));
  }

  /** RELOAD: re-read the config file; users, log level, sharding rules and new shards take effect for new requests. */
  async reload(): Promise<string> {
    const read = this.options.reloadConfig;
    if (!read) throw new Error('RELOAD needs a config file (the proxy was started without --config)');
    const next = read();
    const parts = this.ctx.parts;
    // pools are per (shard, server user) and made on first use: new shards and users get theirs when a client needs one
    if (parts) {
      await parts.catalog.syncShards(next.shards.map((s) => ({ name: s.name, host: s.host, port: s.port, database: s.database })));
      parts.router = new Router(next);
    }
    logger.setLevel(next.log.level);
    this.ctx.setConfig(next);
    this.ctx.routing = Server.needsRouting(next);
    logger.info('configuration reloaded', { shards: next.shards.map((s) => s.name) });
    return `RELOAD: ${next.shards.length} shard(s), epoch ${parts?.catalog.epoch ?? 0}`;
  }

  async listen(): Promise<net.AddressInfo> {
    if (!this.ctx.parts) await this.init();
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(this.config.listen.port, this.config.listen.host, () => {
        this.listener.off('error', reject);
        const addr = this.listener.address() as net.AddressInfo;
        logger.info('listening', { host: addr.address, port: addr.port, shards: this.config.shards.map((s) => s.name), pool: this.config.pool.mode });
        resolve(addr);
      });
    });
  }

  /** Stops accepting, lets transactions in flight finish (up to the timeout), then closes everything. */
  async shutdown(timeoutMs = this.config.shutdown.timeout_ms): Promise<void> {
    if (this.ctx.shuttingDown) return;
    this.ctx.shuttingDown = true;
    logger.info('shutting down', { clients: this.ctx.clients.size, timeoutMs });
    this.listener.close();
    for (const s of this.ctx.clients.values()) s.shutdownIdle();
    const drained = new Promise<void>((resolve) => {
      this.shutdownWaiters.push(resolve);
      this.checkDrained();
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logger.warn('shutdown timeout: closing remaining clients', { clients: this.ctx.clients.size });
        resolve();
      }, timeoutMs);
    });
    await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (this.ctx.clients.size > 0) {
      // as Postgres at a fast shutdown: every client still there is told FATAL 57P01 before its connection closes
      // (its server connection is closed too, so an open transaction is rolled back)
      for (const s of [...this.ctx.clients.values()]) {
        s.fail(new ProxyError('ADMIN_SHUTDOWN', 'terminating connection due to administrator command', SqlState.AdminShutdown, 'FATAL'));
      }
      await this.socketsClosed(SHUTDOWN_GOODBYE_MS);
    }
    for (const s of this.sockets) s.destroy();
    for (const pool of this.ctx.allPools()) pool.close();
    await this.versions?.stop();
    const parts = this.ctx.parts;
    if (parts) {
      await parts.plugins.close();
      await parts.catalog.close().catch((e: unknown) => logger.warn('closing the catalog failed', { error: (e as Error).message }));
    }
  }

  /** Resolves once every client socket has closed, or after `ms` (a client that does not read its error). */
  private socketsClosed(ms: number): Promise<void> {
    const open = [...this.sockets].filter((s) => !s.destroyed);
    if (open.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let left = open.length;
      const timer = setTimeout(resolve, ms);
      for (const s of open) {
        s.once('close', () => {
          if (--left === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
    });
  }

  private checkDrained(): void {
    if (!this.ctx.shuttingDown) return;
    if (this.ctx.clients.size > 0) return;
    const waiters = this.shutdownWaiters;
    this.shutdownWaiters = [];
    for (const w of waiters) w();
  }
}
