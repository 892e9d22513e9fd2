// Differential test: the same requests sent by a raw protocol client DIRECTLY to Postgres and THROUGH Prescient
// (transaction mode) must get byte-identical responses (every frame from the request up to ReadyForQuery) — in the
// simple protocol, the extended protocol (unnamed statement), the extended protocol with binary results, and
// hand-written extended-protocol batches with named statements and portals.
import t from 'tap';
import { requirePostgres, connOf, psql, withClusters } from '../helpers/pg.js';
import { APP_USER, startProxy } from '../helpers/proxy.js';
import {
  RawClient, bind, close, copyData, copyDone, copyFail, describe, execute, parse, query, renderFrames, sync, type Frame,
} from '../helpers/rawClient.js';
import { BackendCode, FrontendCode } from '../../proxy/protocol/MessageCode.js';

requirePostgres(t);

// ---------------------------------------------------------------- the cases

type Mode = 'simple' | 'extended' | 'binary';

interface SqlCase {
  name: string;
  sql: string;
  /** extended modes only: parameter values (text unless paramFormats says otherwise) */
  params?: (string | Buffer | null)[];
  paramTypes?: number[];
  paramFormats?: number[];
  /** default: simple + extended; `binary: true` adds extended with binary results */
  binary?: boolean;
  modes?: Mode[];
  /** run (not compared) after each run on each side */
  cleanup?: string;
}

interface Step {
  send: Buffer[];
  /** make the proxied client move to another server connection before this step */
  hop?: boolean;
  /** ReadyForQuery owed when it is not one per Sync and Query (a Query after an extended-protocol error gets none) */
  readies?: number;
}
interface BatchCase {
  name: string;
  steps: Step[];
  cleanup?: string;
  /** a known difference: compared with a todo assertion */
  todo?: string;
}

const int4 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int8 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
};

