// Walk owns the libpg-query AST walk of one statement: kind, tables, read-only/cacheable flags, account-key and setting locations, the fan-out merge template.
import { StatementKind, type MergeAggregate, type MergeAggregateColumn, type MergeAggregateFunction, type MergeSortKeyTemplate, type MergeTemplate, type Template, type ValueRef } from './types.js';

// libpg-query's JSON tree, walked loosely
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface WalkOptions {
  accountColumn: string;
  tableAccountColumns: ReadonlyMap<string, string>;
  /** the literal index of the A_Const at this parser location (byte offset), -1 if none; `neg` for a folded `-` */
  literalAt(location: number): { index: number; neg: boolean } | null;
}

/** Functions whose result changes between calls or per session: a SELECT calling one is not cacheable. */
const VOLATILE = new Set([
  'now', 'random', 'random_normal', 'setseed', 'nextval', 'currval', 'lastval', 'setval', 'clock_timestamp',
  'statement_timestamp', 'transaction_timestamp', 'timeofday', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'uuid_generate_v1',
  'uuid_generate_v1mc', 'uuid_generate_v4', 'txid_current', 'txid_current_if_assigned', 'pg_current_xact_id',
  'pg_current_xact_id_if_assigned', 'txid_current_snapshot', 'pg_current_snapshot', 'pg_sleep', 'pg_sleep_for',
  'pg_sleep_until', 'pg_backend_pid', 'current_setting', 'set_config', 'pg_notify', 'inet_client_addr',
  'inet_client_port', 'pg_advisory_lock', 'pg_advisory_xact_lock', 'pg_advisory_lock_shared', 'pg_advisory_xact_lock_shared',
  'pg_try_advisory_lock', 'pg_try_advisory_xact_lock', 'pg_try_advisory_lock_shared', 'pg_try_advisory_xact_lock_shared',
  'pg_advisory_unlock', 'pg_advisory_unlock_all', 'pg_advisory_unlock_shared', 'pg_terminate_backend', 'pg_cancel_backend',
  'pg_stat_reset', 'pg_reload_conf', 'lo_import', 'lo_export', 'lo_create', 'lo_unlink', 'dblink', 'dblink_exec',
]);
/** Functions that write (a SELECT calling one is not read-only). */
const WRITES = new Set(['nextval', 'setval', 'set_config', 'pg_notify', 'lo_import', 'lo_create', 'lo_unlink', 'dblink_exec', 'pg_terminate_backend', 'pg_cancel_backend', 'pg_stat_reset', 'pg_reload_conf']);
/** Built-in aggregate functions (plus any call with `*`, DISTINCT, FILTER, ORDER BY or WITHIN GROUP in its arguments). */
const AGGREGATES = new Set([
  'count', 'sum', 'min', 'max', 'avg', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_agg_strict', 'jsonb_agg_strict',
  'json_object_agg', 'jsonb_object_agg', 'json_object_agg_strict', 'jsonb_object_agg_strict', 'json_object_agg_unique',
  'jsonb_object_agg_unique', 'json_object_agg_unique_strict', 'jsonb_object_agg_unique_strict', 'bool_and', 'bool_or', 'every',
  'bit_and', 'bit_or', 'bit_xor', 'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'corr', 'covar_pop',
  'covar_samp', 'regr_avgx', 'regr_avgy', 'regr_count', 'regr_intercept', 'regr_r2', 'regr_slope', 'regr_sxx', 'regr_sxy', 'regr_syy',
  'xmlagg', 'any_value', 'range_agg', 'range_intersect_agg', 'percentile_cont', 'percentile_disc', 'mode',
]);
const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);
const DDL_EXTRA = new Set(['IndexStmt', 'ViewStmt', 'TruncateStmt', 'CommentStmt', 'GrantStmt', 'GrantRoleStmt', 'RuleStmt', 'DefineStmt', 'CompositeTypeStmt', 'RenameStmt', 'ClusterStmt', 'ReindexStmt', 'SecLabelStmt', 'RefreshMatViewStmt']);

/** What one generic pass over the statement's tree finds. */
interface Facts {
  tables: string[];
  /** alias or relation name → table (as reported) */
  aliases: Map<string, string>;
  ctes: Set<string>;
  volatile: boolean;
  writes: boolean;
  locking: boolean;
}

