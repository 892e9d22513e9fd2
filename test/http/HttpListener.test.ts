// Owns: the HTTP listener of a real `prescient start` against real Postgres: /healthz (alive; 503 while shutting down),
// /readyz (200 with the catalog and the shard answering, 503 naming the shard once its Postgres is stopped), /metrics
// (the pool, cache, routing and error series after traffic, equal to SHOW POOLS / SHOW CACHE, no account id anywhere).
import t from 'tap';
import { requirePostgres, stopClusters, withClusters } from '../helpers/pg.js';
import { adminConsole, connected, startProxy, type ProxyHandle } from '../helpers/proxy.js';

requirePostgres(t);

const ADMIN = { name: 'admin', password: 'admin-secret' };
const [cluster] = await withClusters(t, 1);
const config = {
  admin: { users: [ADMIN] },
  // idle connections stay: the figures compared below must not move between two readings
  pool: { mode: 'transaction', size: 4, idle_timeout_ms: 600_000 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } } },
  cache: { enabled: true, tables: ['volumes'] },
};
const proxy = await startProxy(t, [cluster!], config);

async function get(p: ProxyHandle, path: string): Promise<{ status: number; body: string; type: string | null }> {
  const r = await fetch(`http://${p.host}:${p.httpPort}${path}`);
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
}

