// Tests for plugins/cache/AccountSlice.ts: which statements are read shapes (table-driven), the array literal parser
// against Postgres' own array input, and every answer from a slice byte-equal to what Postgres returns for the same
// read (tricky text, NULLs, collation order, limits, empty results) — a real server, a raw protocol client.
import t from 'tap';
import { requirePostgres, withClusters } from '../../helpers/pg.js';
import { RawClient, bind, describe, execute, parse, sync, type Frame } from '../../helpers/rawClient.js';
import { BackendCode } from '../../../proxy/protocol/MessageCode.js';
import { answerFromSlice, collationCheckRequest, parseTextArray, readShape, sliceRead, sliceRequest, SLICE_MAX_ROWS, type Condition, type ReadShape, type SliceRead } from '../../../plugins/cache/AccountSlice.js';

requirePostgres(t);
const [pgc] = await withClusters(t, 1);
const c = await RawClient.connect({ host: pgc!.host, port: pgc!.port, user: pgc!.user, password: pgc!.password, database: 'app', params: { client_encoding: 'UTF8' } });
t.teardown(() => c.close());

/** Parse/Bind/Describe portal/Execute/Sync of `sql` with text `params`: its frames from RowDescription to CommandComplete. */
async function run(sql: string, params: (string | null)[]): Promise<Frame[]> {
  return frames(Buffer.concat([parse('', sql), bind({ params }), describe('P'), execute(), sync()]), sql);
}

/** The result frames of a request (RowDescription, DataRow, CommandComplete). */
async function frames(request: Buffer, what: string): Promise<Frame[]> {
  c.send(request);
  const frames = await c.readUntilReady();
  const err = frames.find((f) => f.code === BackendCode.ErrorResponse);
  if (err) throw new Error(`${what}: ${err.payload.toString('utf8')}`);
  return frames.filter((f) => f.code === BackendCode.RowDescription || f.code === BackendCode.DataRow || f.code === BackendCode.CommandComplete);
}

// a table of two accounts with tricky text: case, accents, spaces, quotes, commas, backslashes, NULLs
await run(`CREATE TABLE vols (account_id text NOT NULL, id text NOT NULL, state varchar(20), n int, note text, PRIMARY KEY (account_id, id))`, []);
const IDS = ['vol-1', 'Vol-2', 'vol-10', 'éclair', 'Zulu', 'a b', 'c,d', 'e"f', 'g\\h', 'NULL', '', 'ß', 'vol-3'];
for (const [i, id] of IDS.entries()) {
  for (const account of ['acct-1', 'acct-2']) {
    await run('INSERT INTO vols VALUES ($1, $2, $3, $4, $5)', [account, id, i % 4 === 0 ? null : ['available', 'in-use', 'Available'][i % 3]!, String(i), i % 5 === 0 ? null : `note ${i}`]);
  }
}

