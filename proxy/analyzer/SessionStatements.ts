// SessionStatements owns what a statement does to session state (DEALLOCATE, PREPARE, LISTEN/UNLISTEN, temporary tables, DROP TABLE, SET/RESET, the end of a transaction), read from its tokens (SessionLexer) as Postgres' grammar reads them, without the parser.
import { scanStatements } from './Shape.js';
import { tokenize, type Token } from './SessionLexer.js';

/** What a statement does to the session. */
export const SessionOp = {
  /** DEALLOCATE [PREPARE] name | ALL */
  Deallocate: 'deallocate',
  /** PREPARE name [(types)] AS … (not PREPARE TRANSACTION: that ends a transaction) */
  Prepare: 'prepare',
  Listen: 'listen',
  /** UNLISTEN channel | * */
  Unlisten: 'unlisten',
  /** CREATE [TEMP] TABLE …, CREATE [TEMP] TABLE … AS, SELECT … INTO [TEMP] table */
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

const freeze = <T extends object>(o: T): T => Object.freeze(o);

function tableName(parts: readonly string[]): TableName {
  return freeze({ schema: parts.length > 1 ? parts[parts.length - 2]! : null, name: parts[parts.length - 1] ?? '' });
}

/** Postgres' reserved and type/function-name keywords: never a plain identifier (ColId) unquoted. */
const NOT_A_NAME: ReadonlySet<string> = new Set([
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'both', 'case', 'cast', 'check', 'collate', 'column',
  'constraint', 'create', 'current_catalog', 'current_date', 'current_role', 'current_time', 'current_timestamp', 'current_user',
  'default', 'deferrable', 'desc', 'distinct', 'do', 'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'from', 'grant',
  'group', 'having', 'in', 'initially', 'intersect', 'into', 'lateral', 'leading', 'limit', 'localtime', 'localtimestamp', 'not',
  'null', 'offset', 'on', 'only', 'or', 'order', 'placing', 'primary', 'references', 'returning', 'select', 'session_user', 'some',
  'symmetric', 'system_user', 'table', 'then', 'to', 'trailing', 'true', 'union', 'unique', 'user', 'using', 'variadic', 'when',
  'where', 'window', 'with', 'authorization', 'binary', 'collation', 'concurrently', 'cross', 'current_schema', 'freeze', 'full',
  'ilike', 'inner', 'is', 'isnull', 'join', 'left', 'like', 'natural', 'notnull', 'outer', 'overlaps', 'right', 'similar',
  'tablesample', 'verbose',
]);

/** A cursor over one statement's tokens. */
class Tokens {
  private at = 0;
  constructor(private readonly list: readonly Token[]) {}
  get done(): boolean { return this.at >= this.list.length; }
  /** the next token, consumed */
  skip(): Token | undefined { return this.list[this.at++]; }
  peek(k = 0): Token | undefined { return this.list[this.at + k]; }
  /** the next token is the word `w` (consumed) */
  word(...w: string[]): boolean {
    const t = this.list[this.at];
    if (t?.kind !== 'word' || !w.includes(t.text)) return false;
    this.at++;
    return true;
  }
  op(c: string): boolean {
    const t = this.list[this.at];
    if (t?.kind !== 'op' || t.text !== c) return false;
    this.at++;
    return true;
  }
  /** an identifier (a word or a quoted / U& identifier), consumed; null if the next token is none */
  name(): string | null {
    const t = this.list[this.at];
    if (t === undefined || (t.kind !== 'word' && t.kind !== 'ident') || (t.kind === 'word' && NOT_A_NAME.has(t.text))) return null;
    this.at++;
    return t.text;
  }
  /** name [. name [. name]] */
  qualified(): string[] | null {
    const first = this.name();
    if (first === null) return null;
    const parts = [first];
    while (parts.length < 3 && this.op('.')) {
      const next = this.name();
      if (next === null) return null;
      parts.push(next);
    }
    return parts;
  }
  string(): boolean {
    if (this.list[this.at]?.kind !== 'string') return false;
    this.at++;
    return true;
  }
  /** the rest, as a balanced run at parenthesis depth 0: does it hold these words in a row? */
  atDepth0(...words: string[]): boolean {
    let depth = 0;
    for (let k = this.at; k < this.list.length; k++) {
      const t = this.list[k]!;
      if (t.kind === 'op' && t.text === '(') depth++;
      else if (t.kind === 'op' && t.text === ')') depth--;
      else if (depth === 0 && words.every((w, n) => this.list[k + n]?.kind === 'word' && this.list[k + n]!.text === w)) return true;
    }
    return false;
  }
  /** moves past the first `word` at parenthesis depth 0; false (and stays) if there is none */
  skipToDepth0(word: string): boolean {
    let depth = 0;
    for (let k = this.at; k < this.list.length; k++) {
      const t = this.list[k]!;
      if (t.kind === 'op' && t.text === '(') depth++;
      else if (t.kind === 'op' && t.text === ')') depth--;
      else if (depth === 0 && t.kind === 'word' && t.text === word) {
        this.at = k + 1;
        return true;
      }
    }
    return false;
  }
  /** parentheses balance over the rest */
  balanced(): boolean {
    let depth = 0;
    for (let k = this.at; k < this.list.length; k++) {
      const t = this.list[k]!;
      if (t.kind === 'op' && t.text === '(') depth++;
      else if (t.kind === 'op' && t.text === ')' && --depth < 0) return false;
    }
    return depth === 0;
  }
}

/** DEALLOCATE [PREPARE] name | ALL */
function deallocateOf(t: Tokens): SessionStatement | null {
  t.word('prepare');
  if (t.word('all')) return t.done ? freeze({ op: SessionOp.Deallocate, name: null }) : null;
  const name = t.name();
  return name !== null && t.done ? freeze({ op: SessionOp.Deallocate, name }) : null;
}

/** PREPARE name [(types)] AS statement, or PREPARE TRANSACTION 'gid' */
function prepareOf(t: Tokens): SessionStatement | null {
  if (t.word('transaction')) return t.string() && t.done ? freeze({ op: SessionOp.EndTransaction, end: TransactionEnd.PrepareTransaction, chain: false }) : null;
  const name = t.name();
  if (name === null) return null;
  if (t.op('(')) {
    // the parameter types
    for (let depth = 1; depth > 0;) {
      const k = t.skip();
      if (k === undefined) return null;
      if (k.kind === 'op' && k.text === '(') depth++;
      else if (k.kind === 'op' && k.text === ')') depth--;
    }
  }
  return t.word('as') && !t.done ? freeze({ op: SessionOp.Prepare, name }) : null;
}

/** LISTEN channel; UNLISTEN channel | * */
function listenOf(t: Tokens, un: boolean): SessionStatement | null {
  if (un && t.op('*')) return t.done ? freeze({ op: SessionOp.Unlisten, channel: null }) : null;
  const channel = t.name();
  if (channel === null || !t.done) return null;
  return un ? freeze({ op: SessionOp.Unlisten, channel }) : freeze({ op: SessionOp.Listen, channel });
}

/** [GLOBAL | LOCAL] TEMP[ORARY] → true, UNLOGGED or nothing → false, GLOBAL/LOCAL without TEMP → null (not valid) */
function persistence(t: Tokens): boolean | null {
  if (t.word('global', 'local')) return t.word('temp', 'temporary') ? true : null;
  if (t.word('temp', 'temporary')) return true;
  t.word('unlogged');
  return false;
}

/** CREATE [ [GLOBAL | LOCAL] TEMP[ORARY] | UNLOGGED ] TABLE [IF NOT EXISTS] name … [ON COMMIT DROP] [AS query] */
function createOf(t: Tokens): SessionStatement | null {
  const temp = persistence(t);
  if (temp === null) return null;
  if (!t.word('table')) return null;
  if (t.word('if') && !(t.word('not') && t.word('exists'))) return null;
  const parts = t.qualified();
  if (parts === null) return null;
  const next = t.peek();
  if (next === undefined || !((next.kind === 'op' && next.text === '(') || (next.kind === 'word' && ['as', 'partition', 'of', 'using', 'with', 'on', 'tablespace'].includes(next.text)))) return null;
  if (!t.balanced()) return null;
  const table = tableName(parts);
  return freeze({
    op: SessionOp.CreateTable, table, temp: temp || table.schema === 'pg_temp', onCommitDrop: t.atDepth0('on', 'commit', 'drop'), asQuery: t.atDepth0('as'),
  });
}

/** SELECT … INTO [TEMP | TEMPORARY | UNLOGGED] [TABLE] name …: a CREATE TABLE AS (its tag is `SELECT n`) */
function selectIntoOf(t: Tokens): SessionStatement | null {
  if (!t.skipToDepth0('into')) return null;
  const temp = persistence(t);
  if (temp === null) return null;
  t.word('table');
  const parts = t.qualified();
  if (parts === null) return null;
  const table = tableName(parts);
  return freeze({ op: SessionOp.CreateTable, table, temp: temp || table.schema === 'pg_temp', onCommitDrop: false, asQuery: true });
}

/** DROP TABLE [IF EXISTS] name [, …] [CASCADE | RESTRICT] */
function dropOf(t: Tokens): SessionStatement | null {
  if (!t.word('table')) return null;
  if (t.word('if') && !t.word('exists')) return null;
  const tables: TableName[] = [];
  do {
    const parts = t.qualified();
    if (parts === null) return null;
    tables.push(tableName(parts));
  } while (t.op(','));
  t.word('cascade', 'restrict');
  return t.done ? freeze({ op: SessionOp.DropTable, tables: freeze(tables) }) : null;
}

const set = (name: string | null, reset: boolean, local: boolean): SessionStatement => freeze({ op: SessionOp.Set, name, reset, local });

/** SET [SESSION | LOCAL] …, with the names Postgres gives its special forms */
function setOf(t: Tokens): SessionStatement | null {
  let local = false;
  if (t.word('local')) local = true;
  else if (t.peek()?.text === 'session' && t.peek()?.kind === 'word' && !['authorization', 'characteristics'].includes(t.peek(1)?.text ?? '')) t.word('session');
  // the value: present, DEFAULT means reset
  const value = (special: string): SessionStatement | null => {
    if (t.done) return null;
    const d = t.peek()!;
    return set(special, d.kind === 'word' && d.text === 'default' && t.peek(1) === undefined, local);
  };
  if (t.word('time')) return t.word('zone') ? (t.done ? null : set('timezone', t.peek()!.kind === 'word' && ['default', 'local'].includes(t.peek()!.text), local)) : null;
  if (t.word('names')) return set('client_encoding', t.done || (t.peek()!.kind === 'word' && t.peek()!.text === 'default'), local);
  if (t.word('role')) return value('role');
  if (t.peek()?.kind === 'word' && t.peek()?.text === 'session' && t.peek(1)?.text === 'authorization') {
    t.word('session');
    t.word('authorization');
    return value('session_authorization');
  }
  if (t.peek()?.kind === 'word' && t.peek()?.text === 'session' && t.peek(1)?.text === 'characteristics') return set('session characteristics', false, local);
  if (t.word('transaction')) return t.word('snapshot') ? set('transaction snapshot', false, local) : t.done ? null : set('transaction', false, local);
  if (t.word('schema')) return t.done ? null : set('search_path', false, local);
  if (t.peek()?.kind === 'word' && t.peek()?.text === 'xml' && t.peek(1)?.text === 'option') return set('xmloption', false, local);
  const parts = t.qualified();
  if (parts === null || !(t.word('to') || t.op('='))) return null;
  return value(parts.join('.').toLowerCase());
}

/** RESET name | ALL | TIME ZONE | SESSION AUTHORIZATION | TRANSACTION ISOLATION LEVEL */
function resetOf(t: Tokens): SessionStatement | null {
  let name: string | null;
  if (t.word('all')) name = null;
  else if (t.word('time')) name = t.word('zone') ? 'timezone' : '';
  else if (t.peek()?.text === 'session' && t.peek(1)?.text === 'authorization') {
    t.word('session');
    t.word('authorization');
    name = 'session_authorization';
  } else if (t.peek()?.text === 'transaction' && t.peek(1)?.text === 'isolation') {
    t.word('transaction');
    t.word('isolation');
    name = t.word('level') ? 'transaction_isolation' : '';
  } else name = t.qualified()?.join('.').toLowerCase() ?? '';
  return name !== '' && t.done ? set(name, true, false) : null;
}

/** COMMIT / END / ROLLBACK / ABORT [WORK | TRANSACTION] [AND [NO] CHAIN], and the PREPARED forms */
function endOf(t: Tokens, commit: boolean, plain: boolean): SessionStatement | null {
  if (plain && t.word('prepared')) {
    return t.string() && t.done ? freeze({ op: SessionOp.EndTransaction, end: commit ? TransactionEnd.CommitPrepared : TransactionEnd.RollbackPrepared, chain: false }) : null;
  }
  t.word('work', 'transaction');
  if (!commit && t.peek()?.kind === 'word' && t.peek()?.text === 'to') return null; // ROLLBACK TO SAVEPOINT: the transaction goes on
  let chain = false;
  if (t.word('and')) {
    const no = t.word('no');
    if (!t.word('chain')) return null;
    chain = !no;
  }
  return t.done ? freeze({ op: SessionOp.EndTransaction, end: commit ? TransactionEnd.Commit : TransactionEnd.Rollback, chain }) : null;
}

/** The session effect of sql[from, to) (one statement), or null when it has none of these or is not well formed. */
export function sessionStatementIn(sql: string, from = 0, to = sql.length): SessionStatement | null {
  const list = tokenize(sql, from, to);
  if (list === null || list.length === 0) return null;
  let n = list.length;
  while (n > 0 && list[n - 1]!.kind === 'op' && list[n - 1]!.text === ';') n--;
  const t = new Tokens(list.slice(0, n));
  const first = t.peek();
  if (first?.kind !== 'word') return null;
  t.word(first.text);
  switch (first.text) {
    case 'deallocate': return deallocateOf(t);
    case 'prepare': return prepareOf(t);
    case 'listen': return listenOf(t, false);
    case 'unlisten': return listenOf(t, true);
    case 'create': return createOf(t);
    case 'drop': return dropOf(t);
    case 'set': return setOf(t);
    case 'reset': return resetOf(t);
    case 'commit': return endOf(t, true, true);
    case 'end': return endOf(t, true, false);
    case 'rollback': return endOf(t, false, true);
    case 'abort': return endOf(t, false, false);
    case 'select': return selectIntoOf(t);
    default: return null;
  }
}

/** The first words of the statements sessionStatementIn reports (the lexical pre-check of sessionStatements). */
const FIRST_WORDS: ReadonlySet<string> = new Set([
  'deallocate', 'prepare', 'listen', 'unlisten', 'create', 'drop', 'set', 'reset', 'commit', 'end', 'rollback', 'abort', 'select',
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
    out[k] = FIRST_WORDS.has(firstWord(sql, s.start, s.end)) ? sessionStatementIn(sql, s.start, s.end) : null;
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

const lowerAscii = (c: number): number => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
const prefixCodes = new Map<string, Uint8Array>();

/**
 * mayNameReservedStatement over a Query's bytes as they arrived (read as latin1), without decoding them: the pass-through
 * path asks it of every simple Query. Same answer as the regular expression (ASCII case folding; a prefix with other
 * characters, or none, takes the regular expression).
 */
export function mayNameReservedBytes(text: Uint8Array, prefix: string): boolean {
  let p = prefixCodes.get(prefix);
  if (p === undefined) {
    if (prefix.length === 0 || !/^[\x00-\x7f]+$/.test(prefix)) return mayNameReservedStatement(Buffer.from(text).toString('latin1'), prefix);
    p = Uint8Array.from(prefix, (ch) => lowerAscii(ch.charCodeAt(0)));
    if (prefixCodes.size < 16) prefixCodes.set(prefix, p);
  }
  const n = text.length;
  const m = p.length;
  const p0 = p[0]!;
  for (let i = 0; i < n; i++) {
    const c = lowerAscii(text[i]!);
    if (c === 0x75 && i + 2 < n && text[i + 1] === 0x26 && (text[i + 2] === 0x22 || text[i + 2] === 0x27)) return true;
    if (c !== p0 || i + m > n) continue;
    let j = 1;
    while (j < m && lowerAscii(text[i + j]!) === p[j]) j++;
    if (j === m) return true;
  }
  return false;
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
