// Tests for proxy/session/SessionPins.ts: sequences of (query, command tags) with the LISTEN channels, SQL PREPAREd
// statements and temporary tables that pin the session afterwards, and the events DEALLOCATE ALL / DISCARD ALL raise.
import t from 'tap';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import { PinEvent, SessionPins } from '../../proxy/session/SessionPins.js';

await Analyzer.init();

/** one query (null: the extended protocol) and the tags its statements completed with */
type Step = [query: string | null, tags: string[]];
interface Case { name: string; steps: Step[]; channels?: string[]; prepared?: string[]; temp?: string[]; events?: PinEvent[] }

const cases: Case[] = [
  { name: 'listen', steps: [['listen a', ['LISTEN']]], channels: ['a'] },
  { name: 'quoted and U& channels', steps: [['LISTEN "Mixed"; listen U&"\\0041x"', ['LISTEN', 'LISTEN']]], channels: ['Mixed', 'Ax'] },
  { name: 'unlisten one', steps: [['listen a; listen b', ['LISTEN', 'LISTEN']], ['unlisten a', ['UNLISTEN']]], channels: ['b'] },
  { name: 'unlisten *', steps: [['listen a; listen b', ['LISTEN', 'LISTEN']], ['unlisten *', ['UNLISTEN']]], channels: [] },
  { name: 'a channel named *', steps: [['listen "*"; listen b', ['LISTEN', 'LISTEN']], ['unlisten "*"', ['UNLISTEN']]], channels: ['b'] },
  { name: 'listen in the extended protocol: unknown, still pinned', steps: [[null, ['LISTEN']]], channels: ['(unknown)'] },
  { name: 'prepare', steps: [['prepare p as select 1', ['PREPARE']]], prepared: ['p'] },
  { name: 'prepare transaction is not a statement', steps: [["begin; prepare transaction 'g'", ['BEGIN', 'PREPARE TRANSACTION']]], prepared: [] },
  { name: 'deallocate prepare x', steps: [['prepare x as select 1; prepare y as select 2', ['PREPARE', 'PREPARE']], ['deallocate prepare x', ['DEALLOCATE']]], prepared: ['y'] },
  { name: 'deallocate a quoted name', steps: [['prepare "X" as select 1', ['PREPARE']], ['deallocate "X"', ['DEALLOCATE']]], prepared: [] },
  { name: 'deallocate all', steps: [['prepare x as select 1', ['PREPARE']], ['deallocate all', ['DEALLOCATE ALL']]], prepared: [], events: [PinEvent.None, PinEvent.DeallocateAll] },
  { name: 'temp table', steps: [['create temp table t (x int)', ['CREATE TABLE']]], temp: ['t'] },
  { name: 'on commit drop does not pin', steps: [['create temp table t (x int) on commit drop', ['CREATE TABLE']]], temp: [] },
  { name: 'pg_temp schema', steps: [['create table pg_temp.t (x int)', ['CREATE TABLE']]], temp: ['t'] },
  { name: 'a plain table does not pin', steps: [['create table t (x int); create temp table u (x int)', ['CREATE TABLE', 'CREATE TABLE']]], temp: ['u'] },
  { name: 'create table as completes with SELECT n, and pins too', steps: [['create temp table a as select 1; create temp table b (x int)', ['SELECT 1', 'CREATE TABLE']]], temp: ['a', 'b'] },
  { name: 'TEMP in any letter case', steps: [['CREATE TeMp TABLE e AS SELECT 1', ['SELECT 1']]], temp: ['e'] },
  { name: 'select into temp pins at its SELECT tag', steps: [['select 1 as x into temp c', ['SELECT 1']]], temp: ['c'] },
  { name: 'create table as … with no data', steps: [['create temp table d as select 1 with no data', ['CREATE TABLE AS']]], temp: ['d'] },
  { name: 'a plain select whose text says temp does not pin', steps: [['select * from temps', ['SELECT 1']]], temp: [] },
  { name: 'drop table', steps: [['create temp table a (x int); create temp table b (x int)', ['CREATE TABLE', 'CREATE TABLE']], ['drop table a, public.b', ['DROP TABLE']]], temp: ['b'] },
  { name: 'drop pg_temp table', steps: [['create temp table "A" (x int)', ['CREATE TABLE']], ['drop table if exists pg_temp."A" cascade', ['DROP TABLE']]], temp: [] },
  { name: 'discard temp', steps: [['create temp table a (x int)', ['CREATE TABLE']], ['discard temp', ['DISCARD TEMP']]], temp: [] },
  {
    name: 'discard all', steps: [['listen a; prepare p as select 1; create temp table t (x int)', ['LISTEN', 'PREPARE', 'CREATE TABLE']], ['discard all', ['DISCARD ALL']]],
    channels: [], prepared: [], temp: [], events: [PinEvent.None, PinEvent.None, PinEvent.None, PinEvent.DiscardAll],
  },
  { name: 'comments and several statements', steps: [["/* c */ listen a; select 'listen b'; -- x\n prepare p as select ';'", ['LISTEN', 'SELECT 1', 'PREPARE']]], channels: ['a'], prepared: ['p'] },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const pins = new SessionPins();
    const events: PinEvent[] = [];
    for (const [query, tags] of c.steps) {
      const q = query === null ? null : Buffer.from(query + '\0', 'utf8');
      for (const tag of tags) events.push(pins.onCommand(Buffer.from(tag + '\0', 'latin1'), q));
    }
    if (c.channels) t.strictSame([...pins.channels], c.channels, 'channels');
    if (c.prepared) t.strictSame([...pins.prepared], c.prepared, 'prepared');
    if (c.temp) t.strictSame([...pins.tempTables], c.temp, 'temp tables');
    if (c.events) t.strictSame(events, c.events, 'events');
    const pinned = pins.channels.size + pins.prepared.size + pins.tempTables.size > 0;
    t.equal(pins.reason !== null, pinned, 'reason');
  });
}
