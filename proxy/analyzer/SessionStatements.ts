// SessionStatements owns what a statement does to session state (DEALLOCATE, PREPARE, LISTEN/UNLISTEN, temporary tables, DROP TABLE, SET/RESET, the end of a transaction), read from libpg-query's parse tree, and the lexical checks that decide when to parse.
import { parseSync } from 'libpg-query';
import { scanStatements } from './Shape.js';

// libpg-query's JSON tree, walked loosely
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What a statement does to the session. */
export const SessionOp = {
  /** DEALLOCATE [PREPARE] name | ALL */
  Deallocate: 'deallocate',
  /** PREPARE name [(types)] AS … (not PREPARE TRANSACTION: that ends a transaction) */
  Prepare: 'prepare',
  Listen: 'listen',
  /** UNLISTEN channel | * */
  Unlisten: 'unlisten',
  /** CREATE [TEMP] TABLE …, CREATE [TEMP] TABLE … AS (not SELECT … INTO) */
  CreateTable: 'createTable',
  /** DROP TABLE a, b … */
  DropTable: 'dropTable',
  /** SET / RESET of a run-time setting (SET TIME ZONE, SET NAMES, SET ROLE, SET SESSION AUTHORIZATION, SET TRANSACTION … included) */
  Set: 'set',
  /** COMMIT / END, ROLLBACK / ABORT, PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED */
  EndTransaction: 'endTransaction',
} as const;
export type SessionOp = (typeof SessionOp)[keyof typeof SessionOp];

/** How a transaction-ending statement ends it. */
export const TransactionEnd = {
  Commit: 'commit',
  Rollback: 'rollback',
  PrepareTransaction: 'prepareTransaction',
  CommitPrepared: 'commitPrepared',
  RollbackPrepared: 'rollbackPrepared',
} as const;
export type TransactionEnd = (typeof TransactionEnd)[keyof typeof TransactionEnd];

/** A table name as Postgres resolves it: quoted parts keep their case, unquoted ones are lower-cased, U& decoded. */
export interface TableName {
  readonly schema: string | null;
  readonly name: string;
}

/**
 * One statement's effect on the session. Names are as Postgres resolves them (unquoted identifiers lower-cased,
 * quoted ones exact, U& identifiers decoded, identifiers longer than 63 bytes truncated as the server truncates them).
 */
export type SessionStatement =
  /** name null: DEALLOCATE ALL */
  | { readonly op: typeof SessionOp.Deallocate; readonly name: string | null }
  | { readonly op: typeof SessionOp.Prepare; readonly name: string }
  | { readonly op: typeof SessionOp.Listen; readonly channel: string }
  /** channel null: UNLISTEN * */
  | { readonly op: typeof SessionOp.Unlisten; readonly channel: string | null }
  /**
   * temp: TEMP/TEMPORARY (GLOBAL/LOCAL too), or the pg_temp schema; onCommitDrop: ON COMMIT DROP; asQuery: CREATE
   * TABLE … AS, whose command tag is `SELECT n` (or `CREATE TABLE AS` WITH NO DATA), not `CREATE TABLE`
   */
  | { readonly op: typeof SessionOp.CreateTable; readonly table: TableName; readonly temp: boolean; readonly onCommitDrop: boolean; readonly asQuery: boolean }
  | { readonly op: typeof SessionOp.DropTable; readonly tables: readonly TableName[] }
  /**
   * name lower-cased as Postgres names the setting (`timezone` for SET TIME ZONE, `client_encoding` for SET NAMES,
   * `session_authorization`, `role`, `transaction`, `session characteristics`, `transaction snapshot`); null for RESET ALL.
   * reset: RESET, or SET … TO DEFAULT; local: SET LOCAL (SET SESSION and RESET are not local)
   */
  | { readonly op: typeof SessionOp.Set; readonly name: string | null; readonly reset: boolean; readonly local: boolean }
  /** chain: AND CHAIN (COMMIT/ROLLBACK only) */
  | { readonly op: typeof SessionOp.EndTransaction; readonly end: TransactionEnd; readonly chain: boolean };