function collect(node: unknown, f: Facts, parentKey: string): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const x of node) collect(x, f, parentKey);
    return;
  }
  const o = node as Node;
  if (typeof o.relname === 'string') {
    // a RangeVar (wrapped or not)
    const name = o.schemaname ? `${o.schemaname}.${o.relname}` : (o.relname as string);
    f.tables.push(name);
    f.aliases.set(o.relname, name);
    if (o.schemaname) f.aliases.set(name, name);
    if (o.alias?.aliasname) f.aliases.set(o.alias.aliasname, name);
  }
  for (const key in o) {
    const v = o[key];
    switch (key) {
      case 'FuncCall': {
        const names = v.funcname as Node[];
        const fn = names?.[names.length - 1]?.String?.sval as string | undefined;
        if (fn) {
          if (VOLATILE.has(fn)) f.volatile = true;
          if (WRITES.has(fn)) f.writes = true;
        }
        break;
      }
      case 'SQLValueFunction':
        f.volatile = true; // CURRENT_TIMESTAMP, LOCALTIME, CURRENT_USER, … (per transaction / per session)
        break;
      case 'LockingClause':
        f.locking = true;
        break;
      case 'CommonTableExpr':
        f.ctes.add(v.ctename);
        if (v.ctequery && DML.has(Object.keys(v.ctequery)[0]!)) f.writes = true;
        break;
      case 'intoClause':
        if (parentKey === 'SelectStmt') f.writes = true;
        break;
    }
    if (v !== null && typeof v === 'object') collect(v, f, key);
  }
}

export class Walker {
  private f!: Facts;
  /** account column names that apply to unqualified column references */
  private candidates!: Set<string>;

  constructor(private readonly opts: WalkOptions) {}

  /** Analyze one statement node (`{ SelectStmt: {...} }` etc.) into a template. */
  template(stmt: Node): Template {
    const f: Facts = { tables: [], aliases: new Map(), ctes: new Set(), volatile: false, writes: false, locking: false };
    collect(stmt, f, '');
    f.tables = [...new Set(f.tables.filter((t) => !f.ctes.has(t)))];
    this.f = f;
    this.candidates = new Set(f.tables.length ? f.tables.map((t) => this.columnFor(t)) : [this.opts.accountColumn]);
    const type = Object.keys(stmt)[0]!;
    const body = stmt[type] as Node;
    const base = { tables: f.tables, keys: [] as ValueRef[], multiple: false, merge: null };
    const K = StatementKind;
    switch (type) {
      case 'SelectStmt': {
        const readOnly = !f.writes && !f.locking;
        return { ...base, ...this.selectKeys(body), kind: K.Select, readOnly, cacheable: readOnly && !f.volatile, merge: this.mergeTemplate(body) };
      }
      case 'InsertStmt':
        return { ...base, ...this.dmlKeys(body, this.insertKeys(body)), kind: K.Insert, readOnly: false, cacheable: false };
      case 'UpdateStmt':
        return { ...base, ...this.dmlKeys(body, this.whereKeys(body.whereClause)), kind: K.Update, readOnly: false, cacheable: false };
      case 'DeleteStmt':
        return { ...base, ...this.dmlKeys(body, this.whereKeys(body.whereClause)), kind: K.Delete, readOnly: false, cacheable: false };
      case 'MergeStmt':
        return { ...base, kind: K.Other, readOnly: false, cacheable: false };
      case 'TransactionStmt': {
        const kind = (
          {
            TRANS_STMT_BEGIN: K.Begin, TRANS_STMT_START: K.Begin, TRANS_STMT_COMMIT: K.Commit, TRANS_STMT_ROLLBACK: K.Rollback,
            TRANS_STMT_SAVEPOINT: K.Savepoint, TRANS_STMT_RELEASE: K.Savepoint, TRANS_STMT_ROLLBACK_TO: K.Savepoint,
          } as Record<string, StatementKind>
        )[body.kind as string] ?? K.Other;
        return { ...base, kind, readOnly: kind !== K.Other, cacheable: false };
      }
      case 'VariableSetStmt': {
        const t = { ...base, kind: K.Set, readOnly: true, cacheable: false };
        const name = typeof body.name === 'string' ? (body.name as string).toLowerCase() : '';
        if (name === 'prescient.account' || name === 'prescient.action') {
          const arg = body.kind === 'VAR_SET_VALUE' ? (body.args as Node[] | undefined)?.[0] : undefined;
          return { ...t, setting: { name, value: arg ? this.valueRef(arg) : null, local: !!body.is_local } };
        }
        return t;
      }
      case 'VariableShowStmt':
        return { ...base, kind: K.Show, readOnly: true, cacheable: false };
      case 'CopyStmt':
        return { ...base, ...(body.query ? this.template(body.query) : {}), tables: f.tables, kind: K.Copy, readOnly: !body.is_from, cacheable: false, merge: null };
      case 'ListenStmt':
      case 'UnlistenStmt':
        return { ...base, kind: K.Listen, readOnly: true, cacheable: false };
      case 'NotifyStmt':
        return { ...base, kind: K.Notify, readOnly: false, cacheable: false };
      case 'PrepareStmt': {
        const inner = this.template(body.query);
        return { ...inner, tables: f.tables, kind: K.Prepare, cacheable: false, merge: null };
      }
      case 'ExecuteStmt':
        return { ...base, kind: K.Execute, readOnly: false, cacheable: false };
      case 'DeallocateStmt':
        return { ...base, kind: K.Deallocate, readOnly: true, cacheable: false };
      case 'DiscardStmt':
        return { ...base, kind: K.Discard, readOnly: true, cacheable: false };
      case 'ExplainStmt': {
        const inner = this.template(body.query);
        const analyze = ((body.options as Node[] | undefined) ?? []).some((o) => o.DefElem?.defname === 'analyze');
        return { ...inner, tables: f.tables, kind: K.Other, readOnly: analyze ? inner.readOnly : true, cacheable: false, setting: undefined, merge: null };
      }
      case 'DropStmt': {
        const tables = [...f.tables];
        if (body.removeType === 'OBJECT_TABLE') {
          for (const o of body.objects as Node[]) {
            const parts = ((o.List?.items ?? []) as Node[]).map((x) => x.String?.sval as string);
            if (parts.length) tables.push(parts.join('.'));
          }
        }
        return { ...base, tables: [...new Set(tables)], kind: K.Ddl, readOnly: false, cacheable: false };
      }
      default:
        if (/^(Create|Alter|Drop)/.test(type) || DDL_EXTRA.has(type)) return { ...base, kind: K.Ddl, readOnly: false, cacheable: false };
        return { ...base, kind: K.Other, readOnly: false, cacheable: false };
    }
  }

