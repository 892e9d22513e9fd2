// Tests for proxy/router/MergeAggregate.ts and the aggregate path of Merge.ts: groups merged per function and type, avg from sum and count with Postgres' numeric scale and float output, NULLs and empty input, ORDER BY / LIMIT after the merge, refusals.
import t from 'tap';
import type { MergeAggregate, MergeSpec } from '../../proxy/analyzer/types.js';
import { mergeRows, type ShardResult } from '../../proxy/router/Merge.js';
import { divideDecimal, formatDecimal, formatFloat4, formatFloat8, parseDecimal } from '../../proxy/router/MergeAggregate.js';

const INT8 = 20, INT4 = 23, TEXT = 25, FLOAT4 = 700, FLOAT8 = 701, NUMERIC = 1700;

function desc(fields: [string, number, number?][]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, fields.length])];
  for (const [name, oid, format = 0] of fields) {
    const f = Buffer.alloc(18);
    f.writeUInt32BE(oid, 6);
    f.writeInt16BE(-1, 10);
    f.writeInt32BE(-1, 12);
    f.writeInt16BE(format, 16);
    parts.push(Buffer.from(name + '\0'), f);
  }
  return Buffer.concat(parts);
}
function row(...vals: (string | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, vals.length])];
  for (const v of vals) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(v === null ? -1 : Buffer.byteLength(v));
    parts.push(len);
    if (v !== null) parts.push(Buffer.from(v));
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head[0] = 0x44;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
function values(r: Buffer): (string | null)[] {
  const n = r.readInt16BE(5);
  const out: (string | null)[] = [];
  let pos = 7;
  for (let k = 0; k < n; k++) {
    const len = r.readInt32BE(pos);
    pos += 4;
    out.push(len < 0 ? null : r.toString('utf8', pos, pos + len));
    if (len > 0) pos += len;
  }
  return out;
}
function types(d: Buffer): [string, number][] {
  const out: [string, number][] = [];
  let pos = 2;
  for (let k = 0; k < d.readInt16BE(0); k++) {
    const end = d.indexOf(0, pos);
    out.push([d.toString('utf8', pos, end), d.readUInt32BE(end + 7)]);
    pos = end + 19;
  }
  return out;
}

const col = (fn: 'count' | 'sum' | 'min' | 'max'): MergeAggregate['columns'][number] => ({ kind: 'aggregate', fn, name: null, count: null });
const spec = (aggregate: MergeAggregate, orderBy: MergeSpec['orderBy'] = [], limit: MergeSpec['limit'] = null): MergeSpec => ({ orderBy, limit, unmergeable: null, aggregate });
function merge(s: MergeSpec, d: Buffer, shards: Buffer[][]): { rows: (string | null)[][]; types: [string, number][] } | string {
  const results: ShardResult[] = shards.map((rows) => ({ rowDescription: d, rows }));
  const m = mergeRows(s, results);
  if ('error' in m) return m.error;
  return { rows: m.rows.map(values), types: types(m.rowDescription!) };
}

t.test('numeric and float helpers follow Postgres', async (t) => {
  const avg = (sum: string, n: bigint): string => formatDecimal(divideDecimal(parseDecimal(sum), n));
  t.equal(avg('3', 2n), '1.5000000000000000', 'avg(int) of 1, 2');
  t.equal(avg('10', 3n), '3.3333333333333333');
  t.equal(avg('-10', 3n), '-3.3333333333333333');
  t.equal(avg('20000', 3n), '6666.6666666666666667', 'rounded half away from zero');
  t.equal(avg('1.250', 2n), '0.62500000000000000000');
  t.equal(avg('123456789.123', 7n), '17636684.160428571429');
  t.equal(avg('0', 4n), '0.00000000000000000000');
  t.equal(avg('NaN', 4n), 'NaN');
  t.equal(formatDecimal(parseDecimal('-0.050')), '-0.050');
  t.equal(formatFloat8(0.1 + 0.2), '0.30000000000000004');
  t.equal(formatFloat8(1e15), '1e+15');
  t.equal(formatFloat8(123456789012345), '123456789012345');
  t.equal(formatFloat8(0.0001), '0.0001');
  t.equal(formatFloat8(0.00001), '1e-05');
  t.equal(formatFloat8(-2.5), '-2.5');
  t.equal(formatFloat8(-0), '-0');
  t.equal(formatFloat4(Math.fround(0.1)), '0.1');
  t.equal(formatFloat4(Math.fround(1234567)), '1.234567e+06');
  t.equal(formatFloat4(Math.fround(123456)), '123456');
});

