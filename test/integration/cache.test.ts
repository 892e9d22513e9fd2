// Integration tests: the version-checked result cache over two real shards — hits replay the stored frames,
// a write through the proxy is visible to its own next read, a write straight to a shard invalidates by
// notification, and what must not be cached is not.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, connOf, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, startProxy, type ProxyHandle } from '../helpers/proxy.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
const ADMIN = { name: 'admin', password: 'admin-secret' };
const proxy = await startProxy(t, clusters, {
  admin: { users: [ADMIN] },
  pool: { mode: 'transaction', size: 4 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] }, snapshot: { tables: ['snapshots'] } } },
  cache: { enabled: true, tables: ['volumes'] },
});

async function connect(tt: { teardown(fn: () => unknown): void }, p: ProxyHandle = proxy, admin = false): Promise<pg.Client> {
  const c = new pg.Client(admin
    ? { host: p.host, port: p.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' }
    : { host: p.host, port: p.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  c.on('error', () => {});
  await c.connect();
  tt.teardown(() => c.end().catch(() => {}));
  return c;
}
const direct = async (c: Cluster, sql: string, params: unknown[] = []): Promise<pg.QueryResult> => {
  const client = new pg.Client({ ...connOf(c), database: 'app' });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
};
const cacheStats = async (admin: pg.Client): Promise<Record<string, number>> => {
  const r = await admin.query({ text: 'SHOW CACHE', queryMode: 'simple' } as pg.QueryConfig);
  const total = r.rows.find((x) => x.domain === '*');
  return Object.fromEntries(Object.entries(total).filter(([k]) => k !== 'domain').map(([k, v]) => [k, Number(v)]));
};
const shardOf = async (admin: pg.Client, account: string): Promise<Cluster> => {
  const r = await admin.query({ text: `SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE 'volumes'`, queryMode: 'simple' } as pg.QueryConfig);
  return clusters[Number(String(r.rows[0].shard).slice(1))]!;
};

const c = await connect(t);
const admin = await connect(t, proxy, true);
await c.query('create table volumes (id text primary key, account_id text not null, size_gib int not null, created_at timestamptz default now())');
await c.query('create table snapshots (id text primary key, account_id text not null)');
for (let a = 1; a <= 6; a++) {
  for (let v = 1; v <= 3; v++) await c.query('insert into volumes (id, account_id, size_gib) values ($1, $2, $3)', [`v${a}-${v}`, `acct-${a}`, v]);
}

t.test('a repeated read is a hit with the same rows', async (t) => {
  const before = await cacheStats(admin);
  const q = 'select id, size_gib from volumes where account_id = $1 order by id';
  const first = await c.query(q, ['acct-1']);
  const second = await c.query(q, ['acct-1']);
  const after = await cacheStats(admin);
  t.same(second.rows, first.rows);
  t.equal(after.hits - before.hits, 1, 'one hit');
  t.equal(after.fills - before.fills, 1, 'one fill');
  const simple1 = await c.query(`select id from volumes where account_id = 'acct-2' order by id`);
  const simple2 = await c.query(`select id from volumes where account_id = 'acct-2' order by id`);
  t.same(simple2.rows, simple1.rows);
  t.equal((await cacheStats(admin)).hits - after.hits, 1, 'simple protocol hit too');
});

t.test('read your own write through the proxy', async (t) => {
  const q = 'select size_gib from volumes where account_id = $1 and id = $2';
  for (let i = 0; i < 20; i++) {
    await c.query(q, ['acct-3', 'v3-1']);
    await c.query('update volumes set size_gib = $3 where account_id = $1 and id = $2', ['acct-3', 'v3-1', 100 + i]);
    const r = await c.query(q, ['acct-3', 'v3-1']);
    t.equal(r.rows[0].size_gib, 100 + i, `round ${i}: the new value, never the cached one`);
  }
  // inside a transaction
  await c.query('begin');
  await c.query('update volumes set size_gib = 7 where account_id = $1 and id = $2', ['acct-3', 'v3-1']);
  t.equal((await c.query(q, ['acct-3', 'v3-1'])).rows[0].size_gib, 7, 'a read after a write in the transaction goes to the server');
  await c.query('commit');
  t.equal((await c.query(q, ['acct-3', 'v3-1'])).rows[0].size_gib, 7, 'and after commit');
});

t.test('a write straight to the shard invalidates by notification', async (t) => {
  const q = 'select size_gib from volumes where account_id = $1 and id = $2';
  await c.query(q, ['acct-4', 'v4-1']);
  await c.query(q, ['acct-4', 'v4-1']);
  const shard = await shardOf(admin, 'acct-4');
  await direct(shard, `update volumes set size_gib = 555 where account_id = 'acct-4' and id = 'v4-1'`);
  const start = Date.now();
  let seen = 0;
  while (Date.now() - start < 3000) {
    seen = (await c.query(q, ['acct-4', 'v4-1'])).rows[0].size_gib;
    if (seen === 555) break;
  }
  t.equal(seen, 555, `the bypassing write became visible (${Date.now() - start} ms)`);
});

t.test('not cached: volatile functions, FOR UPDATE, tables outside cache.tables', async (t) => {
  const before = await cacheStats(admin);
  for (let i = 0; i < 2; i++) {
    await c.query('select id, now() from volumes where account_id = $1', ['acct-5']);
    await c.query('select id, random() from volumes where account_id = $1', ['acct-5']);
    await c.query('select id from volumes where account_id = $1 for update', ['acct-5']);
    await c.query('select id from snapshots where account_id = $1', ['acct-5']);
  }
  const after = await cacheStats(admin);
  t.equal(after.hits - before.hits, 0, 'no hits');
  t.equal(after.fills - before.fills, 0, 'no fills');
});
