// Integration test: the result cache's replay is byte-exact — each cacheable request sent twice through Prescient by a raw protocol client gets the same bytes (up to ReadyForQuery) the second time, from the cache, as the first time and as Postgres gives directly; row-limited Executes and what must not be cached never come from the cache.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, connOf, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, startProxy } from '../helpers/proxy.js';
import { RawClient, bind, describe, execute, flush, parse, query, renderFrames, sync, type Frame } from '../helpers/rawClient.js';
import { BackendCode, FrontendCode } from '../../proxy/protocol/MessageCode.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
const ADMIN = { name: 'admin', password: 'admin-secret' };
const proxy = await startProxy(t, clusters, {
  admin: { users: [ADMIN] },
  pool: { mode: 'transaction', size: 4 },
  sharding: { account_column: 'account_id', domains: { res: { tables: ['items', 'wide', 'events', 'other'] } } },
  cache: { enabled: true, tables: ['items', 'wide', 'events'] },
});

const ACCOUNT = 'acct-r';
const MANY = 'acct-many';
// the same session settings on both sides, so formatting agrees
const STARTUP = { application_name: 'prescient-cache-replay', client_encoding: 'UTF8', DateStyle: 'ISO, MDY', IntervalStyle: 'postgres', TimeZone: 'UTC', extra_float_digits: '1' };