t.test('count / sum / min / max / avg without GROUP BY', async (t) => {
  const d = desc([['count', INT8], ['sum', INT8], ['min', NUMERIC], ['max', TEXT], ['avg', NUMERIC], ['__c', INT8]]);
  const a: MergeAggregate = { columns: [col('count'), col('sum'), col('min'), col('max'), { kind: 'aggregate', fn: 'avg', name: 'avg', count: 5 }], hidden: 1, grouped: false, rewrite: true };
  const got = merge(spec(a), d, [[row('2', '10', '1.50', 'b', '3.5', '2')], [row('0', null, null, null, null, '0')], [row('3', '-4', '-0.25', 'c', '7.25', '3')]]);
  t.strictSame(got, {
    rows: [['5', '6', '-0.25', 'c', '2.1500000000000000']],
    types: [['count', INT8], ['sum', INT8], ['min', NUMERIC], ['max', TEXT], ['avg', NUMERIC]],
  });
  const empty = merge(spec(a), d, [[row('0', null, null, null, null, '0')], [row('0', null, null, null, null, '0')]]);
  t.strictSame(empty, { rows: [['0', null, null, null, null]], types: [['count', INT8], ['sum', INT8], ['min', NUMERIC], ['max', TEXT], ['avg', NUMERIC]] }, 'zero rows: count 0, the rest NULL');
  t.strictSame(merge(spec(a), d, [[], []]), { rows: [], types: [['count', INT8], ['sum', INT8], ['min', NUMERIC], ['max', TEXT], ['avg', NUMERIC]] }, 'LIMIT 0 on every shard: no row');
});

t.test('avg types: int8 sum → numeric, float4 / float8 sum → float8', async (t) => {
  const a: MergeAggregate = { columns: [{ kind: 'aggregate', fn: 'avg', name: 'mean', count: 1 }], hidden: 1, grouped: false, rewrite: true };
  t.strictSame(merge(spec(a), desc([['mean', FLOAT4], ['c', INT8]]), [[row('1.5', '2')], [row('0.25', '1')]]), { rows: [['0.5833333333333334']], types: [['mean', FLOAT8]] });
  t.strictSame(merge(spec(a), desc([['mean', FLOAT8], ['c', INT8]]), [[row('Infinity', '2')], [row('1', '1')]]), { rows: [['Infinity']], types: [['mean', FLOAT8]] });
  t.strictSame(merge(spec(a), desc([['mean', INT8], ['c', INT8]]), [[row('7', '2')], [row('2', '2')]]), { rows: [['2.2500000000000000']], types: [['mean', NUMERIC]] });
  t.match(merge(spec(a), desc([['mean', TEXT], ['c', INT8]]), [[row('x', '1')]]), /avg over type oid 25 cannot be merged/);
  t.match(merge(spec(a), desc([['mean', FLOAT8, 1], ['c', INT8, 1]]), [[row('x', '1')]]), /text result format/);
});

t.test('GROUP BY: groups merged across shards (numeric by value), then ORDER BY and LIMIT', async (t) => {
  const d = desc([['state', TEXT], ['price', NUMERIC], ['n', INT8], ['s', FLOAT8], ['m', INT4]]);
  const a: MergeAggregate = { columns: [{ kind: 'group' }, { kind: 'group' }, col('count'), col('sum'), col('max')], hidden: 0, grouped: true, rewrite: false };
  const shards = [
    [row('a', '1.0', '2', '0.5', '3'), row(null, '2', '1', null, null)],
    [row('a', '1.00', '1', '0.25', '9'), row('b', '2', '4', '1', '-1')],
    [row(null, '2', '5', '2', '4')],
  ];
  const byN = spec(a, [{ column: 'n', position: null, desc: true, nullsFirst: true }]);
  t.strictSame(merge(byN, d, shards), {
    rows: [[null, '2', '6', '2', '4'], ['b', '2', '4', '1', '-1'], ['a', '1.0', '3', '0.75', '9']],
    types: [['state', TEXT], ['price', NUMERIC], ['n', INT8], ['s', FLOAT8], ['m', INT4]],
  });
  const top = merge(spec(a, [{ column: null, position: 3, desc: false, nullsFirst: false }], { value: 1 }), d, shards);
  t.strictSame(typeof top === 'string' ? top : top.rows, [['a', '1.0', '3', '0.75', '9']]);
  t.strictSame(merge(spec(a), d, [[], [], []]), { rows: [], types: [['state', TEXT], ['price', NUMERIC], ['n', INT8], ['s', FLOAT8], ['m', INT4]] }, 'no group anywhere: no row');
});

t.test('refusals', async (t) => {
  const a: MergeAggregate = { columns: [col('sum')], hidden: 0, grouped: false, rewrite: false };
  t.match(merge(spec(a), desc([['sum', 1186 /* interval */]]), [[row('1 day')]]), /sum over type oid 1186 cannot be merged/);
  t.match(merge({ ...spec(a), unmergeable: 'aggregate function count(DISTINCT …)' }, desc([['sum', INT8]]), [[row('1')]]), /cannot merge the rows of a fan-out read: aggregate function count\(DISTINCT …\)/);
  t.match(merge(spec(a), desc([['sum', INT8], ['x', INT8]]), [[row('1', '2')]]), /returned 2 columns, the merge expects 1/);
});
