// Tests for proxy/router/Merge.ts: UNION ALL concatenation, ORDER BY per type (text and binary formats, desc, nulls), stable ties, LIMIT (literal and $n), and every refusal — on hand-built RowDescription / DataRow frames.
import t from 'tap';
import type { MergeSortKey, MergeSpec } from '../../proxy/analyzer/types.js';
import { mergeRows, type ShardResult } from '../../proxy/router/Merge.js';

// --- a tiny frame encoder ---

type Field = [name: string, oid: number, format?: number];

/** RowDescription payload (no type byte / length) */
function desc(fields: Field[]): Buffer {
  const parts: Buffer[] = [u16(fields.length)];
  for (const [name, oid, format = 0] of fields) {
    const f = Buffer.alloc(18);
    f.writeUInt32BE(0, 0); // table oid
    f.writeInt16BE(0, 4); // attnum
    f.writeUInt32BE(oid, 6);
    f.writeInt16BE(-1, 10); // typlen
    f.writeInt32BE(-1, 12); // typmod
    f.writeInt16BE(format, 16);
    parts.push(Buffer.from(name + '\0', 'utf8'), f);
  }
  return Buffer.concat(parts);
}

/** a whole DataRow frame; strings are UTF-8 text values, Buffers binary values, null SQL NULL */
function row(...vals: (string | Buffer | null)[]): Buffer {
  const parts: Buffer[] = [u16(vals.length)];
  for (const v of vals) {
    if (v === null) parts.push(i32(-1));
    else {
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      parts.push(i32(b.length), b);
    }
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from('D'), i32(body.length + 4), body]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
const bin = (size: number, write: (b: Buffer) => void): Buffer => {
  const b = Buffer.alloc(size);
  write(b);
  return b;
};
const i2 = (n: number): Buffer => bin(2, (b) => b.writeInt16BE(n));
const i4 = (n: number): Buffer => bin(4, (b) => b.writeInt32BE(n));
const u4 = (n: number): Buffer => bin(4, (b) => b.writeUInt32BE(n));
const i8 = (n: bigint): Buffer => bin(8, (b) => b.writeBigInt64BE(n));
const f4 = (n: number): Buffer => bin(4, (b) => b.writeFloatBE(n));
const f8 = (n: number): Buffer => bin(8, (b) => b.writeDoubleBE(n));
const uuid = (s: string): Buffer => Buffer.from(s.replace(/-/g, ''), 'hex');

/** the text value of column `col` of a DataRow built by row() */
function cell(frame: Buffer, col = 0): string | null {
  let pos = 7;
  for (let c = 0; ; c++) {
    const len = frame.readInt32BE(pos);
    pos += 4;
    if (c === col) return len < 0 ? null : frame.toString('utf8', pos, pos + len);
    pos += Math.max(len, 0);
  }
}

const spec = (orderBy: Partial<MergeSortKey>[] = [], limit: MergeSpec['limit'] = null, unmergeable: string | null = null): MergeSpec => ({
  orderBy: orderBy.map((k) => ({ column: null, position: null, desc: false, nullsFirst: !!k.desc, ...k })),
  limit,
  unmergeable,
});

const ok = (o: ReturnType<typeof mergeRows>): Buffer[] => {
  if ('error' in o) throw new Error(`unexpected merge error: ${o.error}`);
  return o.rows;
};

// --- ORDER BY per type: values listed in Postgres' ascending order, no ties ---

const OID = { bool: 16, char: 18, name: 19, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114, float4: 700, float8: 701, bpchar: 1042, varchar: 1043, date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700, uuid: 2950, jsonb: 3802, inet: 869 };

interface TypeCase { name: string; oid: number; format?: number; asc: (string | Buffer)[] }

const TYPES: TypeCase[] = [
  { name: 'int2 text', oid: OID.int2, asc: ['-32768', '-3', '0', '5', '32767'] },
  { name: 'int4 text (numeric, not byte order)', oid: OID.int4, asc: ['-100', '-9', '9', '10', '2147483647'] },
  { name: 'int8 text (BigInt)', oid: OID.int8, asc: ['-9223372036854775808', '9', '10', '9223372036854775806', '9223372036854775807'] },
  { name: 'oid text', oid: OID.oid, asc: ['99', '100', '4294967295'] },
  { name: 'float4 text', oid: OID.float4, asc: ['-Infinity', '-0.5', '1.5', '1e+10', 'Infinity', 'NaN'] },
  { name: 'float8 text', oid: OID.float8, asc: ['-1e+300', '-1e-300', '2', '3.14', '1e+300', 'Infinity', 'NaN'] },
  {
    name: 'numeric text (big values, exact)',
    oid: OID.numeric,
    asc: ['-Infinity', '-12345678901234567890.5', '-12345678901234567890.45', '-0.001', '0', '0.01', '0.1', '99.999', '100', '12345678901234567890.45', '12345678901234567890.5', '123456789012345678901', 'Infinity', 'NaN'],
  },
  { name: 'bool text', oid: OID.bool, asc: ['f', 't'] },
  { name: 'text (byte order = C collation)', oid: OID.text, asc: ['', 'B', 'Z', 'a', 'ab', 'b', 'é', '😀'] },
  { name: 'varchar', oid: OID.varchar, asc: ['Volume-10', 'Volume-2', 'volume-1'] },
  { name: 'bpchar', oid: OID.bpchar, asc: ['a  ', 'ab ', 'b  '] },
  { name: 'name', oid: OID.name, asc: ['pg_class', 'volumes'] },
  { name: 'uuid text', oid: OID.uuid, asc: ['0a1b2c3d-0000-0000-0000-000000000000', '7f000000-0000-0000-0000-000000000001', 'ffffffff-ffff-ffff-ffff-ffffffffffff'] },
  { name: 'json text', oid: OID.json, asc: ['[1]', '{"a": 1}', '{"b": 0}'] },
  { name: 'unknown type (inet) text: bytes', oid: OID.inet, asc: ['10.0.0.1', '10.0.0.2', '192.168.0.1'] },
  { name: 'date text', oid: OID.date, asc: ['-infinity', '0044-03-15 BC', '0001-01-01 BC', '0001-01-01', '1999-12-31', '2024-01-02', '10000-01-01', 'infinity'] },
  { name: 'timestamp text', oid: OID.timestamp, asc: ['-infinity', '2023-12-31 23:59:59.999999', '2024-01-02 03:04:05', '2024-01-02 03:04:05.25', '2024-01-02 03:04:05.5', 'infinity'] },
  {
    name: 'timestamptz text (UTC offsets, DST fall-back)',
    oid: OID.timestamptz,
    // 02:30+02 = 00:30Z, 00:59Z, 01:00Z, 02:15+01 = 01:15Z, 2024-10-27 09:00+05:30 = 03:30Z
    asc: ['2024-10-27 02:30:00+02', '2024-10-27 00:59:00+00', '2024-10-27 01:00:00+00', '2024-10-27 02:15:00+01', '2024-10-27 09:00:00+05:30', '2024-10-27 04:00:00.5-00:30'],
  },
  { name: 'int2 binary', oid: OID.int2, format: 1, asc: [i2(-32768), i2(-1), i2(0), i2(256), i2(32767)] },
  { name: 'int4 binary', oid: OID.int4, format: 1, asc: [i4(-2147483648), i4(-1), i4(0), i4(65536), i4(2147483647)] },
  { name: 'int8 binary', oid: OID.int8, format: 1, asc: [i8(-9223372036854775808n), i8(-1n), i8(0n), i8(2n ** 40n), i8(9223372036854775807n)] },
  { name: 'oid binary', oid: OID.oid, format: 1, asc: [u4(1), u4(2 ** 31), u4(2 ** 32 - 1)] },
  { name: 'float4 binary', oid: OID.float4, format: 1, asc: [f4(-Infinity), f4(-1.5), f4(0.25), f4(Infinity), f4(NaN)] },
  { name: 'float8 binary', oid: OID.float8, format: 1, asc: [f8(-Infinity), f8(-1e300), f8(-0.5), f8(1e-300), f8(7), f8(Infinity), f8(NaN)] },
  { name: 'bool binary', oid: OID.bool, format: 1, asc: [Buffer.from([0]), Buffer.from([1])] },
  { name: 'date binary', oid: OID.date, format: 1, asc: [i4(-2147483648), i4(-730000), i4(0), i4(8766), i4(2147483647)] },
  { name: 'timestamp binary (int64 µs)', oid: OID.timestamp, format: 1, asc: [i8(-(2n ** 63n)), i8(-1n), i8(0n), i8(757382400000000n), i8(2n ** 63n - 1n)] },
  { name: 'timestamptz binary (int64 µs)', oid: OID.timestamptz, format: 1, asc: [i8(-5n), i8(0n), i8(1n), i8(2n ** 52n)] },
  { name: 'text binary', oid: OID.text, format: 1, asc: [Buffer.from('A'), Buffer.from('a'), Buffer.from('é')] },
  { name: 'uuid binary', oid: OID.uuid, format: 1, asc: [uuid('00000000-0000-0000-0000-000000000001'), uuid('80000000-0000-0000-0000-000000000000'), uuid('ffffffff-0000-0000-0000-000000000000')] },
];

/** a deterministic scramble of 0..n-1 */
const scramble = (n: number): number[] => Array.from({ length: n }, (_, k) => k).sort((a, b) => ((a * 7 + 3) % 11) - ((b * 7 + 3) % 11) || a - b);

for (const c of TYPES) {
  t.test(`ORDER BY ${c.name}`, async (t) => {
    const d = desc([['id', OID.text], ['v', c.oid, c.format ?? 0]]);
    // ids: the value's ascending rank, 'null' for the NULL row; spread over three shards, the NULL on the middle one
    const all = [...c.asc.map((v, k) => row(String(k), v)), row('null', null)];
    const order = scramble(all.length);
    const shards: ShardResult[] = [0, 1, 2].map((s) => ({ rowDescription: d, rows: order.filter((_, k) => k % 3 === s).map((k) => all[k]!) }));
    const ids = (keys: Partial<MergeSortKey>[]): string[] => ok(mergeRows(spec(keys), shards)).map((r) => cell(r)!);
    const asc = c.asc.map((_, k) => String(k));
    const dsc = [...asc].reverse();
    t.strictSame(ids([{ column: 'v' }]), [...asc, 'null'], 'ASC (NULLS LAST)');
    t.strictSame(ids([{ column: 'v', desc: true }]), ['null', ...dsc], 'DESC (NULLS FIRST)');
    t.strictSame(ids([{ column: 'v', nullsFirst: true }]), ['null', ...asc], 'ASC NULLS FIRST');
    t.strictSame(ids([{ position: 2, desc: true, nullsFirst: false }]), [...dsc, 'null'], 'ORDER BY 2 DESC NULLS LAST');
    const merged = ok(mergeRows(spec([{ column: 'v' }]), shards));
    t.ok(merged.every((r) => all.includes(r)), 'the same Buffer objects');
  });
}

// --- the rest ---

const D = desc([['id', OID.int4], ['state', OID.text], ['n', OID.int8]]);
const A = [row('1', 'available', '10'), row('2', 'in-use', '20'), row('3', 'available', '30')];
const B = [row('4', 'in-use', '10'), row('5', 'available', '10')];
const C: Buffer[] = [];
const SHARDS: ShardResult[] = [{ rowDescription: D, rows: A }, { rowDescription: D, rows: C }, { rowDescription: D, rows: B }];
const ids = (rows: Buffer[]): string[] => rows.map((r) => cell(r)!);

interface Case { name: string; spec: MergeSpec; shards?: ShardResult[]; params?: (Buffer | null)[]; ids?: string[]; error?: string | RegExp }

const CASES: Case[] = [
  { name: 'no ORDER BY: UNION ALL in shard order', spec: spec(), ids: ['1', '2', '3', '4', '5'] },
  { name: 'no ORDER BY, LIMIT 4', spec: spec([], { value: 4 }), ids: ['1', '2', '3', '4'] },
  { name: 'LIMIT larger than the rows', spec: spec([], { value: 100 }), ids: ['1', '2', '3', '4', '5'] },
  { name: 'LIMIT 0', spec: spec([{ column: 'id' }], { value: 0 }), ids: [] },
  { name: 'ORDER BY id DESC LIMIT 2', spec: spec([{ column: 'id', desc: true }], { value: 2 }), ids: ['5', '4'] },
  { name: 'ties keep shard order, then row order (stable)', spec: spec([{ column: 'state' }]), ids: ['1', '3', '5', '2', '4'] },
  { name: 'ties stable under DESC', spec: spec([{ column: 'n', desc: true }]), ids: ['3', '2', '1', '4', '5'] },
  { name: 'two keys: state, n DESC', spec: spec([{ column: 'state' }, { column: 'n', desc: true }]), ids: ['3', '1', '5', '2', '4'] },
  { name: 'two keys by position: 3, 1 DESC', spec: spec([{ position: 3 }, { position: 1, desc: true }]), ids: ['5', '4', '1', '2', '3'] },
  { name: 'LIMIT $2 (text parameter)', spec: spec([{ column: 'id' }], { param: 2 }), params: [Buffer.from('x'), Buffer.from('3')], ids: ['1', '2', '3'] },
  { name: 'LIMIT $1 NULL = no limit', spec: spec([{ column: 'id', desc: true }], { param: 1 }), params: [null], ids: ['5', '4', '3', '2', '1'] },
  { name: 'LIMIT $1 without parameters', spec: spec([], { param: 1 }), error: 'LIMIT $1 has no parameter value' },
  { name: 'LIMIT $1 not an integer', spec: spec([], { param: 1 }), params: [Buffer.from('ten')], error: 'LIMIT $1 is not a text-format non-negative integer' },
  { name: 'a shard without a RowDescription (no rows)', spec: spec([{ column: 'id', desc: true }]), shards: [{ rowDescription: D, rows: A }, { rowDescription: null, rows: [] }], ids: ['3', '2', '1'] },
  { name: 'no rows at all', spec: spec([{ column: 'missing' }]), shards: [{ rowDescription: null, rows: [] }, { rowDescription: null, rows: [] }], ids: [] },
  { name: 'ORDER BY a column not selected', spec: spec([{ column: 'created_at' }]), error: 'ORDER BY column "created_at" is not in the select list; add it to merge a fan-out read' },
  { name: 'the error does not depend on the row count', spec: spec([{ column: 'created_at' }]), shards: [{ rowDescription: D, rows: [] }], error: /ORDER BY column "created_at" is not in the select list/ },
  { name: 'ORDER BY position past the select list', spec: spec([{ position: 4 }]), error: 'ORDER BY position 4 is not in the select list (3 columns)' },
  { name: 'column names are case-sensitive', spec: spec([{ column: 'State' }]), error: /"State" is not in the select list/ },
  { name: 'row descriptions disagree', spec: spec(), shards: [{ rowDescription: D, rows: A }, { rowDescription: desc([['id', OID.int4]]), rows: [row('9')] }], error: 'shards returned different row descriptions (3 and 1 columns)' },
  {
    name: 'shards disagree on a sort key type',
    spec: spec([{ column: 'id' }]),
    shards: [{ rowDescription: D, rows: A }, { rowDescription: desc([['id', OID.int8], ['state', OID.text], ['n', OID.int8]]), rows: B }],
    error: 'shards disagree on the type of ORDER BY column "id" (oid 23 and 20)',
  },
  { name: 'binary numeric refused', spec: spec([{ column: 'v' }]), shards: [{ rowDescription: desc([['v', OID.numeric, 1]]), rows: [row(Buffer.from([0, 0]))] }], error: 'cannot order fan-out rows by binary column of type oid 1700' },
  { name: 'binary jsonb refused', spec: spec([{ column: 'v' }]), shards: [{ rowDescription: desc([['v', OID.jsonb, 1]]), rows: [row(Buffer.from([1]))] }], error: 'cannot order fan-out rows by binary column of type oid 3802' },
  { name: 'binary value of the wrong size', spec: spec([{ column: 'v' }]), shards: [{ rowDescription: desc([['v', OID.int4, 1]]), rows: [row(i2(1)), row(i2(2))] }], error: 'a binary value of type oid 23 is 2 bytes, not 4' },
  { name: 'a malformed int8 text value', spec: spec([{ column: 'v' }]), shards: [{ rowDescription: desc([['v', OID.int8]]), rows: [row('1'), row('one')] }], error: /^cannot merge fan-out rows: / },
  { name: 'a DataRow of another width', spec: spec([{ column: 'id' }]), shards: [{ rowDescription: D, rows: [...A, row('9')] }], error: 'a DataRow has 1 columns, the RowDescription 3' },
  { name: 'rows to order but no RowDescription', spec: spec([{ column: 'id' }]), shards: [{ rowDescription: null, rows: A }], error: 'cannot order fan-out rows without a RowDescription' },
  { name: 'an unmergeable spec', spec: spec([], null, 'aggregate function count'), error: 'cannot merge the rows of a fan-out read: aggregate function count' },
];

t.test(`${CASES.length} merges`, async (t) => {
  for (const c of CASES) {
    const out = mergeRows(c.spec, c.shards ?? SHARDS, c.params);
    if (c.error !== undefined) {
      if ('error' in out) t.match(out.error, c.error, c.name);
      else t.fail(`${c.name}: expected an error, got ${ids(out.rows)}`);
    } else t.strictSame(ids(ok(out)), c.ids, c.name);
  }
});

t.test('rows come back as the same Buffer objects, never copied', async (t) => {
  const input = new Set([...A, ...B]);
  for (const s of [spec(), spec([], { value: 2 }), spec([{ column: 'n' }, { column: 'id', desc: true }], { value: 4 })]) {
    const rows = ok(mergeRows(s, SHARDS));
    t.ok(rows.length > 0 && rows.every((r) => input.has(r)), JSON.stringify(s.orderBy));
  }
  t.equal(A.length, 3, 'the inputs are not mutated');
  t.strictSame(ids(A), ['1', '2', '3']);
});

t.test('a larger merge: 3 shards × 2 000 rows sorted per shard, ORDER BY n DESC, id LIMIT 50', async (t) => {
  const d = desc([['id', OID.int4], ['n', OID.float8]]);
  let id = 0;
  const shards: ShardResult[] = [0, 1, 2].map((s) => {
    const vals = Array.from({ length: 2000 }, (_, k) => ((k * 7919 + s * 104729) % 1000) / 4);
    return { rowDescription: d, rows: vals.map((v) => row(String(id++), String(v))) };
  });
  const flat = shards.flatMap((s) => s.rows).map((r) => ({ id: Number(cell(r, 0)), n: Number(cell(r, 1)) }));
  const want = flat.sort((a, b) => b.n - a.n || a.id - b.id).slice(0, 50).map((x) => String(x.id));
  t.strictSame(ids(ok(mergeRows(spec([{ column: 'n', desc: true }, { column: 'id' }], { value: 50 }), shards))), want);
});
