// Owns: pipelinableQuery — which simple Queries may ride a shared (pipelined) server connection.
import t from 'tap';
import { isPipelinableQuery } from '../../proxy/session/pipelinableQuery.js';

const q = (sql: string): Buffer => Buffer.from(sql + '\0', 'latin1');

t.test('single autocommit statements ride; anything that could leave state behind does not', async (t) => {
  const cases: [string, boolean][] = [
    ['SELECT abalance FROM pgbench_accounts WHERE aid = 4;', true],
    ['  select 1', true],
    ['/* c */ -- line\n select 1 ;', true],
    ['insert into t values (1)', true],
    ['UPDATE t SET a = 1 WHERE id = 2', true],
    ['delete from t where id = 3', true],
    ['with x as (insert into t values (1) returning *) select * from x', false], // `into` after a read-first word
    ['with x as (select 1) select * from x', true],
    ['values (1), (2)', true],
    ['table t', true],
    ["select ';' as semi", true],
    ['select 1; select 2', false],
    ['select 1;;', true],
    ['begin', false],
    ['BEGIN; select 1; commit', false],
    ['commit', false],
    ['set search_path = x', false],
    ['listen ch', false],
    ['prepare p as select 1', false],
    ['execute p', false],
    ['deallocate all', false],
    ['discard all', false],
    ['copy t from stdin', false],
    ['create temp table x (a int)', false],
    ['select * from TeMp_t', false],
    ['select 1 into y', false],
    ['declare c cursor for select 1', false],
    ['call p()', false],
    ['vacuum t', false],
    ["select 'unclosed", false],
    ['', false],
    ['   ', false],
  ];
  for (const [sql, want] of cases) t.equal(isPipelinableQuery(q(sql)), want, JSON.stringify(sql));
});
