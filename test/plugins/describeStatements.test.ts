// Tests for proxy/plugins/describeStatements.ts: a table of statements with the StatementDescription plugins see
// (kind, tables, readOnly, cacheable, key, tags, setting, mergeSpec, system), and PluginHost filling ctx.statements
// from a context built with the raw analysis only.
import t from 'tap';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import { Logger } from '../../proxy/logger.js';
import { PLUGIN_API_VERSION, StatementKind as K, type RequestContext, type StatementDescription } from '../../proxy/plugins/api.js';
import { describeStatements } from '../../proxy/plugins/describeStatements.js';
import { PluginHost } from '../../proxy/plugins/PluginHost.js';

await Analyzer.init();
const analyzer = new Analyzer({ accountColumn: 'account_id' });

type Want = Partial<StatementDescription> & { merge?: 'mergeable' | 'unmergeable' | null };
const cases: [string, Want[]][] = [
  ["select * from volumes where account_id = 'a1' order by id limit 5", [{ kind: K.Select, tables: ['volumes'], readOnly: true, cacheable: true, key: { kind: 'literal', value: 'a1' }, multipleKeys: false, merge: 'mergeable' }]],
  ['select * from volumes where account_id = $2', [{ kind: K.Select, key: { kind: 'param', index: 2 }, merge: 'mergeable' }]],
  ["select * from volumes where account_id in ('a', 'b')", [{ key: { kind: 'literal', value: 'a' }, multipleKeys: true }]],
  ['select now(), count(distinct id) from volumes', [{ kind: K.Select, cacheable: false, key: null, merge: 'unmergeable' }]],
  ["/* account='a%2F1',action='Describe' */ select 1", [{ kind: K.Select, tags: { account: 'a/1', action: 'Describe' }, tables: [] }]],
  ["insert into volumes (account_id, id) values ('a1', 1)", [{ kind: K.Insert, readOnly: false, cacheable: false, key: { kind: 'literal', value: 'a1' }, merge: null }]],
  ["set local prescient.account = 'a9'", [{ kind: K.Set, setting: { name: 'prescient.account', value: 'a9', local: true } }]],
  ['reset prescient.action', [{ kind: K.Set, setting: { name: 'prescient.action', value: null, local: false } }]],
  ['select * from pg_catalog.pg_type', [{ kind: K.Select, system: 'catalog' }]],
  ['create table t (x int)', [{ kind: K.Ddl, tables: ['t'], readOnly: false }]],
  ['begin; select 1; commit', [{ kind: K.Begin }, { kind: K.Select }, { kind: K.Commit }]],
  ['selec 1', [{ kind: K.Other, tables: [] }]],
];

t.test('describeStatements', async (t) => {
  for (const [sql, want] of cases) {
    const got = describeStatements(analyzer.analyze(sql));
    t.equal(got.length, want.length, `${sql}: one per statement`);
    want.forEach((w, i) => {
      const d = got[i]!;
      const { merge, ...fields } = w;
      for (const [k, v] of Object.entries(fields)) t.strictSame(d[k as keyof StatementDescription], v, `${sql}: ${k}`);
      if (merge === null) t.equal(d.mergeSpec, null, `${sql}: no merge spec`);
      else if (merge !== undefined) t.equal(d.mergeSpec?.unmergeable === null, merge === 'mergeable', `${sql}: ${merge}`);
    });
  }
  t.ok(describeStatements(analyzer.analyze('selec 1'))[0]!.parseError, 'a parse error is said');
  t.strictSame(describeStatements(undefined), [], 'no analysis');
  t.notOk('accountKey' in describeStatements(analyzer.analyze('select 1'))[0]!, 'only the public fields');
});

t.test('PluginHost fills ctx.statements from the raw analysis before the first plugin', async (t) => {
  let seen: readonly StatementDescription[] | undefined;
  const host = await PluginHost.start([{ name: 'reader', apiVersion: PLUGIN_API_VERSION, createSessionHooks: () => ({ onRequest: (ctx) => void (seen = ctx.statements) }) }], { logger: new Logger('error') });
  const session = { pid: 1, user: 'app', database: 'app', applicationName: '', remote: '', startupParams: new Map<string, string>() };
  const sql = "select * from volumes where account_id = 'a1'";
  const ctx: RequestContext = { session, sql, protocol: 'simple', kind: 'read', analysis: analyzer.analyze(sql), settings: new Map() };
  await host.createSession(session).decideRequest(ctx);
  t.equal(seen?.length, 1);
  t.strictSame(seen?.[0]?.key, { kind: 'literal', value: 'a1' });
  t.equal(ctx.statements, seen, 'kept on the context');
});
