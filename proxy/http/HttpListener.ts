// HttpListener owns the proxy's HTTP listener (http.host:http.port): /healthz, /readyz, /metrics (Prometheus, from ProxyMetrics), the dashboard page and the /api/status it reads.
import http from 'node:http';
import type net from 'node:net';
import type { ProxyContext } from '../context/ProxyContext.js';
import { logger } from '../logger.js';
import { ProxyMetrics } from '../telemetry/ProxyMetrics.js';
import { Readiness } from './Readiness.js';
import { proxyStatus } from '../telemetry/proxyStatus.js';
import { dashboardHtml } from './dashboardHtml.js';

/** The HTTP paths served (anything else is 404). */
export const HttpPath = {
  Health: '/healthz',
  Ready: '/readyz',
  Metrics: '/metrics',
  Dashboard: '/',
  DashboardAlias: '/dashboard',
  Status: '/api/status',
} as const;
export type HttpPath = (typeof HttpPath)[keyof typeof HttpPath];

export class HttpListener {
  /** Listens on `host:port` (0: any free port) and logs `http listening` with the address it bound. */
  static async start(ctx: ProxyContext, address: { host: string; port: number }, version: string): Promise<HttpListener> {
    const listener = new HttpListener(ctx, version);
    await listener.listen(address.host, address.port);
    return listener;
  }

  private readonly server: http.Server;
  private readonly metrics: ProxyMetrics;
  private readonly readiness: Readiness;

  private constructor(private readonly ctx: ProxyContext, version: string) {
    this.metrics = new ProxyMetrics(ctx.adminSource, ctx.requestCounters, version);
    this.readiness = new Readiness(ctx);
    this.server = http.createServer((req, res) => {
      this.serve(req, res).catch((e: unknown) => {
        logger.warn('http request failed', { path: req.url, error: (e as Error).message });
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.destroy();
      });
    });
    // keep-alive sockets of scrapers must not hold the process open at shutdown
    this.server.keepAliveTimeout = 5000;
  }

  private listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address() as net.AddressInfo;
        logger.info('http listening', { host: addr.address, port: addr.port });
        resolve();
      });
    });
  }

  /** the address it listens on */
  get address(): net.AddressInfo {
    return this.server.address() as net.AddressInfo;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    switch (path) {
      case HttpPath.Health:
        if (this.ctx.shuttingDown) send(res, 503, 'text/plain; charset=utf-8', 'shutting down\n');
        else send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case HttpPath.Ready: {
        const r = await this.readiness.check();
        send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n');
        return;
      }
      case HttpPath.Metrics:
        this.metrics.handle(req, res);
        return;
      case HttpPath.Dashboard:
      case HttpPath.DashboardAlias:
        send(res, 200, 'text/html; charset=utf-8', dashboardHtml);
        return;
      case HttpPath.Status:
        send(res, 200, 'application/json', JSON.stringify(await proxyStatus(this.ctx.adminSource)) + '\n');
        return;
      default:
        send(res, 404, 'text/plain; charset=utf-8', 'not found: /healthz, /readyz, /metrics, /api/status, / (the dashboard)\n');
    }
  }

  /** Stops listening and closes its connections; the meter provider shuts down. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.metrics.shutdown();
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
