// MergeAggregate owns the merge of a fan-out aggregate's per-shard groups into the rows one database would return: count, sum, min, max, avg (from per-shard sum and count) by group, with Postgres' result types and text output.
//
// Exact for count, sum/avg of int2/int4/int8/numeric (numeric division with Postgres' result scale, select_div_scale),
// min/max of the types the ORDER BY merge decodes. sum/avg of real and double precision add the shards' partial
// sums in floating point, as Postgres' parallel aggregation does: the last digit can differ from a serial scan.
// avg(real) sums per shard in real (Postgres' sum(real)) before the final division in double precision. Float output
// follows Postgres' shortest-exact format (extra_float_digits ≥ 1, the default). Text result format only.
import type { MergeAggregate, MergeAggregateColumn } from '../analyzer/types.js';

/** Type OIDs the aggregate merge reads (pg_type.oid). */
const Oid = { int2: 21, int4: 23, int8: 20, float4: 700, float8: 701, numeric: 1700 } as const;

export class AggregateError extends Error {}

export interface RowField {
  name: string;
  /** the field's 18 bytes after its name: table oid, attnum, type oid, typlen, typmod, format */
  attrs: Buffer;
  type: number;
  format: number;
}

/** The fields of a RowDescription payload. */
export function rowFields(b: Buffer): RowField[] {
  if (b.length < 2) throw new AggregateError('malformed RowDescription');
  const n = b.readInt16BE(0);
  const out: RowField[] = new Array(n);
  let pos = 2;
  for (let k = 0; k < n; k++) {
    const end = b.indexOf(0, pos);
    if (end < 0 || end + 19 > b.length) throw new AggregateError('malformed RowDescription');
    const attrs = b.subarray(end + 1, end + 19);
    out[k] = { name: b.toString('utf8', pos, end), attrs, type: attrs.readUInt32BE(6), format: attrs.readInt16BE(16) };
    pos = end + 19;
  }
  return out;
}

function encodeRowDescription(fields: RowField[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0]!.writeInt16BE(fields.length);
  for (const f of fields) parts.push(Buffer.from(f.name + '\0', 'utf8'), f.attrs);
  return Buffer.concat(parts);
}

/** The result type of avg for the type of sum that the shard computed in its place (Postgres: numeric for integer and numeric input, double precision for float input). */
function avgType(sumType: number): { type: number; typlen: number } {
  switch (sumType) {
    case Oid.int8:
    case Oid.numeric:
      return { type: Oid.numeric, typlen: -1 };
    case Oid.float4:
    case Oid.float8:
      return { type: Oid.float8, typlen: 8 };
    default:
      throw new AggregateError(`avg over type oid ${sumType} cannot be merged`);
  }
}

/** The fields the client sees: the shard's without the hidden count columns, each avg with avg's name and result type. */
export function clientFields(agg: MergeAggregate, shard: RowField[]): RowField[] {
  const n = shard.length - agg.hidden;
  if (n !== agg.columns.length) throw new AggregateError(`a shard returned ${shard.length} columns, the merge expects ${agg.columns.length + agg.hidden}`);
  const out = shard.slice(0, n);
  agg.columns.forEach((c, k) => {
    if (c.kind !== 'aggregate' || c.fn !== 'avg') return;
    const f = out[k]!;
    const { type, typlen } = avgType(f.type);
    const attrs = Buffer.from(f.attrs);
    attrs.writeUInt32BE(0, 0);
    attrs.writeInt16BE(0, 4);
    attrs.writeUInt32BE(type, 6);
    attrs.writeInt16BE(typlen, 10);
    attrs.writeInt32BE(-1, 12);
    out[k] = { name: c.name ?? f.name, attrs, type, format: f.format };
  });
  return out;
}

/** A RowDescription payload of a shard, as the client must see it. */
export function clientRowDescription(agg: MergeAggregate, payload: Buffer): Buffer {
  return encodeRowDescription(clientFields(agg, rowFields(payload)));
}

// ---------------------------------------------------------------- numeric

/** A numeric value: finite (`m` × 10^-scale, scale = display scale) or NaN / ±Infinity. */
type Decimal = { m: bigint; scale: number } | 'NaN' | 'Infinity' | '-Infinity';

const TEN = 10n;
const pow10 = (n: number): bigint => TEN ** BigInt(n);

