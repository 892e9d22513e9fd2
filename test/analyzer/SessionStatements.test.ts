// Tests for proxy/analyzer/SessionStatements.ts: tables of statements with what they do to the session (names as
// Postgres resolves them: quoted, U&, comments, several statements, PREPARE TRANSACTION, AND CHAIN …), the same facts
// through the Analyzer, the single-DEALLOCATE check, the reserved-name check and the first-word pre-check.
import t from 'tap';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import {
  SessionOp as Op, TransactionEnd as End, deallocateOnly, firstWord, mayNameReservedStatement, namesReservedStatement, sessionStatements,
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
  ['select 1 into temp t', [null]],
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