  /** How rows of this SELECT from several shards merge: the top level only (subqueries and CTEs may hold anything). */
  private mergeTemplate(s: Node): MergeTemplate {
    const no = (why: string): MergeTemplate => ({ orderBy: [], limit: null, unmergeable: why, fixed: null, lastKey: null, last: null });
    if (s.op && s.op !== 'SETOP_NONE') return no('UNION/INTERSECT/EXCEPT');
    const distinct = s.distinctClause as Node[] | undefined;
    if (distinct?.length) return no(distinct.length === 1 && Object.keys(distinct[0]!).length === 0 ? 'DISTINCT' : 'DISTINCT ON');
    const targets = (s.targetList ?? []) as Node[];
    const sorts = (s.sortClause ?? []) as Node[];
    const groups = (s.groupClause ?? []) as Node[];
    let aggregate: MergeAggregate | undefined;
    if (groups.length || s.havingClause || aggregateIn(targets) || aggregateIn(sorts)) {
      const a = this.aggregateColumns(s);
      if ('why' in a) return no(a.why);
      aggregate = a;
    }
    if (s.limitOffset) return no('OFFSET');
    if (s.limitOption === 'LIMIT_OPTION_WITH_TIES') return no('FETCH … WITH TIES');
    let limit: ValueRef | null = null;
    let count = s.limitCount as Node | undefined;
    while (count?.TypeCast) count = count.TypeCast.arg;
    if (count && !count.A_Const?.isnull) {
      limit = this.valueRef(count);
      if (!limit) return no('FETCH/LIMIT expression');
      // a GROUP BY's LIMIT is removed from the shard text (each shard must return every group): a $n would be left unused
      if (aggregate?.grouped && 'param' in limit) return no('LIMIT $n with GROUP BY');
    }
    if (aggregate?.grouped && count) aggregate.rewrite = true;
    const orderBy: MergeSortKeyTemplate[] = [];
    const from = (s.fromClause ?? []) as Node[];
    const singleFrom = from.length === 1 && !from[0]!.JoinExpr;
    for (const sb of sorts) {
      const by = sb.SortBy as Node;
      const desc = by.sortby_dir === 'SORTBY_DESC';
      if (by.sortby_dir === 'SORTBY_USING' || by.node?.CollateClause) return no('ORDER BY with COLLATE or USING');
      const nullsFirst = by.sortby_nulls === 'SORTBY_NULLS_FIRST' ? true : by.sortby_nulls === 'SORTBY_NULLS_LAST' ? false : desc;
      const e = by.node as Node;
      if (aggregate && !e.ColumnRef && !e.A_Const) {
        // ORDER BY count(*): the select-list entry computing the same expression
        const want = this.normalized(e);
        const at = targets.findIndex((t) => t.ResTarget && this.normalized(t.ResTarget.val) === want);
        if (at < 0) return no(aggregateIn(e) ? 'ORDER BY an aggregate that is not in the select list' : 'ORDER BY expression');
        orderBy.push({ column: null, position: at + 1, desc, nullsFirst, positionRef: null });
        continue;
      }
      if (e.A_Const && !e.A_Const.isnull) {
        // ORDER BY 2: the number is one of the shape's literals, bound per statement
        const ref = this.valueRef(e);
        if (!ref) return no('ORDER BY expression');
        orderBy.push({ column: null, position: null, desc, nullsFirst, positionRef: ref });
        continue;
      }
      const fields = e.ColumnRef?.fields as Node[] | undefined;
      if (!fields || !fields.every((x) => typeof x.String?.sval === 'string')) return no('ORDER BY expression');
      const column = sortColumn(fields.map((x) => x.String.sval as string), targets, singleFrom);
      if (typeof column !== 'string') return no(column.why);
      orderBy.push({ column, position: null, desc, nullsFirst, positionRef: null });
    }
    const t: MergeTemplate = { orderBy, limit, unmergeable: null, fixed: null, lastKey: null, last: null };
    if (aggregate) t.aggregate = aggregate;
    return t;
  }