export function parseDecimal(s: string): Decimal {
  if (s === 'NaN' || s === 'Infinity' || s === '-Infinity') return s;
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(s);
  if (m === null || (m[2] === '' && !m[3])) throw new AggregateError(`malformed numeric value "${s}"`);
  const frac = m[3] ?? '';
  const v = BigInt((m[2] || '0') + frac);
  return { m: m[1] === '-' ? -v : v, scale: frac.length };
}

export function formatDecimal(d: Decimal): string {
  if (typeof d === 'string') return d;
  const neg = d.m < 0n;
  let s = (neg ? -d.m : d.m).toString();
  if (d.scale > 0) {
    s = s.padStart(d.scale + 1, '0');
    s = s.slice(0, s.length - d.scale) + '.' + s.slice(s.length - d.scale);
  }
  return neg ? '-' + s : s;
}

function addDecimal(a: Decimal, b: Decimal): Decimal {
  if (a === 'NaN' || b === 'NaN') return 'NaN';
  if (typeof a === 'string' || typeof b === 'string') {
    if (typeof a === 'string' && typeof b === 'string' && a !== b) return 'NaN';
    return typeof a === 'string' ? a : (b as string as Decimal);
  }
  const scale = Math.max(a.scale, b.scale);
  return { m: a.m * pow10(scale - a.scale) + b.m * pow10(scale - b.scale), scale };
}

/** Weight (in base-10000 digits) and first base-10000 digit of |m| × 10^-scale, as Postgres' NumericVar holds it (0, 0 for zero). */
function nbaseHead(m: bigint, scale: number): { weight: number; first: number } {
  const s = (m < 0n ? -m : m).toString();
  if (s === '0') return { weight: 0, first: 0 };
  const intLen = s.length - scale;
  if (intLen > 0) {
    const groups = Math.ceil(intLen / 4);
    return { weight: groups - 1, first: Number(s.slice(0, intLen - (groups - 1) * 4)) };
  }
  let frac = '0'.repeat(-intLen) + s;
  frac = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  for (let k = 0; k * 4 < frac.length; k++) {
    const g = Number(frac.slice(k * 4, k * 4 + 4));
    if (g !== 0) return { weight: -(k + 1), first: g };
  }
  return { weight: 0, first: 0 };
}

/** numeric_div(sum, count) as Postgres computes avg's final value: result scale by select_div_scale, rounded half away from zero. */
export function divideDecimal(sum: Decimal, count: bigint): Decimal {
  if (typeof sum === 'string') return sum;
  const a = nbaseHead(sum.m, sum.scale);
  const b = nbaseHead(count, 0);
  let qweight = a.weight - b.weight;
  if (a.first <= b.first) qweight--;
  // NUMERIC_MIN_SIG_DIGITS 16, DEC_DIGITS 4, NUMERIC_MIN_DISPLAY_SCALE 0, NUMERIC_MAX_DISPLAY_SCALE 1000
  const rscale = Math.min(Math.max(16 - qweight * 4, sum.scale, 0), 1000);
  const num = sum.m * pow10(Math.max(0, rscale - sum.scale));
  const den = count * pow10(Math.max(0, sum.scale - rscale));
  let q = num / den;
  const r = num % den;
  const absR = r < 0n ? -r : r;
  if (2n * absR >= den) q += num < 0n ? -1n : 1n;
  return { m: q, scale: rscale };
}

// ---------------------------------------------------------------- float

/** Postgres' float8out / float4out (shortest exact digits): fixed notation for decimal exponents in [-4, limit), else d.ddde±XX. */
function formatFloat(x: number, single: boolean): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  let e: string;
  if (single) {
    let p = 1;
    while (p < 9 && Math.fround(Number(x.toPrecision(p))) !== x) p++;
    e = Number(x.toPrecision(p)).toExponential();
  } else e = x.toExponential();
  const neg = e[0] === '-';
  const [mant, exps] = (neg ? e.slice(1) : e).split('e') as [string, string];
  const digits = mant.replace('.', '');
  const exp = Number(exps);
  let out: string;
  if (exp < -4 || exp >= (single ? 6 : 15)) {
    out = digits[0]! + (digits.length > 1 ? '.' + digits.slice(1) : '') + 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
  } else if (exp < 0) out = '0.' + '0'.repeat(-exp - 1) + digits;
  else if (digits.length <= exp + 1) out = digits + '0'.repeat(exp + 1 - digits.length);
  else out = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  return neg ? '-' + out : out;
}

