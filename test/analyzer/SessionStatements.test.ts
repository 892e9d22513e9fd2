// Tests for proxy/analyzer/SessionStatements.ts: tables of statements with what they do to the session (names as
// Postgres resolves them: quoted, U&, comments, several statements, PREPARE TRANSACTION, AND CHAIN …), the same facts
// through the Analyzer, the single-DEALLOCATE check, the reserved-name check and the first-word pre-check.
import t from 'tap';
import { parseSync } from 'libpg-query';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import {
  SessionOp as Op, TransactionEnd as End, deallocateOnly, firstWord, mayNameReservedBytes, mayNameReservedStatement, namesReservedStatement, sessionStatements,
  type SessionStatement,
} from '../../proxy/analyzer/SessionStatements.js';

await Analyzer.init();

const deallocate = (name: string | null): SessionStatement => ({ op: Op.Deallocate, name });
const prepare = (name: string): SessionStatement => ({ op: Op.Prepare, name });
const listen = (channel: string): SessionStatement => ({ op: Op.Listen, channel });
const unlisten = (channel: string | null): SessionStatement => ({ op: Op.Unlisten, channel });
const create = (schema: string | null, name: string, temp: boolean, onCommitDrop = false, asQuery = false): SessionStatement =>
  ({ op: Op.CreateTable, table: { schema, name }, temp, onCommitDrop, asQuery });
const drop = (...names: [string | null, string][]): SessionStatement => ({ op: Op.DropTable, tables: names.map(([schema, name]) => ({ schema, name })) });
const set = (name: string | null, o: { reset?: boolean; local?: boolean } = {}): SessionStatement => ({ op: Op.Set, name, reset: o.reset ?? false, local: o.local ?? false });
const end = (e: End, chain = false): SessionStatement => ({ op: Op.EndTransaction, end: e, chain });

const long = 'a'.repeat(70);

