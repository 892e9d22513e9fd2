// AccountSlice owns answering reads from a slice — all of one account's rows of one table, prefetched in one read in one order — for the reads of the shape `SELECT * | cols FROM t WHERE account = $a [AND col = $p | AND col = ANY($p)]… [ORDER BY col] [LIMIT n]`, filtered and projected as Postgres would.
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { CommandComplete } from '../../proxy/protocol/BackendMessage.js';

/** a slice holds at most this many rows, whatever the config says (cache.prefetch.slice_max_rows, 200 by default) */
export const SLICE_MAX_ROWS = 1000;

/** Type OIDs whose equality is the equality of their text (under a deterministic collation): text, varchar. */
export const TEXT_TYPES: ReadonlySet<number> = new Set([25, 1043]);

/** `column = $param`, or `column = ANY($param)` (a text array) */
export interface Condition {
  column: string;
  /** the parameter, 0-based */
  param: number;
  any: boolean;
}

/**
 * A read Prescient can answer from a slice of `table`: some columns (null: `*`) of an account's rows, where every
 * condition holds (one of them names the account), maybe ordered by one column, maybe limited.
 */
export interface ReadShape {
  table: string;
  columns: string[] | null;
  conditions: Condition[];
  orderBy: string | null;
  limit: number | null;
}

/** A read of a shape with its account found: the slice it is answered from, and the conditions filtered here. */
export interface SliceRead {
  shape: ReadShape;
  accountColumn: string;
  accountParam: number;
  filters: Condition[];
  /** the columns the slice reads: the read's own (or `*`), then the filtered columns it does not return */
  sliceColumns: string[] | null;
}

const IDENT = '[a-z_][a-z0-9_]*';
const CONDITION = `${IDENT} = (?:\\$\\d+|any\\(\\$\\d+(?:::text\\[\\])?\\))`;
const SHAPE = new RegExp(
  `^select (\\*|${IDENT}(?:, ${IDENT})*) from (${IDENT}(?:\\.${IDENT})?) where (${CONDITION}(?: and ${CONDITION})*)` +
    `(?: order by (${IDENT})(?: asc)?)?(?: limit (\\d+))? ?;?$`,
);
const CONDITION_PARTS = new RegExp(`^(${IDENT}) = (?:\\$(\\d+)|any\\(\\$(\\d+)(?:::text\\[\\])?\\))$`);

const shapes = new Map<string, ReadShape | null>();
const MAX_SHAPES = 10_000;

/** The statement's shape if it is one a slice answers (comments and spacing aside), else null. Remembered per text. */
export function readShape(sql: string): ReadShape | null {
  let s = shapes.get(sql);
  if (s !== undefined) return s;
  s = parseShape(sql);
  if (shapes.size >= MAX_SHAPES) shapes.delete(shapes.keys().next().value!);
  shapes.set(sql, s);
  return s;
}

