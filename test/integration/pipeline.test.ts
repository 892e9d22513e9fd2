// Owns: pool.pipeline as users run it — many clients' autocommit Queries over a few server connections, each client
// getting exactly its own answers; a transaction, an error, a client that leaves mid-answer and one that never reads
// cost nobody else anything.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { APP_USER, connected, startProxy, type PgError } from '../helpers/proxy.js';
import { RawClient, query } from '../helpers/rawClient.js';

requirePostgres(t);

const POOL = 2;
const [cluster] = await withClusters(t, 1, { users: [] });
const admin = new pg.Client({ host: cluster!.host, port: cluster!.port, user: cluster!.user, password: cluster!.password, database: 'app' });
await admin.connect();
t.teardown(() => admin.end());
await admin.query('create table pl (id serial primary key, client int not null, n int not null)');
const proxy = await startProxy(t, [cluster!], { pool: { mode: 'transaction', size: POOL, pipeline: 8, queue_timeout_ms: 20000 } });

t.test('24 clients over 2 server connections: each gets its own answers, every write lands once', async (t) => {
  const clients = await Promise.all(Array.from({ length: 24 }, () => connected(t, proxy)));
  const backends = new Set<number>();
  let wrong = 0;
  await Promise.all(
    clients.map(async (c, i) => {
      for (let k = 0; k < 40; k++) {
        const r = await c.query(`select ${i} as i, ${k} as k, pg_backend_pid() as pid`);
        if (r.rows[0].i !== i || r.rows[0].k !== k) wrong++;
        backends.add(r.rows[0].pid);
        await c.query(`insert into pl (client, n) values (${i}, ${k})`);
      }
    }),
  );
  t.equal(wrong, 0, 'no client got another client\'s row');
  t.ok(backends.size <= POOL, `${backends.size} backend(s) served 24 clients (pool.size ${POOL})`);
  const r = await admin.query<{ n: number; d: number }>('select count(*)::int as n, count(distinct (client, n))::int as d from pl');
  t.same(r.rows[0], { n: 24 * 40, d: 24 * 40 }, 'every insert once');
});

t.test('a transaction, an error and a client leaving mid-answer next to riding clients', async (t) => {
  const riders = await Promise.all(Array.from({ length: 8 }, () => connected(t, proxy)));
  const txClient = await connected(t, proxy);
  const stop = { now: false };
  let ridden = 0;
  const riding = Promise.all(
    riders.map(async (c, i) => {
      while (!stop.now) {
        const r = await c.query(`select ${i} as i, (select count(*) from pl where client = -1)::int as seen`);
        if (r.rows[0].i !== i) throw new Error('wrong answer');
        if (r.rows[0].seen !== 0 && r.rows[0].seen !== 3) throw new Error(`saw ${r.rows[0].seen} rows of an open transaction`);
        ridden++;
      }
    }),
  );
  // a transaction takes a connection of its own: its uncommitted rows are seen by nobody
  await txClient.query('begin');
  for (let k = 0; k < 3; k++) await txClient.query(`insert into pl (client, n) values (-1, ${k})`);
  await new Promise((r) => setTimeout(r, 100));
  await txClient.query('commit');
  // an error goes to the client that asked, and only to it
  const err = await riders[0]!.query('select * from no_such_table').catch((e: PgError) => e);
  t.equal((err as PgError).code, '42P01');
  // a client that leaves while its answer is on its way
  const leaver = new pg.Client({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  leaver.on('error', () => {});
  await leaver.connect();
  void leaver.query('select pg_sleep(0.2), repeat(\'x\', 100000) from generate_series(1, 20)').catch(() => {});
  await new Promise((r) => setTimeout(r, 50));
  (leaver as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await new Promise((r) => setTimeout(r, 400));
  stop.now = true;
  await riding;
  t.ok(ridden > 50, `${ridden} answers to riding clients, all their own`);
  const r = await admin.query<{ n: number }>('select count(*)::int as n from pl where client = -1');
  t.equal(r.rows[0]!.n, 3, 'the transaction committed its 3 rows');
});

t.test('a client that never reads its answer is closed; the others go on', async (t) => {
  const raw = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  t.teardown(() => raw.close());
  // its first statement takes a connection of its own and gives it this client's settings: the next one rides it
  await raw.query('select 1');
  raw.socket.pause();
  // ~40 MB of answer it does not read
  raw.send(query("select repeat('x', 2000) from generate_series(1, 20000)"));
  const other = await connected(t, proxy);
  for (let k = 0; k < 200; k++) {
    const r = await other.query(`select ${k} as k`);
    if (r.rows[0].k !== k) t.fail('wrong answer');
  }
  t.pass('200 answers to another client while one does not read');
  const logs = (): string => proxy.logs();
  const end = Date.now() + 20000;
  while (!/does not read its answers/.test(logs()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.match(logs(), /does not read its answers on a pipelined server connection/, 'the non-reading client was closed');
  // reading again, it finds its connection closed (after what had reached its socket already)
  const closed = new Promise<boolean>((resolve) => {
    raw.socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 10000);
  });
  raw.socket.resume();
  t.ok(raw.socket.destroyed || (await closed), 'its connection was closed');
  const r = await other.query('select 1 as one');
  t.equal(r.rows[0].one, 1);
});

t.test('the backend of a pipeline is killed mid-query: each of its riders gets an error, the proxy serves on', async (t) => {
  const riders = await Promise.all(Array.from({ length: 6 }, () => connected(t, proxy)));
  // warm: these clients' settings are on the pool's connections, so their next Queries ride
  await Promise.all(riders.map((c) => c.query('select 1')));
  const running = riders.map((c) => c.query('select pg_sleep(2), pg_backend_pid() as pid').then(() => 'answered', (e: PgError) => e.code ?? e.message));
  await new Promise((r) => setTimeout(r, 300));
  const busy = await admin.query<{ pid: number }>("select pid from pg_stat_activity where datname = 'app' and query like 'select pg_sleep(2)%'");
  t.ok(busy.rows.length >= 1 && busy.rows.length < 6, `${busy.rows.length} backend(s) run the 6 clients' statements: they ride`);
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query like $2', ['app', 'select pg_sleep(2)%']);
  const outcomes = await Promise.all(running);
  t.ok(outcomes.every((o) => o !== 'answered'), `every rider of a killed backend heard of it: ${[...new Set(outcomes)].join(', ')}`);
  const fresh = await connected(t, proxy);
  t.equal((await fresh.query('select 7 as n')).rows[0].n, 7, 'a new client is served');
});