/** sql → one entry per statement (null: no session effect, or it does not parse) */
const cases: [string, (SessionStatement | null)[]][] = [
  // DEALLOCATE
  ['deallocate foo', [deallocate('foo')]],
  ['DEALLOCATE PREPARE Foo', [deallocate('foo')]],
  ['deallocate prepare x', [deallocate('x')]],
  ['deallocate "Foo"', [deallocate('Foo')]],
  ['deallocate "a""b"', [deallocate('a"b')]],
  ['deallocate "all"', [deallocate('all')]],
  ['deallocate all', [deallocate(null)]],
  ['DEALLOCATE PREPARE ALL;', [deallocate(null)]],
  ['deallocate U&"d\\0061t"', [deallocate('dat')]],
  ["deallocate U&\"d!0061t\" UESCAPE '!'", [deallocate('dat')]],
  ['/* a comment */ deallocate -- another\n  foo', [deallocate('foo')]],
  ['deallocate "prescient_3"', [deallocate('prescient_3')]],
  [`deallocate ${long}`, [deallocate('a'.repeat(63))]],
  // PREPARE, and PREPARE TRANSACTION (which ends a transaction)
  ['prepare p as select 1', [prepare('p')]],
  ['PREPARE "P1" (int, text) AS SELECT $1, $2', [prepare('P1')]],
  ["prepare p as select 'deallocate x; listen y'", [prepare('p')]],
  ["PREPARE TRANSACTION 'gid-1'", [end(End.PrepareTransaction)]],
  // LISTEN / UNLISTEN
  ['listen Chan', [listen('chan')]],
  ['LISTEN "Chan 1"', [listen('Chan 1')]],
  ['listen U&"\\0041b"', [listen('Ab')]],
  ['unlisten *', [unlisten(null)]],
  ['unlisten c', [unlisten('c')]],
  ['unlisten "*"', [unlisten('*')]],
  // CREATE TABLE
  ['create temp table t (x int)', [create(null, 't', true)]],
  ['CREATE TEMPORARY TABLE T (x int) ON COMMIT DROP', [create(null, 't', true, true)]],
  ['create global temporary table g (x int)', [create(null, 'g', true)]],
  ['create local temp table l (x int) on commit delete rows', [create(null, 'l', true)]],
  ['create temp unlogged table u (x int)', [null]], // TEMP and UNLOGGED together do not parse
  ['create table pg_temp.p (x int)', [create('pg_temp', 'p', true)]],
  ['create table public.t (x int)', [create('public', 't', false)]],
  ['create unlogged table u (x int)', [create(null, 'u', false)]],
  ['create table if not exists "T" (x int)', [create(null, 'T', false)]],
  ['create temp table t as select 1', [create(null, 't', true, false, true)]],
  ['create temp table t on commit drop as select 1 with no data', [create(null, 't', true, true, true)]],
  ['create temp view v as select 1', [null]],
  ['create materialized view m as select 1', [null]],
  ['select 1 into temp t', [create(null, 't', true, false, true)]],
  ['SELECT a, b INTO TEMPORARY TABLE "T" FROM x WHERE y IN (SELECT 1)', [create(null, 'T', true, false, true)]],
  ['select * into u from x', [create(null, 'u', false, false, true)]],
  ['select (select 1 into x)', [null]],
  // DROP TABLE
  ['drop table a, s.b, pg_temp.c cascade', [drop([null, 'a'], ['s', 'b'], ['pg_temp', 'c'])]],
  ['DROP TABLE IF EXISTS "A" RESTRICT', [drop([null, 'A'])]],
  ['drop view v', [null]],
  ['drop index i', [null]],
  // SET / RESET
  ["set search_path = a, public", [set('search_path')]],
  ['SET LOCAL statement_timeout TO 5', [set('statement_timeout', { local: true })]],
  ["SET SESSION timezone TO 'UTC'", [set('timezone')]],
  ["set time zone 'UTC'", [set('timezone')]],
  ["set local time zone 'UTC'", [set('timezone', { local: true })]],
  ["set names 'UTF8'", [set('client_encoding')]],
  ["set \"TimeZone\" = 'UTC'", [set('timezone')]],
  ['reset all', [set(null, { reset: true })]],
  ['RESET search_path', [set('search_path', { reset: true })]],
  ['set search_path to default', [set('search_path', { reset: true })]],
  ["set session authorization 'bob'", [set('session_authorization')]],
  ['set role r', [set('role')]],
  ['set transaction isolation level serializable', [set('transaction')]],
  ["set local prescient.account = 'a'", [set('prescient.account', { local: true })]],
  // the end of a transaction
  ['commit', [end(End.Commit)]],
  ['END', [end(End.Commit)]],
  ['commit work', [end(End.Commit)]],
  ['commit and chain', [end(End.Commit, true)]],
  ['COMMIT AND NO CHAIN', [end(End.Commit)]],
  ["commit prepared 'gid'", [end(End.CommitPrepared)]],
  ['rollback', [end(End.Rollback)]],
  ['abort', [end(End.Rollback)]],
  ['rollback work', [end(End.Rollback)]],
  ['rollback and chain', [end(End.Rollback, true)]],
  ["ROLLBACK PREPARED 'gid'", [end(End.RollbackPrepared)]],
  ['rollback to savepoint s', [null]],
  ['release s', [null]],
  ['begin', [null]],
  // anything else, several statements, what does not parse
  ['select 1', [null]],
  ["select 'deallocate x'", [null]],
  ['delete from t', [null]],
  ["do $$ begin execute 'listen x'; end $$", [null]],
  ["listen a; select 1; unlisten *; prepare p as select ';'", [listen('a'), null, unlisten(null), prepare('p')]],
  ['/* x */ listen a ; /* y */ ; -- z\n deallocate all;', [listen('a'), deallocate(null)]],
  ['listen a; listen', [listen('a'), null]],
  ['listen', [null]],
  ['set', [null]],
  ['', []],
  [' ; ;\n', []],
];

t.test('sessionStatements: one entry per statement', async (t) => {
  for (const [sql, want] of cases) t.strictSame(sessionStatements(sql), want, sql);
});

t.test('the Analyzer reports the same facts (StatementInfo.session)', async (t) => {
  const analyzer = new Analyzer({ accountColumn: 'account_id' });
  for (const [sql, want] of cases) t.strictSame(analyzer.analyze(sql).map((s) => s.session ?? null), want, sql);
});

t.test('deallocateOnly: the query is one DEALLOCATE', async (t) => {
  const only: [string, SessionStatement | null][] = [
    ['deallocate foo', deallocate('foo')],
    ['deallocate foo;', deallocate('foo')],
    [' deallocate prepare "X" ; ', deallocate('X')],
    ['deallocate all', deallocate(null)],
    ['-- c\ndeallocate x', deallocate('x')],
    ['/* c */deallocate x /* d */', deallocate('x')],
    ['deallocate foo; select 1', null],
    ['deallocate foo; deallocate bar', null],
    ['deallocate', null],
    ['deallocatex', null],
    ['deallocate1', null],
    ['select 1', null],
    ['delete from t', null],
    ['', null],
  ];
  for (const [sql, want] of only) t.strictSame(deallocateOnly(sql), want, sql);
});