  /**
   * The output columns of a top-level aggregate SELECT, or why its shards' groups cannot be merged exactly. Every
   * GROUP BY item must be in the select list (a position, an output name, or the same expression), so that the
   * non-aggregate output columns identify a group.
   */
  private aggregateColumns(s: Node): MergeAggregate | { why: string } {
    if (s.havingClause) return { why: 'HAVING' };
    const targets = ((s.targetList ?? []) as Node[]).map((t) => t.ResTarget as Node);
    const sortAgg = aggregateIn(s.sortClause ?? []);
    if (sortAgg === 'window function') return { why: sortAgg };
    const columns: MergeAggregateColumn[] = [];
    let hidden = 0;
    for (const rt of targets) {
      if (!rt || isStar(rt)) return { why: 'SELECT * with an aggregate' };
      const fc = rt.val?.FuncCall as Node | undefined;
      const fn = fc ? mergeableAggregate(fc) : null;
      if (fc && fn) {
        if (fc.agg_distinct) return { why: `aggregate function ${fn}(DISTINCT …)` };
        if (fc.agg_order || fc.agg_within_group) return { why: `aggregate function ${fn} with ORDER BY` };
        if (aggregateIn(fc.args ?? []) || aggregateIn(fc.agg_filter ?? null)) return { why: 'nested aggregate function' };
        if (fn === 'avg') columns.push({ kind: 'aggregate', fn, name: typeof rt.name === 'string' ? rt.name : 'avg', count: targets.length + hidden++ });
        else columns.push({ kind: 'aggregate', fn, name: null, count: null });
        continue;
      }
      const inner = aggregateIn(rt.val);
      if (inner) return { why: inner === 'window function' || (fc && !fn) ? inner : `an expression over ${inner}` };
      columns.push({ kind: 'group' });
    }
    const groups = (s.groupClause ?? []) as Node[];
    const shapes = targets.map((rt, k) => (columns[k]!.kind === 'group' ? this.normalized(rt.val) : null));
    for (const g of groups) {
      if (g.GroupingSet) return { why: 'GROUPING SETS, ROLLUP or CUBE' };
      if (g.A_Const) continue; // GROUP BY 2: an output column
      const fields = g.ColumnRef?.fields as Node[] | undefined;
      if (fields?.length === 1 && targets.some((rt) => rt.name === fields[0]?.String?.sval)) continue; // an output name
      const want = this.normalized(g);
      if (!shapes.includes(want)) return { why: 'GROUP BY an expression that is not in the select list' };
    }
    return { columns, hidden, grouped: groups.length > 0, rewrite: hidden > 0 };
  }