const setupClient = new pg.Client({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
setupClient.on('error', () => {});
await setupClient.connect();
const admin = new pg.Client({ host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
admin.on('error', () => {});
await admin.connect();
t.teardown(() => Promise.all([setupClient.end().catch(() => {}), admin.end().catch(() => {})]));

const WIDE_COLUMNS = 50;
const wideCols = Array.from({ length: WIDE_COLUMNS }, (_, i) => `c${i + 1}`);
// DDL through the proxy: on every shard, with the version triggers
await setupClient.query(`create table items (
  account_id text not null, id int not null, n_int int, n_big bigint, n_num numeric(20,6), f float8, flag boolean,
  ts timestamptz, d date, j jsonb, arr int[], tarr text[], note text, b bytea, u uuid, primary key (account_id, id))`);
await setupClient.query(`create table wide (account_id text not null, id int not null, ${wideCols.map((c, i) => `${c} ${['text', 'int', 'numeric', 'timestamptz', 'boolean'][i % 5]}`).join(', ')}, primary key (account_id, id))`);
await setupClient.query('create table events (account_id text not null, n int not null, payload text, primary key (account_id, n))');
await setupClient.query('create table other (account_id text not null, id int not null, v text)');
await setupClient.query('create sequence seq_replay');

const shardOf = async (account: string, table: string): Promise<Cluster> => {
  const r = await admin.query({ text: `SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE '${table}'`, queryMode: 'simple' } as pg.QueryConfig);
  return clusters[Number(String(r.rows[0].shard).slice(1))]!;
};
const shard = await shardOf(ACCOUNT, 'items');
// one domain: both accounts' tables on one shard, the direct side
if ((await shardOf(MANY, 'events')) !== shard) throw new Error('the accounts are on different shards');

// the data, straight on the shard the proxy routes the accounts to
{
  const c = new pg.Client({ ...connOf(shard), database: 'app' });
  await c.connect();
  await c.query(`insert into items values
    ($1, 1, 42, 9007199254740993, 12345.6789, 3.141592653589793, true, '2024-02-29 12:34:56.789+00', '2024-02-29',
        '{"a": [1, 2, {"b": null}], "c": "ü ✓"}', '{1,2,3}', '{"x","y z",NULL}', 'hello', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
    ($1, 2, null, null, null, null, null, null, null, null, null, null, null, null, null),
    ($1, 3, -1, -9223372036854775808, -0.000001, 'NaN', false, '1999-12-31 23:59:59+00', '0001-01-01', '[]', '{}', '{}', '', '\\x', '00000000-0000-0000-0000-000000000000'),
    ($1, 4, 2147483647, 9223372036854775807, 99999999999999.999999, '-Infinity', true, 'infinity', '9999-12-31', '{"nested": {"deep": [true, false, null]}}', '{NULL,7}', '{"quote\\"d","comma,"}', 'tab\there', '\\xdeadbeef', null),
    ($1, 5, 0, 0, 0, 0, null, '2000-01-01 00:00:00+00', null, 'null', null, null, repeat('x', 100), null, null),
    ($1, 100, null, null, null, null, null, null, null, null, null, null, repeat('0123456789', 10000), null, null)`, [ACCOUNT]);
  const vals = (id: number): string => wideCols.map((_, i) => (id === 2 && i % 3 === 0 ? 'null' : [`'t${i}-${id}'`, `${i * id}`, `${i}.${id}`, `'2024-01-01 00:00:00+00'::timestamptz + interval '${i} hours'`, i % 2 ? 'true' : 'false'][i % 5])).join(', ');
  await c.query(`insert into wide (account_id, id, ${wideCols.join(', ')}) values ($1, 1, ${vals(1)}), ($1, 2, ${vals(2)})`, [ACCOUNT]);
  await c.query(`insert into events (account_id, n, payload) select $1, g, md5(g::text) from generate_series(1, 5000) g`, [MANY]);
  await c.query(`insert into other values ($1, 1, 'not cached')`, [ACCOUNT]);
  await c.end();
}

const direct = await RawClient.connect({ host: shard.host, port: shard.port, user: shard.user, password: shard.password, database: 'app', params: STARTUP });
const viaProxy = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: STARTUP });
t.teardown(() => Promise.all([direct.close(), viaProxy.close()]));

// ---------------------------------------------------------------- helpers

interface Counters {
  hits: number;
  misses: number;
  fills: number;
}
const counters = async (): Promise<Counters> => {
  const r = await admin.query({ text: 'SHOW CACHE', queryMode: 'simple' } as pg.QueryConfig);
  const total = r.rows.find((x) => x.domain === '*') ?? {};
  return { hits: Number(total.hits ?? 0), misses: Number(total.misses ?? 0), fills: Number(total.fills ?? 0) };
};

/** Sends the frames and reads every response frame up to the ReadyForQuery of each Sync / Query. */
async function roundTrip(c: RawClient, frames: Buffer[]): Promise<Frame[]> {
  c.send(...frames);
  const out: Frame[] = [];
  const readies = frames.filter((b) => b[0] === FrontendCode.Sync || b[0] === FrontendCode.Query).length;
  for (let i = 0; i < readies; i++) out.push(...(await c.readUntilReady(20000)));
  return out;
}
const bytes = (fs: readonly Frame[]): Buffer => Buffer.concat(fs.map((f) => f.frame));
const count = (fs: readonly Frame[], code: number): number => fs.filter((f) => f.code === code).length;

/** the part of a tap Test used here */
interface Asserts {
  ok(v: unknown, message: string): unknown;
  equal(found: unknown, wanted: unknown, message: string, extra: { todo?: string }): unknown;
  comment(...args: unknown[]): unknown;
}

function sameBytes(t: Asserts, label: string, a: readonly Frame[], b: readonly Frame[], todo?: string): void {
  const same = bytes(a).equals(bytes(b));
  if (!same) t.comment(`${label} differ:\n--- first\n${renderFrames(a)}\n--- second\n${renderFrames(b)}`);
  t.equal(same, true, `${label}: identical (${a.length} frames, ${bytes(a).length} bytes)`, todo ? { todo } : {});
}

// ---------------------------------------------------------------- cacheable requests

interface ReplayCase {
  name: string;
  /** the request, sent as is twice through the proxy and once directly */
  request: Buffer[];
  /** sent once on each side before (e.g. the Parse of a named statement) */
  prelude?: Buffer[];
  rows: number;
  /** an earlier case already filled the same cache key: the first send is a hit too */
  firstHits?: boolean;
}

const ITEMS = 'select * from items where account_id = $1 and id <= 5 order by id';
const TYPES = 'select j, arr, tarr, ts, n_num, d, u, b, f, n_big from items where account_id = $1 and id <= 5 order by id';
const WIDE = `select * from wide where account_id = $1 order by id`;
const BIG = 'select id, note from items where account_id = $1 and id = 100';
const MANY_ROWS = 'select n, payload from events where account_id = $1 order by n';
const EMPTY = 'select id, note from items where account_id = $1 and id < 0';
const int4 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const ext = (sql: string, params: (string | Buffer | null)[], o: { describe?: boolean; resultFormats?: number[]; paramFormats?: number[]; paramTypes?: number[] } = {}): Buffer[] => [
  parse('', sql, o.paramTypes ?? []),
  bind({ params, resultFormats: o.resultFormats ?? [], paramFormats: o.paramFormats ?? [] }),
  ...(o.describe === false ? [] : [describe('P')]),
  execute(),
  sync(),
];

const cases: ReplayCase[] = [
  { name: 'simple protocol: rows with NULLs', request: [query(`select * from items where account_id = '${ACCOUNT}' and id <= 5 order by id`)], rows: 5 },
  { name: 'simple protocol: empty result', request: [query(`select id from items where account_id = '${ACCOUNT}' and id < 0`)], rows: 0 },
  { name: 'simple protocol: 5000 rows', request: [query(`select n, payload from events where account_id = '${MANY}' order by n`)], rows: 5000 },
  { name: 'extended, unnamed, Describe portal, text', request: ext(ITEMS, [ACCOUNT]), rows: 5 },
  { name: 'extended, unnamed, no Describe, text', request: ext(ITEMS, [ACCOUNT], { describe: false }), rows: 5 },
  { name: 'extended, binary results', request: ext(ITEMS, [ACCOUNT], { resultFormats: [1] }), rows: 5 },
  { name: 'extended, binary results, no Describe', request: ext(ITEMS, [ACCOUNT], { resultFormats: [1], describe: false }), rows: 5 },
  { name: 'extended, mixed result formats per column', request: ext(TYPES, [ACCOUNT], { resultFormats: [1, 0, 1, 0, 1, 0, 1, 0, 1, 0] }), rows: 5 },
  { name: 'jsonb / arrays / timestamptz / numeric / uuid / bytea, text', request: ext(TYPES, [ACCOUNT]), rows: 5 },
  { name: 'jsonb / arrays / timestamptz / numeric / uuid / bytea, binary', request: ext(TYPES, [ACCOUNT], { resultFormats: [1] }), rows: 5 },
  {
    name: 'binary int4 parameter with a declared type',
    request: ext('select id, n_int, note from items where account_id = $1 and id = $2', [ACCOUNT, int4(1)], { paramFormats: [0, 1], paramTypes: [25, 23] }),
    rows: 1,
  },
  { name: 'NULL parameter', request: ext('select id from items where account_id = $1 and note is not distinct from $2 order by id', [ACCOUNT, null]), rows: 1 },
  { name: `wide row (${WIDE_COLUMNS + 2} columns), text`, request: ext(WIDE, [ACCOUNT]), rows: 2 },
  { name: `wide row (${WIDE_COLUMNS + 2} columns), binary`, request: ext(WIDE, [ACCOUNT], { resultFormats: [1] }), rows: 2 },
  { name: 'a 100 kB text value', request: ext(BIG, [ACCOUNT]), rows: 1 },
  { name: '5000 rows, Describe portal', request: ext(MANY_ROWS, [MANY]), rows: 5000 },
  { name: '5000 rows, binary, no Describe', request: ext(MANY_ROWS, [MANY], { resultFormats: [1], describe: false }), rows: 5000 },
  { name: 'empty result, Describe portal', request: ext(EMPTY, [ACCOUNT]), rows: 0 },
  { name: 'empty result, no Describe', request: ext(EMPTY, [ACCOUNT], { describe: false }), rows: 0 },
  {
    name: 'named prepared statement: Bind / Describe portal / Execute / Sync',
    prelude: [parse('replay_named', 'select id, n_int, j from items where account_id = $1 order by id'), sync()],
    request: [bind({ statement: 'replay_named', params: [ACCOUNT] }), describe('P'), execute(), sync()],
    rows: 6,
  },
  {
    name: 'named prepared statement: no Describe, binary',
    request: [bind({ statement: 'replay_named', params: [ACCOUNT], resultFormats: [1] }), execute(), sync()],
    rows: 6,
  },
  {
    name: 'named prepared statement: Parse in the same batch (a new name each time is not possible: parsed once, then Bind-only)',
    prelude: [parse('replay_named2', 'select id, ts from items where account_id = $1 order by id'), bind({ statement: 'replay_named2', params: [ACCOUNT] }), describe('P'), execute(), sync()],
    request: [bind({ statement: 'replay_named2', params: [ACCOUNT] }), describe('P'), execute(), sync()],
    rows: 6,
    firstHits: true,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    if (c.prelude) {
      const p = await roundTrip(viaProxy, c.prelude);
      const d = await roundTrip(direct, c.prelude);
      sameBytes(t, 'prelude through the proxy and directly', p, d);
    }
    const s0 = await counters();
    const first = await roundTrip(viaProxy, c.request);
    const s1 = await counters();
    const second = await roundTrip(viaProxy, c.request);
    const s2 = await counters();
    const straight = await roundTrip(direct, c.request);
    t.equal(count(first, BackendCode.ErrorResponse), 0, 'no error');
    t.equal(count(first, BackendCode.DataRow), c.rows, `${c.rows} rows`);
    if (c.firstHits) t.equal(s1.hits - s0.hits, 1, 'the first send is a hit already (the prelude filled the key)');
    else t.equal(s1.fills - s0.fills, 1, 'the first send fills the cache');
    t.equal(s2.hits - s1.hits, 1, 'the second send is a hit');
    sameBytes(t, 'the hit and the first response', second, first);
    sameBytes(t, 'the hit and Postgres directly', second, straight);
  });
}

// ---------------------------------------------------------------- never from the cache

/** Sends `request` twice through the proxy (and once directly when `compareDirect`); no hits, no fills. */
async function notCached(t: Asserts, request: Buffer[], compareDirect = true): Promise<Frame[][]> {
  const s0 = await counters();
  const a = await roundTrip(viaProxy, request);
  const b = await roundTrip(viaProxy, request);
  const s1 = await counters();
  const errs = [...a, ...b].filter((f) => f.code === BackendCode.ErrorResponse);
  t.equal(errs.length, 0, `no error${errs.length ? `: ${renderFrames(errs)}` : ''}`, {});
  t.equal(s1.hits - s0.hits, 0, 'no hit', {});
  t.equal(s1.fills - s0.fills, 0, 'no fill', {});
  if (compareDirect) {
    const d = await roundTrip(direct, request);
    sameBytes(t, 'through the proxy and directly', b, d);
  }
  return [a, b];
}

const ROWS25 = 'select n, payload from events where account_id = $1 and n <= 25 order by n';

t.test('row-limited Execute (maxRows 10 over 25 rows) in one batch: PortalSuspended, then the rest; never cached', async (t) => {
  // the same statement without a row limit is in the cache
  await roundTrip(viaProxy, ext(ROWS25, [MANY]));
  await roundTrip(viaProxy, ext(ROWS25, [MANY], { describe: false }));
  const request = [parse('', ROWS25), bind({ params: [MANY] }), describe('P'), execute('', 10), execute('', 10), execute('', 0), sync()];
  const [a] = await notCached(t, request);
  t.equal(count(a!, BackendCode.PortalSuspended), 2, 'two PortalSuspended');
  t.equal(count(a!, BackendCode.DataRow), 25, '25 rows in all');
});

t.test('row-limited Execute, Flush, then Execute to the end: never cached', async (t) => {
  await roundTrip(viaProxy, ext(ROWS25, [MANY], { describe: false }));
  const run = async (c: RawClient): Promise<Frame[]> => {
    c.send(parse('', ROWS25), bind({ params: [MANY] }), execute('', 10), flush());
    const part1 = await c.readUntil((f) => f.code === BackendCode.PortalSuspended || f.code === BackendCode.ErrorResponse, 20000);
    c.send(execute('', 0), sync());
    const part2 = await c.readUntilReady(20000);
    return [...part1, ...part2];
  };
  const s0 = await counters();
  const a = await run(viaProxy);
  const b = await run(viaProxy);
  const s1 = await counters();
  const d = await run(direct);
  t.equal(count(a, BackendCode.PortalSuspended), 1, 'one PortalSuspended');
  t.equal(count(a, BackendCode.DataRow), 25, '25 rows in all');
  t.equal(s1.hits - s0.hits, 0, 'no hit');
  t.equal(s1.fills - s0.fills, 0, 'no fill');
  sameBytes(t, 'twice through the proxy', b, a);
  sameBytes(t, 'through the proxy and directly', a, d);
});

t.test('Describe of a statement: never answered from the cache', async (t) => {
  const sql = 'select id, note from items where account_id = $1 and id <= 3 order by id';
  await roundTrip(viaProxy, ext(sql, [ACCOUNT]));
  await roundTrip(viaProxy, ext(sql, [ACCOUNT]));
  await notCached(t, [parse('', sql), describe('S'), bind({ params: [ACCOUNT] }), describe('P'), execute(), sync()]);
});

t.test('not cached: now(), random(), nextval()', async (t) => {
  const [a, b] = await notCached(t, ext('select id, now() from items where account_id = $1 and id = 1', [ACCOUNT]), false);
  t.ok(a && b, 'now(): answered twice');
  const [r1, r2] = await notCached(t, ext('select id, random() from items where account_id = $1 and id = 1', [ACCOUNT]), false);
  const val = (fs: Frame[]): string => (fs.find((f) => f.code === BackendCode.DataRow)!.payload.toString('latin1'));
  t.not(val(r1!), val(r2!), 'random(): two different values');
  const [n1, n2] = await notCached(t, [query(`select nextval('seq_replay') from items where account_id = '${ACCOUNT}' and id = 1`)], false);
  t.not(val(n1!), val(n2!), 'nextval(): two different values');
  await notCached(t, ext('select id, clock_timestamp() from items where account_id = $1 and id = 1', [ACCOUNT]), false);
});

t.test('not cached: FOR UPDATE', async (t) => {
  await notCached(t, ext('select id from items where account_id = $1 and id = 1 for update', [ACCOUNT]));
  await notCached(t, [query(`select id from items where account_id = '${ACCOUNT}' and id = 1 for share`)]);
});

t.test('not cached: a read after a write in the same transaction', async (t) => {
  const sql = `select note from items where account_id = '${ACCOUNT}' and id = 5`;
  await roundTrip(viaProxy, [query(sql)]);
  await roundTrip(viaProxy, [query(sql)]); // cached now
  const s0 = await counters();
  const before = await viaProxy.rows(sql);
  const s1 = await counters();
  t.equal(s1.hits - s0.hits, 1, 'outside the transaction: a hit');
  await viaProxy.rows('begin');
  await viaProxy.rows(`update items set note = 'in-tx' where account_id = '${ACCOUNT}' and id = 5`);
  const inTx1 = await viaProxy.rows(sql);
  const inTx2 = await viaProxy.rows(sql);
  const s2 = await counters();
  await viaProxy.rows('rollback');
  t.same(inTx1, [['in-tx']], 'the transaction sees its own write');
  t.same(inTx2, [['in-tx']], 'and again');
  t.equal(s2.hits - s1.hits, 0, 'no hit in the transaction');
  t.equal(s2.fills - s1.fills, 0, 'no fill in the transaction');
  t.same(await viaProxy.rows(sql), before, 'after the rollback: the old value');
});

t.test('not cached: a table outside cache.tables', async (t) => {
  await notCached(t, ext('select id, v from other where account_id = $1', [ACCOUNT]));
  await notCached(t, [query(`select id, v from other where account_id = '${ACCOUNT}'`)]);
  await notCached(t, ext('select i.id, o.v from items i join other o on o.account_id = i.account_id and o.id = i.id where i.account_id = $1', [ACCOUNT]));
});

t.test('not cached: a read without a shard key', async (t) => {
  await notCached(t, ext('select account_id, id from items where id = $1 order by account_id, id', ['1']), false);
  await notCached(t, [query('select id from items where id = 1 order by id')], false);
});

// ---------------------------------------------------------------- settings that change a result's bytes

/** Runs `steps` (simple queries or extended requests) on a fresh proxy client and a fresh direct client with the same startup parameters; compares everything. */
async function sameAsDirect(t: Asserts, label: string, steps: Buffer[][], params: Record<string, string> = {}, via = proxy): Promise<{ proxied: Frame[]; hits: number }> {
  const p = await RawClient.connect({ host: via.host, port: via.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: { ...STARTUP, ...params } });
  const d = await RawClient.connect({ host: shard.host, port: shard.port, user: shard.user, password: shard.password, database: 'app', params: { ...STARTUP, ...params } });
  try {
    const s0 = await counters();
    const proxied: Frame[] = [];
    for (const s of steps) proxied.push(...(await roundTrip(p, s)));
    const s1 = await counters();
    const straight: Frame[] = [];
    for (const s of steps) straight.push(...(await roundTrip(d, s)));
    sameBytes(t, `${label}: through the proxy and directly`, proxied, straight);
    return { proxied, hits: s1.hits - s0.hits };
  } finally {
    await Promise.all([p.close(), d.close()]);
  }
}

const TS_SQL = 'select id, ts, d, f, b from items where account_id = $1 and id <= 5 order by id';
const warm = async (): Promise<void> => {
  // the entries a client with the default settings fills: extended (TS_SQL) and simple
  await roundTrip(viaProxy, ext(TS_SQL, [ACCOUNT]));
  await roundTrip(viaProxy, [query(`select id, note from items where account_id = '${ACCOUNT}' and id <= 3 order by id`)]);
};

t.test('settings in the key: TimeZone / DateStyle from the startup packet, and SET', async (t) => {
  await warm();
  await sameAsDirect(t, 'startup TimeZone=Asia/Tokyo', [ext(TS_SQL, [ACCOUNT])], { TimeZone: 'Asia/Tokyo' });
  await sameAsDirect(t, 'startup DateStyle=German', [ext(TS_SQL, [ACCOUNT])], { DateStyle: 'German, DMY' });
  const r = await sameAsDirect(t, 'SET TimeZone', [[query(`set timezone = 'America/New_York'`)], ext(TS_SQL, [ACCOUNT])]);
  t.equal(r.hits, 0, 'SET TimeZone: no hit of the UTC entry');
});

// SET LOCAL inside a transaction is legitimate in transaction pooling. After BEGIN the proxy defers BEGIN and the SET
// until the transaction's shard is known, and settings Postgres does not report with ParameterStatus (search_path,
// bytea_output, extra_float_digits, …) never reach the session's settings: the rows must still be the server's.
// (Compared: the rows only — a deferred SET LOCAL TimeZone also moves its ParameterStatus, which is not the cache's doing.)
t.test('settings in the key: SET LOCAL in a transaction', async (t) => {
  await setupClient.query('create schema alt');
  await setupClient.query('create table alt.items (account_id text not null, id int not null, note text)');
  {
    const c = new pg.Client({ ...connOf(shard), database: 'app' });
    await c.connect();
    await c.query(`insert into alt.items values ($1, 1, 'alt one'), ($1, 2, 'alt two')`, [ACCOUNT]);
    await c.end();
  }
  await warm();
  const cases: [string, string, Buffer[]][] = [
    ['TimeZone', `set local timezone = 'Pacific/Auckland'`, ext(TS_SQL, [ACCOUNT])],
    ['search_path', `set local search_path = alt, public`, [query(`select id, note from items where account_id = '${ACCOUNT}' and id <= 3 order by id`)]],
    ['bytea_output', `set local bytea_output = 'escape'`, ext(TS_SQL, [ACCOUNT])],
    ['extra_float_digits', `set local extra_float_digits = -3`, ext(TS_SQL, [ACCOUNT])],
  ];
  for (const [name, set, read] of cases) {
    const steps = [[query('begin')], [query(set)], read, [query('commit')]];
    const p = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: STARTUP });
    const d = await RawClient.connect({ host: shard.host, port: shard.port, user: shard.user, password: shard.password, database: 'app', params: STARTUP });
    const proxied: Frame[] = [];
    const straight: Frame[] = [];
    const s0 = await counters();
    for (const s of steps) proxied.push(...(await roundTrip(p, s)));
    const s1 = await counters();
    for (const s of steps) straight.push(...(await roundTrip(d, s)));
    await Promise.all([p.close(), d.close()]);
    t.equal(s1.hits - s0.hits, 0, `SET LOCAL ${name}: no hit in the transaction`);
    const rowsOf = (fs: Frame[]): Buffer => bytes(fs.filter((f) => f.code === BackendCode.DataRow || f.code === BackendCode.ErrorResponse));
    const same = rowsOf(proxied).equals(rowsOf(straight));
    const show = (fs: Frame[]): string => JSON.stringify(fs.filter((f) => f.code === BackendCode.DataRow).map((f) => f.payload.toString('latin1').replace(/[^\x20-\x7e]/g, '.')).slice(0, 1));
    if (!same) t.comment(`SET LOCAL ${name}: first row through the proxy ${show(proxied)} vs directly ${show(straight)}`);
    t.equal(same, true, `BEGIN; ${set}; read; COMMIT: the same rows through the proxy and directly`);
  }
});