export const formatFloat8 = (x: number): string => formatFloat(x, false);
export const formatFloat4 = (x: number): string => formatFloat(x, true);

// ---------------------------------------------------------------- accumulation

/** A sum being merged: by the type of the shards' sum column. */
type Sum = { kind: 'int'; v: bigint } | { kind: 'numeric'; v: Decimal } | { kind: 'float'; v: number; single: boolean };

function sumKind(type: number): Sum['kind'] {
  switch (type) {
    case Oid.int2:
    case Oid.int4:
    case Oid.int8:
      return 'int';
    case Oid.numeric:
      return 'numeric';
    case Oid.float4:
    case Oid.float8:
      return 'float';
    default:
      throw new AggregateError(`sum over type oid ${type} cannot be merged`);
  }
}

function addSum(acc: Sum | null, type: number, b: Buffer, forAvg = false): Sum {
  const s = b.toString('latin1');
  const kind = sumKind(type);
  if (kind === 'int') {
    if (!/^-?[0-9]+$/.test(s)) throw new AggregateError(`malformed integer "${s}"`);
    return { kind, v: (acc?.kind === 'int' ? acc.v : 0n) + BigInt(s) };
  }
  if (kind === 'numeric') {
    const d = parseDecimal(s);
    return { kind, v: acc?.kind === 'numeric' ? addDecimal(acc.v, d) : d };
  }
  const single = type === Oid.float4 && !forAvg; // avg(real) adds in double precision, as float4_accum does
  const x = Number(s);
  if (Number.isNaN(x) && s !== 'NaN') throw new AggregateError(`malformed float "${s}"`);
  const prev = acc?.kind === 'float' ? acc.v : null;
  const v = prev === null ? x : single ? Math.fround(prev + x) : prev + x;
  return { kind, v, single };
}

function formatSum(s: Sum): string {
  if (s.kind === 'int') return s.v.toString();
  if (s.kind === 'numeric') return formatDecimal(s.v);
  return formatFloat(s.v, s.single);
}

function formatAvg(s: Sum, count: bigint): string {
  if (s.kind === 'int') return formatDecimal(divideDecimal({ m: s.v, scale: 0 }, count));
  if (s.kind === 'numeric') return formatDecimal(divideDecimal(s.v, count));
  return formatFloat8(s.v / Number(count));
}

/** The columns of one DataRow frame as views into it (null = SQL NULL). */
export function dataRowValues(row: Buffer, n: number): (Buffer | null)[] {
  if (row.length < 7 || row[0] !== 0x44 /* D */) throw new AggregateError('malformed DataRow');
  if (row.readInt16BE(5) !== n) throw new AggregateError(`a DataRow has ${row.readInt16BE(5)} columns, the RowDescription ${n}`);
  const out: (Buffer | null)[] = new Array(n);
  let pos = 7;
  for (let c = 0; c < n; c++) {
    if (pos + 4 > row.length) throw new AggregateError('malformed DataRow');
    const len = row.readInt32BE(pos);
    pos += 4;
    if (len < 0) { out[c] = null; continue; }
    if (pos + len > row.length) throw new AggregateError('malformed DataRow');
    out[c] = row.subarray(pos, pos + len);
    pos += len;
  }
  return out;
}

export function encodeDataRow(values: readonly (Buffer | null)[]): Buffer {
  let len = 4 + 2;
  for (const v of values) len += 4 + (v === null ? 0 : v.length);
  const out = Buffer.alloc(1 + len);
  out[0] = 0x44;
  out.writeInt32BE(len, 1);
  out.writeInt16BE(values.length, 5);
  let pos = 7;
  for (const v of values) {
    if (v === null) { out.writeInt32BE(-1, pos); pos += 4; continue; }
    out.writeInt32BE(v.length, pos);
    v.copy(out, pos + 4);
    pos += 4 + v.length;
  }
  return out;
}

/** How min/max compare two values of one column (the ORDER BY merge's comparison for that type and format). */
export type Compare = (a: Buffer, b: Buffer) => number;

interface Group {
  /** the first row's values (the grouping columns' output) */
  first: (Buffer | null)[];
  sums: (Sum | null)[];
  counts: bigint[];
  /** min/max: the winning value so far */
  best: (Buffer | null)[];
}