const END: Readonly<Record<string, TransactionEnd>> = {
  TRANS_STMT_COMMIT: TransactionEnd.Commit,
  TRANS_STMT_ROLLBACK: TransactionEnd.Rollback,
  TRANS_STMT_PREPARE: TransactionEnd.PrepareTransaction,
  TRANS_STMT_COMMIT_PREPARED: TransactionEnd.CommitPrepared,
  TRANS_STMT_ROLLBACK_PREPARED: TransactionEnd.RollbackPrepared,
};

function tableName(parts: readonly string[]): TableName {
  return Object.freeze({ schema: parts.length > 1 ? parts[parts.length - 2]! : null, name: parts[parts.length - 1] ?? '' });
}

function createTable(rel: Node | undefined, onCommit: unknown, asQuery: boolean): SessionStatement | null {
  if (!rel || typeof rel.relname !== 'string') return null;
  const schema = typeof rel.schemaname === 'string' ? (rel.schemaname as string) : null;
  return Object.freeze({
    op: SessionOp.CreateTable,
    table: Object.freeze({ schema, name: rel.relname as string }),
    temp: rel.relpersistence === 't' || schema === 'pg_temp',
    onCommitDrop: onCommit === 'ONCOMMIT_DROP',
    asQuery,
  });
}

/** The session effect of one statement of libpg-query's tree (`{ ListenStmt: {…} }` …), or null when it has none of these. */
export function sessionStatementOf(stmt: Node): SessionStatement | null {
  const type = Object.keys(stmt)[0];
  if (type === undefined) return null;
  const b = (stmt[type] ?? {}) as Node;
  switch (type) {
    case 'DeallocateStmt':
      return Object.freeze({ op: SessionOp.Deallocate, name: b.isall || typeof b.name !== 'string' ? null : (b.name as string) });
    case 'PrepareStmt':
      return Object.freeze({ op: SessionOp.Prepare, name: String(b.name ?? '') });
    case 'ListenStmt':
      return Object.freeze({ op: SessionOp.Listen, channel: String(b.conditionname ?? '') });
    case 'UnlistenStmt':
      return Object.freeze({ op: SessionOp.Unlisten, channel: typeof b.conditionname === 'string' ? (b.conditionname as string) : null });
    case 'CreateStmt':
      return createTable(b.relation, b.oncommit, false);
    case 'CreateTableAsStmt':
      return b.objtype === 'OBJECT_TABLE' ? createTable(b.into?.rel, b.into?.onCommit, true) : null;
    case 'DropStmt': {
      if (b.removeType !== 'OBJECT_TABLE') return null;
      const tables = ((b.objects ?? []) as Node[]).map((o) => tableName(((o.List?.items ?? []) as Node[]).map((x) => String(x.String?.sval ?? ''))));
      return Object.freeze({ op: SessionOp.DropTable, tables: Object.freeze(tables) });
    }
    case 'VariableSetStmt': {
      const kind = b.kind as string | undefined;
      const reset = kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL' || kind === 'VAR_SET_DEFAULT';
      const name = kind === 'VAR_RESET_ALL' || typeof b.name !== 'string' ? null : (b.name as string).toLowerCase();
      return Object.freeze({ op: SessionOp.Set, name, reset, local: !!b.is_local });
    }
    case 'TransactionStmt': {
      const end = END[b.kind as string];
      return end === undefined ? null : Object.freeze({ op: SessionOp.EndTransaction, end, chain: !!b.chain });
    }
    default:
      return null;
  }
}

/** The first words of the statements sessionStatementOf reports (the lexical pre-check of sessionStatements). */
const FIRST_WORDS: ReadonlySet<string> = new Set([
  'deallocate', 'prepare', 'listen', 'unlisten', 'create', 'drop', 'set', 'reset', 'commit', 'end', 'rollback', 'abort',
]);

/**
 * The first keyword of sql[from, to), lower-cased (ASCII letters and `_` only), after whitespace and `--` / (nested)
 * `/* *\/` comments; '' when the text starts with anything else (a quote, a parenthesis …) or is empty.
 */