t.test('settings in the key: SET search_path in session pool mode', async (t) => {
  const sessionProxy = await startProxy(t, clusters, {
    admin: { users: [ADMIN] },
    pool: { mode: 'session', size: 4 },
    sharding: { account_column: 'account_id', domains: { res: { tables: ['items', 'wide', 'events', 'other'] } } },
    cache: { enabled: true, tables: ['items', 'wide', 'events'] },
  });
  const read = [query(`select id, note from items where account_id = '${ACCOUNT}' and id <= 3 order by id`)];
  // a client with the default search_path fills the entry
  const c = await RawClient.connect({ host: sessionProxy.host, port: sessionProxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: STARTUP });
  await roundTrip(c, read);
  await roundTrip(c, read);
  await c.close();
  const p = await RawClient.connect({ host: sessionProxy.host, port: sessionProxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: STARTUP });
  const d = await RawClient.connect({ host: shard.host, port: shard.port, user: shard.user, password: shard.password, database: 'app', params: STARTUP });
  const proxied = [...(await roundTrip(p, [query('set search_path = alt, public')])), ...(await roundTrip(p, read))];
  const straight = [...(await roundTrip(d, [query('set search_path = alt, public')])), ...(await roundTrip(d, read))];
  await Promise.all([p.close(), d.close()]);
  sameBytes(t, 'SET search_path, then a read', proxied, straight);
});