const SQL_CASES: SqlCase[] = [
  // integers
  { name: 'int2/int4/int8 incl. extremes', binary: true, sql: 'select 1::int2 as a, (-32768)::int2 as b, 2147483647::int4 as c, (-2147483648)::int4 as d, 9223372036854775807::int8 as e, (-9223372036854775807 - 1)::int8 as f' },
  // numeric
  { name: 'numeric edge values', binary: true, sql: `select 0::numeric as zero, 'NaN'::numeric as nan, 'Infinity'::numeric as inf, '-Infinity'::numeric as ninf, 0.000000000000000000001::numeric as tiny, 123456789012345678901234567890.123456789012345678901234567890::numeric as huge, (-1.5)::numeric(10,3) as scaled, power(10::numeric, 100) as googol, 1::numeric / 3 as third` },
  { name: 'numeric arithmetic', binary: true, sql: 'select round(2.5) as r, 2.5::numeric(5,0) as c, 1e-300::numeric * 1e-300 as underflowish, sum(x) as s from (values (0.1::numeric), (0.2), (0.3)) v(x)' },
  // floats
  { name: 'float Infinity, -0, NaN and precision', binary: true, sql: `select 'Infinity'::float8 as inf, '-Infinity'::float4 as ninf, '-0'::float8 as negzero, 'NaN'::float8 as nan, 1.0::float8 / 3 as third, 1e308::float8 as big, 1.17549435e-38::float4 as small4, 0.1::float4 as point1, 5e-324::float8 as denorm` },
  // text
  { name: 'text with unicode, quotes, escapes', binary: true, sql: `select 'héllo wörld ✓ 𝄞 日本語 🎉' as t, '' as empty, E'tab\\there\\nnewline' as esc, 'it''s "quoted" \\ back' as q, repeat('ü', 1000) as long, 'x'::char(3) as ch, 'abc'::varchar(5) as vc, 'abc'::name as nm` },
  { name: 'a 300 kB value (many TCP chunks)', binary: true, sql: `select repeat('xyz', 100000) as big, length(repeat('xyz', 100000)) as len` },
  // bytea
  { name: 'bytea', binary: true, sql: `select '\\xdeadbeef'::bytea as a, ''::bytea as empty, decode(repeat('00ff', 100), 'hex') as rep, '\\x00616263'::bytea as nul` },
  // bool
  { name: 'bool', binary: true, sql: `select true as t, false as f, null::bool as n, 't'::bool and 'yes'::bool as both` },
  // date/time
  { name: 'date, time, timetz, timestamp, timestamptz', binary: true, sql: `select '2024-02-29'::date as leap, 'infinity'::date as inf, '-infinity'::timestamp as ninf, '4713-01-01 BC'::date as bc, '12:34:56.789'::time as t, '12:34:56.5+05:30'::timetz as ttz, '2024-01-01 00:00:00.123456'::timestamp as ts, '2024-06-01 12:00:00+02'::timestamptz as tstz` },
  { name: 'intervals', binary: true, sql: `select '1 year 2 mons 3 days 04:05:06.789'::interval as i, '-1 day'::interval as neg, '0'::interval as zero, '178000000 years'::interval as huge, '1.5 months'::interval as frac` },
  { name: 'time zones', sql: `select '2024-03-10 02:30:00'::timestamptz at time zone 'America/New_York' as ny, extract(epoch from '2024-01-01'::timestamptz) as epoch, '2024-07-01 12:00'::timestamp at time zone 'Europe/Paris' as paris` },
  // uuid, json
  { name: 'uuid', binary: true, sql: `select 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u, null::uuid as n, '{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}'::uuid as braces` },
  { name: 'json and jsonb values', binary: true, sql: `select '{"b":1,"a":[1,2,{"c":null}]}'::jsonb as jb, '  {"keep": "spaces" ,"dup":1,"dup":2}'::json as j, '[]'::jsonb as empty, 'null'::jsonb as jnull, '"ü ✓"'::jsonb as str, '1e400'::json as bignum` },
  { name: 'jsonb functions', sql: `select jsonb_build_object('n', 1, 'arr', jsonb_build_array(1, 'two', null)) as o, jsonb_pretty('{"a":{"b":[1,2]}}') as pretty, '{"a":{"b":[1,2]}}'::jsonb #> '{a,b,1}' as path, jsonb_path_query_array('{"a":[1,2,3]}', '$.a[*] ? (@ > 1)') as jp` },
  // arrays
  { name: 'arrays incl. NULL elements, empty, multi-dim, lower bounds', binary: true, sql: `select array[1, null, 3] as a, '{{1,2},{3,4}}'::int[] as md, array['a', null, 'b c', '"q"', '', 'NULL'] as t, '{}'::int[] as empty, array[[[1]],[[2]]] as three, '[0:2]={1,2,3}'::int[] as lb, array[1.5, 'NaN']::numeric[] as nums, array[true, false] as bools` },
  { name: 'arrays of composite, enum, jsonb', binary: true, sql: `select array[row(1, 'a')::pair, null, row(null, 'x y')::pair] as pairs, array['sad', 'happy']::mood[] as moods, array['{"a":1}'::jsonb, null] as docs` },
  // composite, enum
  { name: 'composite / row values', binary: true, sql: `select row(1, 'a', null, array[1, 2]) as r, (1, 'x')::pair as p, ((1, 'x')::pair).b as field, row(row(1, 2), 'nested') as nested` },
  { name: 'enum', binary: true, sql: `select 'happy'::mood as m, enum_range(null::mood) as all_moods, 'ok'::mood < 'happy'::mood as ordered` },
  // misc types
  { name: 'misc types (regclass, inet, range, tsvector, money, bit, point)', binary: true, sql: `select 'diff_items'::regclass as rc, 'int4'::regtype as rt, 42::oid as o, '192.168.1.0/24'::cidr as net, '::1'::inet as ip, '08:00:2b:01:02:03'::macaddr as mac, point(1.5, -2) as pt, '[1,10)'::int4range as r, 'empty'::int4range as er, to_tsvector('simple', 'the quick brown fox') as tsv, 12.34::money as m, B'1011'::bit(4) as b` },
  { name: 'xml (whatever this server supports)', sql: `select xmlelement(name a, 'x') as x` },
  // NULLs, shapes of results
  { name: 'NULLs of several types', binary: true, sql: 'select null as a, null::int as b, null::text as c, null::int[] as d, null::jsonb as e' },
  { name: 'empty result', binary: true, sql: 'select * from diff_items where false' },
  { name: 'multi-row result from a table', binary: true, sql: 'select * from diff_items order by id' },
  { name: '2000 rows', binary: true, sql: 'select g, md5(g::text) as h from generate_series(1, 2000) g' },
  { name: 'recursive CTE', sql: 'with recursive fib(n, a, b) as (select 1, 0::numeric, 1::numeric union all select n + 1, b, a + b from fib where n < 200) select n, a from fib order by n desc limit 5' },
  { name: 'data-modifying CTE', sql: 'with touched as (update diff_items set qty = qty where id = 1 returning id, name) select * from touched' },
  { name: 'aggregates and window functions', sql: `select feeling, count(*), sum(qty), string_agg(name, ',' order by name) as names, row_number() over (order by feeling nulls first) as rn from diff_items group by feeling order by feeling nulls first` },
  { name: 'session info', sql: 'select current_user, session_user, current_database(), current_setting(\'search_path\') as sp, current_setting(\'TimeZone\') as tz, current_setting(\'DateStyle\') as ds' },
  { name: 'SHOW', sql: 'show extra_float_digits' },
  // DML
  { name: 'INSERT ... RETURNING *', binary: true, sql: `insert into diff_items (id, name, qty, feeling, tags) values (100, 'new ✓', 3.25, 'ok', '{a,b}') returning *`, cleanup: 'delete from diff_items where id = 100' },
  { name: 'UPDATE ... RETURNING', sql: 'update diff_items set qty = qty + 1 where id = 1 returning id, qty', cleanup: 'update diff_items set qty = 1.5 where id = 1' },
  { name: 'DELETE ... RETURNING with no rows', sql: 'delete from diff_items where id = 999 returning *' },
  { name: 'INSERT ... SELECT (command tag)', sql: `insert into diff_items (id, name) select g, 'bulk ' || g from generate_series(200, 210) g`, cleanup: 'delete from diff_items where id between 200 and 210' },
  { name: 'INSERT ... ON CONFLICT DO NOTHING', sql: `insert into diff_items (id, name) values (1, 'apple') on conflict (id) do nothing returning id` },
  // errors
  { name: 'error: division by zero', sql: 'select 1/0' },
  { name: 'error: syntax error with position', sql: 'select * fron diff_items' },
  { name: 'error: undefined column with position', sql: 'select id, nope from diff_items' },
  { name: 'error: undefined table', sql: 'select * from no_such_table' },
  { name: 'error: unique violation (detail, constraint)', sql: `insert into diff_items (id, name) values (1, 'dup')` },
  { name: 'error: unique violation on a second key', sql: `insert into diff_items (id, name) values (50, 'apple')` },
  { name: 'error: not-null violation', sql: 'insert into diff_items (id, name) values (51, null)' },
  { name: 'error: check violation', sql: 'update diff_items set qty = -1 where id = 2' },
  { name: 'error: foreign key violation', sql: 'insert into diff_children values (1, 999)' },
  { name: 'error: invalid input syntax', sql: `select 'abc'::int` },
  { name: 'error: numeric field overflow', sql: 'select 1e100::numeric(5,2)' },
  { name: 'error: RAISE with detail, hint, custom code', sql: `do $$ begin raise exception using message = 'boom ✓', detail = 'the detail', hint = 'the hint', errcode = 'P0099'; end $$` },
  { name: 'notices and warnings', sql: `do $$ begin raise notice 'hello %', 42; raise warning 'careful'; end $$` },
  // statement shapes
  { name: 'empty query', sql: '' },
  { name: 'comment-only query', sql: '-- nothing here' },
  { name: 'several statements in one query', sql: `select 1 as a; select 'two' as b; select 3 as c where false` },
  { name: 'several statements, error in the middle', sql: 'select 1 as a; select 1/0; select 3 as c' },
  { name: 'transaction in one query string', sql: `begin; insert into diff_items (id, name) values (300, 'tx'); select count(*) from diff_items; rollback`, cleanup: 'delete from diff_items where id = 300' },
  { name: 'SET / SHOW / RESET application_name', sql: `set application_name = 'diff two'; show application_name; reset application_name; show application_name`, cleanup: `set application_name = 'prescient-diff'` },
  { name: 'SET / RESET a startup parameter (TimeZone)', sql: `set timezone = 'Asia/Tokyo'; select '2024-01-01 00:00:00+00'::timestamptz as t; reset timezone; select '2024-01-01 00:00:00+00'::timestamptz as t`, cleanup: `set timezone = 'UTC'` },
  // parameters (extended only)
  { name: 'text parameters', modes: ['extended', 'binary'], sql: 'select $1::int + $2::int as sum, $3::text as t, $4::jsonb as j', params: ['1', '2', 'ü ✓', '{"a": [1, null]}'] },
  { name: 'NULL parameters and inferred types', modes: ['extended', 'binary'], sql: `select coalesce($1::int, -1) as c, $2 || 'x' as cat, $3::text is null as isnull`, params: [null, 'a', null] },
  { name: 'binary parameters with declared types', modes: ['extended', 'binary'], sql: 'select $1 * 2 as doubled, $2 as big, $3 as raw', paramTypes: [23, 20, 17], paramFormats: [1], params: [int4(21), int8(-9007199254740993n), Buffer.from([0, 255, 1])] },
  { name: 'declared numeric/text parameter types (ParameterDescription)', modes: ['extended'], sql: 'select $1 + 1 as n, $2 as t', paramTypes: [1700, 25], params: ['1.5', 'x'] },
  { name: 'error: could not determine parameter type', modes: ['extended'], sql: 'select $1 as what', params: ['x'] },
  { name: 'error: wrong number of parameters (unnamed)', modes: ['extended'], sql: 'select $1::int as v', params: [] },
];