function parseShape(sql: string): ReadShape | null {
  // block comments (sqlcommenter's tags) go; a line comment, a quoted identifier or a literal is not a shape we know
  const text = sql.replace(/\/\*[^]*?\*\//g, ' ');
  if (/--|"|'|\/\*/.test(text)) return null;
  const normal = text.replace(/\s+/g, ' ').trim().toLowerCase()
    .replace(/ ?(\(|::|\[\]) ?/g, '$1').replace(/ \)/g, ')').replace(/ ?= ?/g, ' = ').replace(/ ?, ?/g, ', ');
  const m = SHAPE.exec(normal);
  if (m === null) return null;
  const [, columns, table, where, orderBy, limit] = m;
  const conditions: Condition[] = [];
  for (const c of where!.split(' and ')) {
    const x = CONDITION_PARTS.exec(c);
    if (x === null) return null;
    conditions.push({ column: x[1]!, param: Number(x[2] ?? x[3]) - 1, any: x[3] !== undefined });
  }
  // a column named twice (a = $1 AND a = $2) is a conjunction Postgres decides: left to it
  if (new Set(conditions.map((c) => c.column)).size !== conditions.length) return null;
  return { table: table!, columns: columns === '*' ? null : columns!.split(', '), conditions, orderBy: orderBy ?? null, limit: limit === undefined ? null : Number(limit) };
}

/** `shape` read with `params` for `account`: the first `col = $n` whose value is the account names it; null when none does. */
export function sliceRead(shape: ReadShape, params: readonly (Buffer | null)[], account: string): SliceRead | null {
  const at = shape.conditions.findIndex((c) => !c.any && params[c.param] != null && params[c.param]!.toString('utf8') === account);
  if (at < 0) return null;
  const filters = shape.conditions.filter((_, i) => i !== at);
  const extra = filters.map((f) => f.column).filter((c) => shape.columns !== null && !shape.columns.includes(c));
  return { shape, accountColumn: shape.conditions[at]!.column, accountParam: shape.conditions[at]!.param, filters, sliceColumns: shape.columns === null ? null : [...shape.columns, ...new Set(extra)] };
}

/** What identifies a slice besides its account: the table, the account column and the columns it reads. */
export function sliceName(r: SliceRead): string {
  return `${r.shape.table}\u0000${r.accountColumn}\u0000${r.sliceColumns?.join(',') ?? '*'}`;
}

/** The read of a slice: the account's rows of the shape's table, in `orderBy` order, one more than `maxRows` at most. */
export function sliceRequest(r: SliceRead, account: Buffer, maxRows = SLICE_MAX_ROWS): Buffer {
  const order = r.shape.orderBy === null ? '' : ` ORDER BY ${r.shape.orderBy}`;
  return Buffer.concat([
    Fe.Parse('', `SELECT ${r.sliceColumns?.join(', ') ?? '*'} FROM ${r.shape.table} WHERE ${r.accountColumn} = $1${order} LIMIT ${Math.min(maxRows, SLICE_MAX_ROWS) + 1}`, []),
    Fe.Bind({ params: [account] }),
    Fe.targetFrame(0x44 /* Describe */, 'P', ''),
    Fe.Execute('', 0),
    Fe.Sync,
  ]);
}

/**
 * The check a table needs before its slices answer anything: how many of its columns have a nondeterministic collation
 * (where equal strings can differ in bytes, so filtering by bytes would drop rows Postgres returns). 0 = none.
 */
export function collationCheckRequest(table: string): Buffer {
  return Buffer.concat([
    Fe.Parse('', `SELECT count(*) FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND NOT c.collisdeterministic`, []),
    Fe.Bind({ params: [table] }),
    Fe.Execute('', 0),
    Fe.Sync,
  ]);
}

/** One column of a RowDescription. */
interface Column {
  name: string;
  typeOid: number;
  format: number;
}

/** A RowDescription's columns. */
export function describeColumns(frame: Buffer): Column[] {
  const n = frame.readInt16BE(5);
  const out: Column[] = [];
  let at = 7;
  for (let i = 0; i < n; i++) {
    const end = frame.indexOf(0, at);
    const name = frame.toString('utf8', at, end);
    at = end + 1;
    out.push({ name, typeOid: frame.readInt32BE(at + 6), format: frame.readInt16BE(at + 16) });
    at += 18;
  }
  return out;
}

/** A DataRow's value of column `index` as text (null for SQL NULL). */
export function columnText(frame: Buffer, index: number): string | null {
  return columnBytes(frame, index, 'utf8');
}

/** A DataRow's value of column `index` decoded with `encoding` ('latin1': its bytes one to one; null for SQL NULL). */
function columnBytes(frame: Buffer, index: number, encoding: 'utf8' | 'latin1'): string | null {
  let at = 7;
  for (let i = 0; i < index; i++) {
    const len = frame.readInt32BE(at);
    at += 4 + (len < 0 ? 0 : len);
  }
  const len = frame.readInt32BE(at);
  return len < 0 ? null : frame.toString(encoding, at + 4, at + 4 + len);
}

/**
 * A one-dimensional array literal's elements (`{a,"b c",NULL}`, as drivers send a text[] parameter), or null for
 * anything else (dimensions, nesting): what Postgres' array input makes of it.
 */
export function parseTextArray(text: string): (string | null)[] | null {
  if (text.length < 2 || text[0] !== '{' || text[text.length - 1] !== '}') return null;
  const out: (string | null)[] = [];
  const body = text.slice(1, -1);
  if (body.trim() === '') return out;
  let i = 0;
  for (;;) {
    while (body[i] === ' ' || body[i] === '\t' || body[i] === '\n' || body[i] === '\r') i++;
    let value = '';
    if (body[i] === '"') {
      i++;
      for (;;) {
        if (i >= body.length) return null;
        const c = body[i++]!;
        if (c === '"') break;
        if (c === '\\') {
          if (i >= body.length) return null;
          value += body[i++]!;
        } else value += c;
      }
      while (body[i] === ' ' || body[i] === '\t' || body[i] === '\n' || body[i] === '\r') i++;
      out.push(value);
    } else {
      let raw = '';
      while (i < body.length && body[i] !== ',') {
        const c = body[i++]!;
        // an escape in an unquoted element (where trimming and escapes interact) is left to Postgres
        if (c === '{' || c === '}' || c === '"' || c === '\\') return null;
        raw += c;
      }
      value = raw.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
      if (value === '') return null;
      out.push(value.toLowerCase() === 'null' ? null : value);
    }
    if (i >= body.length) return out;
    if (body[i] !== ',') return null;
    i++;
  }
}

/** The body of a stored slice (DataRow… CommandComplete) as its DataRow frames. */
function dataRows(body: Buffer): Buffer[] {
  const rows: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const end = at + 1 + body.readInt32BE(at + 1);
    if (body[at] === 0x44 /* D */) rows.push(body.subarray(at, end));
    at = end;
  }
  return rows;
}

/** What a request asks of a slice, as the cache plugin knows it. */
export interface SliceQuery {
  read: SliceRead;
  params: readonly (Buffer | null)[];
  /** the Bind's result format codes: a slice holds text */
  resultFormats: readonly number[];
}

/** A DataRow or RowDescription cut to its first `k` items, which end at byte `end` (they lie one after the other: one copy). */
function firstItems(frame: Buffer, k: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end);
  out[0] = frame[0]!;
  out.writeInt32BE(end - 1, 1);
  out.writeInt16BE(k, 5);
  frame.copy(out, 7, 7, end);
  return out;
}