await t.test('readShape: the statements a slice answers, and the ones it must not', async (t) => {
  const eq = (column: string, param: number): Condition => ({ column, param, any: false });
  const any = (column: string, param: number): Condition => ({ column, param, any: true });
  const shape = (table: string, conditions: Condition[], orderBy: string | null = null, limit: number | null = null, columns: string[] | null = null): ReadShape =>
    ({ table, columns, conditions, orderBy, limit });
  const cases: [string, ReadShape | null][] = [
    ['SELECT * FROM volumes WHERE account_id = $1', shape('volumes', [eq('account_id', 0)])],
    ['select * from volumes where account_id=$1 and id = any($2::text[])', shape('volumes', [eq('account_id', 0), any('id', 1)])],
    ['SELECT * FROM volumes WHERE account_id = $1 AND id = ANY($2)', shape('volumes', [eq('account_id', 0), any('id', 1)])],
    ['SELECT * FROM volumes WHERE account_id = $1 AND id = ANY ( $2 :: text[] )', shape('volumes', [eq('account_id', 0), any('id', 1)])],
    ['SELECT * FROM volumes WHERE account_id = $1 AND state = $2 ORDER BY id LIMIT 100', shape('volumes', [eq('account_id', 0), eq('state', 1)], 'id', 100)],
    ['SELECT * FROM volumes WHERE account_id = $2 AND state = $1 ORDER BY id ASC', shape('volumes', [eq('account_id', 1), eq('state', 0)], 'id')],
    ['/*account=\'a\',action=\'DescribeVolumes\'*/ SELECT *\n  FROM public.volumes WHERE account_id = $1;', shape('public.volumes', [eq('account_id', 0)])],
    ['SELECT resource, attrs,updated_at FROM generic_resources WHERE account_id = $1 AND service = $2 AND resource = $3',
      shape('generic_resources', [eq('account_id', 0), eq('service', 1), eq('resource', 2)], null, null, ['resource', 'attrs', 'updated_at'])],
    ['SELECT resource FROM generic_resources WHERE account_id = $1 AND service = $2 ORDER BY resource LIMIT 100',
      shape('generic_resources', [eq('account_id', 0), eq('service', 1)], 'resource', 100, ['resource'])],
    ['SELECT * FROM volumes WHERE account_id = $1 ORDER BY id DESC', null],
    ['SELECT id AS x FROM volumes WHERE account_id = $1', null],
    ['SELECT count(*) FROM volumes WHERE account_id = $1', null],
    ['SELECT v.id FROM volumes v WHERE account_id = $1', null],
    ['SELECT * FROM volumes WHERE account_id = $1 OR id = $2', null],
    ['SELECT * FROM volumes WHERE account_id = $1 AND id > $2', null],
    ['SELECT * FROM volumes WHERE account_id = $1 AND id = ANY($2::int[])', null],
    ['SELECT * FROM volumes WHERE account_id = \'a\'', null],
    ['SELECT * FROM "Volumes" WHERE account_id = $1', null],
    ['SELECT * FROM volumes WHERE account_id = $1 -- comment', null],
    ['SELECT * FROM volumes WHERE account_id = $1 AND account_id = $2', null],
    ['SELECT * FROM volumes v JOIN x ON true WHERE account_id = $1', null],
    ['SELECT * FROM volumes WHERE account_id = $1 LIMIT $2', null],
    ['SELECT * FROM volumes WHERE account_id = $1 FOR UPDATE', null],
    ['SELECT * FROM volumes WHERE account_id = $1 ORDER BY lower(id)', null],
    ['SELECT * FROM volumes WHERE account_id = $1 ORDER BY id, state', null],
  ];
  for (const [sql, want] of cases) t.same(readShape(sql), want, sql);
});

await t.test("sliceRead: the condition whose value is the account names it; the others are filtered here", async (t) => {
  const shape = readShape('SELECT resource FROM g WHERE service = $1 AND account_id = $2 AND resource = ANY($3)')!;
  const params = ['s3', 'acct-1', '{a}'].map((p) => Buffer.from(p));
  const r = sliceRead(shape, params, 'acct-1')!;
  t.same([r.accountColumn, r.accountParam], ['account_id', 1]);
  t.same(r.filters.map((f) => f.column), ['service', 'resource']);
  t.same(r.sliceColumns, ['resource', 'service'], 'the read\'s columns, then the filtered ones it does not return');
  t.equal(sliceRead(shape, params, 'acct-2'), null, 'no condition carries this account');
  t.equal(sliceRead(readShape('SELECT * FROM g WHERE account_id = ANY($1)')!, [Buffer.from('{acct-1}')], 'acct-1'), null, 'an ANY never names the account');
});

await t.test('parseTextArray: what the driver sends, and what it must leave to Postgres', async (t) => {
  const cases: [string, (string | null)[] | null][] = [
    ['{}', []],
    ['{a}', ['a']],
    ['{"vol-1","vol-2"}', ['vol-1', 'vol-2']],
    ['{ a , b }', ['a', 'b']],
    ['{"a b","c,d","e\\"f","g\\\\h"}', ['a b', 'c,d', 'e"f', 'g\\h']],
    ['{NULL,"NULL",null}', [null, 'NULL', null]],
    ['{"",x}', ['', 'x']],
    ['{ü✓,日本}', ['ü✓', '日本']],
    ['{{a}}', null],
    ['[1:1]={a}', null],
    ['{a\\,b}', null],
    ['{a,}', null],
    ['{,a}', null],
    ['{"a}', null],
    ['{"a"b}', null],
    ['a', null],
  ];
  for (const [text, want] of cases) t.same(parseTextArray(text), want, text);
});