/** the requests for one SQL case in one mode */
function requestsFor(c: SqlCase, mode: Mode): Buffer[] {
  if (mode === 'simple') return [query(c.sql)];
  return [
    parse('', c.sql, c.paramTypes ?? []),
    describe('S', ''),
    bind({ params: c.params ?? [], paramFormats: c.paramFormats ?? [], resultFormats: mode === 'binary' ? [1] : [] }),
    describe('P', ''),
    execute(),
    sync(),
  ];
}

const BATCH_CASES: BatchCase[] = [
  {
    name: 'named statement: parse + describe, bind/execute on other server connections, close, use after close',
    steps: [
      { send: [parse('n1', 'select $1::int * 2 as doubled, $2::text as label'), describe('S', 'n1'), sync()] },
      { hop: true, send: [bind({ statement: 'n1', params: ['21', 'x'] }), describe('P'), execute(), sync()] },
      { hop: true, send: [describe('S', 'n1'), bind({ statement: 'n1', params: ['5', null], resultFormats: [1] }), execute(), sync()] },
      { send: [close('S', 'n1'), sync()] },
      { hop: true, send: [bind({ statement: 'n1', params: ['1', 'y'] }), execute(), sync()] },
    ],
  },
  {
    name: 'named statement used in a pipelined batch with several Syncs',
    steps: [
      {
        send: [
          parse('n2', 'select $1::text as v'), bind({ statement: 'n2', params: ['a'] }), execute(), sync(),
          bind({ statement: 'n2', params: ['b'] }), execute(), sync(),
          parse('', 'select 1/0'), bind(), execute(), sync(),
          bind({ statement: 'n2', params: ['c'] }), execute(), sync(),
        ],
      },
      { send: [close('S', 'n2'), sync()] },
    ],
  },
  {
    name: 'error mid-batch: everything up to Sync is skipped, the next batch runs',
    steps: [
      { send: [parse('n3', 'select 3 as three'), sync()] },
      {
        hop: true,
        send: [
          parse('', 'select 1/0'), bind(), execute(),
          parse('', 'select 2'), bind(), execute(),
          bind({ statement: 'n3' }), execute(), close('S', 'n3'), sync(),
          bind({ statement: 'n3' }), execute(), sync(),
        ],
      },
      { send: [close('S', 'n3'), sync()] },
    ],
  },
  {
    name: 'named portal fetched in pieces within one Sync',
    steps: [
      { send: [parse('', 'select g from generate_series(1, 7) g'), bind({ portal: 'p1' }), describe('P', 'p1'), execute('p1', 3), execute('p1', 3), execute('p1', 3), close('P', 'p1'), sync()] },
    ],
  },
  {
    name: 'named portal across Syncs inside a transaction',
    steps: [
      { send: [query('begin')] },
      { send: [parse('', 'select g from generate_series(1, 5) g'), bind({ portal: 'p2' }), execute('p2', 2), sync()] },
      { send: [execute('p2', 2), sync()] },
      { send: [execute('p2', 2), sync()] },
      { send: [execute('p2', 2), sync()] },
      { send: [query('commit')] },
      { send: [execute('p2', 2), sync()] },
    ],
  },
  {
    name: 'transaction states across extended and simple messages',
    steps: [
      { send: [query('begin')] },
      { send: [parse('tx1', 'select $1::int as v'), bind({ statement: 'tx1', params: ['1'] }), execute(), sync()] },
      { send: [query('select 1/0')] },
      { send: [bind({ statement: 'tx1', params: ['2'] }), execute(), sync()] },
      { send: [query('rollback')] },
      { hop: true, send: [bind({ statement: 'tx1', params: ['3'] }), execute(), sync()] },
      { send: [close('S', 'tx1'), sync()] },
    ],
  },
  {
    name: 'several simple queries in one write',
    steps: [{ send: [query('select 1'), query('select 2; select 3'), query('select 1/0'), query(''), query('select 4')] }],
  },
  {
    name: 'Describe of an unknown statement and portal, Close of unknown ones',
    steps: [
      { send: [describe('S', 'nope'), sync()] },
      { send: [describe('P', 'nope'), sync()] },
      { send: [close('S', 'nope'), close('P', 'nope'), sync()] },
      { send: [bind({ statement: 'nope' }), sync()] },
    ],
  },
  {
    name: 'the unnamed statement is replaced by the next Parse',
    steps: [
      { send: [parse('', 'select 1 as one'), sync()] },
      { send: [bind(), execute(), sync()] },
      { send: [parse('', 'select 2 as two'), bind(), execute(), sync()] },
    ],
  },
  {
    name: 'COPY TO STDOUT (text and binary)',
    steps: [
      { send: [query(`copy (select g, 'row ' || g, null from generate_series(1, 5) g) to stdout`)] },
      { send: [query(`copy (select g, 'row ' || g from generate_series(1, 3) g) to stdout with (format binary)`)] },
      { send: [query('copy diff_items to stdout with (format csv, header)')] },
    ],
  },
  {
    name: 'COPY FROM STDIN, and a COPY the client aborts with CopyFail',
    cleanup: 'delete from diff_items where id between 500 and 599',
    steps: [
      { send: [query('copy diff_items (id, name, qty) from stdin'), copyData('500\tcopied\t1.5\n501\tcopied ✓\t\\N\n'), copyData('502\tthird\t0\n'), copyDone()] },
      { hop: true, send: [query('select id, name, qty from diff_items where id >= 500 order by id')] },
      { send: [query('copy diff_items (id, name) from stdin'), copyData('510\tnever\n'), copyFail('client changed its mind')] },
      { send: [query('copy diff_items (id, name) from stdin'), copyData('520\tbad\n1\tduplicate key\n'), copyDone()] },
      { send: [query('select count(*) from diff_items where id >= 500')] },
    ],
  },
  {
    name: 'Parse of a name that already exists',
    todo: 'proxy difference: an error Prescient raises itself lacks the F/L/R (source file, line, routine) fields Postgres sends',
    steps: [
      { send: [parse('dupe', 'select 1 as one'), sync()] },
      { send: [parse('dupe', 'select 2 as two'), sync()] },
      { send: [bind({ statement: 'dupe' }), execute(), sync()] },
      { send: [close('S', 'dupe'), sync()] },
    ],
  },
  {
    // Postgres' ignore_till_sync: after an error in an extended batch every message, simple Queries too, is ignored
    // until Sync (found by the fuzzer: Prescient expected answers to those Queries and lost count of its responses)
    name: 'simple Queries after an extended-protocol error are ignored until Sync',
    steps: [
      { send: [parse('', 'selec 1'), query('select 2 as ignored'), sync()], readies: 1 },
      { send: [query('begin')] },
      { send: [execute('no_such_portal'), query('select 3 as ignored'), query('commit'), sync()], readies: 1 },
      { send: [query('rollback')] },
      { send: [query('select 4 as answered')] },
    ],
  },
  {
    name: 'a named statement whose Parse failed does not exist',
    steps: [
      { send: [parse('bad1', 'selec 1'), sync()] },
      { send: [bind({ statement: 'bad1' }), execute(), sync()] },
      { hop: true, send: [describe('S', 'bad1'), sync()] },
    ],
  },
  {
    name: 'wrong number of parameters for a named statement',
    steps: [
      { send: [parse('n_params', 'select $1::int as v'), sync()] },
      { send: [bind({ statement: 'n_params', params: [] }), execute(), sync()] },
      { send: [close('S', 'n_params'), sync()] },
    ],
  },
  {
    name: 'DEALLOCATE of a protocol-level statement',
    steps: [
      { send: [parse('dealloc_me', 'select 1'), sync()] },
      { send: [query('deallocate dealloc_me')] },
      { send: [bind({ statement: 'dealloc_me' }), execute(), sync()] },
      { send: [parse('dealloc_me', 'select 2'), parse('dealloc_too', 'select 3'), sync()] },
      { send: [query('deallocate all')] },
      { send: [bind({ statement: 'dealloc_too' }), execute(), sync()] },
    ],
  },
  {
    name: 'DEALLOCATE of a statement that does not exist',
    todo: 'proxy difference: the synthesized 26000 error lacks the F/L/R fields Postgres sends',
    steps: [{ send: [query('deallocate never_prepared')] }],
  },
];

