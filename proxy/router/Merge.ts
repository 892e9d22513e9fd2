// Merge owns the merge of a fan-out read's rows from every shard: UNION ALL in shard order, then ORDER BY (sort keys decoded by type OID and format code) and LIMIT.
//
// Ordering follows Postgres where it can be decided from the bytes alone:
// - int2/int4/int8/oid, float4/float8 (NaN after every number, as in Postgres), numeric (exact decimal compare, any
//   size; NaN last, ±Infinity), bool: by value, text or binary format.
// - text, varchar, bpchar, name, char, uuid, json and every type not listed: byte order of the value, which is what
//   Postgres gives under the C collation (for uuid, always). Under another collation (en_US…) the shards sort
//   differently and the merged order follows the bytes, not the collation.
// - date, timestamp, timestamptz in text format: parsed from the ISO output (DateStyle ISO, the default) to an
//   instant, so ±infinity, BC dates, years past 9999 and the UTC offsets of timestamptz order as in Postgres; text in
//   another DateStyle is compared as bytes (right only for a fixed-width style and one TimeZone on every shard).
// - binary format: int2/int4/int8/oid/float4/float8/bool/date/timestamp/timestamptz (int64 µs) by value, text-like
//   types and uuid by bytes; any other binary type is refused.
// The RowDescription must carry the real format codes (Describe of a portal, or the simple protocol: text).
import type { MergeSortKey, MergeSpec } from '../analyzer/types.js';
import { AggregateError, mergeAggregateRows, rowFields } from './MergeAggregate.js';

export interface ShardResult {
  /** RowDescription payload (after the 5-byte header) or null when the statement returned no rows description */
  rowDescription: Buffer | null;
  /** whole DataRow frames (type byte 'D' + length + payload), as received */
  rows: Buffer[];
}

/** the merged rows; for an aggregate, also the RowDescription payload the client must see (avg's type, no hidden columns) */
export type MergeOutcome = { rows: Buffer[]; rowDescription?: Buffer } | { error: string };

/** Type OIDs the merge decodes (pg_type.oid). */
const Oid = {
  bool: 16, char: 18, name: 19, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114, float4: 700, float8: 701,
  bpchar: 1042, varchar: 1043, date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700, uuid: 2950,
} as const;
type Oid = (typeof Oid)[keyof typeof Oid];

/** How a sort key's values are decoded and compared. */
const KeyKind = {
  /** a JS number (ints, oid, bool, binary date) */
  Number: 'Number',
  /** a bigint (int8, binary timestamps) */
  BigInt: 'BigInt',
  /** a JS number that may be NaN (sorts after everything) */
  Float: 'Float',
  /** a parsed decimal */
  Numeric: 'Numeric',
  /** an ISO date / timestamp text, parsed to an instant (bytes when it does not parse) */
  DateTime: 'DateTime',
  /** the raw bytes */
  Bytes: 'Bytes',
} as const;
type KeyKind = (typeof KeyKind)[keyof typeof KeyKind];

interface Field {
  name: string;
  type: number;
  format: number;
}

interface Numeric {
  /** 0 -Infinity, 1 finite, 2 Infinity, 3 NaN */
  rank: number;
  /** -1, 0, 1 */
  sign: number;
  /** integer digits without leading zeros */
  int: string;
  /** fraction digits without trailing zeros */
  frac: string;
}

interface DateTime {
  /** seconds since 1970-01-01 UTC (±Infinity for ±infinity); NaN when the text did not parse */
  sec: number;
  us: number;
  raw: Buffer;
}

type Value = number | bigint | Numeric | DateTime | Buffer;

/** One resolved sort key: its column index, how to decode it, the order. */
interface Key {
  index: number;
  kind: KeyKind;
  decode: (b: Buffer) => Value;
  desc: boolean;
  nullsFirst: boolean;
}

class MergeError extends Error {}