await t.test('parseTextArray agrees with Postgres on the arrays it accepts', async (t) => {
  for (const text of ['{}', '{a}', '{"vol-1","vol-2"}', '{ a , b }', '{"a b","c,d","e\\"f","g\\\\h"}', '{NULL,"NULL",null}', '{"",x}', '{ü✓,日本}']) {
    const rows = await run('SELECT x FROM unnest($1::text[]) x', [text]);
    const got = rows.filter((f) => f.code === BackendCode.DataRow).map((f) => (f.frame.readInt32BE(7) < 0 ? null : f.frame.toString('utf8', 11)));
    t.same(parseTextArray(text), got, text);
  }
});

await t.test('answers from a slice are byte-equal to what Postgres returns', async (t) => {
  const queries: [string, (string | null)[]][] = [
    ['SELECT * FROM vols WHERE account_id = $1', ['acct-1']],
    ['SELECT * FROM vols WHERE account_id = $1 ORDER BY id', ['acct-1']],
    ['SELECT * FROM vols WHERE account_id = $1 ORDER BY id LIMIT 3', ['acct-1']],
    ['SELECT * FROM vols WHERE account_id = $1 ORDER BY id LIMIT 0', ['acct-1']],
    ['SELECT * FROM vols WHERE account_id = $1 AND state = $2 ORDER BY id LIMIT 100', ['acct-1', 'available']],
    ['SELECT * FROM vols WHERE account_id = $1 AND state = $2 ORDER BY id LIMIT 2', ['acct-1', 'in-use']],
    ['SELECT * FROM vols WHERE account_id = $1 AND state = $2 ORDER BY id', ['acct-1', 'AVAILABLE']],
    ['SELECT * FROM vols WHERE account_id = $1 AND state = $2 ORDER BY id', ['acct-1', null]],
    ['SELECT * FROM vols WHERE account_id = $1 AND id = $2', ['acct-1', 'éclair']],
    ['SELECT * FROM vols WHERE account_id = $1 AND id = $2', ['acct-1', '']],
    ['SELECT * FROM vols WHERE account_id = $1 AND id = ANY($2::text[]) ORDER BY id', ['acct-1', '{"vol-1","Vol-2","nope","a b","c,d","e\\"f","g\\\\h",NULL,"NULL"}']],
    ['SELECT * FROM vols WHERE account_id = $1 AND id = ANY($2::text[]) ORDER BY id', ['acct-1', '{}']],
    ['SELECT * FROM vols WHERE account_id = $1 AND id = ANY($2::text[]) ORDER BY id', ['acct-1', null]],
    ['SELECT * FROM vols WHERE account_id = $1 AND id = ANY($2) ORDER BY id', ['acct-1', '{ß,Zulu}']],
    ['SELECT * FROM vols WHERE account_id = $1 AND state = $2 ORDER BY id LIMIT 100', ['acct-3', 'available']],
    // projections: the read's columns only, the filtered ones read by the slice and not returned
    ['SELECT id, n FROM vols WHERE account_id = $1 AND state = $2 ORDER BY id', ['acct-1', 'available']],
    ['SELECT note FROM vols WHERE account_id = $1 AND state = $2 AND id = ANY($3) ORDER BY id', ['acct-1', 'in-use', '{"Vol-2","vol-10","c,d","nope"}']],
    ['SELECT state, id FROM vols WHERE state = $2 AND account_id = $1 ORDER BY id LIMIT 2', ['acct-2', 'in-use']],
    ['SELECT id, id FROM vols WHERE account_id = $1 AND id = $2', ['acct-2', 'ß']],
    ['SELECT n FROM vols WHERE account_id = $1', ['acct-1']],
  ];
  for (const [sql, params] of queries) {
    const shape = readShape(sql);
    if (shape === null) throw new Error(`not a shape: ${sql}`);
    const bound = params.map((p) => (p === null ? null : Buffer.from(p)));
    const read = sliceRead(shape, bound, params[0] === 'acct-1' || params[0] === 'acct-3' || params[0] === 'acct-2' ? params[0] : params[1]!);
    if (read === null) throw new Error(`no account condition: ${sql}`);
    // the slice as the prefetcher reads it: this account's rows, in the read's order
    const sliceFrames = await frames(sliceRequest(read, bound[read.accountParam]!), 'slice');
    const slice = [sliceFrames[0]!.frame, Buffer.concat(sliceFrames.slice(1).map((f) => f.frame))];
    const got = answerFromSlice(slice, shape.orderBy, { read, params: bound, resultFormats: [] });
    const want = await run(sql, params);
    const name = `${sql} ${JSON.stringify(params)}`;
    if (got === null) {
      t.fail(`no answer: ${name}`);
      continue;
    }
    const wantRows = want.filter((f) => f.code === BackendCode.DataRow).map((f) => f.frame.toString('hex'));
    t.equal(got[0]!.toString('hex'), want[0]!.frame.toString('hex'), `RowDescription: ${name}`);
    // without ORDER BY the order is the server's choice: compared as a set
    const gotFrames = splitFrames(got[1]!);
    const gotRows = gotFrames.filter((f) => f[0] === BackendCode.DataRow).map((f) => f.toString('hex'));
    if (shape.orderBy === null) t.same([...gotRows].sort(), [...wantRows].sort(), `rows: ${name}`);
    else t.same(gotRows, wantRows, `rows in order: ${name}`);
    t.equal(gotFrames[gotFrames.length - 1]!.toString('hex'), want[want.length - 1]!.frame.toString('hex'), `CommandComplete: ${name}`);
  }
});