t.test('namesReservedStatement: lexical, over the whole text', async (t) => {
  const reserved: [string, boolean][] = [
    ['execute prescient_3', true],
    ['EXECUTE Prescient_3 (1)', true],
    ['deallocate "prescient_3"', true],
    ['prepare prescient_1 as select 1', true],
    ['execute U&"\\0070rescient_3"', true],
    ["prepare p as select U&'x'", true],
    ["do $$ begin execute 'deallocate prescient_3'; end $$", true],
    ['select 1 /* prescient_ */; execute p', true],
    ['select prescient_x from t', false],
    ['execute p1', false],
    ['select * from prescient_tables where prepare_x = 1', false],
    ['', false],
  ];
  for (const [sql, want] of reserved) t.equal(namesReservedStatement(sql, 'prescient_'), want, sql);
  t.equal(namesReservedStatement('execute other_3', 'other_'), true, 'another prefix');
  t.equal(namesReservedStatement('execute prescient_3', 'other_'), false, 'another prefix: not this one');
  const hints: [string, boolean][] = [['select 1', false], ['U&"x"', true], ["u&'x'", true], ['PRESCIENT_1', true], ['u &"x"', false]];
  for (const [text, want] of hints) t.equal(mayNameReservedStatement(text, 'prescient_'), want, text);
});

t.test('mayNameReservedBytes gives the regular expression\'s answer on bytes', async (t) => {
  const texts = [
    'select 1', 'U&"x"', "u&'x'", 'PRESCIENT_1', 'u &"x"', 'u&', 'u&x', 'prescient', 'xprescient_', 'PrEsCiEnT_9', 'prescienT_',
    'select \u00e9 from prescient_', 'u&"', "u&'", 'presc\u00c9ient_', '', 'p', 'prescient_prescient_', 'Uu&"',
  ];
  // and random latin1 strings over a small alphabet that makes matches likely
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const alphabet = ['p', 'P', 'r', 'e', 's', 'c', 'i', 'n', 't', '_', 'u', 'U', '&', '"', "'", ' ', '\u00e9', '\u00ff', 'E', 'S', 'C', 'I', 'N', 'T'];
  for (let k = 0; k < 3000; k++) {
    let s = '';
    for (let i = rnd(24); i > 0; i--) s += alphabet[rnd(alphabet.length)];
    texts.push(s);
  }
  let mismatches = 0;
  for (const prefix of ['prescient_', 'other_', 'P']) {
    for (const text of texts) {
      const want = mayNameReservedStatement(text, prefix);
      if (mayNameReservedBytes(Buffer.from(text, 'latin1'), prefix) !== want) {
        mismatches++;
        if (mismatches < 5) t.fail(`${JSON.stringify(text)} with prefix ${prefix}: want ${want}`);
      }
    }
  }
  t.equal(mismatches, 0, `${texts.length * 3} texts agree`);
});

t.test('firstWord: the lexical pre-check', async (t) => {
  const words: [string, string][] = [
    ['  Deallocate x', 'deallocate'],
    ['/* a /* nested */ b */ LISTEN x', 'listen'],
    ['-- line\n-- line\nset x = 1', 'set'],
    ['(select 1)', ''],
    ['"listen" x', ''],
    ['listen2', ''],
    ['listen$', ''],
    ['set_config', 'set_config'],
    ['', ''],
    ['-- only a comment', ''],
  ];
  for (const [sql, want] of words) t.equal(firstWord(sql), want, sql);
  t.equal(firstWord('select 1; commit', 10), 'commit', 'from an offset');
  t.equal(firstWord('select 1; commitment', 10, 16), 'commit', 'up to an end');
});

