// Analyzer owns the per-shape analysis cache: tokenize → shape → (on a miss) libpg-query parse + walk → bind this statement's literals (account key, setting, merge spec).
import { loadModule, parseSync } from 'libpg-query';
import { scanStatements, type ScannedStatement } from './Shape.js';
import { StatementKind, type KeyLocation, type MergeSortKey, type MergeSpec, type MergeTemplate, type StatementInfo, type Template, type ValueRef } from './types.js';
import { Walker } from './Walk.js';
import { systemScope } from './SystemCatalog.js';
import { sessionStatementIn } from './SessionStatements.js';

export { StatementKind, type KeyLocation, type MergeAggregate, type MergeAggregateColumn, type MergeSortKey, type MergeSpec, type StatementInfo, type Setting, type SystemScope } from './types.js';
export { shardText } from './Rewrite.js';
export { SessionOp, TransactionEnd, type SessionStatement, type TableName } from './SessionStatements.js';

export interface AnalyzerOptions {
  /** the account column, e.g. `account_id` (as the parser sees it: lower-case unless quoted) */
  accountColumn: string;
  /** per-table override: table (as reported in `tables`, or its unqualified name) → account column */
  tableAccountColumns?: Record<string, string>;
  /** distinct shapes kept (default 10 000); the oldest inserted is dropped first */
  maxShapes?: number;
}

let loaded: Promise<void> | null = null;
let ready = false;

const PARAM_KEYS: KeyLocation[] = [];
function paramKey(index: number): KeyLocation {
  return (PARAM_KEYS[index] ??= Object.freeze({ kind: 'param', index }) as KeyLocation);
}

export class Analyzer {
  /** Load the libpg-query WASM module (once; later calls return the same promise). */
  static init(): Promise<void> {
    return (loaded ??= loadModule().then(() => void (ready = true)));
  }

  /** counters; `parses` is the number of libpg-query calls (the test hook for the shape cache) */
  readonly stats = { hits: 0, misses: 0, parses: 0 };

  private readonly cache = new Map<string, Template>();
  private readonly maxShapes: number;
  private readonly walker: Walker;
  private readonly walkOpts: { accountColumn: string; tableAccountColumns: ReadonlyMap<string, string>; literalAt: (loc: number) => { index: number; neg: boolean } | null };

  constructor(opts: AnalyzerOptions) {
    this.maxShapes = opts.maxShapes ?? 10_000;
    const overrides = new Map(Object.entries(opts.tableAccountColumns ?? {}).map(([k, v]) => [k, v]));
    this.walkOpts = { accountColumn: opts.accountColumn, tableAccountColumns: overrides, literalAt: () => null };
    this.walker = new Walker(this.walkOpts);
  }

  /** One StatementInfo per statement of `sql` (a simple Query may hold several). Never throws. */
  analyze(sql: string): StatementInfo[] {
    const stmts = scanStatements(sql, true);
    const out: StatementInfo[] = new Array(stmts.length);
    for (let k = 0; k < stmts.length; k++) {
      const s = stmts[k]!;
      let t = this.cache.get(s.shape);
      if (t === undefined) {
        this.stats.misses++;
        t = this.build(sql, s);
        if (!ready) { out[k] = bind(t, s); continue; }
        if (this.cache.size >= this.maxShapes) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(s.shape, t);
      } else this.stats.hits++;
      out[k] = bind(t, s);
    }
    return out;
  }

  /** Number of cached shapes. */
  get size(): number {
    return this.cache.size;
  }

  private build(sql: string, s: ScannedStatement): Template {
    if (!ready) return { kind: StatementKind.Other, tables: [], readOnly: false, cacheable: false, keys: [], multiple: false, merge: null, parseError: 'Analyzer.init() was not awaited' };
    const text = sql.slice(s.start, s.end);
    let tree: { stmts?: { stmt: Record<string, unknown> }[] };
    try {
      this.stats.parses++;
      tree = parseSync(text) as typeof tree;
    } catch (e) {
      return { kind: StatementKind.Other, tables: [], readOnly: false, cacheable: false, keys: [], multiple: false, merge: null, parseError: (e as Error).message };
    }
    const stmt = tree.stmts?.[0]?.stmt;
    if (!stmt) return { kind: StatementKind.Other, tables: [], readOnly: false, cacheable: false, keys: [], multiple: false, merge: null, parseError: 'empty statement' };
    // parser locations are UTF-8 byte offsets into `text`
    const ascii = !/[^\x00-\x7f]/.test(text);
    const bytes = ascii ? null : Buffer.from(text, 'utf8');
    const byLoc = new Map<number, number>();
    s.literalStarts.forEach((abs, idx) => {
      const rel = abs - s.start;
      byLoc.set(ascii ? rel : Buffer.byteLength(text.slice(0, rel), 'utf8'), idx);
    });
    const charAt = (b: number): number => (bytes ? bytes[b] ?? 0 : text.charCodeAt(b));
    this.walkOpts.literalAt = (loc) => {
      const idx = byLoc.get(loc);
      if (idx !== undefined) return { index: idx, neg: false };
      if (loc >= 0 && charAt(loc) === 45 /* - */) {
        let b = loc + 1;
        while (charAt(b) === 32 || charAt(b) === 9 || charAt(b) === 10 || charAt(b) === 13) b++;
        const j = byLoc.get(b);
        if (j !== undefined) return { index: j, neg: true };
      }
      return null;
    };
    try {
      const t = this.walker.template(stmt);
      Object.freeze(t.tables);
      const system = systemScope(stmt, t.tables);
      if (system !== null) t.system = system;
      const session = sessionStatementIn(text);
      if (session !== null) t.session = session;
      if (t.merge?.aggregate) deepFreeze(t.merge.aggregate);
      if (t.merge && !dependsOnLiterals(t.merge)) t.merge.fixed = bindMerge(t.merge, []);
      if ((tree.stmts?.length ?? 0) > 1) t.parseError = 'several statements in one (the splitter missed a `;` boundary)';
      return t;
    } catch (e) {
      return { kind: StatementKind.Other, tables: [], readOnly: false, cacheable: false, keys: [], multiple: false, merge: null, parseError: `walk: ${(e as Error).message}` };
    }
  }
}