/** A grouping value's identity: numeric by value (1.0 = 1.00), float -0 = 0, anything else by its bytes. */
function groupPart(type: number, b: Buffer | null): string {
  if (b === null) return '\u0001';
  let s = b.toString('latin1');
  if (type === Oid.numeric) {
    const d = parseDecimal(s);
    if (typeof d !== 'string') {
      let m = d.m;
      let scale = d.scale;
      while (scale > 0 && m % TEN === 0n) { m /= TEN; scale--; }
      s = `${m}e${scale}`;
    }
  } else if ((type === Oid.float4 || type === Oid.float8) && s === '-0') s = '0';
  return s.length + ':' + s;
}

/**
 * Merge the shards' rows of one aggregate SELECT (each shard's groups, with the hidden count columns of avg) into
 * the rows the client sees, in no particular order: the ORDER BY / LIMIT merge runs on them afterwards.
 * `compare(column)` gives the ordering used by min/max.
 */
export function mergeAggregateRows(agg: MergeAggregate, shardFields: RowField[], rows: readonly Buffer[], compare: (column: number) => Compare): { fields: RowField[]; rows: Buffer[] } {
  const fields = clientFields(agg, shardFields);
  for (const f of shardFields) {
    if (f.format !== 0) throw new AggregateError('an aggregate merged from every shard needs text result format (binary was requested)');
  }
  const n = shardFields.length;
  const cols: readonly MergeAggregateColumn[] = agg.columns;
  const groups = new Map<string, Group>();
  const order: Group[] = [];
  const cmp: (Compare | null)[] = cols.map((c, k) => (c.kind === 'aggregate' && (c.fn === 'min' || c.fn === 'max') ? compare(k) : null));
  for (const row of rows) {
    const vals = dataRowValues(row, n);
    let key = '';
    if (agg.grouped) for (let k = 0; k < cols.length; k++) if (cols[k]!.kind === 'group') key += groupPart(shardFields[k]!.type, vals[k]!);
    let g = groups.get(key);
    if (g === undefined) {
      g = { first: vals, sums: new Array(cols.length).fill(null), counts: new Array(cols.length).fill(0n), best: new Array(cols.length).fill(null) };
      groups.set(key, g);
      order.push(g);
    }
    for (let k = 0; k < cols.length; k++) {
      const c = cols[k]!;
      if (c.kind !== 'aggregate') continue;
      const v = vals[k]!;
      switch (c.fn) {
        case 'count':
          if (v === null || !/^[0-9]+$/.test(v.toString('latin1'))) throw new AggregateError('malformed count');
          g.counts[k] += BigInt(v.toString('latin1'));
          break;
        case 'sum':
          if (v !== null) g.sums[k] = addSum(g.sums[k]!, shardFields[k]!.type, v);
          break;
        case 'avg': {
          const cnt = vals[c.count!];
          if (cnt == null || !/^[0-9]+$/.test(cnt.toString('latin1'))) throw new AggregateError('malformed count of avg');
          g.counts[k] += BigInt(cnt.toString('latin1'));
          if (v !== null) g.sums[k] = addSum(g.sums[k]!, shardFields[k]!.type, v, true);
          break;
        }
        case 'min':
        case 'max': {
          if (v === null) break;
          const b = g.best[k]!;
          if (b === null) g.best[k] = v;
          else {
            const d = cmp[k]!(v, b);
            if (c.fn === 'min' ? d < 0 : d > 0) g.best[k] = v;
          }
          break;
        }
      }
    }
  }
  const out: Buffer[] = new Array(order.length);
  order.forEach((g, i) => {
    const vals: (Buffer | null)[] = new Array(cols.length);
    for (let k = 0; k < cols.length; k++) {
      const c = cols[k]!;
      if (c.kind === 'group') { vals[k] = g.first[k]!; continue; }
      switch (c.fn) {
        case 'count':
          vals[k] = Buffer.from(g.counts[k]!.toString(), 'latin1');
          break;
        case 'sum': {
          const s = g.sums[k]!;
          vals[k] = s === null ? null : Buffer.from(formatSum(s), 'latin1');
          break;
        }
        case 'avg': {
          const s = g.sums[k]!;
          vals[k] = s === null || g.counts[k] === 0n ? null : Buffer.from(formatAvg(s, g.counts[k]!), 'latin1');
          break;
        }
        default:
          vals[k] = g.best[k]!;
      }
    }
    out[i] = encodeDataRow(vals);
  });
  return { fields, rows: out };
}