// The oracle: Postgres' own grammar (libpg-query), walked as the parse tree names these effects. The lexical reading
// above must agree with it on every statement here (an unparsable statement has no effect).
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const ORACLE_END: Record<string, End> = {
  TRANS_STMT_COMMIT: End.Commit, TRANS_STMT_ROLLBACK: End.Rollback, TRANS_STMT_PREPARE: End.PrepareTransaction,
  TRANS_STMT_COMMIT_PREPARED: End.CommitPrepared, TRANS_STMT_ROLLBACK_PREPARED: End.RollbackPrepared,
};
function oracle(sql: string): SessionStatement | null {
  let stmt: Node | undefined;
  try {
    stmt = (parseSync(sql) as { stmts?: { stmt: Node }[] }).stmts?.[0]?.stmt;
  } catch {
    return null;
  }
  if (!stmt) return null;
  const type = Object.keys(stmt)[0]!;
  const b = stmt[type] as Node;
  const table = (rel: Node | undefined, onCommit: unknown, asQuery: boolean): SessionStatement | null => {
    if (!rel) return null;
    const schema = typeof rel.schemaname === 'string' ? rel.schemaname as string : null;
    return { op: Op.CreateTable, table: { schema, name: rel.relname }, temp: rel.relpersistence === 't' || schema === 'pg_temp', onCommitDrop: onCommit === 'ONCOMMIT_DROP', asQuery };
  };
  switch (type) {
    case 'DeallocateStmt': return { op: Op.Deallocate, name: b.isall || typeof b.name !== 'string' ? null : b.name };
    case 'PrepareStmt': return { op: Op.Prepare, name: String(b.name ?? '') };
    case 'ListenStmt': return { op: Op.Listen, channel: String(b.conditionname ?? '') };
    case 'UnlistenStmt': return { op: Op.Unlisten, channel: typeof b.conditionname === 'string' ? b.conditionname : null };
    case 'CreateStmt': return table(b.relation, b.oncommit, false);
    case 'CreateTableAsStmt': return b.objtype === 'OBJECT_TABLE' ? table(b.into?.rel, b.into?.onCommit, true) : null;
    case 'SelectStmt': return b.intoClause ? table(b.intoClause.rel, b.intoClause.onCommit, true) : null;
    case 'DropStmt': {
      if (b.removeType !== 'OBJECT_TABLE') return null;
      return { op: Op.DropTable, tables: ((b.objects ?? []) as Node[]).map((o) => {
        const parts = ((o.List?.items ?? []) as Node[]).map((x) => String(x.String?.sval ?? ''));
        return { schema: parts.length > 1 ? parts[parts.length - 2]! : null, name: parts[parts.length - 1] ?? '' };
      }) };
    }
    case 'VariableSetStmt': {
      const kind = b.kind as string;
      return { op: Op.Set, name: kind === 'VAR_RESET_ALL' || typeof b.name !== 'string' ? null : (b.name as string).toLowerCase(), reset: kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL' || kind === 'VAR_SET_DEFAULT', local: !!b.is_local };
    }
    case 'TransactionStmt': {
      const e = ORACLE_END[b.kind as string];
      return e === undefined ? null : { op: Op.EndTransaction, end: e, chain: !!b.chain };
    }
    default: return null;
  }
}

t.test('the lexical reading agrees with Postgres\' grammar (libpg-query as the oracle)', async (t) => {
  const more = [
    'set session x to 1', 'set x to default', 'set x = default', 'set time zone local', 'SET TIME ZONE DEFAULT', "set time zone interval '1' hour",
    'set names', 'set names default', 'set role none', 'set session authorization default', 'reset role', 'reset transaction isolation level',
    "set schema 'x'", 'set xml option document', "set transaction snapshot '000'", 'set session characteristics as transaction read only',
    'set local transaction read only', "set a.b.c = 'x'", 'set "A"."B" to 1', 'set x', 'reset', 'reset x y', 'reset time zone',
    'reset session authorization', 'commit and', 'rollback to s', 'rollback transaction to savepoint s', 'end transaction', 'abort and chain',
    'abort and no chain', 'commit transaction and chain', 'prepare transaction', 'prepare p(int, text[]) as select $1', 'prepare p (int) as',
    'prepare p as', 'listen a.b', "listen 'x'", 'unlisten a b', 'listen a;', 'create temp table t(a int) with (fillfactor=70)',
    'create table t partition of p for values in (1)', 'create temp table t of mytype', 'create table t', 'create table t ()',
    'drop table', 'drop table a,', 'drop table if exists a.b.c', 'drop table if a', 'deallocate prepare all', 'deallocate x y',
    'create temp table "T""x" (a int)', 'create temporary table t (a int) on commit preserve rows', 'create table x.y.z (a int)',
    "create temp table t (a int default 'on commit drop')", 'create temp table t (a int) tablespace ts', 'create temp table t (a) as values (1)',
    'create unlogged table u as select 1', 'create temp table t (like x including all) on commit drop', 'create global table g (a int)',
    'CREATE TEMP TABLE IF NOT EXISTS t (a int)', 'create table if exists t (a int)', `listen ${'é'.repeat(40)}`, 'deallocate "a"b',
    'listen "unterminated', "set x = 'unterminated", 'commit prepared', "commit prepared 'g' and chain", 'end prepared \'x\'',
    'drop table a cascade restrict', 'listen all', 'unlisten "*"', 'listen select', 'deallocate table', 'drop table user', 'listen authorization', 'listen "all"',
  ];
  // (what the lexical reading accepts and the grammar does not, e.g. CTAS with column types, the server refuses: no
  // command tag ever completes for it, so no session state follows)
  for (const sql of [...cases.map(([s]) => s).filter((s) => !s.includes(';') && s.trim() !== ''), ...more]) {
    t.strictSame(sessionStatements(sql)[0] ?? null, oracle(sql), sql);
  }
});