function deepFreeze(o: object): void {
  for (const v of Object.values(o)) if (v !== null && typeof v === 'object') deepFreeze(v as object);
  Object.freeze(o);
}

/** The text of a non-parameter value. */
function text(r: Exclude<ValueRef, { param: number }>, literals: string[]): string {
  if ('lit' in r) return r.neg ? '-' + literals[r.lit]! : literals[r.lit]!;
  return r.value;
}

function resolve(r: ValueRef, literals: string[]): KeyLocation {
  return 'param' in r ? paramKey(r.param) : { kind: 'literal', value: text(r, literals) };
}

const same = (a: ValueRef, b: ValueRef, literals: string[]): boolean => {
  if ('param' in a) return 'param' in b && a.param === b.param;
  if ('param' in b) return false;
  return text(a, literals) === text(b as Exclude<ValueRef, { param: number }>, literals);
};

/** Bind a cached template to one statement's literals and tags. */
function bind(t: Template, s: ScannedStatement): StatementInfo {
  const keys = t.keys;
  let multipleKeys = t.multiple;
  let accountKey: KeyLocation | null = null;
  if (keys.length) {
    accountKey = resolve(keys[0]!, s.literals);
    for (let k = 1; k < keys.length && !multipleKeys; k++) if (!same(keys[0]!, keys[k]!, s.literals)) multipleKeys = true;
  }
  const info: StatementInfo = {
    kind: t.kind,
    tables: t.tables,
    readOnly: t.readOnly,
    cacheable: t.cacheable,
    accountKey,
    multipleKeys,
    tags: s.tags,
    shape: s.shape,
    merge: t.merge === null ? null : (t.merge.fixed ?? bindMerge(t.merge, s.literals)),
  };
  if (t.setting) {
    const v = t.setting.value;
    info.setting = { name: t.setting.name, value: v === null ? null : 'param' in v ? `$${v.param}` : text(v, s.literals), local: t.setting.local };
  }
  if (t.system !== undefined) info.system = t.system;
  if (t.session !== undefined) info.session = t.session;
  if (t.parseError !== undefined) info.parseError = t.parseError;
  return info;
}

const NO_KEYS: MergeSortKey[] = Object.freeze([]) as unknown as MergeSortKey[];

const isLit = (r: ValueRef | null): r is { lit: number; neg?: boolean } => r !== null && 'lit' in r;

function dependsOnLiterals(m: MergeTemplate): boolean {
  return m.unmergeable === null && (isLit(m.limit) || m.orderBy.some((k) => isLit(k.positionRef)));
}

/** A LIMIT / ORDER BY position literal as a non-negative integer (Postgres rounds a numeric LIMIT), or null. */
function integer(s: string, round: boolean): number | null {
  if (/^[0-9]+(_[0-9]+)*$/.test(s)) return Number(s.replace(/_/g, ''));
  if (round && /^([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(s)) return Math.round(Number(s));
  return null;
}

function unmergeable(why: string): MergeSpec {
  return Object.freeze({ orderBy: NO_KEYS, limit: null, unmergeable: why });
}

/** The merge spec of one statement: the template with its LIMIT and ORDER BY position literals bound (the last binding is memoized). */
function bindMerge(m: MergeTemplate, literals: string[]): MergeSpec {
  if (m.unmergeable !== null) return unmergeable(m.unmergeable);
  // the texts this binding depends on: usually just the LIMIT literal
  let key = '';
  if (isLit(m.limit)) key = text(m.limit, literals);
  for (let k = 0; k < m.orderBy.length; k++) {
    const p = m.orderBy[k]!.positionRef;
    if (isLit(p)) key += '\0' + text(p, literals);
  }
  if (m.last !== null && m.lastKey === key) return m.last;
  let limit: MergeSpec['limit'] = null;
  if (m.limit !== null) {
    if ('param' in m.limit) limit = Object.freeze({ param: m.limit.param });
    else {
      const n = integer(text(m.limit, literals), true);
      if (n === null) return unmergeable('FETCH/LIMIT expression');
      limit = Object.freeze({ value: n });
    }
  }
  const orderBy: MergeSortKey[] = new Array(m.orderBy.length);
  for (let k = 0; k < m.orderBy.length; k++) {
    const o = m.orderBy[k]!;
    let position = o.position;
    if (o.positionRef !== null) {
      position = 'param' in o.positionRef ? null : integer(text(o.positionRef, literals), false);
      if (position === null || position < 1) return unmergeable('ORDER BY expression');
    }
    orderBy[k] = Object.freeze({ column: o.column, position, desc: o.desc, nullsFirst: o.nullsFirst });
  }
  const spec: MergeSpec = { orderBy: Object.freeze(orderBy) as MergeSortKey[], limit, unmergeable: null };
  if (m.aggregate) spec.aggregate = m.aggregate;
  Object.freeze(spec);
  m.lastKey = key;
  m.last = spec;
  return spec;
}
