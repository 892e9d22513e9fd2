// Owns: integration tests for several databases (config `databases`): each name reaches its own servers only, with its own
// pools, prepared statements and admin rows; unknown names get 3D000; a cancel finds a client of any database;
// listen.max_client_connections counts every database's clients; RELOAD reloads each and refuses a changed set of names.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { requirePostgres, withClusters, psql, connOf, directQuery, type Cluster } from '../helpers/pg.js';
import { APP_USER, adminConsole, connectError, connected, startProxy, type PgError, type ProxyHandle } from '../helpers/proxy.js';
import { sendCancel } from '../helpers/rawClient.js';
import { freePort } from '../../scripts/testbed.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
const [a, b] = clusters as [Cluster, Cluster];
const ADMIN = { name: 'admin', password: 'admin-secret' };

/** A statement on cluster `c`'s database `database`, straight (not through the proxy). */
async function direct(c: Cluster, database: string, sql: string): Promise<void> {
  const d = new pg.Client(connOf(c, undefined, database));
  await d.connect();
  try {
    await d.query(sql);
  } finally {
    await d.end();
  }
}

// a table only in `app` (on both of its shards), another only in the servers' `postgres` database
for (const c of clusters) await directQuery(c, 'CREATE TABLE IF NOT EXISTS only_app (account_id text, v int)');
await direct(a, 'postgres', 'DROP TABLE IF EXISTS only_pg; CREATE TABLE only_pg (v int); INSERT INTO only_pg VALUES (1), (2), (3)');

const shardOf = (name: string, c: Cluster, database: string): Record<string, unknown> => ({ name, host: c.host, port: c.port, database, user: c.user, password: c.password });

/** `app` with two shards, `postgres` with one (cluster a's own `postgres` database); the one-database keys dropped. */
function twoDatabases(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    database: undefined,
    shards: undefined,
    admin: { users: [ADMIN] },
    databases: {
      app: { shards: [shardOf('s0', a, 'app'), shardOf('s1', b, 'app')] },
      postgres: { shards: [shardOf('p0', a, 'postgres')], pool: { size: 3 } },
    },
    ...extra,
  };
}

const rowsOf = (r: pg.QueryResult): Record<string, unknown>[] => r.rows as Record<string, unknown>[];

