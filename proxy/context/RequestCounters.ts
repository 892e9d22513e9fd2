// RequestCounters owns the counts the request path adds to where nothing else counts (errors by SQLSTATE, routes by kind and key source, refusals): plain numbers, read at scrape time by ProxyMetrics.

/** Who raised an error a client was sent: a shard's Postgres, or the proxy itself (a refusal, a failed session). */
export const ErrorSource = {
  Server: 'server',
  Proxy: 'proxy',
} as const;
export type ErrorSource = (typeof ErrorSource)[keyof typeof ErrorSource];

/** Who refused a request without running it: the proxy's routing, or a plugin. */
export type RefusedBy = 'proxy' | 'plugin';

/**
 * Counts kept as plain numbers in maps keyed by bounded values (SQLSTATE codes, route kinds, key sources): a
 * routed request pays two map look-ups and no allocation, and the telemetry reads the maps when it is scraped.
 */
export class RequestCounters {
  /** errors sent to clients, by source and SQLSTATE (joined by a NUL) */
  readonly errors = new Map<string, number>();
  /** routing decisions by route kind, then key source (`none` for a route that is not by shard key) */
  readonly routes = new Map<string, Map<string, number>>();
  /** requests refused without running, by who refused */
  readonly refusals = { proxy: 0, plugin: 0 };

  /** A client was sent an error with this SQLSTATE. */
  error(source: ErrorSource, sqlState: string): void {
    const k = `${source}\u0000${sqlState}`;
    this.errors.set(k, (this.errors.get(k) ?? 0) + 1);
  }

  /** A request was routed: `kind` is the route's kind, `source` where its shard key came from (shard routes only). */
  route(kind: string, source = 'none'): void {
    let bySource = this.routes.get(kind);
    if (bySource === undefined) this.routes.set(kind, (bySource = new Map()));
    bySource.set(source, (bySource.get(source) ?? 0) + 1);
  }

  /** A request was refused (answered with an error, not run). */
  refused(by: RefusedBy): void {
    this.refusals[by]++;
  }
}