// ---------------------------------------------------------------- protocol edges

t.test('pipelined requests: hits and misses answered in order', async (t) => {
  const a = ext('select id, note from items where account_id = $1 and id = 1', [ACCOUNT]);
  const b = ext('select id from other where account_id = $1', [ACCOUNT]); // never cached
  const c = [query(`select id, n_int from items where account_id = '${ACCOUNT}' and id = 3`)];
  await roundTrip(viaProxy, a); // a is cached
  const batch = [...a, ...b, ...c, ...a, ...b, ...c];
  const s0 = await counters();
  const first = await roundTrip(viaProxy, batch);
  const s1 = await counters();
  const second = await roundTrip(viaProxy, batch);
  const s2 = await counters();
  const straight = await roundTrip(direct, batch);
  // the second c is decided before the first one's answer is stored: a miss too
  t.equal(s1.hits - s0.hits, 2, 'first batch: a (twice) is a hit');
  t.equal(s2.hits - s1.hits, 4, 'second batch: a and c, twice each, are hits');
  sameBytes(t, 'first batch through the proxy and directly', first, straight);
  sameBytes(t, 'second batch through the proxy and directly', second, straight);
});

t.test('a hit inside a transaction (before any write): the transaction status of the replay', async (t) => {
  const read = ext('select id, note from items where account_id = $1 and id = 1', [ACCOUNT]);
  await roundTrip(viaProxy, read);
  const steps = [[query('begin')], read, [query(`select id from items where account_id = '${ACCOUNT}' and id = 2`)], [query('commit')]];
  const s0 = await counters();
  const proxied: Frame[] = [];
  for (const s of steps) proxied.push(...(await roundTrip(viaProxy, s)));
  const s1 = await counters();
  const straight: Frame[] = [];
  for (const s of steps) straight.push(...(await roundTrip(direct, s)));
  t.ok(s1.hits - s0.hits >= 1, 'the read in the transaction was a hit');
  sameBytes(t, 'BEGIN; hit; read; COMMIT', proxied, straight);
});