  /** An expression as comparable text: locations dropped, each literal by its index in the shape (two literals never match). */
  private normalized(e: unknown): string {
    return JSON.stringify(e, (key, v: unknown) => {
      if (key === 'location') return undefined;
      if (key === 'A_Const' && v !== null && typeof v === 'object') {
        const at = this.opts.literalAt((v as Node).location ?? -1);
        if (at) return { lit: at.index, neg: at.neg };
      }
      return v;
    });
  }

  private columnFor(table: string): string {
    const m = this.opts.tableAccountColumns;
    if (m.size === 0) return this.opts.accountColumn;
    const dot = table.lastIndexOf('.');
    return m.get(table) ?? (dot >= 0 ? m.get(table.slice(dot + 1)) : undefined) ?? this.opts.accountColumn;
  }

  /** Is this expression (through casts) a reference to an account column? */
  private isAccountColumn(e: Node | undefined): boolean {
    while (e?.TypeCast) e = e.TypeCast.arg;
    const fields = e?.ColumnRef?.fields as Node[] | undefined;
    if (!fields) return false;
    const col = fields[fields.length - 1]?.String?.sval as string | undefined;
    if (!col) return false;
    if (fields.length === 1) return this.candidates.has(col);
    const qual = fields[fields.length - 2]?.String?.sval as string;
    const qualified = fields.length >= 3 ? `${fields[fields.length - 3]?.String?.sval}.${qual}` : qual;
    const table = this.f.aliases.get(qualified) ?? this.f.aliases.get(qual) ?? qualified;
    return col === this.columnFor(table);
  }

  /** A literal / parameter (through casts) as a template value, or null. */
  private valueRef(e: Node | undefined): ValueRef | null {
    while (e?.TypeCast) e = e.TypeCast.arg;
    if (!e) return null;
    if (e.ParamRef) return { param: e.ParamRef.number as number };
    const c = e.A_Const as Node | undefined;
    if (!c || c.isnull) return null;
    const at = this.opts.literalAt(c.location ?? -1);
    if (at) return at.neg ? { lit: at.index, neg: true } : { lit: at.index };
    // not one of the shape's literals (e.g. `SET x TO ident`, TRUE): a constant of the shape itself
    const v = c.sval?.sval ?? c.ival?.ival ?? c.fval?.fval ?? c.boolval?.boolval ?? c.bsval?.bsval;
    if (c.ival && c.ival.ival === undefined) return { value: '0' };
    return v === undefined ? null : { value: String(v) };
  }

  private static flattenAnd(e: Node | undefined, out: Node[]): Node[] {
    if (!e) return out;
    if (e.BoolExpr?.boolop === 'AND_EXPR') for (const a of e.BoolExpr.args as Node[]) Walker.flattenAnd(a, out);
    else out.push(e);
    return out;
  }

  /** The account key among the top-level AND terms of a WHERE clause. */
  private whereKeys(where: Node | undefined): { keys: ValueRef[]; multiple: boolean } {
    for (const term of Walker.flattenAnd(where, [])) {
      const x = term.A_Expr as Node | undefined;
      if (!x || x.name?.[0]?.String?.sval !== '=') continue;
      if (x.kind === 'AEXPR_OP') {
        if (this.isAccountColumn(x.lexpr)) {
          const v = this.valueRef(x.rexpr);
          if (v) return { keys: [v], multiple: false };
        }
        if (this.isAccountColumn(x.rexpr)) {
          const v = this.valueRef(x.lexpr);
          if (v) return { keys: [v], multiple: false };
        }
      } else if (x.kind === 'AEXPR_IN' && this.isAccountColumn(x.lexpr)) {
        const items = (x.rexpr?.List?.items ?? []) as Node[];
        const refs = items.map((it) => this.valueRef(it));
        if (refs.length && refs.every((r) => r)) return { keys: refs as ValueRef[], multiple: false };
        return { keys: [], multiple: refs.length > 1 };
      } else if (x.kind === 'AEXPR_OP_ANY' && this.isAccountColumn(x.lexpr)) {
        const elems = x.rexpr?.A_ArrayExpr?.elements as Node[] | undefined;
        const refs = elems ? elems.map((it) => this.valueRef(it)) : [];
        if (refs.length && refs.every((r) => r)) return { keys: refs as ValueRef[], multiple: false };
        return { keys: [], multiple: true };
      }
    }
    return { keys: [], multiple: false };
  }

