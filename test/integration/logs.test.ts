// Owns: the proxy's log lines as an operator reads them — client connect/disconnect, authentication failure, server connection opened/closed/failed, query error, slow request (log.slow_ms: account, action, rows), statement text (simple and extended protocol) only with log.statements, PRESCIENT_LOG_LEVEL over log.level.
import t from 'tap';
import type pg from 'pg';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { startProxy, connected, connectError, type ProxyHandle } from '../helpers/proxy.js';
import { freePort } from '../../scripts/testbed.js';

requirePostgres(t);

type Line = Record<string, unknown> & { msg: string };
const lines = (p: ProxyHandle): Line[] => p.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

/** polls the proxy's log (every 50 ms, up to 30 s) for a line with `msg` matching `where` */
async function line(p: ProxyHandle, msg: string, where: (l: Line) => boolean = () => true): Promise<Line> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = lines(p).find((l) => l.msg === msg && where(l));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no "${msg}" line in:\n${p.logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const SECRET = 'SECRET-TEXT-42';
const clusters = await withClusters(t, 1);

/** starts a proxy with PRESCIENT_LOG_LEVEL set in its environment */
async function withEnvLevel(level: string, start: () => Promise<ProxyHandle>): Promise<ProxyHandle> {
  const before = process.env.PRESCIENT_LOG_LEVEL;
  process.env.PRESCIENT_LOG_LEVEL = level;
  try {
    return await start();
  } finally {
    if (before === undefined) delete process.env.PRESCIENT_LOG_LEVEL;
    else process.env.PRESCIENT_LOG_LEVEL = before;
  }
}

t.test('one line per event, with its fields; no statement text without log.statements', async (t) => {
  // log.level warn in the config, info in the environment: the environment wins (else no connect lines)
  const proxy = await withEnvLevel('info', () => startProxy(t, clusters, { log: { level: 'warn', slow_ms: 150 }, pool: { mode: 'transaction', size: 2, idle_timeout_ms: 300 } }));
  const c = await connected(t, proxy, { application_name: 'log-test' });
  await c.query('select 1');
  await t.rejects(c.query(`select '${SECRET}' || 1/0`), { code: '22012' });
  await c.query(`select pg_sleep(0.3), '${SECRET}'`);
  const pid = (await line(proxy, 'client connected', (l) => l.application_name === 'log-test')).pid;
  const connect = await line(proxy, 'client connected', (l) => l.application_name === 'log-test');
  t.match(connect, { user: 'app', database: 'app', address: /^127\.0\.0\.1:\d+$/ }, 'connect: user, database, address, application_name');
  t.match(await line(proxy, 'query error', (l) => l.pid === pid), { sqlstate: '22012', message: 'division by zero', shard: 's0', source: 'server' }, 'query error: SQLSTATE, message, shard, pid');
  const slow = await line(proxy, 'slow request', (l) => l.pid === pid);
  t.ok((slow.duration_ms as number) >= 150, `slow request: duration ${String(slow.duration_ms)} ms`);
  t.equal(slow.shard, 's0');
  t.match(await line(proxy, 'server connection opened'), { shard: 's0', user: clusters[0]!.user, backend_pid: Number }, 'server connection opened: shard, user, backend pid');
  await c.end();
  const bye = await line(proxy, 'client disconnected', (l) => l.pid === pid);
  t.match(bye, { user: 'app', database: 'app', application_name: 'log-test', queries: 3, reason: 'client terminated' }, 'disconnect: who, queries, reason');
  t.ok(typeof bye.duration_ms === 'number' && (bye.bytes_in as number) > 0 && (bye.bytes_out as number) > 0, 'and duration, bytes');
  const wrong = await connectError(proxy, { password: 'not-the-password' });
  t.equal(wrong.code, '28P01');
  const failure = await line(proxy, 'authentication failed');
  t.match(failure, { user: 'app', address: '127.0.0.1', method: 'scram-sha-256', reason: String }, 'authentication failure: user, address, method, reason');
  t.notOk(proxy.logs().includes('not-the-password'), 'never the password');
  t.match(await line(proxy, 'server connection closed'), { shard: 's0', backend_pid: Number, reason: /idle/ }, 'server connection closed after the idle timeout, with its reason');
  t.notOk(proxy.logs().includes(SECRET), 'no statement text without log.statements');
});

t.test('log.statements adds the statement to query-error and slow-request lines, in both protocols; the slow line names the account, action and rows', async (t) => {
  // the routed path (a key plugin listed): the sqlcommenter tag gives the requests their account and action
  const proxy = await startProxy(t, clusters, { log: { statements: true, slow_ms: 150 }, sharding: { key_plugins: [] }, plugins: [{ name: 'sqlcommenter' }] });
  const tag = (action: string): string => `/*account='acct-7',action='${action}'*/`;
  const cases: { name: string; mode: 'simple' | 'extended'; failing: string; sqlstate: string }[] = [
    { name: 'simple Query', mode: 'simple', failing: `select '${SECRET}' || 1/0 ${tag('Fail')}`, sqlstate: '22012' },
    { name: 'extended: an error at Execute', mode: 'extended', failing: `select '${SECRET}' || 1/0 ${tag('Fail')}`, sqlstate: '22012' },
    { name: 'extended: an error at Parse', mode: 'extended', failing: `selec '${SECRET}' ${tag('Fail')}`, sqlstate: '42601' },
  ];
  for (const c of cases) {
    const app = `log-${c.name.replace(/\W+/g, '-')}`;
    const client = await connected(t, proxy, { application_name: app });
    const query = (text: string): Promise<unknown> => client.query({ text, queryMode: c.mode } as pg.QueryConfig);
    await t.rejects(query(c.failing), { code: c.sqlstate }, `${c.name}: the client gets ${c.sqlstate}`);
    await query(`select pg_sleep(0.3), '${SECRET}' as s ${tag('Sleep')}`);
    const pid = (await line(proxy, 'client connected', (l) => l.application_name === app)).pid;
    const error = await line(proxy, 'query error', (l) => l.pid === pid);
    t.match(error, { sqlstate: c.sqlstate, statement: SECRET }, `${c.name}: the query-error line has the statement`);
    const slow = await line(proxy, 'slow request', (l) => l.pid === pid);
    t.match(slow, { statement: SECRET, account: 'acct-7', action: 'Sleep', rows: 1, shard: 's0' }, `${c.name}: the slow-request line: statement, account, action, rows`);
  }
});

t.test('without log.statements: the slow-request line has account, action and rows, never the statement', async (t) => {
  const proxy = await startProxy(t, clusters, { log: { slow_ms: 150 }, sharding: { key_plugins: [] }, plugins: [{ name: 'sqlcommenter' }] });
  const c = await connected(t, proxy, { application_name: 'log-quiet' });
  await c.query({ text: `select pg_sleep(0.3), '${SECRET}' from generate_series(1, 3) /*account='acct-9',action='Many'*/`, queryMode: 'extended' } as pg.QueryConfig);
  const pid = (await line(proxy, 'client connected', (l) => l.application_name === 'log-quiet')).pid;
  t.match(await line(proxy, 'slow request', (l) => l.pid === pid), { account: 'acct-9', action: 'Many', rows: 3 }, 'account, action, rows');
  t.notOk(proxy.logs().includes(SECRET), 'no statement text');
});

t.test('a server connection that cannot be opened is logged with its reason', async (t) => {
  const dead = await freePort();
  const proxy = await startProxy(t, clusters, { shards: [{ name: 'gone', host: '127.0.0.1', port: dead, database: 'app', user: 'app', password: 'x' }] });
  const e = await connectError(proxy);
  t.ok(e.code, `the client gets an error (${e.code})`);
  t.match(await line(proxy, 'server connection failed'), { shard: 'gone', user: 'app', reason: /ECONNREFUSED|connect/ });
});