/** Merge the rows of one SELECT sent to every shard into the answer one database would give (see the header). */
export function mergeRows(spec: MergeSpec, results: ShardResult[], params?: readonly (Buffer | null)[]): MergeOutcome {
  try {
    if (spec.unmergeable !== null) throw new MergeError(`cannot merge the rows of a fan-out read: ${spec.unmergeable}`);
    if (spec.aggregate) {
      // each shard's groups → the groups one database would return; ORDER BY and LIMIT then run on those
      const first = results.find((r) => r.rowDescription !== null);
      if (first === undefined) {
        if (results.some((r) => r.rows.length)) throw new MergeError('cannot merge aggregate rows without a RowDescription (Describe the portal)');
        return { rows: [] };
      }
      const shardFields = rowFields(first.rowDescription!);
      for (const r of results) {
        if (r.rowDescription === null || r.rowDescription === first.rowDescription) continue;
        const f = rowFields(r.rowDescription);
        if (f.length !== shardFields.length || f.some((x, k) => x.type !== shardFields[k]!.type || x.format !== shardFields[k]!.format)) throw new MergeError('shards returned different row descriptions');
      }
      const rows: Buffer[] = [];
      for (const r of results) rows.push(...r.rows);
      const merged = mergeAggregateRows(spec.aggregate, shardFields, rows, (c) => {
        const [kind, decode] = decoder(shardFields[c]!.type, shardFields[c]!.format);
        return (a, b) => compare(kind, decode(a), decode(b));
      });
      const rowDescription = clientRowDescriptionOf(merged.fields);
      const out = mergeRows({ orderBy: spec.orderBy, limit: spec.limit, unmergeable: null }, [{ rowDescription, rows: merged.rows }], params);
      return 'error' in out ? out : { rows: out.rows, rowDescription };
    }
    let fields: Field[] | null = null;
    const perShard: (Field[] | null)[] = results.map((r) => (r.rowDescription ? parseRowDescription(r.rowDescription) : null));
    for (const f of perShard) {
      if (f === null) continue;
      if (fields === null) fields = f;
      else if (f.length !== fields.length) throw new MergeError(`shards returned different row descriptions (${fields.length} and ${f.length} columns)`);
    }
    // keys are checked whatever the row count, so a statement fails or succeeds the same way on every execution
    const keys = spec.orderBy.length && fields !== null ? spec.orderBy.map((k) => resolveKey(k, fields!)) : [];
    let total = 0;
    for (const r of results) total += r.rows.length;
    const limit = limitOf(spec, params);
    if (limit === 0 || total === 0) return { rows: [] };

    if (spec.orderBy.length === 0 || total === 1) {
      const rows: Buffer[] = new Array(Math.min(total, limit ?? total));
      let n = 0;
      for (const r of results) for (let k = 0; k < r.rows.length && n < rows.length; k++) rows[n++] = r.rows[k]!;
      return { rows };
    }

    if (fields === null) throw new MergeError('cannot order fan-out rows without a RowDescription');
    for (const f of perShard) {
      if (f === null || f === fields) continue;
      for (const k of keys) {
        if (f[k.index]!.type !== fields[k.index]!.type || f[k.index]!.format !== fields[k.index]!.format) {
          throw new MergeError(`shards disagree on the type of ORDER BY column "${fields[k.index]!.name}" (oid ${fields[k.index]!.type} and ${f[k.index]!.type})`);
        }
      }
    }
    const wanted = keys.map((k) => k.index);
    const need = new Uint8Array(fields.length);
    for (const w of wanted) need[w] = 1;
    const decorated: { row: Buffer; seq: number; vals: (Value | null)[] }[] = new Array(total);
    let seq = 0;
    for (const r of results) {
      for (const row of r.rows) {
        const raw = columns(row, wanted, need);
        const vals: (Value | null)[] = new Array(keys.length);
        for (let k = 0; k < keys.length; k++) {
          const b = raw[k] ?? null;
          vals[k] = b === null ? null : keys[k]!.decode(b);
        }
        decorated[seq] = { row, seq, vals };
        seq++;
      }
    }
    decorated.sort((a, b) => {
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]!;
        const x = a.vals[k] ?? null;
        const y = b.vals[k] ?? null;
        if (x === null || y === null) {
          if (x === y) continue;
          return (x === null) === key.nullsFirst ? -1 : 1;
        }
        const c = compare(key.kind, x, y);
        if (c !== 0) return key.desc ? -c : c;
      }
      return a.seq - b.seq;
    });
    const n = Math.min(total, limit ?? total);
    const rows: Buffer[] = new Array(n);
    for (let k = 0; k < n; k++) rows[k] = decorated[k]!.row;
    return { rows };
  } catch (e) {
    // MergeError, or a value that does not decode (BigInt('x') …)
    return { error: e instanceof MergeError || e instanceof AggregateError ? e.message : `cannot merge fan-out rows: ${(e as Error).message}` };
  }
}

function clientRowDescriptionOf(fields: { name: string; attrs: Buffer }[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0]!.writeInt16BE(fields.length);
  for (const f of fields) parts.push(Buffer.from(f.name + '\0', 'utf8'), f.attrs);
  return Buffer.concat(parts);
}