// ---------------------------------------------------------------- setup

const [cluster] = await withClusters(t, 1);
const setupSql = `
  create type mood as enum ('sad', 'ok', 'happy');
  create type pair as (a int, b text);
  create table diff_items (
    id int primary key,
    name text not null unique,
    qty numeric(12,3),
    feeling mood,
    tags text[],
    created timestamptz not null default '2024-01-02 03:04:05+00',
    constraint qty_nonneg check (qty >= 0)
  );
  insert into diff_items (id, name, qty, feeling, tags) values
    (1, 'apple', 1.5, 'happy', '{red,green}'),
    (2, 'banana', 0, 'ok', '{}'),
    (3, 'cherry', null, null, null),
    (4, 'dürüm ✓', 12345.678, 'sad', '{"with space",NULL}');
  create table diff_children (id int primary key, item_id int references diff_items(id));
`;
const setup = await psql(['-c', setupSql], connOf(cluster!));
if (setup.code !== 0) throw new Error(`setup failed: ${setup.stderr}`);

// differentialPipelined.test.ts runs this file again with pool.pipeline on (simple Queries ride shared connections)
const pipeline = Number(process.env.PRESCIENT_TEST_PIPELINE ?? '1');
const proxy = await startProxy(t, [cluster!], { pool: { mode: 'transaction', size: 3, pipeline } });

