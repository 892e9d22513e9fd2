// ProxyMetrics owns the proxy's OpenTelemetry metrics: the MeterProvider, its Prometheus reader (served on the HTTP listener, never a server of its own) and every instrument, observed at scrape time from the admin console's results and the request path's counters.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attributes, Observable } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { AdminSource } from '../admin/AdminConsole.js';
import { proxyStatus, rowsOf } from './proxyStatus.js';
import type { RequestCounters } from '../context/RequestCounters.js';

type Kind = 'counter' | 'updown' | 'gauge';
type Row = Record<string, string | number | boolean | null>;

/** One instrument: its name, kind, unit, meaning and labels (docs/operations.md lists the same). */
interface Spec {
  name: string;
  kind: Kind;
  unit?: string;
  description: string;
}

/** Every instrument, by a short name used below. */
const SPECS = {
  connCount: { name: 'db.client.connection.count', kind: 'updown', unit: '{connection}', description: 'server connections of a pool, by state (idle, used)' },
  connMax: { name: 'db.client.connection.max', kind: 'updown', unit: '{connection}', description: 'the most server connections a pool may open (pool.size)' },
  connPending: { name: 'db.client.connection.pending_requests', kind: 'updown', unit: '{request}', description: 'clients waiting for a server connection of a pool' },
  connTimeouts: { name: 'db.client.connection.timeouts', kind: 'counter', unit: '{timeout}', description: 'clients whose wait for a server connection ended at pool.queue_timeout_ms' },
  poolAcquired: { name: 'prescient.pool.acquired', kind: 'counter', unit: '{lease}', description: 'server connections leased to clients' },
  poolWaited: { name: 'prescient.pool.waits', kind: 'counter', unit: '{wait}', description: 'leases that had to wait for a connection' },
  poolConnectFailures: { name: 'prescient.pool.connect_failures', kind: 'counter', unit: '{failure}', description: 'server connections that could not be opened (connect, authentication, start-up)' },
  clients: { name: 'prescient.client.connections', kind: 'updown', unit: '{connection}', description: 'client connections, by state (active: on a server connection, waiting: for one, idle)' },
  clientsAdmitted: { name: 'prescient.client.admitted', kind: 'counter', unit: '{connection}', description: 'client connections admitted since start' },
  clientsRefused: { name: 'prescient.client.refused', kind: 'counter', unit: '{connection}', description: 'client connections refused (listen.max_client_connections)' },
  cancels: { name: 'prescient.client.cancels', kind: 'counter', unit: '{request}', description: 'CancelRequests for a client of this process' },
  queries: { name: 'prescient.client.queries', kind: 'counter', unit: '{query}', description: 'queries clients sent' },
  io: { name: 'prescient.client.io', kind: 'counter', unit: 'By', description: 'bytes from clients (receive) and to them (transmit)' },
  errors: { name: 'prescient.errors', kind: 'counter', unit: '{error}', description: 'errors sent to clients, by SQLSTATE and by who raised it (server: a shard; proxy: Prescient)' },
  routes: { name: 'prescient.routing.decisions', kind: 'counter', unit: '{decision}', description: 'routing decisions, by route (shard, global, fanout, broadcast, any, reject) and where the shard key came from' },
  refusals: { name: 'prescient.routing.refusals', kind: 'counter', unit: '{request}', description: 'requests refused without running, by who refused (proxy, plugin)' },
  cacheHits: { name: 'prescient.cache.hits', kind: 'counter', unit: '{request}', description: 'reads answered from the result cache' },
  cacheMisses: { name: 'prescient.cache.misses', kind: 'counter', unit: '{request}', description: 'cacheable reads the cache did not answer' },
  cacheFills: { name: 'prescient.cache.fills', kind: 'counter', unit: '{entry}', description: 'responses stored in the cache' },
  cacheInvalidations: { name: 'prescient.cache.invalidations', kind: 'counter', unit: '{entry}', description: 'entries dropped or not stored because their key was written' },
  cacheEvictions: { name: 'prescient.cache.evictions', kind: 'counter', unit: '{entry}', description: 'entries evicted for room (cache.max_bytes)' },
  cacheBytes: { name: 'prescient.cache.size', kind: 'updown', unit: 'By', description: 'bytes the cached responses take' },
  cacheEntries: { name: 'prescient.cache.entries', kind: 'updown', unit: '{entry}', description: 'cached responses' },
  predictions: { name: 'prescient.prediction.count', kind: 'counter', unit: '{prediction}', description: 'next-action predictions made' },
  predictionAccuracy: { name: 'prescient.prediction.accuracy', kind: 'gauge', unit: '1', description: 'share of checked predictions whose top action was the next one' },
  prefetchIssued: { name: 'prescient.prefetch.issued', kind: 'counter', unit: '{read}', description: 'prefetch reads sent to a shard' },
  prefetchUsed: { name: 'prescient.prefetch.used', kind: 'counter', unit: '{read}', description: 'prefetched responses a client read' },
  prefetchWasted: { name: 'prescient.prefetch.wasted', kind: 'counter', unit: '{read}', description: 'prefetched responses no client read before they left the cache' },
  prefetchDropped: { name: 'prescient.prefetch.dropped', kind: 'counter', unit: '{read}', description: 'prefetches not sent or not stored (no idle connection, superseded)' },
  prefetchFailed: { name: 'prescient.prefetch.failed', kind: 'counter', unit: '{read}', description: 'prefetch reads that failed' },
  prefetchSlices: { name: 'prescient.prefetch.slices', kind: 'counter', unit: '{read}', description: "account slices stored (one read of an account's rows of a table, answering its reads of any parameters)" },
  prefetchHeldBack: { name: 'prescient.prefetch.held_back', kind: 'counter', unit: '{read}', description: 'prefetches not sent: their kind was used less than cache.prefetch.min_used_share' },
  shards: { name: 'prescient.shards', kind: 'updown', unit: '{shard}', description: 'shards in the catalog, by status (active, draining, inactive)' },
  loadRate: { name: 'prescient.shard.load.rate', kind: 'gauge', unit: '{request}/s', description: 'requests per second to a shard over the shard manager\'s window' },
  loadShare: { name: 'prescient.shard.load.share', kind: 'gauge', unit: '1', description: 'a shard\'s share of the requests in the shard manager\'s window' },
  migrations: { name: 'prescient.shard_manager.migrations', kind: 'updown', unit: '{migration}', description: 'tenant moves in the catalog (its latest 1000), by state' },
} as const satisfies Record<string, Spec>;
type Name = keyof typeof SPECS;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);