/** The LIMIT of this execution: a number, or null for none. */
function limitOf(spec: MergeSpec, params: readonly (Buffer | null)[] | undefined): number | null {
  const l = spec.limit;
  if (l === null) return null;
  if ('value' in l) return l.value;
  const p = params?.[l.param - 1];
  if (p === undefined) throw new MergeError(`LIMIT $${l.param} has no parameter value`);
  if (p === null) return null;
  const s = p.toString('latin1').trim();
  if (!/^\+?[0-9]+$/.test(s)) throw new MergeError(`LIMIT $${l.param} is not a text-format non-negative integer`);
  return Number(s);
}

function parseRowDescription(b: Buffer): Field[] {
  if (b.length < 2) throw new MergeError('malformed RowDescription');
  const n = b.readInt16BE(0);
  const out: Field[] = new Array(n);
  let pos = 2;
  for (let k = 0; k < n; k++) {
    const end = b.indexOf(0, pos);
    if (end < 0 || end + 19 > b.length) throw new MergeError('malformed RowDescription');
    const name = b.toString('utf8', pos, end);
    pos = end + 1;
    out[k] = { name, type: b.readUInt32BE(pos + 6), format: b.readInt16BE(pos + 16) };
    pos += 18;
  }
  return out;
}

function resolveKey(k: MergeSortKey, fields: Field[]): Key {
  let index: number;
  if (k.position !== null) {
    index = k.position - 1;
    if (index < 0 || index >= fields.length) throw new MergeError(`ORDER BY position ${k.position} is not in the select list (${fields.length} columns)`);
  } else {
    index = fields.findIndex((f) => f.name === k.column);
    if (index < 0) throw new MergeError(`ORDER BY column "${k.column}" is not in the select list; add it to merge a fan-out read`);
  }
  const f = fields[index]!;
  const [kind, decode] = decoder(f.type, f.format);
  return { index, kind, decode, desc: k.desc, nullsFirst: k.nullsFirst };
}

const bytes = (b: Buffer): Buffer => b;
const latin1 = (b: Buffer): string => b.toString('latin1');

function decoder(type: number, format: number): [KeyKind, (b: Buffer) => Value] {
  const K = KeyKind;
  if (format === 0) {
    switch (type as Oid) {
      case Oid.int2:
      case Oid.int4:
      case Oid.oid:
        return [K.Number, (b) => Number(latin1(b))];
      case Oid.int8:
        return [K.BigInt, (b) => BigInt(latin1(b))];
      case Oid.float4:
      case Oid.float8:
        return [K.Float, (b) => Number(latin1(b))];
      case Oid.numeric:
        return [K.Numeric, (b) => parseNumeric(latin1(b))];
      case Oid.date:
      case Oid.timestamp:
      case Oid.timestamptz:
        return [K.DateTime, parseDateTime];
      default:
        // bool ('f' < 't'), text types, uuid, json, anything else: bytes
        return [K.Bytes, bytes];
    }
  }
  if (format !== 1) throw new MergeError(`cannot order fan-out rows by a column of format code ${format}`);
  const fixed = (len: number, read: (b: Buffer) => Value): ((b: Buffer) => Value) => (b) => {
    if (b.length !== len) throw new MergeError(`a binary value of type oid ${type} is ${b.length} bytes, not ${len}`);
    return read(b);
  };
  switch (type as Oid) {
    case Oid.int2:
      return [K.Number, fixed(2, (b) => b.readInt16BE(0))];
    case Oid.int4:
    case Oid.date:
      return [K.Number, fixed(4, (b) => b.readInt32BE(0))];
    case Oid.oid:
      return [K.Number, fixed(4, (b) => b.readUInt32BE(0))];
    case Oid.bool:
      return [K.Number, fixed(1, (b) => b[0]!)];
    case Oid.int8:
    case Oid.timestamp:
    case Oid.timestamptz:
      return [K.BigInt, fixed(8, (b) => b.readBigInt64BE(0))];
    case Oid.float4:
      return [K.Float, fixed(4, (b) => b.readFloatBE(0))];
    case Oid.float8:
      return [K.Float, fixed(8, (b) => b.readDoubleBE(0))];
    case Oid.text:
    case Oid.varchar:
    case Oid.bpchar:
    case Oid.name:
    case Oid.char:
    case Oid.uuid:
      return [K.Bytes, bytes];
    default:
      throw new MergeError(`cannot order fan-out rows by binary column of type oid ${type}`);
  }
}