// the same session settings on both sides, so ParameterStatus and formatting agree
const STARTUP = {
  application_name: 'prescient-diff',
  client_encoding: 'UTF8',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '1',
};
// direct: as the proxy's shard user, so current_user and permissions agree
const direct = await RawClient.connect({ host: cluster!.host, port: cluster!.port, user: cluster!.user, password: cluster!.password, database: 'app', params: STARTUP });
const viaProxy = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: STARTUP });
// takes a server connection inside a transaction so that viaProxy has to use another one
const hog = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: STARTUP });
t.teardown(async () => {
  await Promise.all([direct.close(), viaProxy.close(), hog.close()]);
});

/** how many ReadyForQuery a write of these frames gets */
function readiesOwed(send: Buffer[]): number {
  return send.filter((b) => b[0] === FrontendCode.Sync || b[0] === FrontendCode.Query).length;
}

async function run(c: RawClient, steps: Step[], hopper: RawClient | null): Promise<Frame[]> {
  const out: Frame[] = [];
  for (const step of steps) {
    const hop = hopper !== null && step.hop === true;
    if (hop) await expectOk(hopper, 'begin');
    c.send(...step.send);
    for (let i = step.readies ?? readiesOwed(step.send); i > 0; i--) out.push(...(await c.readUntilReady(20000)));
    if (hop) await expectOk(hopper, 'commit');
  }
  if (c.buffered > 0) throw new Error(`unexpected extra frames after the last ReadyForQuery:\n${renderFrames(await c.readUntil(() => c.buffered === 0))}`);
  return out;
}