  private selectKeys(s: Node): { keys: ValueRef[]; multiple: boolean } {
    if (s.op && s.op !== 'SETOP_NONE') {
      const l = this.selectKeys(s.larg);
      const r = this.selectKeys(s.rarg);
      if (!l.keys.length || !r.keys.length) return { keys: [], multiple: l.multiple || r.multiple };
      return { keys: [...l.keys, ...r.keys], multiple: l.multiple || r.multiple };
    }
    const w = this.whereKeys(s.whereClause);
    if (w.keys.length || w.multiple) return w;
    // a key inside a FROM subquery or a CTE
    for (const fr of (s.fromClause ?? []) as Node[]) {
      const sub = fr.RangeSubselect?.subquery?.SelectStmt;
      if (sub) {
        const k = this.selectKeys(sub);
        if (k.keys.length || k.multiple) return k;
      }
    }
    return this.cteKeys(s.withClause) ?? w;
  }

  /** The first account key found inside the WITH clause's CTEs. */
  private cteKeys(withClause: Node | undefined): { keys: ValueRef[]; multiple: boolean } | null {
    for (const c of (withClause?.ctes ?? []) as Node[]) {
      const q = c.CommonTableExpr?.ctequery as Node | undefined;
      if (!q) continue;
      const k = q.SelectStmt ? this.selectKeys(q.SelectStmt) : q.UpdateStmt || q.DeleteStmt ? this.whereKeys((q.UpdateStmt ?? q.DeleteStmt).whereClause) : q.InsertStmt ? this.insertKeys(q.InsertStmt) : null;
      if (k && (k.keys.length || k.multiple)) return k;
    }
    return null;
  }

  /** DML: the statement's own key, else one inside its WITH clause. */
  private dmlKeys(body: Node, own: { keys: ValueRef[]; multiple: boolean }): { keys: ValueRef[]; multiple: boolean } {
    return own.keys.length || own.multiple ? own : (this.cteKeys(body.withClause) ?? own);
  }

  private insertKeys(ins: Node): { keys: ValueRef[]; multiple: boolean } {
    const cols = (ins.cols ?? []) as Node[];
    const rel = ins.relation as Node;
    const table = rel.schemaname ? `${rel.schemaname}.${rel.relname}` : (rel.relname as string);
    const want = this.columnFor(table);
    const pos = cols.findIndex((c) => c.ResTarget?.name === want);
    const sel = ins.selectStmt?.SelectStmt as Node | undefined;
    if (!sel) return { keys: [], multiple: false };
    if (pos < 0) return sel.valuesLists ? { keys: [], multiple: false } : this.selectKeys(sel);
    if (sel.valuesLists) {
      const keys: ValueRef[] = [];
      for (const row of sel.valuesLists as Node[]) {
        const v = this.valueRef((row.List?.items as Node[] | undefined)?.[pos]);
        if (!v) return { keys: [], multiple: (sel.valuesLists as Node[]).length > 1 };
        keys.push(v);
      }
      return { keys, multiple: false };
    }
    if (sel.targetList && (!sel.op || sel.op === 'SETOP_NONE')) {
      const val = (sel.targetList as Node[])[pos]?.ResTarget?.val as Node | undefined;
      const v = this.valueRef(val);
      if (v) return { keys: [v], multiple: false };
    }
    // INSERT … SELECT account_id … WHERE account_id = …: the key of the SELECT
    return this.selectKeys(sel);
  }
}

const MERGEABLE: ReadonlySet<string> = new Set<MergeAggregateFunction>(['count', 'sum', 'min', 'max', 'avg']);

/** The aggregate function a fan-out merges exactly that this call is (count, sum, min, max, avg; window calls excluded), or null. */
export function mergeableAggregate(fc: Node): MergeAggregateFunction | null {
  if (fc.over) return null;
  const names = (fc.funcname ?? []) as Node[];
  if (names.length > 2 || (names.length === 2 && names[0]?.String?.sval !== 'pg_catalog')) return null;
  const fn = names[names.length - 1]?.String?.sval as string | undefined;
  return fn !== undefined && MERGEABLE.has(fn) ? (fn as MergeAggregateFunction) : null;
}

