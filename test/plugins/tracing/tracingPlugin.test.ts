// Owns: tracing as users run it — a workload action through Prescient exported to a local OTLP/HTTP collector (the
// application's sqlcommenter traceparent continued, a span per transaction with account, action, domain, shard, rows
// and cache outcome, a child per server round trip, SQLSTATE and error status on errors), and the file exporter with
// ParentBased sampling (ratio 0: only the application's sampled traces) flushed when the proxy stops.
import t from 'tap';
import { createServer, type IncomingMessage } from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirePostgres, directQuery, withClusters, type Cluster } from '../../helpers/pg.js';
import { connected, startProxy } from '../../helpers/proxy.js';
import { Attr, SpanName } from '../../../plugins/tracing/tracingPlugin.js';
import { decodeOtlpTraces } from '../../../scripts/lib/decodeOtlpTraces.js';
import { TraceProtocol } from '../../../config/schema.js';

requirePostgres(t);

/** A span as the test reads it, from OTLP/JSON or from the file exporter's NDJSON. */
interface SpanSeen {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
}

/** OTLP/JSON ids are hex (base64 is the protobuf-JSON default some exporters use: accepted too). */
const hexId = (s: string | undefined): string | undefined =>
  s === undefined || s === '' ? undefined : /^[0-9a-f]+$/.test(s) ? s : Buffer.from(s, 'base64').toString('hex');

type OtlpValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
const valueOf = (v: OtlpValue): string | number | boolean =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue ?? v.boolValue ?? '');

interface OtlpRequest {
  resourceSpans: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string; value: OtlpValue }[]; status?: { code?: number; message?: string } }[] }[];
  }[];
}