/** Prometheus text → samples: name, labels, value. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const c = await connected(t, proxy);
await c.query('create table volumes (id text primary key, account_id text not null, size_gib int not null)');
for (let a = 1; a <= 4; a++) await c.query('insert into volumes (id, account_id, size_gib) values ($1, $2, 1)', [`v${a}`, `acct-secret-${a}`]);
for (let i = 0; i < 3; i++) {
  for (let a = 1; a <= 4; a++) await c.query('select id, size_gib from volumes where account_id = $1', [`acct-secret-${a}`]);
}
await c.query('select * from no_such_table').catch(() => {});

t.test('/healthz answers ok; unknown paths 404; the dashboard page is HTML', async (t) => {
  const h = await get(proxy, '/healthz');
  t.equal(h.status, 200);
  t.equal(h.body, 'ok\n');
  t.equal((await get(proxy, '/nope')).status, 404);
  const page = await get(proxy, '/');
  t.equal(page.status, 200);
  t.match(page.type, /text\/html/);
  t.match(page.body, /data-metric/);
  t.equal((await get(proxy, '/dashboard')).body, page.body, '/dashboard is the same page');
});

t.test('/readyz: 200 with the catalog open and the shard answering', async (t) => {
  const r = await get(proxy, '/readyz');
  t.equal(r.status, 200, r.body);
  t.same(JSON.parse(r.body).notReady, {});
});

t.test('/metrics: pool and cache series equal SHOW POOLS and SHOW CACHE; routing and errors counted; no account id', async (t) => {
  const admin = await adminConsole(t, proxy, ADMIN);
  const m = await get(proxy, '/metrics');
  const pools = (await admin('SHOW POOLS')).rows;
  const cache = (await admin('SHOW CACHE')).rows;
  t.equal(m.status, 200);
  t.notMatch(m.body, /acct-secret/, 'no account id in the metrics');
  const s = samples(m.body);
  const one = (name: string, labels: Record<string, string>): number[] =>
    s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).map((x) => x.value);
  t.equal(pools.length, 1, 'one pool');
  const p = pools[0]!;
  const pool = { db_client_connection_pool_name: `${p.user}@s0`, shard: 's0' };
  t.same(one('db_client_connection_count', { ...pool, db_client_connection_state: 'idle' }), [Number(p.server_idle)], 'idle connections = SHOW POOLS server_idle');
  t.same(one('db_client_connection_count', { ...pool, db_client_connection_state: 'used' }), [Number(p.server_total) - Number(p.server_idle)], 'used = server_total - server_idle');
  t.same(one('db_client_connection_max', pool), [Number(p.size)], 'max = pool size');
  t.same(one('db_client_connection_pending_requests', pool), [Number(p.cl_waiting)]);
  t.same(one('db_client_connection_timeouts_total', pool), [Number(p.queue_timeouts)]);
  t.same(one('prescient_pool_acquired_total', pool), [Number(p.acquired)]);
  t.ok(Number(p.acquired) > 0, 'the pool was used');
  const v = cache.find((r) => r.domain === 'volume')!;
  t.ok(Number(v.hits) >= 8, `cache hits (${v.hits})`);
  for (const [metric, column] of [['prescient_cache_hits_total', 'hits'], ['prescient_cache_misses_total', 'misses'], ['prescient_cache_fills_total', 'fills'], ['prescient_cache_entries', 'entries']] as const) {
    t.same(one(metric, { domain: 'volume' }), [Number(v[column])], `${metric} = SHOW CACHE ${column}`);
  }
  t.same(one('prescient_cache_size', { domain: 'volume' }), [Number(v.bytes)], 'cache bytes = SHOW CACHE bytes');
  // a cache hit is answered before routing: the 4 inserts and the reads the cache missed were routed
  t.same(one('prescient_routing_decisions_total', { route: 'shard', source: 'parameter' }), [4 + Number(v.misses)], 'requests routed by a $n parameter');
  t.same(one('prescient_routing_decisions_total', { route: 'fanout', source: 'none' }), [1], 'the read without a key went to every shard');
  t.same(one('prescient_errors_total', { db_response_status_code: '42P01', source: 'server' }), [1], 'the server error counted by SQLSTATE');
  t.ok((one('prescient_client_connections', { state: 'idle' })[0] ?? 0) >= 1, 'connected clients');
  t.comment(m.body.split('\n').filter((l) => /^(prescient_routing|prescient_errors|prescient_client)/.test(l)).join('\n'));
});

t.test('/healthz is 503 while the proxy shuts down, and the listener closes with it', async (t) => {
  const other = await startProxy(t, [cluster!], { ...config, shutdown: { timeout_ms: 20_000 } });
  const held = await connected(t, other);
  await held.query('begin');
  await held.query('select 1');
  const exited = other.stop('SIGTERM');
  // the open transaction holds the shutdown until it ends
  let status = 0;
  for (let i = 0; i < 200 && status !== 503; i++) {
    status = (await get(other, '/healthz')).status;
    if (status !== 503) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(status, 503, 'shutting down: 503');
  await held.query('commit').catch(() => {});
  await held.end().catch(() => {});
  t.equal(await exited, 0, 'exits 0');
  await t.rejects(fetch(`http://${other.host}:${other.httpPort}/healthz`), 'nothing listens any more');
});

t.test('a taken http.port: the proxy says which key to change and exits 78, as for a bad config', async (t) => {
  // it exits right after its Postgres listener logged `listening`: startProxy may see either first
  let code: number | null;
  let logs: string;
  try {
    const second = await startProxy(t, [cluster!], { http: { host: '127.0.0.1', port: proxy.httpPort } });
    for (let i = 0; i < 200 && second.proc.exitCode === null; i++) await new Promise((res) => setTimeout(res, 50));
    code = second.proc.exitCode;
    logs = second.logs();
  } catch (e) {
    const m = /proxy exited with (\d+):\n([\s\S]*)/.exec((e as Error).message);
    if (m === null) throw e;
    code = Number(m[1]);
    logs = m[2]!;
  }
  t.equal(code, 78, 'exit code 78');
  t.match(logs, new RegExp(`prescient: http.port: 127.0.0.1:${proxy.httpPort} is already in use .*PRESCIENT_HTTP_PORT.*http.enabled: false`));
  t.notMatch(logs, /    at /, 'a message, not a stack trace');
});

t.test('/readyz: 503 naming the shard once its Postgres is stopped', async (t) => {
  await stopClusters([cluster!]);
  let r = await get(proxy, '/readyz');
  // the answer is reused for a second: poll until a check after the stop
  for (let i = 0; i < 100 && r.status !== 503; i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await get(proxy, '/readyz');
  }
  t.equal(r.status, 503, r.body);
  const body = JSON.parse(r.body) as { ready: boolean; notReady: Record<string, string> };
  t.equal(body.ready, false);
  t.ok(body.notReady['shard s0'], `names the shard: ${r.body}`);
  t.equal((await get(proxy, '/healthz')).status, 200, 'still alive');
});