function compare(kind: KeyKind, x: Value, y: Value): number {
  switch (kind) {
    case KeyKind.Number:
    case KeyKind.BigInt:
      return x < y ? -1 : x > y ? 1 : 0;
    case KeyKind.Float: {
      const a = x as number;
      const b = y as number;
      if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1;
      return a < b ? -1 : a > b ? 1 : 0;
    }
    case KeyKind.Numeric:
      return compareNumeric(x as Numeric, y as Numeric);
    case KeyKind.DateTime: {
      const a = x as DateTime;
      const b = y as DateTime;
      if (Number.isNaN(a.sec) || Number.isNaN(b.sec)) return Buffer.compare(a.raw, b.raw);
      return a.sec < b.sec ? -1 : a.sec > b.sec ? 1 : a.us - b.us;
    }
    case KeyKind.Bytes:
      return Buffer.compare(x as Buffer, y as Buffer);
  }
}

/** numeric text output (`-12.3400`, `NaN`, `Infinity`, `-Infinity`) as a comparable value. */
function parseNumeric(s: string): Numeric {
  if (s === 'NaN') return { rank: 3, sign: 0, int: '', frac: '' };
  if (s === 'Infinity') return { rank: 2, sign: 0, int: '', frac: '' };
  if (s === '-Infinity') return { rank: 0, sign: 0, int: '', frac: '' };
  let i = 0;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') { neg = s[0] === '-'; i = 1; }
  const dot = s.indexOf('.', i);
  let int = dot < 0 ? s.slice(i) : s.slice(i, dot);
  let frac = dot < 0 ? '' : s.slice(dot + 1);
  if (!/^[0-9]*$/.test(int) || !/^[0-9]*$/.test(frac)) throw new MergeError(`malformed numeric value "${s}"`);
  int = int.replace(/^0+/, '');
  frac = frac.replace(/0+$/, '');
  const sign = int === '' && frac === '' ? 0 : neg ? -1 : 1;
  return { rank: 1, sign, int, frac };
}

function compareNumeric(a: Numeric, b: Numeric): number {
  if (a.rank !== b.rank || a.rank !== 1) return a.rank - b.rank;
  if (a.sign !== b.sign) return a.sign - b.sign;
  let c = a.int.length - b.int.length;
  if (c === 0) c = a.int < b.int ? -1 : a.int > b.int ? 1 : a.frac < b.frac ? -1 : a.frac > b.frac ? 1 : 0;
  return c === 0 ? 0 : (c < 0 ? -1 : 1) * a.sign;
}

// ISO output: `2024-01-02`, `2024-01-02 03:04:05.123456`, `… 03:04:05+05:30`, `… BC`, `infinity`, `-infinity`
const ISO = /^(\d{4,})-(\d\d)-(\d\d)(?: (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?)?( BC)?$/;

/** Days from 1970-01-01 to a proleptic Gregorian date (astronomical year: 1 BC = 0). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function parseDateTime(raw: Buffer): DateTime {
  const s = raw.toString('latin1');
  if (s === 'infinity') return { sec: Infinity, us: 0, raw };
  if (s === '-infinity') return { sec: -Infinity, us: 0, raw };
  const m = ISO.exec(s);
  if (m === null) return { sec: NaN, us: 0, raw };
  const year = m[12] ? 1 - Number(m[1]) : Number(m[1]);
  let sec = daysFromCivil(year, Number(m[2]), Number(m[3])) * 86400;
  if (m[4] !== undefined) sec += Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]);
  if (m[8] !== undefined) sec -= (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0));
  const us = m[7] !== undefined ? Number(m[7].padEnd(6, '0')) : 0;
  return { sec, us, raw };
}

/** The values of columns `wanted` (indexes; `need[c]` = 1 for each) of one DataRow frame, as views into it; null for SQL NULL. */
function columns(row: Buffer, wanted: number[], need: Uint8Array): (Buffer | null)[] {
  if (row.length < 7 || row[0] !== 0x44 /* D */) throw new MergeError('malformed DataRow');
  const n = row.readInt16BE(5);
  if (n !== need.length) throw new MergeError(`a DataRow has ${n} columns, the RowDescription ${need.length}`);
  let last = 0;
  for (const w of wanted) if (w > last) last = w;
  const at: (Buffer | null)[] = new Array(last + 1);
  let pos = 7;
  for (let c = 0; c <= last; c++) {
    if (pos + 4 > row.length) throw new MergeError('malformed DataRow');
    const len = row.readInt32BE(pos);
    pos += 4;
    if (len < 0) { at[c] = null; continue; }
    if (pos + len > row.length) throw new MergeError('malformed DataRow');
    if (need[c]) at[c] = row.subarray(pos, pos + len);
    pos += len;
  }
  return wanted.map((w) => at[w] ?? null);
}
