// Server owns the listening socket and the proxy's lifecycle: start, accept, graceful shutdown.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { Pool } from './pool/Pool.js';
import { ClientSession } from './session/ClientSession.js';
import { ProxyContext } from './session/ProxyContext.js';
import { logger } from './logger.js';
import { proxyAdminSource } from './admin/proxyAdminSource.js';

export class Server {
  readonly ctx: ProxyContext;
  private readonly listener: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private shutdownWaiters: (() => void)[] = [];

  constructor(readonly config: Config) {
    const shard = config.shards[0]!;
    const pool = new Pool(shard, {
      size: config.pool.size,
      queueTimeoutMs: config.pool.queue_timeout_ms,
      idleTimeoutMs: config.pool.idle_timeout_ms,
      connectTimeoutMs: config.pool.connect_timeout_ms,
    });
    const t = config.listen.tls;
    const secure = t
      ? tls.createSecureContext({ cert: readFileSync(t.cert), key: readFileSync(t.key), ca: t.ca ? readFileSync(t.ca) : undefined })
      : null;
    this.ctx = new ProxyContext(config, pool, secure, () => this.checkDrained());
    this.ctx.adminSource = proxyAdminSource(this.ctx);
    this.listener = net.createServer((socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.checkDrained();
    });
    try {
      new ClientSession(socket, this.ctx);
    } catch (e) {
      logger.error('cannot start session', { error: (e as Error).message });
      socket.destroy();
    }
  }

  listen(): Promise<net.AddressInfo> {
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
    for (const s of this.sockets) s.destroy();
    this.ctx.pool.close();
  }

  private checkDrained(): void {
    if (!this.ctx.shuttingDown) return;
    if (this.ctx.clients.size > 0) return;
    const waiters = this.shutdownWaiters;
    this.shutdownWaiters = [];
    for (const w of waiters) w();
  }
}