async function expectOk(c: RawClient, sql: string): Promise<void> {
  const frames = await c.query(sql);
  if (frames.some((f) => f.code === BackendCode.ErrorResponse)) throw new Error(`${sql} failed:\n${renderFrames(frames)}`);
}

const differences: string[] = [];

/** A minimal line diff (LCS): unchanged lines with two spaces, removed with '- ', added with '+ '. */
function lineDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push(`  ${x[i++]}`);
      j++;
    } else if (j < y.length && (i === x.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) out.push(`+ ${y[j++]}`);
    else out.push(`- ${x[i++]}`);
  }
  return out.join('\n');
}

/** the part of a tap Test that compare() uses */
interface Asserts {
  pass(message: string): unknown;
  comment(...args: unknown[]): unknown;
  equal(found: unknown, wanted: unknown, message: string, extra: { todo?: string }): unknown;
}

async function compare(t: Asserts, label: string, steps: Step[], cleanup: string | undefined, todo?: string): Promise<void> {
  const d = await run(direct, steps, null);
  if (cleanup) await expectOk(direct, cleanup);
  const p = await run(viaProxy, steps, hog);
  if (cleanup) await expectOk(viaProxy, cleanup);
  const dBytes = Buffer.concat(d.map((f) => f.frame));
  const pBytes = Buffer.concat(p.map((f) => f.frame));
  const same = dBytes.equals(pBytes);
  if (!same) differences.push(label);
  if (STRICT) todo = undefined;
  const opts = todo ? { todo } : {};
  if (same) {
    t.pass(`${label}: identical (${d.length} frames, ${dBytes.length} bytes)`);
    return;
  }
  const dText = renderFrames(d);
  const pText = renderFrames(p);
  if (todo) t.comment(`${label} — known difference (${todo}); lines: - Postgres directly, + through Prescient\n${lineDiff(dText, pText)}`);
  if (dText !== pText) {
    // tap prints a line diff: one line per frame ('found' = through Prescient, 'wanted' = Postgres directly)
    t.equal(pText, dText, `${label}: response through Prescient differs from Postgres`, opts);
  } else {
    t.equal(pBytes.toString('hex'), dBytes.toString('hex'), `${label}: response bytes differ`, opts);
  }
}