export class ProxyMetrics {
  private readonly provider: MeterProvider;
  private readonly exporter: PrometheusExporter;

  constructor(admin: AdminSource, counters: RequestCounters, version: string) {
    // a reader only: /metrics is served by the proxy's own HTTP listener (HttpListener), through the handler below
    this.exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'prescient', 'service.version': version }),
      readers: [this.exporter],
    });
    const meter = this.provider.getMeter('prescient', version);
    const instruments = {} as Record<Name, Observable>;
    for (const [key, s] of Object.entries(SPECS) as [Name, Spec][]) {
      const options = { description: s.description, unit: s.unit };
      instruments[key] = s.kind === 'counter' ? meter.createObservableCounter(s.name, options)
        : s.kind === 'updown' ? meter.createObservableUpDownCounter(s.name, options)
        : meter.createObservableGauge(s.name, options);
    }
    // one reading of the admin console's results per scrape, every instrument observed from it
    meter.addBatchObservableCallback(async (out) => {
      const o = (name: Name, value: unknown, attributes: Attributes = {}): void => out.observe(instruments[name], num(value), attributes);
      await observeStatus(admin, o);
      observeCounters(counters, o);
    }, Object.values(instruments));
  }

  /** Serves one GET /metrics: the Prometheus text exposition of every instrument, read now. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.exporter.getMetricsRequestHandler(req, res);
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}

type Observe = (name: Name, value: unknown, attributes?: Attributes) => void;

async function observeStatus(admin: AdminSource, o: Observe): Promise<void> {
  const s = await proxyStatus(admin);
  // a pool per (shard, server user): its name is user@shard (made unique should two differ by password only)
  const names = new Map<string, number>();
  for (const p of rowsOf(s.pools)) {
    const base = `${String(p.user)}@${String(p.shard)}`;
    const n = (names.get(base) ?? 0) + 1;
    names.set(base, n);
    const pool = { 'db.client.connection.pool.name': n === 1 ? base : `${base}#${n}`, shard: String(p.shard) };
    o('connCount', p.server_idle, { ...pool, 'db.client.connection.state': 'idle' });
    o('connCount', num(p.server_total) - num(p.server_idle), { ...pool, 'db.client.connection.state': 'used' });
    o('connMax', p.size, pool);
    o('connPending', p.cl_waiting, pool);
    o('connTimeouts', p.queue_timeouts, pool);
    o('poolAcquired', p.acquired, pool);
    o('poolWaited', p.waited, pool);
    o('poolConnectFailures', p.connect_failures, pool);
  }
  const byState = new Map<string, number>([['active', 0], ['idle', 0], ['waiting', 0]]);
  for (const c of rowsOf(admin.clients())) byState.set(String(c.status), (byState.get(String(c.status)) ?? 0) + 1);
  for (const [state, n] of byState) o('clients', n, { state });
  const st: Row = rowsOf(s.stats)[0] ?? {};
  o('clientsAdmitted', st.connections_total);
  o('clientsRefused', st.connections_refused);
  o('cancels', st.cancels);
  o('queries', st.queries);
  o('io', st.bytes_in, { 'network.io.direction': 'receive' });
  o('io', st.bytes_out, { 'network.io.direction': 'transmit' });
  for (const c of rowsOf(s.cache)) {
    if (c.domain === '*') continue;
    const domain = { domain: String(c.domain) };
    o('cacheHits', c.hits, domain);
    o('cacheMisses', c.misses, domain);
    o('cacheFills', c.fills, domain);
    o('cacheInvalidations', c.invalidations, domain);
    o('cacheEvictions', c.evictions, domain);
    o('cacheBytes', c.bytes, domain);
    o('cacheEntries', c.entries, domain);
  }
  const pf = rowsOf(s.prefetch)[0];
  if (pf !== undefined) {
    o('predictions', pf.predictions);
    o('predictionAccuracy', pf.accuracy);
    o('prefetchIssued', pf.issued);
    o('prefetchUsed', pf.used);
    o('prefetchWasted', pf.wasted);
    o('prefetchDropped', pf.dropped);
    o('prefetchFailed', pf.failed);
    o('prefetchSlices', pf.slices);
    o('prefetchHeldBack', pf.heldBack);
  }
  const status = new Map<string, number>();
  for (const sh of rowsOf(s.shards)) status.set(String(sh.status), (status.get(String(sh.status)) ?? 0) + 1);
  for (const [state, n] of status) o('shards', n, { state });
  for (const l of rowsOf(s.load)) {
    o('loadRate', l.requests_per_s, { shard: String(l.shard) });
    o('loadShare', l.share, { shard: String(l.shard) });
  }
  const moves = new Map<string, number>();
  for (const m of rowsOf(s.migrations)) moves.set(String(m.state), (moves.get(String(m.state)) ?? 0) + 1);
  for (const [state, n] of moves) o('migrations', n, { state });
}

function observeCounters(c: RequestCounters, o: Observe): void {
  for (const [k, n] of c.errors) {
    const [source, code] = k.split('\u0000');
    o('errors', n, { 'db.response.status_code': code ?? '', source: source ?? '' });
  }
  for (const [route, bySource] of c.routes) {
    for (const [source, n] of bySource) o('routes', n, { route, source });
  }
  o('refusals', c.refusals.proxy, { source: 'proxy' });
  o('refusals', c.refusals.plugin, { source: 'plugin' });
}