await t.test('no answer where a slice cannot say', async (t) => {
  const readOf = (sql: string, params: (string | null)[]): SliceRead => sliceRead(readShape(sql)!, params.map((p) => (p === null ? null : Buffer.from(p))), 'acct-1')!;
  const shape = 'SELECT * FROM vols WHERE account_id = $1 AND state = $2 ORDER BY id';
  const got = await frames(sliceRequest(readOf(shape, ['acct-1', 'x']), Buffer.from('acct-1')), 'slice');
  const slice = [got[0]!.frame, Buffer.concat(got.slice(1).map((f) => f.frame))];
  const ask = (sql: string, params: (string | null)[], resultFormats: number[] = [], orderBy: string | null = 'id') =>
    answerFromSlice(slice, orderBy, { read: readOf(sql, params), params: params.map((p) => (p === null ? null : Buffer.from(p))), resultFormats });
  t.not(ask(shape, ['acct-1', 'available']), null, 'the read itself');
  t.equal(ask(shape, ['acct-1', 'available'], [1]), null, 'binary results asked');
  t.equal(ask(shape, ['acct-1', 'available'], [], null), null, 'the slice is in the server order, the read wants id order');
  t.equal(ask('SELECT * FROM vols WHERE account_id = $1 AND n = $2', ['acct-1', '1']), null, 'a filter on an int column');
  t.equal(ask('SELECT * FROM vols WHERE account_id = $1 AND nope = $2', ['acct-1', 'x']), null, 'a column the slice does not have');
  t.equal(ask('SELECT * FROM vols WHERE account_id = $1 AND id = ANY($2)', ['acct-1', '{{a}}']), null, 'an array it does not parse');
  t.equal(ask('SELECT id FROM vols WHERE account_id = $1 AND state = $2', ['acct-1', 'x']), null, 'a projection from a slice of every column');
});

await t.test('the slice read stops one row over SLICE_MAX_ROWS', async (t) => {
  const read = sliceRead(readShape('SELECT * FROM vols WHERE account_id = $1 ORDER BY id')!, [Buffer.from('acct-big')], 'acct-big')!;
  await run(`INSERT INTO vols SELECT 'acct-big', 'v' || g, 'available', g, null FROM generate_series(1, ${SLICE_MAX_ROWS + 5}) g`, []);
  const got = await frames(sliceRequest(read, Buffer.from('acct-big')), 'slice');
  t.equal(got.filter((f) => f.code === BackendCode.DataRow).length, SLICE_MAX_ROWS + 1);
  const slice = [got[0]!.frame, Buffer.concat(got.slice(1).map((f) => f.frame))];
  t.equal(answerFromSlice(slice, 'id', { read, params: [Buffer.from('acct-big')], resultFormats: [] }), null, 'a slice over the cap answers nothing');
});

await t.test('the collation check counts the columns with a nondeterministic collation', async (t) => {
  await run(`CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`, []);
  await run('CREATE TABLE ci_tags (account_id text, name text COLLATE ci)', []);
  for (const [table, want] of [['vols', '0'], ['ci_tags', '1']] as const) {
    c.send(collationCheckRequest(table));
    const frames = await c.readUntilReady();
    const row = frames.find((f) => f.code === BackendCode.DataRow)!;
    t.equal(row.frame.toString('utf8', 11), want, table);
  }
});

/** A buffer of whole frames, split. */
function splitFrames(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    const end = at + 1 + b.readInt32BE(at + 1);
    out.push(b.subarray(at, end));
    at = end;
  }
  return out;
}
