// Owns: reads of Postgres' own catalogs with several shards — the analyzer's system scope (catalog vs per-server state) and the routes the router gives them.
import t from 'tap';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import { CatalogSnapshot, type PlacementEntry } from '../../proxy/catalog/Catalog.js';
import { Router, type Route, type RouteSession } from '../../proxy/router/Router.js';
import { parseConfig } from '../../config/loadConfig.js';

await Analyzer.init();

const config = parseConfig({
  database: 'app',
  users: [{ name: 'app', password: 'x' }],
  shards: ['s0', 's1', 's2'].map((name, i) => ({ name, host: '127.0.0.1', port: 5432 + i, database: 'app', user: 'postgres' })),
  sharding: { domains: { volume: { tables: ['volumes'], actions: [] } }, global_tables: ['regions'], no_key: { reads: 'fanout', writes: 'reject' } },
});
const shardRows = ['s0', 's1', 's2'].map((name, i) => ({ id: i + 1, name, host: '127.0.0.1', port: 5432 + i, database: 'app', status: 'active' as const, version: 1 }));
const snapshot = new CatalogSnapshot(1, shardRows, new Map<string, PlacementEntry>());
const analyzer = new Analyzer({ accountColumn: 'account_id' });
const router = new Router(config);
const route = (sql: string, session: RouteSession = {}): Route => router.route({ statements: analyzer.analyze(sql), session }, snapshot);

/** postgres.js reads the array types at connect (src/connection.js fetchArrayTypes). */
const POSTGRES_JS_TYPES = `
  select b.oid, b.typarray
  from pg_catalog.pg_type a
  left join pg_catalog.pg_type b on b.oid = a.typelem
  where a.typcategory = 'A'
  group by b.oid, b.typarray
  order by b.oid
`;

t.test('the analyzer names statements that read only system catalogs', async (t) => {
  const cases: [string, string | undefined][] = [
    [POSTGRES_JS_TYPES, 'catalog'],
    ['select oid, typname from pg_type where typname = $1', 'catalog'],
    ['select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace group by relname', 'catalog'],
    ["select table_name from information_schema.tables where table_schema = 'public'", 'catalog'],
    ['select count(*) from information_schema.columns c join pg_catalog.pg_attribute a on true', 'catalog'],
    ['select * from pg_stat_activity', 'server'],
    ['select pid, state from pg_catalog.pg_stat_activity where pid = pg_backend_pid()', 'server'],
    ['select * from pg_locks', 'server'],
    ['select name, setting from pg_settings', 'server'],
    ['select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', 'server'],
    ['select oid, pg_backend_pid() from pg_type', 'server'],
    // not only system catalogs
    ['select * from volumes join pg_type on true', undefined],
    ['select * from volumes', undefined],
    ['select pg_backend_pid()', undefined],
    ['select * from public.pg_type', undefined],
    ['select * from pg_something_of_mine', undefined],
    ['select * from tables', undefined],
  ];
  for (const [sql, scope] of cases) t.equal(analyzer.analyze(sql)[0]!.system, scope, sql.trim().split('\n')[0]!);
});

t.test('catalog reads go to one shard: the global shard, or the shard the session is on', async (t) => {
  for (const sql of [POSTGRES_JS_TYPES, "select count(*) from information_schema.tables where table_schema = 'public'", 'select typname, count(*) from pg_type group by typname']) {
    const r = route(sql);
    t.equal(r.kind, 'any', `${sql.trim().split('\n')[0]}: not fanned out, not refused`);
    t.equal(r.kind === 'any' ? r.prefer : undefined, 's0', 'the global shard when the session is on none');
    const inTx = route(sql, { pinned: 's2' });
    t.same([inTx.kind, inTx.kind === 'any' ? inTx.prefer : null], ['any', 's0'], 'inside a transaction on s2: not refused (the session stays on s2)');
  }
  // the parsed config again, in the one-database form (without the `databases` parsing filled in)
  const { databases: _parsed, ...oneDatabase } = config;
  const global = new Router(parseConfig({ ...oneDatabase, sharding: { ...config.sharding, global_shard: 's1' } }));
  const r = global.route({ statements: analyzer.analyze('select * from pg_class'), session: {} }, snapshot);
  t.equal(r.kind === 'any' ? r.prefer : undefined, 's1', 'sharding.global_shard names the global shard');
});

t.test("per-server views and functions are answered where the session is", async (t) => {
  for (const sql of ['select * from pg_stat_activity', 'select * from pg_catalog.pg_locks', 'select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid()']) {
    const r = route(sql);
    t.same([r.kind, r.kind === 'any' ? r.prefer : null], ['any', undefined], `${sql}: the session's shard, not a keyless write or a fan-out`);
  }
});

t.test('a catalog read joins the other statements of its request', async (t) => {
  const r = route('select * from pg_type; select * from volumes', { account: 'a1' });
  t.equal(r.kind, 'shard', 'goes along with a keyed statement');
  t.equal(route('select * from pg_type', { account: 'a1' }).kind, 'any', 'a session account does not send a catalog read to its shard');
  const any = route('select 1; select * from pg_class');
  t.same([any.kind, any.kind === 'any' ? any.prefer : null], ['any', 's0'], 'keeps its preference next to a statement that needs no shard');
  t.equal(route('select * from volumes join pg_type on true').kind, 'fanout', 'a user table next to a catalog routes by the user table');
  t.equal(route('update pg_catalog.pg_class set relname = relname').kind, 'reject', 'a write to a catalog is not a catalog read');
});
