// Server owns the listening socket and the proxy's lifecycle: start (a context per database), accept, RELOAD, graceful shutdown.
import net from 'node:net';
import type { Config } from '../config/schema.js';
import { databaseConfig } from '../config/databaseConfig.js';
import { ClientRegistry } from './context/ClientRegistry.js';
import { ClientSession } from './session/ClientSession.js';
import type { ProxyContext } from './context/ProxyContext.js';
import { createProxyContext, type ProxyContextOptions } from './context/createProxyContext.js';
import { logger } from './logger.js';
import * as Be from './protocol/BackendMessage.js';
import { StartupCode } from './protocol/MessageCode.js';
import { SqlState, terminatedByAdministrator } from './protocol/SqlState.js';

/** At the shutdown timeout: how long clients get to read their 57P01 before their sockets are destroyed. */
const SHUTDOWN_GOODBYE_MS = 1000;

/** Options the composition root passes in besides the config. */
export type ServerOptions = ProxyContextOptions;

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
  /**
   * Opens each database's context (its catalog, versions, plugins, pools: createProxyContext), one after the other,
   * sharing one ClientRegistry, then the server over them. One that cannot open closes those opened before it.
   */
  static async open(config: Config, options: ServerOptions = {}): Promise<Server> {
    const names = Object.keys(config.databases);
    let first: ProxyContext | undefined;
    const registry = new ClientRegistry<ProxyContext>(() => first?.config ?? config, options.peers ?? null);
    const opened: ProxyContext[] = [];
    try {
      // RELOAD reads the file once, for every database (Server.reload): no context reads it on its own
      for (const name of names) opened.push(await createProxyContext(databaseConfig(config, name), { ...options, reloadConfig: undefined, registry }));
    } catch (e) {
      for (const ctx of opened) await ctx.close().catch(() => {});
      throw e;
    }
    first = opened[0]!;
    const server = new Server(first, options.reloadConfig, options);
    registry.reloadAll = () => server.reload();
    return server;
  }

  /** the config the proxy started with (listen address, shutdown timeout; RELOAD does not change them) */
  readonly config: Config;
  private readonly listener: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** databases taken out at RELOAD whose clients have not all left: closed then, or at shutdown */
  private readonly retiring = new Set<ProxyContext>();

  /**
   * `ctx`: the first database's context (sessions start on it; their StartupMessage picks their database's), whose
   * registry holds every database's. `readConfig`: with several databases, the file read again for RELOAD.
   */
  constructor(readonly ctx: ProxyContext, private readonly readConfig?: () => Config, private readonly options: ServerOptions = {}) {
    this.config = ctx.config;
    this.listener = net.createServer((socket) => this.accept(socket));
  }

  /** Every database's context, the first first. */
  get contexts(): ProxyContext[] {
    return this.ctx.registry.contexts();
  }

  private accept(socket: net.Socket): void {
    if (!this.ctx.openSession()) {
      logger.debug('connection refused: too many clients', { remote: socket.remoteAddress });
      refuseTooMany(socket);
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    try {
      new ClientSession(socket, this.ctx);
    } catch (e) {
      this.ctx.abandonSession();
      logger.error('cannot start session', { error: (e as Error).message });
      socket.destroy();
    }
  }

  /**
   * RELOAD (and SIGHUP): the config file read again takes effect for new requests (ProxyContext.reload), in each
   * database. A database new in the file is opened (as at start: catalog, plugins, pools) and serves new clients; one
   * gone from it serves no new client (3D000) and is closed once its clients have left. The first database stays (every
   * session starts on it), and a running database keeps its aliases: a file that changes either is refused whole.
   */
  async reload(): Promise<string> {
    const contexts = this.contexts;
    if (!this.readConfig) throw new Error('RELOAD needs a config file (the proxy was started without --config)');
    const next = this.readConfig();
    const wanted = Object.keys(next.databases);
    const first = this.ctx.config.database;
    if (!wanted.includes(first)) throw new Error(`RELOAD cannot remove the first database "${first}" (the file has: ${wanted.join(', ')}): restart the proxy for that`);
    const kept = contexts.filter((c) => wanted.includes(c.config.database));
    for (const c of kept) {
      const now = namesOf(c.config).join('=');
      const then = namesOf(databaseConfig(next, c.config.database)).join('=');
      if (now !== then) throw new Error(`RELOAD cannot change the aliases of a running database (${now} → ${then}): restart the proxy for that`);
    }
    const running = new Set(contexts.map((c) => c.config.database));
    const added = wanted.filter((name) => !running.has(name));
    const removed = contexts.filter((c) => !wanted.includes(c.config.database));
    // a name an added database would take must not be one still served (an alias of a running one)
    for (const name of added) {
      for (const n of namesOf(databaseConfig(next, name))) {
        if (this.ctx.registry.context(n) !== undefined) throw new Error(`RELOAD: database "${name}" would take the name "${n}", which a running database serves`);
      }
    }
    // the new databases first: one that cannot open changes nothing
    const opened: ProxyContext[] = [];
    try {
      for (const name of added) opened.push(await createProxyContext(databaseConfig(next, name), { ...this.options, reloadConfig: undefined, registry: this.ctx.registry }));
    } catch (e) {
      for (const c of opened) {
        this.ctx.registry.unregister(c);
        await c.close().catch(() => {});
      }
      throw new Error(`RELOAD: a new database could not be opened, nothing changed: ${(e as Error).message}`);
    }
    const messages: string[] = [];
    // one after the other: a database whose reload fails (a shard that still holds keys) stops the rest, and says so
    for (const c of kept) {
      const message = await c.reload(databaseConfig(next, c.config.database)).catch((e: unknown) => {
        const done = messages.length === 0 ? '' : ` (reloaded before it: ${kept.slice(0, messages.length).map((d) => d.config.database).join(', ')})`;
        throw new Error(`RELOAD of database "${c.config.database}" failed: ${(e as Error).message}${done}`);
      });
      messages.push(wanted.length === 1 && contexts.length === 1 ? message : `${c.config.database}: ${message}`);
    }
    for (const c of opened) messages.push(`${c.config.database}: added`);
    for (const c of removed) {
      this.ctx.registry.unregister(c);
      messages.push(`${c.config.database}: removed${c.clients.size > 0 ? ` (closed once its ${c.clients.size} client(s) have left)` : ''}`);
      void this.retire(c);
    }
    if (added.length > 0 || removed.length > 0) logger.info('databases changed', { added, removed: removed.map((c) => c.config.database) });
    return messages.join('; ');
  }

  /** A database taken out at RELOAD: closed once its last client has left (or at shutdown, with the rest). */
  private async retire(c: ProxyContext): Promise<void> {
    this.retiring.add(c);
    while (c.clients.size > 0 && !this.ctx.shuttingDown) await new Promise((r) => setTimeout(r, 200).unref());
    if (this.ctx.shuttingDown) return; // shutdown closes it
    this.retiring.delete(c);
    await c.close().catch((e: unknown) => logger.warn('closing a removed database failed', { database: c.config.database, error: (e as Error).message }));
    logger.info('database closed', { database: c.config.database });
  }

  async listen(): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(this.config.listen.port, this.config.listen.host, () => {
        this.listener.off('error', reject);
        const addr = this.listener.address() as net.AddressInfo;
        logger.info('listening', { host: addr.address, port: addr.port, shards: this.config.shards.map((s) => s.name), pool: this.config.pool.mode, databases: this.contexts.map((c) => c.config.database) });
        resolve(addr);
      });
    });
  }

  /** Stops accepting, lets transactions in flight finish (up to the timeout), then closes everything. */
  async shutdown(timeoutMs = this.config.shutdown.timeout_ms): Promise<void> {
    if (this.ctx.shuttingDown) return;
    this.ctx.beginShutdown();
    const clients = this.ctx.registry.clients;
    logger.info('shutting down', { clients: clients.size, timeoutMs });
    this.listener.close();
    for (const s of clients.values()) s.shutdownIdle();
    const drained = this.ctx.drained();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logger.warn('shutdown timeout: closing remaining clients', { clients: clients.size });
        resolve();
      }, timeoutMs);
    });
    await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (clients.size > 0) {
      // as Postgres at a fast shutdown: every client still there is told FATAL 57P01 before its connection closes
      // (its server connection is closed too, so an open transaction is rolled back)
      for (const s of [...clients.values()]) {
        s.fail(terminatedByAdministrator());
      }
      await this.socketsClosed(SHUTDOWN_GOODBYE_MS);
    }
    for (const s of this.sockets) s.destroy();
    for (const c of [...this.contexts, ...this.retiring]) await c.close();
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
}

/** A database's names as a running context has them: its name, then its aliases. */
function namesOf(config: Config): string[] {
  return [config.database, ...(config.databases[config.database]?.aliases ?? [])];
}
