// Integration tests: keyless aggregates over three real shards through a real Prescient equal, row for row and type for type (raw text), the same query on one Postgres database holding all the rows; unmergeable aggregates still refused.
import t from 'tap';
import pg from 'pg';
import { connOf, hasPostgres, withClusters } from '../helpers/pg.js';
import { APP_USER, startProxy } from '../helpers/proxy.js';

if (!hasPostgres()) {
  t.plan(0, 'Postgres binaries not found');
  process.exit(0);
}

const clusters = await withClusters(t, 4);
const shards = clusters.slice(0, 3);
const single = clusters[3]!;
const proxy = await startProxy(t, shards, {
  pool: { mode: 'transaction', size: 4, queue_timeout_ms: 20000 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } } },
});

/** every value as the server's text, so that the comparison is of the bytes each side sent */
const raw = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

async function client(cfg: pg.ClientConfig): Promise<pg.Client> {
  const c = new pg.Client({ ...cfg, types: raw });
  c.on('error', () => {});
  await c.connect();
  t.teardown(() => c.end().catch(() => {}));
  return c;
}

const viaProxy = await client({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
const direct = await client({ ...connOf(single), database: 'app' });

const DDL = `create table volumes (id text primary key, account_id text not null, state text, size_gib int, small smallint,
  big bigint, price numeric(12,3), ratio double precision, weight real)`;
await viaProxy.query(DDL);
await direct.query(DDL);

// 60 rows over 12 accounts (spread over the three shards by their keys), with NULLs in every column but the key
const states = ['available', 'in-use', 'deleting', null];
const rows: unknown[][] = [];
for (let i = 0; i < 60; i++) {
  rows.push([
    `vol-${i}`, `acct-${i % 12}`, states[i % 4], i % 7 === 0 ? null : (i * 37) % 100, i % 5 === 0 ? null : i % 9 - 4,
    i % 6 === 0 ? null : String(BigInt(i) * 123456789012n - 4000000000000n), i % 8 === 0 ? null : ((i * 7919) % 100000 / 1000 - 20).toFixed(3),
    i % 9 === 0 ? null : (i % 13) * 0.25 - 1, i % 10 === 0 ? null : (i % 11) * 0.5,
  ]);
}
const insert = 'insert into volumes (id, account_id, state, size_gib, small, big, price, ratio, weight) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)';
for (const r of rows) {
  await viaProxy.query(insert, r);
  await direct.query(insert, r);
}

t.test('the rows are spread over all three shards', async (t) => {
  for (const [i, c] of shards.entries()) {
    const s = await client({ ...connOf(c), database: 'app' });
    const r = await s.query('select count(*)::int n from volumes');
    t.ok(Number(r.rows[0].n) > 0, `shard s${i} holds rows`);
  }
});

interface Case {
  sql: string;
  params?: unknown[];
  /** the query has no ORDER BY over all its output: compare as sets */
  unordered?: boolean;
}

const cases: Case[] = [
  { sql: 'select count(*) from volumes' },
  { sql: 'select count(size_gib), count(price), count(*) from volumes' },
  { sql: 'select sum(size_gib), sum(small), sum(big), sum(price), sum(ratio), sum(weight) from volumes' },
  { sql: 'select min(size_gib), max(size_gib), min(big), max(big), min(price), max(price), min(ratio), max(weight), min(state), max(id) from volumes' },
  { sql: 'select avg(size_gib), avg(small), avg(big), avg(price), avg(ratio), avg(weight) from volumes' },
  { sql: 'select avg(size_gib) as mean_size, count(*) n from volumes where size_gib > 40' },
  { sql: "select count(*), sum(size_gib), avg(price), min(price), max(big) from volumes where state = 'nope'" },
  { sql: 'select count(*), sum(size_gib), avg(size_gib) from volumes where size_gib is null' },
  { sql: 'select state, count(*) from volumes group by state order by state' },
  { sql: 'select state, count(*), sum(size_gib), avg(size_gib), min(price), max(price) from volumes group by state', unordered: true },
  { sql: 'select state, avg(price) from volumes group by 1 order by 2 desc' },
  { sql: 'select state, count(*) as n from volumes group by state order by n desc, state limit 2' },
  { sql: 'select state, sum(big) from volumes group by state order by sum(big), state limit 3' },
  { sql: 'select account_id, count(*), avg(ratio), sum(weight) from volumes group by account_id order by account_id' },
  { sql: 'select account_id, state, count(*) from volumes group by account_id, state order by 1, 2 nulls first' },
  { sql: 'select state, avg(big) from volumes where size_gib between 10 and 80 group by state order by state nulls first' },
  { sql: 'select small, count(*), avg(small) from volumes group by small order by small' },
  { sql: 'select state, count(*) from volumes where size_gib > $1 group by state order by count(*) desc, state', params: [30] },
  { sql: 'select count(*) filter (where size_gib > 50), sum(price) filter (where state is null) from volumes' },
  { sql: 'select state, max(id), min(account_id) from volumes group by state order by max(id) desc' },
  { sql: 'select avg(price), avg(size_gib) from volumes where account_id = any($1)', params: [['acct-1', 'acct-2', 'acct-7']] },
  { sql: 'select count(*) from volumes limit 0' },
  { sql: "select state, count(*) from volumes where state = 'nope' group by state" },
  { sql: 'select ratio, count(*), sum(size_gib) from volumes group by ratio order by ratio nulls first limit 5' },
  { sql: 'select pg_catalog.avg(size_gib), sum(size_gib) as total from volumes' },
];

/** the rows as text, and each column's name and type OID */
async function run(c: pg.Client, k: Case): Promise<{ rows: unknown[][]; fields: [string, number][] }> {
  const r = await c.query({ text: k.sql, values: k.params, rowMode: 'array' });
  const out = r.rows as unknown[][];
  if (k.unordered) out.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return { rows: out, fields: r.fields.map((f) => [f.name, f.dataTypeID]) };
}

t.test(`${cases.length} keyless aggregates over three shards equal one database`, async (t) => {
  t.ok(cases.length >= 20);
  for (const k of cases) {
    const want = await run(direct, k);
    const got = await run(viaProxy, k).catch((e: Error) => ({ error: e.message }));
    if ('error' in got) {
      t.fail(`${k.sql}: ${got.error}`);
      continue;
    }
    t.strictSame(got.fields, want.fields, `column names and types: ${k.sql}`);
    t.strictSame(got.rows, want.rows, `rows: ${k.sql}`);
  }
});

t.test('the simple protocol merges the same', async (t) => {
  for (const sql of ['select state, count(*), avg(price) from volumes group by state order by state', 'select count(*), avg(size_gib) from volumes; select max(id) from volumes']) {
    const a = await viaProxy.query({ text: sql, queryMode: 'simple', rowMode: 'array' } as pg.QueryConfig);
    const b = await direct.query({ text: sql, queryMode: 'simple', rowMode: 'array' } as pg.QueryConfig);
    const norm = (r: pg.QueryResult | pg.QueryResult[]): unknown => (Array.isArray(r) ? r : [r]).map((x) => [x.rows, x.fields.map((f) => f.dataTypeID)]);
    t.strictSame(norm(a), norm(b), sql);
  }
});

t.test('aggregates that cannot be merged exactly are refused with the clear error', async (t) => {
  for (const sql of [
    'select count(distinct state) from volumes',
    'select sum(distinct size_gib) from volumes',
    'select percentile_cont(0.5) within group (order by size_gib) from volumes',
    'select id, row_number() over (order by id) from volumes',
    'select state, count(*) from volumes group by state having count(*) > 1',
    'select count(*) from volumes group by state',
    'select max(size_gib) + 1 from volumes',
    'select string_agg(id, \',\') from volumes',
  ]) {
    const err = await viaProxy.query(sql).then(() => null, (e: Error & { code?: string }) => e);
    t.ok(err, `refused: ${sql}`);
    t.equal(err?.code, '0A000', `0A000: ${sql}`);
    t.match(err?.message ?? '', /cannot be merged/, sql);
  }
});