/** A local OTLP/HTTP collector: POST /v1/traces (JSON or protobuf) → the spans it received, and the services they came from. */
async function collector(t: Tap.Test): Promise<{ url: string; spans: SpanSeen[]; services: Set<string>; contentTypes: Set<string> }> {
  const spans: SpanSeen[] = [];
  const services = new Set<string>();
  const contentTypes = new Set<string>();
  const read = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  const server = createServer((req, res) => {
    void read(req).then((body) => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const type = req.headers['content-type'] ?? '';
      contentTypes.add(type);
      if (type === 'application/x-protobuf') {
        for (const s of decodeOtlpTraces(body)) {
          if (s.service !== undefined) services.add(s.service);
          spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId, name: s.name, attributes: s.attributes, status: s.status });
        }
        res.writeHead(200, { 'content-type': type }).end();
        return;
      }
      const msg = JSON.parse(body.toString('utf8')) as OtlpRequest;
      for (const rs of msg.resourceSpans) {
        for (const a of rs.resource?.attributes ?? []) if (a.key === 'service.name') services.add(String(valueOf(a.value)));
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: hexId(s.traceId)!, spanId: hexId(s.spanId)!, parentSpanId: hexId(s.parentSpanId), name: s.name,
              attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, valueOf(a.value)])), status: s.status ?? {},
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/v1/traces`, spans, services, contentTypes };
}

/** Polls until `get` returns something (no fixed sleeps: the proxy exports on its own schedule). */
async function until<T>(what: string, get: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hex = (bytes: number): string => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('');
/** An application's span: W3C ids and its traceparent (flags 01 sampled, 00 not). */
const appSpan = (sampled: boolean): { traceId: string; spanId: string; traceparent: string } => {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
};
const tag = (action: string, traceparent?: string, account = 'acct-7'): string =>
  `/*account='${account}',action='${action}'${traceparent === undefined ? '' : `,traceparent='${traceparent}'`}*/`;

/** The shard holding an account's volumes. */
async function shardOf(clusters: Cluster[], account = 'acct-7'): Promise<string> {
  for (let i = 0; i < clusters.length; i++) {
    const r = await directQuery(clusters[i]!, `select 1 from volumes where account_id = '${account}'`);
    if (r.rowCount! > 0) return `s${i}`;
  }
  throw new Error(`${account} is on no shard`);
}

const clusters = await withClusters(t, 2);
for (const c of clusters) await directQuery(c, 'create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))');
const sharding = { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes', 'BadAction'] } } };

const protocols = [
  { protocol: TraceProtocol.HttpJson, contentType: 'application/json', account: 'acct-7' },
  // an account of its own: each case counts the rows of its own insert
  { protocol: TraceProtocol.HttpProtobuf, contentType: 'application/x-protobuf', account: 'acct-8' },
];
for (const { protocol, contentType, account } of protocols) t.test(`OTLP (${protocol}): a workload action continues the application trace`, async (t) => {
  const otlp = await collector(t);
  const proxy = await startProxy(t, clusters, {
    sharding,
    cache: { enabled: true },
    telemetry: { tracing: { enabled: true, sample_ratio: 1, exporter: 'otlp', protocol, endpoint: otlp.url, service_name: 'prescient-test', schedule_delay_ms: 50 } },
  });
  const c = await connected(t, proxy);
  const create = appSpan(true);
  await c.query('begin');
  await c.query(`${tag('CreateVolume', create.traceparent, account)} insert into volumes (account_id, size) values ('${account}', 10)`);
  await c.query('commit');
  const describe = appSpan(true);
  const read = `${tag('DescribeVolumes', describe.traceparent, account)} select id, size from volumes where account_id = '${account}'`;
  await c.query(read);
  // the cache key is the statement's text: a read repeated without a (per-request) traceparent, a root span of its own
  const plain = `${tag('DescribeVolumes', undefined, account)} select id, size from volumes where account_id = '${account}'`;
  await c.query(plain);
  await c.query(plain);
  const bad = appSpan(true);
  const err = await c.query(`${tag('BadAction', bad.traceparent, account)} select size / 0 from volumes where account_id = '${account}'`).catch((e: { code?: string }) => e);
  t.equal((err as { code?: string }).code, '22012', 'the client gets its error');
  const shard = await shardOf(clusters, account);

  const txOf = (app: { traceId: string }): SpanSeen | undefined => otlp.spans.find((s) => s.traceId === app.traceId && s.name === SpanName.Transaction);
  const childrenOf = (span: SpanSeen): SpanSeen[] => otlp.spans.filter((s) => s.parentSpanId === span.spanId);
  const hitOf = (): SpanSeen | undefined => otlp.spans.find((s) => s.name === SpanName.Transaction && s.attributes[Attr.Cache] === 'hit');
  const [tx, rd, hit, failed] = await until('four transaction spans', () => {
    const all = [txOf(create), txOf(describe), hitOf(), txOf(bad)];
    return all.every((s) => s !== undefined) ? (all as SpanSeen[]) : undefined;
  });
  t.same([...otlp.contentTypes], [contentType], `the exporter posts ${protocol}`);
  t.same([...otlp.services], ['prescient-test'], 'service.name from the config');

  // the CreateVolume transaction: BEGIN … COMMIT one span, a child of the application's span
  t.equal(tx!.parentSpanId, create.spanId, "the transaction span's parent is the application's span");
  t.match(tx!.attributes, {
    [Attr.DbSystem]: 'postgresql', [Attr.DbNamespace]: 'app', [Attr.Account]: account, [Attr.Action]: 'CreateVolume',
    [Attr.Domain]: 'volume', [Attr.Shard]: shard, [Attr.DbRows]: 1,
  }, 'account, action, domain, shard, rows');
  t.equal(tx!.attributes[Attr.DbStatus], undefined, 'no SQLSTATE on success (the conventions set it on errors)');
  const trips = await until('the round trips of the transaction', () => {
    const k = childrenOf(tx!);
    return k.some((s) => s.name === 'COMMIT') ? k : undefined;
  });
  const insert = trips.find((s) => s.name === 'INSERT');
  t.ok(insert, `a round-trip span for the INSERT (children: ${trips.map((s) => s.name).join(', ')})`);
  t.match(insert!.attributes, { [Attr.Shard]: shard, [Attr.DbOperation]: 'INSERT', [Attr.DbRows]: 1 }, 'the round trip: shard, operation, rows');
  t.ok(trips.every((s) => s.traceId === create.traceId), 'round trips in the application trace');

  // the Describe read: a cache miss that went to the shard, then the same read answered by the cache
  t.equal(rd!.parentSpanId, describe.spanId, 'the read continues its own traceparent');
  t.match(rd!.attributes, { [Attr.Action]: 'DescribeVolumes', [Attr.Shard]: shard, [Attr.DbRows]: 1, [Attr.Cache]: 'miss' }, 'the read: rows, shard, a cache miss');
  const select = await until('the read round trip', () => childrenOf(rd!).find((s) => s.name === 'SELECT'));
  t.equal(select.attributes[Attr.Shard], shard, 'its round trip on the shard');
  t.match(hit!.attributes, { [Attr.Cache]: 'hit', [Attr.Account]: account }, 'the repeated read: a cache hit');
  t.equal(hit!.parentSpanId, undefined, 'without a traceparent: a root span (sample_ratio 1)');
  t.equal(childrenOf(hit!).length, 0, 'a cache hit makes no server round trip');

  // the failing statement: SQLSTATE and error status on the transaction and on its round trip
  t.match(failed!.attributes, { [Attr.DbStatus]: '22012', [Attr.ErrorType]: '22012', [Attr.Action]: 'BadAction' }, 'the SQLSTATE');
  t.equal(failed!.status.code, 2, 'error status');
  const failedTrip = await until('the failed round trip', () => childrenOf(failed!).find((s) => s.name === 'SELECT'));
  t.match(failedTrip.attributes, { [Attr.DbStatus]: '22012' }, 'the round trip carries the SQLSTATE too');
  t.equal(failedTrip.status.code, 2, 'and error status');
});

t.test('file exporter: ratio 0 follows only sampled traceparents, flushed at shutdown', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-spans-'));
  const file = join(dir, 'spans.ndjson');
  const proxy = await startProxy(t, clusters, {
    sharding,
    // a long delay: the spans reach the file only because stopping the proxy flushes them
    telemetry: { tracing: { enabled: true, sample_ratio: 0, exporter: 'file', file, schedule_delay_ms: 600_000 } },
  });
  const c = await connected(t, proxy);
  const unsampled = appSpan(false);
  await c.query(`${tag('DescribeVolumes', unsampled.traceparent)} select id from volumes where account_id = 'acct-7'`);
  await c.query(`${tag('DescribeVolumes')} select id from volumes where account_id = 'acct-7'`);
  // a transaction the ratio does not pick: none of its requests is watched, and it ends before the next one begins
  await c.query('begin');
  await c.query(`${tag('DescribeVolumes')} select id from volumes where account_id = 'acct-7'`);
  await c.query('commit');
  const sampled = appSpan(true);
  await c.query(`${tag('DescribeVolumes', sampled.traceparent)} select id from volumes where account_id = 'acct-7'`);
  await c.end();
  t.notOk(existsSync(file) && readFileSync(file, 'utf8').length > 0, 'nothing exported before the batch is due');
  t.equal(await proxy.stop('SIGTERM'), 0, 'the proxy stops cleanly');
  const spans = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SpanSeen);
  t.same([...new Set(spans.map((s) => s.traceId))], [sampled.traceId], 'only the sampled application trace is exported');
  const tx = spans.find((s) => s.name === SpanName.Transaction);
  t.equal(tx?.parentSpanId, sampled.spanId, "its parent is the application's span");
  t.match(tx?.attributes, { [Attr.Account]: 'acct-7', [Attr.Action]: 'DescribeVolumes', [Attr.Requests]: 1 }, 'with its attributes, its one request only');
  t.ok(spans.some((s) => s.parentSpanId === tx?.spanId && s.name === 'SELECT'), 'and its round trip');
});