/** The first aggregate or window function call at this query level (not inside a subquery), as an unmergeable reason. */
function aggregateIn(node: unknown): string | null {
  if (node === null || typeof node !== 'object') return null;
  if (Array.isArray(node)) {
    for (const x of node) {
      const r = aggregateIn(x);
      if (r) return r;
    }
    return null;
  }
  const o = node as Node;
  for (const key in o) {
    const v = o[key];
    if (v === null || typeof v !== 'object') continue;
    switch (key) {
      case 'SubLink': {
        // (SELECT …), EXISTS (…), x IN (SELECT …): per row; only the tested expression is at this level
        const r = aggregateIn(v.testexpr);
        if (r) return r;
        continue;
      }
      case 'FuncCall': {
        if (v.over) return 'window function';
        const names = v.funcname as Node[];
        const fn = (names?.[names.length - 1]?.String?.sval as string | undefined) ?? '?';
        if (v.agg_star || v.agg_distinct || v.agg_filter || v.agg_order || v.agg_within_group || AGGREGATES.has(fn)) return `aggregate function ${fn}`;
        break;
      }
      case 'JsonArrayAgg':
      case 'JsonObjectAgg':
        return v.constructor?.over ? 'window function' : `aggregate function ${key === 'JsonArrayAgg' ? 'json_arrayagg' : 'json_objectagg'}`;
    }
    const r = aggregateIn(v);
    if (r) return r;
  }
  return null;
}

/** The output name of a select-list entry: its alias, else the column's or function's name (as Postgres names it), else null. */
function outputName(rt: Node): string | null {
  if (typeof rt.name === 'string') return rt.name;
  let e = rt.val as Node | undefined;
  while (e?.TypeCast) e = e.TypeCast.arg;
  const fields = e?.ColumnRef?.fields as Node[] | undefined;
  if (fields) return (fields[fields.length - 1]?.String?.sval as string | undefined) ?? null;
  const fn = e?.FuncCall?.funcname as Node[] | undefined;
  if (fn) return (fn[fn.length - 1]?.String?.sval as string | undefined) ?? null;
  return null;
}

const isStar = (rt: Node): boolean => !!(rt.val?.ColumnRef?.fields as Node[] | undefined)?.some((x) => x.A_Star);

/** Is this select-list expression a plain reference to the column `ref` (`a` and `t.a` match when one is unqualified)? */
function sameColumn(e: Node | undefined, ref: string[]): boolean {
  const fields = e?.ColumnRef?.fields as Node[] | undefined;
  if (!fields?.length) return false;
  const n = Math.min(fields.length, ref.length);
  for (let k = 1; k <= n; k++) if (fields[fields.length - k]?.String?.sval !== ref[ref.length - k]) return false;
  return true;
}

/**
 * The output column an ORDER BY column reference sorts by, as Postgres resolves it: an unqualified name is first an
 * output name (alias or implicit, `*` included), then an input column; an input column listed in the select list
 * sorts by that entry's output name (`SELECT a AS x … ORDER BY a` → x). `{ why }` when the merge, which finds a
 * column by output name (first match), could pick another column of that name; otherwise the reference's own name
 * (a column under `*`, or one not selected: the merge reports that).
 */
function sortColumn(ref: string[], targets: Node[], singleFrom: boolean): string | { why: string } {
  const name = ref[ref.length - 1]!;
  const rts = targets.map((t) => t.ResTarget as Node).filter((rt) => rt);
  const star = rts.findIndex(isStar);
  const ambiguous = { why: `ORDER BY ${ref.join('.')} is ambiguous in the select list` };
  if (ref.length === 1 && (star >= 0 || rts.some((rt) => outputName(rt) === name))) return name;
  const at = rts.findIndex((rt) => sameColumn(rt.val, ref));
  if (at >= 0) {
    const out = outputName(rts[at]!)!;
    const shadowed = rts.findIndex((rt) => outputName(rt) === out) !== at || (star >= 0 && star < at && !singleFrom);
    return shadowed ? ambiguous : out;
  }
  // a qualified column not listed: under another entry's name, or under `*` of several tables, the merge could pick the wrong one
  if (ref.length > 1 && (rts.some((rt) => outputName(rt) === name) || (star >= 0 && !singleFrom))) return ambiguous;
  return name;
}