/** The first `k` values of a DataRow, as a DataRow. */
function firstValues(row: Buffer, k: number): Buffer {
  let at = 7;
  for (let i = 0; i < k; i++) {
    const len = row.readInt32BE(at);
    at += 4 + (len < 0 ? 0 : len);
  }
  return firstItems(row, k, at);
}

/** The first `k` fields of a RowDescription, as a RowDescription. */
function firstFields(rowDescription: Buffer, k: number): Buffer {
  let at = 7;
  for (let i = 0; i < k; i++) at = rowDescription.indexOf(0, at) + 1 + 18;
  return firstItems(rowDescription, k, at);
}

/**
 * The result Postgres would give `q` (RowDescription, its DataRows, CommandComplete), from a slice stored as
 * [RowDescription, DataRow… CommandComplete] in `orderBy` order; null when the slice cannot say (the slice is over
 * SLICE_MAX_ROWS, a filtered column is not text, a format is binary, the order differs, an array does not parse).
 */
export function answerFromSlice(slice: readonly Buffer[], orderBy: string | null, q: SliceQuery): Buffer[] | null {
  const { read, params } = q;
  const { shape } = read;
  if (slice.length !== 2 || slice[0]![0] !== 0x54 /* T */) return null;
  if (q.resultFormats.some((f) => f !== 0)) return null;
  if (shape.orderBy !== null && shape.orderBy !== orderBy) return null;
  const sliceDescription = slice[0]!;
  const columns = describeColumns(sliceDescription);
  if (columns.some((c) => c.format !== 0)) return null;
  if (read.sliceColumns !== null && columns.length !== read.sliceColumns.length) return null;
  const rows = dataRows(slice[1]!);
  if (rows.length > SLICE_MAX_ROWS) return null;
  const tests: ((row: Buffer) => boolean)[] = [];
  for (const f of read.filters) {
    const index = columns.findIndex((c) => c.name === f.column);
    if (index < 0 || !TEXT_TYPES.has(columns[index]!.typeOid)) return null;
    const p = params[f.param];
    if (p === undefined) return null;
    // `col = NULL` and `col = ANY(NULL)` are null for every row: no rows
    if (p === null) tests.push(() => false);
    else if (f.any) {
      const elements = parseTextArray(p.toString('utf8'));
      if (elements === null) return null;
      // compared as bytes (latin1 maps each byte to one character): no decoding per row
      const wanted = new Set(elements.filter((e): e is string => e !== null).map((e) => Buffer.from(e, 'utf8').toString('latin1')));
      tests.push((row) => {
        const v = columnBytes(row, index, 'latin1');
        return v !== null && wanted.has(v);
      });
    } else {
      const wanted = p.toString('latin1');
      tests.push((row) => columnBytes(row, index, 'latin1') === wanted);
    }
  }
  // the read's own columns come first in the slice; the filtered ones after them are not returned
  const k = shape.columns === null ? columns.length : shape.columns.length;
  const out: Buffer[] = [];
  const limit = shape.limit ?? Infinity;
  for (const row of rows) {
    if (out.length >= limit) break;
    if (tests.every((test) => test(row))) out.push(k === columns.length ? row : firstValues(row, k));
  }
  out.push(CommandComplete(`SELECT ${out.length}`));
  return [k === columns.length ? sliceDescription : firstFields(sliceDescription, k), Buffer.concat(out)];
}