t.test('a hop really moves the proxied client to another server connection', async (t) => {
  const pid = async (): Promise<string> => (await viaProxy.rows('select pg_backend_pid()'))[0]![0]!;
  const before = await pid();
  t.equal(await pid(), before, 'without a hop the same connection is reused');
  await expectOk(hog, 'begin');
  const during = await pid();
  await expectOk(hog, 'commit');
  t.not(during, before, 'with the hog holding it, another connection serves the client');
});

t.test('startup: the same ParameterStatus values directly and through Prescient', async (t) => {
  const dp = Object.fromEntries([...direct.params].sort());
  const pp = Object.fromEntries([...viaProxy.params].sort());
  t.same(pp, dp);
});

// Known differences (reported as proxy bugs/limitations) are compared with todo assertions, their diff printed as
// a comment, so the file passes until they are fixed. PRESCIENT_DIFF_STRICT=1 makes them ordinary failures.
const RESET_TODO = 'proxy limitation: startup parameters are applied with SET, so RESET returns to the server connection\'s own default';
const KNOWN: Record<string, string> = {
  'SET / SHOW / RESET application_name [simple]': RESET_TODO,
  'SET / RESET a startup parameter (TimeZone) [simple]': RESET_TODO,
};
const STRICT = process.env.PRESCIENT_DIFF_STRICT === '1';

let i = 0;
for (const c of SQL_CASES) {
  const modes = c.modes ?? (c.binary ? ['simple', 'extended', 'binary'] : ['simple', 'extended']);
  const index = i++;
  t.test(`sql: ${c.name}`, async (t) => {
    for (const mode of modes) {
      const label = `${c.name} [${mode}]`;
      // every other case: the proxied client runs on another server connection than last time
      await compare(t, label, [{ send: requestsFor(c, mode), hop: index % 2 === 1 }], c.cleanup, KNOWN[label]);
    }
  });
}
for (const c of BATCH_CASES) {
  t.test(`batch: ${c.name}`, async (t) => {
    await compare(t, c.name, c.steps, c.cleanup, c.todo ?? KNOWN[c.name]);
  });
}

t.test('summary', async (t) => {
  if (differences.length) t.comment(`requests whose responses differed:\n  ${differences.join('\n  ')}`);
  // both sessions are still in sync and usable
  const d = await direct.rows('select count(*) from diff_items');
  const p = await viaProxy.rows('select count(*) from diff_items');
  t.same(p, d);
  t.same(d, [['4']], 'every case cleaned up after itself');
});