t.test('each database reaches its own servers, with its own pools, prepared statements and admin rows', async (t) => {
  const proxy = await startProxy(t, clusters, twoDatabases());
  const app = await connected(t, proxy);
  const pgc = await connected(t, proxy, { database: 'postgres' });
  t.same((await pgc.query('SELECT sum(v)::int AS n FROM only_pg')).rows, [{ n: 6 }], 'postgres: its server database\'s table');
  const missing = (await app.query('SELECT count(*) FROM only_pg').catch((e: PgError) => e)) as PgError;
  t.equal(missing.code, '42P01', 'app: the other database\'s table does not exist there');
  t.same((await pgc.query('SELECT current_database() AS db')).rows, [{ db: 'postgres' }]);
  const noApp = (await pgc.query('SELECT count(*) FROM only_app').catch((e: PgError) => e)) as PgError;
  t.equal(noApp.code, '42P01', 'postgres: app\'s table does not exist there');
  await app.query("INSERT INTO only_app (account_id, v) VALUES ('acct-1', 1)");
  t.same((await app.query("SELECT v FROM only_app WHERE account_id = 'acct-1'")).rows, [{ v: 1 }], 'app: routed to its shards');

  // the same statement name prepared by a client of each: each runs on its own database's servers
  const named = { name: 'where_am_i', text: 'SELECT current_database() AS db' };
  t.same((await pgc.query(named)).rows, [{ db: 'postgres' }], 'postgres: named statement');
  t.same((await app.query({ ...named, text: "SELECT count(*)::int AS n FROM only_app WHERE account_id = 'acct-1'" })).rows, [{ n: 1 }], 'app: its own statement of that name');
  t.same((await pgc.query(named)).rows, [{ db: 'postgres' }], 'postgres: its statement is still its own');

  const r = await psql(['-At', '-c', 'SELECT count(*) FROM only_pg'], { host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'postgres' });
  t.same([r.code, r.stdout.trim()], [0, '3'], `psql to postgres: ${r.stderr}`);

  const admin = await adminConsole(t, proxy, ADMIN);
  const pools = rowsOf(await admin('SHOW POOLS'));
  t.same(pools.map((p) => `${p.client_database}/${p.shard}/${p.database}`).sort(), ['app/s0/app', 'app/s1/app', 'postgres/p0/postgres'], 'SHOW POOLS: a row per pool, naming its database');
  t.same(pools.filter((p) => p.client_database === 'postgres').map((p) => p.size), ['3'], 'postgres: its own pool size');
  const dbs = rowsOf(await admin('SHOW DATABASES'));
  t.same(dbs.map((d) => [d.name, d.shard, d.pool_mode, d.pool_size, d.clients]), [['app', 's0', 'transaction', '10', '1'], ['app', 's1', 'transaction', '10', '1'], ['postgres', 'p0', 'transaction', '3', '1']], 'SHOW DATABASES: a row per database and shard');
  const clients = rowsOf(await admin('SHOW CLIENTS'));
  t.same(clients.map((c) => c.database).sort(), ['app', 'postgres'], 'SHOW CLIENTS: both databases\' clients');
  t.equal(rowsOf(await admin('SHOW STATS'))[0]!.clients, '2', 'SHOW STATS counts both');
  const shards = rowsOf(await admin('SHOW SHARDS'));
  t.same(shards.map((s) => `${s.client_database}/${s.name}`).sort(), ['app/s0', 'app/s1', 'postgres/p0'], 'SHOW SHARDS: every database\'s');

  // the per-database commands act on the console session's database: the first, then the one USE names
  const configDatabase = async (): Promise<string | undefined> => rowsOf(await admin('SHOW CONFIG')).find((r) => r.key === 'database')?.value;
  t.equal(await configDatabase(), 'app', 'SHOW CONFIG: the first database at login');
  t.same(rowsOf(await admin('USE postgres')), [{ database: 'postgres' }], 'USE postgres');
  t.equal(await configDatabase(), 'postgres', 'SHOW CONFIG: now postgres\'s');
  t.same(rowsOf(await admin('SHOW DATABASES')).length, 3, 'the commands over every database still cover every database');
  const noDb = (await admin('USE nope').catch((e: PgError) => e)) as PgError;
  t.equal(noDb.code, '3D000', 'USE of an unknown database: 3D000');
  t.match(noDb.message, /database "nope" does not exist \(databases: app, postgres\)/);
  t.equal(await configDatabase(), 'postgres', 'and the session stays on postgres');
  const both = (await admin('USE app; SHOW CONFIG')) as unknown as { rows: Record<string, string>[] }[];
  t.equal(both[1]!.rows.find((r) => r.key === 'database')?.value, 'app', 'USE takes effect for the next statement of the same query');
  t.ok(rowsOf(await admin('SHOW HELP')).some((r) => r.command === 'USE'), 'SHOW HELP lists USE');

  const unknown = await connectError(proxy, { database: 'template1' });
  t.equal(unknown.code, '3D000', 'an unknown name: 3D000');
  t.match(unknown.message, /database "template1" does not exist/);
});