t.test('a named statement first parsed by a request answered from the cache, then bound for a miss', async (t) => {
  const sql = 'select id, n_int from items where account_id = $1 and id <= $2 order by id';
  await roundTrip(viaProxy, ext(sql, [ACCOUNT, '2']));
  const steps = [
    [parse('from_hit', sql), bind({ statement: 'from_hit', params: [ACCOUNT, '2'] }), describe('P'), execute(), sync()], // a hit
    [bind({ statement: 'from_hit', params: [ACCOUNT, '4'] }), describe('P'), execute(), sync()], // a miss: the server must know the statement
    [describe('S', 'from_hit'), sync()],
  ];
  const s0 = await counters();
  const proxied: Frame[] = [];
  for (const s of steps) proxied.push(...(await roundTrip(viaProxy, s)));
  const s1 = await counters();
  const straight: Frame[] = [];
  for (const s of steps) straight.push(...(await roundTrip(direct, s)));
  t.equal(s1.hits - s0.hits, 1, 'the first request was a hit');
  sameBytes(t, 'Parse+Bind (hit), Bind (miss), Describe statement', proxied, straight);
});

t.test('an entry over cache.max_entry_bytes is not stored and is answered correctly', async (t) => {
  // the 5000-row entry is ~254 kB: under the default 1 MB; 50 000 rows (~2.5 MB) are not
  let huge = '';
  for (let i = 1; huge === ''; i++) if ((await shardOf(`acct-huge-${i}`, 'events')) === shard) huge = `acct-huge-${i}`;
  const c = new pg.Client({ ...connOf(shard), database: 'app' });
  await c.connect();
  await c.query(`insert into events (account_id, n, payload) select $1, g, md5(g::text) from generate_series(1, 50000) g`, [huge]);
  await c.end();
  const [a] = await notCached(t, ext(MANY_ROWS, [huge]));
  t.equal(count(a!, BackendCode.DataRow), 50000, '50 000 rows');
});
