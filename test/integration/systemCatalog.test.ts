// Integration tests: drivers' reads of the system catalogs through Prescient over three shards — postgres.js connects (its pg_type GROUP BY at start-up), pg_catalog and information_schema reads answered by one shard, pg_stat_activity by the session's shard.
import t from 'tap';
import pg from 'pg';
import postgres from 'postgres';
import { requirePostgres, connOf, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, startProxy } from '../helpers/proxy.js';

requirePostgres(t);

const clusters = await withClusters(t, 3);
const proxy = await startProxy(t, clusters, {
  pool: { mode: 'transaction', size: 4 },
  sharding: {
    account_column: 'account_id',
    domains: { volume: { tables: ['volumes'], actions: [] } },
    no_key: { reads: 'fanout', writes: 'reject' },
  },
});

const direct = async (c: Cluster, sql: string, params: unknown[] = []): Promise<pg.QueryResult> => {
  const client = new pg.Client({ ...connOf(c), database: 'app' });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
};

async function connect(tt: { teardown(fn: () => unknown): void }): Promise<pg.Client> {
  const c = new pg.Client({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  c.on('error', () => {});
  await c.connect();
  tt.teardown(() => c.end().catch(() => {}));
  return c;
}

// the sharded table on every shard (DDL broadcast), and a table that only the second shard has, so that an answer
// from a shard other than the global one (or merged from all of them) shows
const setup = await connect(t);
await setup.query('create table volumes (id text primary key, account_id text not null, size_gib int not null)');
await direct(clusters[1]!, 'create table only_on_s1 (id int)');

t.test('postgres.js connects through Prescient over three shards and runs queries', async (t) => {
  const sql = postgres({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', max: 1, connect_timeout: 10, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));
  // the first query makes postgres.js connect and read pg_catalog.pg_type (a GROUP BY) before it runs
  const [row] = await sql<{ x: number }[]>`select 1::int as x`;
  t.equal(row?.x, 1);
  const arrays = await sql<{ a: number[] }[]>`select array[1, 2, 3]::int[] as a`;
  t.same(arrays[0]?.a, [1, 2, 3], 'array types parsed with the types it read at connect');
  const rel = await sql<{ relname: string }[]>`select relname from pg_class where relname = ${'volumes'}`;
  t.same(rel.map((r) => r.relname), ['volumes'], 'a parameterized catalog read');
  const info = await sql<{ n: number }[]>`select count(*)::int as n from information_schema.tables where table_name = 'only_on_s1'`;
  t.equal(info[0]?.n, 0, 'information_schema read from the global shard');
});

t.test('pg_catalog with GROUP BY and information_schema.tables return what the global shard returns', async (t) => {
  const c = await connect(t);
  const queries: [string, unknown[]][] = [
    [`select b.oid::int, b.typarray::int from pg_catalog.pg_type a left join pg_catalog.pg_type b on b.oid = a.typelem
      where a.typcategory = 'A' group by b.oid, b.typarray order by b.oid`, []],
    ['select typtype, count(*)::int n from pg_type group by typtype order by typtype', []],
    [`select table_name from information_schema.tables where table_schema = 'public' order by table_name`, []],
    [`select count(*)::int n from information_schema.tables where table_schema = $1`, ['public']],
    [`select relname from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace order by relname`, []],
  ];
  for (const [q, params] of queries) {
    const through = await c.query(q, params);
    const one = await direct(clusters[0]!, q, params);
    t.same(through.rows, one.rows, `${q.split('\n')[0]!.slice(0, 70)}: the global shard's rows`);
  }
  const tables = await c.query(`select table_name from information_schema.tables where table_schema = 'public'`);
  t.notOk(tables.rows.some((r) => r.table_name === 'only_on_s1'), 'not merged with another shard');
  t.ok(tables.rows.some((r) => r.table_name === 'volumes'));
  const simple = await c.query({ text: 'select count(*)::int n from pg_namespace group by nspowner', queryMode: 'simple' } as pg.QueryConfig);
  t.ok(simple.rowCount! >= 1, 'simple protocol too');
});

t.test('pg_stat_activity and pg_backend_pid() are answered by the session\'s shard', async (t) => {
  const c = await connect(t);
  const all = await c.query('select pid, datname, state from pg_stat_activity');
  t.ok(all.rowCount! >= 1, 'select from pg_stat_activity succeeds');
  const me = await c.query('select pid, datname from pg_stat_activity where pid = pg_backend_pid()');
  t.equal(me.rowCount, 1, 'one server answered: its own backend, once');
  t.equal(me.rows[0].datname, 'app');
  const nodePg = await c.query(`select count(*)::int n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, ['app']);
  t.equal(nodePg.rowCount, 1, "node-postgres' style query with a parameter: not a keyless write");
  // inside a transaction on a shard the views are that shard's
  await c.query(`insert into volumes (id, account_id, size_gib) values ('v1', 'acct-1', 8)`);
  await c.query('begin');
  await c.query(`select * from volumes where account_id = 'acct-1'`);
  const port = await c.query('select inet_server_port() as port, (select count(*)::int from pg_locks where pid = pg_backend_pid()) as locks');
  t.ok(port.rows[0].locks >= 1, 'pg_locks of the transaction');
  const inTx = await c.query(`select count(*)::int n from pg_class where relname = 'volumes'`);
  t.equal(inTx.rows[0].n, 1, 'a catalog read inside a transaction on another shard is not refused');
  await c.query('commit');
});