export function firstWord(sql: string, from = 0, to = sql.length): string {
  let i = from;
  while (i < to) {
    const c = sql.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) i++;
    else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const nl = sql.indexOf('\n', i + 2);
      i = nl < 0 || nl > to ? to : nl + 1;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < to && depth > 0) {
        if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) { depth--; i += 2; }
        else if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) { depth++; i += 2; }
        else i++;
      }
    } else break;
  }
  const start = i;
  while (i < to) {
    const c = sql.charCodeAt(i);
    const lower = c | 32;
    if ((lower >= 97 && lower <= 122) || c === 95) i++;
    else break;
  }
  // a word followed by an identifier character other than a letter (a digit, `$`, non-ASCII) is not a keyword
  const next = i < to ? sql.charCodeAt(i) : 32;
  if ((next >= 48 && next <= 57) || next === 36 || next >= 128) return '';
  return sql.slice(start, i).toLowerCase();
}

/** The parse tree of one statement's text, or null when it does not parse (or the parser is not loaded). */
function parseOne(text: string): Node | null {
  try {
    const tree = parseSync(text) as { stmts?: { stmt?: Node }[] };
    return tree.stmts?.length === 1 ? tree.stmts[0]!.stmt ?? null : null;
  } catch {
    return null;
  }
}

/**
 * What each statement of a simple Query does to the session: one entry per statement (split as the analyzer splits:
 * at top-level `;`, empty statements dropped), null for a statement with no such effect, or that does not parse.
 * Only statements whose first word (firstWord) can begin one of these are parsed; the rest cost one word's scan plus
 * the split. Needs the parser loaded (Analyzer.init()); before that, every entry is null.
 */
export function sessionStatements(sql: string): (SessionStatement | null)[] {
  const stmts = scanStatements(sql, true);
  const out: (SessionStatement | null)[] = new Array(stmts.length);
  for (let k = 0; k < stmts.length; k++) {
    const s = stmts[k]!;
    const tree = FIRST_WORDS.has(firstWord(sql, s.start, s.end)) ? parseOne(sql.slice(s.start, s.end)) : null;
    out[k] = tree === null ? null : sessionStatementOf(tree);
  }
  return out;
}

/**
 * The DEALLOCATE a simple Query consists of: the query is exactly one DEALLOCATE statement (comments, whitespace and
 * one trailing `;` allowed); null for anything else. Costs one word's scan unless the query starts with DEALLOCATE.
 */
export function deallocateOnly(sql: string): Extract<SessionStatement, { op: typeof SessionOp.Deallocate }> | null {
  if (firstWord(sql) !== 'deallocate') return null;
  const all = sessionStatements(sql);
  const only = all.length === 1 ? all[0] : null;
  return only !== null && only !== undefined && only.op === SessionOp.Deallocate ? only : null;
}

const STATEMENT_WORD = /\b(?:execute|prepare|deallocate)\b/i;
const hints = new Map<string, RegExp>();

/**
 * Cheap first look at a Query's text (any decoding: the test is ASCII) for SQL that could name one of the proxy's
 * server-side statements: the text contains `prefix` (case-insensitive) or `U&"` / `U&'` anywhere.
 */
export function mayNameReservedStatement(text: string, prefix: string): boolean {
  let re = hints.get(prefix);
  if (re === undefined) {
    const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    re = new RegExp(escaped + `|u&["']`, 'i');
    if (hints.size < 16) hints.set(prefix, re);
  }
  return re.test(text);
}

/**
 * Whether SQL could name one of the proxy's server-side statements (`prefix`N): the text holds the word EXECUTE,
 * PREPARE or DEALLOCATE and (mayNameReservedStatement) the prefix or a U& identifier or string. Deliberately lexical
 * and over the whole text, strings, comments and dollar-quoted bodies included: a DO block or a function body runs
 * `EXECUTE 'deallocate prescient_3'` from a string the parser does not look into, and a U& identifier can spell any
 * name. So it errs towards refusing (`select 'prescient_1' as execute` is refused too).
 */
export function namesReservedStatement(sql: string, prefix: string): boolean {
  return mayNameReservedStatement(sql, prefix) && STATEMENT_WORD.test(sql);
}
