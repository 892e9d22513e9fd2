// Owns: `workers: 2` as users run it — two processes share the port, the pool budget stays the configured one, a
// CancelRequest that lands on the other worker still cancels, SIGHUP reloads both, SIGTERM stops them all.
import t from 'tap';
import pg from 'pg';
import { directQuery, requirePostgres, withClusters } from '../helpers/pg.js';
import { connected, startProxy, type PgError } from '../helpers/proxy.js';
import { sendCancel } from '../helpers/rawClient.js';

requirePostgres(t);

const POOL = 4;
const [cluster] = await withClusters(t, 1, { users: [] });
const proxy = await startProxy(t, [cluster!], { workers: 2, pool: { mode: 'transaction', size: POOL, queue_timeout_ms: 20000 }, log: { level: 'debug' } });

async function until(what: string, ok: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${proxy.logs()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
const count = (s: string, needle: string): number => s.split(needle).length - 1;
await until('both workers', () => count(proxy.logs(), '"msg":"worker listening"') === 2);
const workerPids = [...proxy.logs().matchAll(/"msg":"worker listening".*?"pid":(\d+)/g)].map((m) => Number(m[1]));

/** server connections of the proxy on Postgres (seen from the `postgres` database) */
async function serverConnections(monitor: pg.Client): Promise<number> {
  const r = await monitor.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = 'app' and backend_type = 'client backend'");
  return r.rows[0]!.n;
}

t.test('clients are spread over both workers; the pool budget is the configured one', async (t) => {
  const clients = await Promise.all(Array.from({ length: 12 }, () => connected(t, proxy)));
  const workers = new Set(clients.map((c) => (c as unknown as { processID: number }).processID % 2));
  t.same([...workers].sort(), [0, 1], 'BackendKeyData pids of both workers');
  const monitor = new pg.Client({ host: cluster!.host, port: cluster!.port, user: cluster!.user, password: cluster!.password, database: 'postgres' });
  await monitor.connect();
  t.teardown(() => monitor.end());
  let most = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, await serverConnections(monitor));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const results = await Promise.all(clients.map((c, i) => c.query('select pg_sleep(0.2), $1::int as i', [i])));
  sampling = false;
  await sampler;
  t.same(results.map((r) => r.rows[0].i), clients.map((_, i) => i), 'every client answered its own query');
  t.ok(most >= 2, `both workers used server connections (at most ${most} at once)`);
  t.ok(most <= POOL, `at most pool.size = ${POOL} server connections over both workers (saw ${most})`);
});

t.test('a CancelRequest reaches the client whichever worker it lands on', async (t) => {
  // two clients on each worker; each pair cancelled on two consecutive connections, which round robin gives to both
  // workers: at least one cancel of each pair lands on the other worker
  const key = (c: pg.Client): { pid: number; secret: number } => {
    const k = c as unknown as { processID: number; secretKey: number };
    return { pid: k.processID, secret: k.secretKey };
  };
  // which worker a connection lands on is the kernel's and the primary's choice: connect until each has two (a loaded
  // host can hand several in a row to one worker)
  const clients: pg.Client[] = [];
  const onWorker = (w: number): pg.Client[] => clients.filter((c) => key(c).pid % 2 === w);
  for (let i = 0; i < 40 && (onWorker(0).length < 2 || onWorker(1).length < 2); i++) clients.push(await connected(t, proxy));
  const byWorker = [0, 1].map((w) => onWorker(w).slice(0, 2));
  t.ok(byWorker.every((p) => p.length === 2), 'two clients on each worker');
  const chosen = byWorker.flat();
  const running = chosen.map((c) => c.query('select pg_sleep(30)').then(() => 'finished', (e: PgError) => e.code ?? e.message));
  // cancel once all four sleep on the server (a cancel that comes before its query would find nothing to cancel)
  for (let i = 0; i < 600; i++) {
    const r = await directQuery<{ n: number }>(cluster!, "select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'");
    if (r.rows[0]!.n >= 4) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const before = count(proxy.logs(), "another worker's client: passed on");
  for (const c of chosen) await sendCancel(proxy.host, proxy.port, key(c).pid, key(c).secret);
  t.same(await Promise.all(running), ['57014', '57014', '57014', '57014'], 'all four cancelled (query_canceled)');
  t.ok(count(proxy.logs(), "another worker's client: passed on") - before >= 2, 'cancels were passed between workers');
});

t.test('a worker that dies is started again; clients of the other one are not touched', async (t) => {
  const survivor = await connected(t, proxy);
  const mine = (survivor as unknown as { processID: number }).processID % 2;
  const victim = workerPids[1 - mine]!;
  process.kill(victim, 'SIGKILL');
  await until('the restarted worker', () => count(proxy.logs(), '"restarted":true') === 1);
  t.equal((await survivor.query('select 41 + 1 as n')).rows[0].n, 42, 'a client of the other worker goes on');
  const clients = await Promise.all(Array.from({ length: 6 }, () => connected(t, proxy)));
  t.same([...new Set(clients.map((c) => (c as unknown as { processID: number }).processID % 2))].sort(), [0, 1], 'both workers take clients again');
  const restarted = /"msg":"worker listening"[^\n]*"pid":(\d+)[^\n]*"restarted":true/.exec(proxy.logs());
  workerPids.push(Number(restarted?.[1]));
});

t.test('SIGHUP reloads both workers; SIGTERM stops them and the primary', async (t) => {
  const before = count(proxy.logs(), '"msg":"configuration reloaded"');
  proxy.proc.kill('SIGHUP');
  await until('both reloads', () => count(proxy.logs(), '"msg":"configuration reloaded"') - before === 2);
  t.pass('both workers reloaded');
  t.equal(await proxy.stop('SIGTERM'), 0, 'the primary exits 0');
  const alive = workerPids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  t.same(alive, [], `no worker left (${workerPids.join(', ')})`);
});