t.test('a CancelRequest cancels the query of a client of the second database', async (t) => {
  const proxy = await startProxy(t, clusters, twoDatabases());
  const c = await connected(t, proxy, { database: 'postgres' });
  const key = c as unknown as { processID: number; secretKey: number };
  const sleeping = c.query('SELECT pg_sleep(60)').then(() => null, (e: PgError) => e);
  const admin = await adminConsole(t, proxy, ADMIN);
  // cancel once the query is on its server connection (SHOW CLIENTS says active)
  for (let i = 0; i < 400; i++) {
    const me = rowsOf(await admin('SHOW CLIENTS')).find((r) => Number(r.pid) === key.processID);
    if (me?.status === 'active') break;
    await new Promise((r) => setTimeout(r, 25));
  }
  await sendCancel(proxy.host, proxy.port, key.processID, key.secretKey);
  const e = await sleeping;
  t.equal(e?.code, '57014', 'canceled: query_canceled');
  t.same((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the session goes on');
});

t.test('listen.max_client_connections counts the clients of every database', async (t) => {
  const proxy = await startProxy(t, clusters, twoDatabases({ listen: { host: '127.0.0.1', port: await freePort(), max_client_connections: 2 } }));
  await connected(t, proxy);
  await connected(t, proxy, { database: 'postgres' });
  for (const database of ['app', 'postgres']) {
    const e = await connectError(proxy, { database });
    t.equal(e.code, '53300', `a third client (of ${database}) is refused: too many clients`);
  }
});

/** The proxy's config file, changed by `edit`, written back. */
function editConfig(proxy: ProxyHandle, edit: (c: Record<string, any>) => void): void {
  const c = parse(readFileSync(proxy.configPath, 'utf8')) as Record<string, any>;
  edit(c);
  writeFileSync(proxy.configPath, stringify(c));
}

t.test('RELOAD reloads every database, opens one added to the file, takes out one removed (its clients finish), and refuses to remove the first', async (t) => {
  const proxy = await startProxy(t, clusters, twoDatabases());
  const admin = await adminConsole(t, proxy, ADMIN);
  editConfig(proxy, (c) => (c.databases.postgres.pool.size = 5));
  const reload = rowsOf(await admin('RELOAD'))[0]!.reload as string;
  t.match(reload, /^app: RELOAD: 2 shard\(s\).*; postgres: RELOAD: 1 shard\(s\)/, 'each database reloaded');
  t.same(rowsOf(await admin('SHOW DATABASES')).map((d) => d.pool_size), ['10', '10', '5'], 'the new pool size is in effect');

  // added: a third name, with a pool of its own on the first server's postgres database
  t.equal((await connectError(proxy, { database: 'extra' })).code, '3D000', 'extra does not exist yet');
  editConfig(proxy, (c) => (c.databases.extra = { shards: [shardOf('x0', a, 'postgres')] }));
  t.match(rowsOf(await admin('RELOAD'))[0]!.reload as string, /extra: added/);
  t.same([...new Set(rowsOf(await admin('SHOW DATABASES')).map((d) => d.name))], ['app', 'postgres', 'extra'], 'SHOW DATABASES lists it');
  const ex = await connected(t, proxy, { database: 'extra' });
  t.same((await ex.query('SELECT count(*)::int AS n FROM only_pg')).rows, [{ n: 3 }], 'extra serves, on its own shard');
  t.ok(rowsOf(await admin('SHOW POOLS')).some((p) => p.client_database === 'extra' && p.shard === 'x0'), 'with a pool of its own');

  // removed: new clients get 3D000, the one connected goes on until it leaves
  editConfig(proxy, (c) => delete c.databases.extra);
  t.match(rowsOf(await admin('RELOAD'))[0]!.reload as string, /extra: removed \(closed once its 1 client\(s\) have left\)/);
  t.equal((await connectError(proxy, { database: 'extra' })).code, '3D000', 'a new client of extra: 3D000');
  t.same((await ex.query('SELECT count(*)::int AS n FROM only_pg')).rows, [{ n: 3 }], 'its connected client still runs');
  t.same([...new Set(rowsOf(await admin('SHOW DATABASES')).map((d) => d.name))], ['app', 'postgres'], 'SHOW DATABASES no longer lists it');
  await ex.end();
  for (let i = 0; i < 100 && !proxy.logs().includes('"msg":"database closed","database":"extra"'); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(proxy.logs(), /"msg":"database closed","database":"extra"/, 'closed once its client left');

  editConfig(proxy, (c) => delete c.databases.app);
  const refused = (await admin('RELOAD').catch((e: PgError) => e)) as PgError;
  t.match(refused.message, /RELOAD cannot remove the first database "app"/);
  t.same([...new Set(rowsOf(await admin('SHOW DATABASES')).map((d) => d.name))], ['app', 'postgres'], 'nothing changed');
  const pgc = await connected(t, proxy, { database: 'postgres' });
  t.same((await pgc.query('SELECT count(*)::int AS n FROM only_pg')).rows, [{ n: 3 }], 'and the databases still serve');
});
