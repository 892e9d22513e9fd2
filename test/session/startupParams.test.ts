// Tests for proxy/session/startupParams.ts: parseOptions (the `options` startup parameter), sessionSettings (which
// startup parameters are settings, and how `options` merges with them) and settingsDiffSql (SET/RESET, quoting), the
// SQL checked on a real Postgres (PGlite) against set_config(name, value) — the meaning a startup parameter has.
import t, { type Test } from 'tap';
import { PGlite } from '@electric-sql/pglite';
import { ProxyError, SqlState } from '../../proxy/protocol/SqlState.js';
import { parseOptions, sessionSettings, settingsDiffSql } from '../../proxy/session/startupParams.js';

function throwsProxyError(t: Test, fn: () => unknown, sqlState: SqlState, name: string): void {
  try {
    fn();
    t.fail(`${name}: did not throw`);
  } catch (e) {
    if (e instanceof ProxyError) t.equal(e.sqlState, sqlState, `${name}: ${e.message}`);
    else t.fail(`${name}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
}

t.test('parseOptions', async (t) => {
  const cases: [string, [string, string][]][] = [
    ['', []],
    ['   ', []],
    ['-c a=b', [['a', 'b']]],
    ['-ca=b', [['a', 'b']]],
    ['--a-b=c', [['a_b', 'c']]],
    ['--a-b=c-d', [['a_b', 'c-d']]],
    ['-c a-b=c', [['a_b', 'c']]],
    ['-c search_path=a\\ b', [['search_path', 'a b']]],
    ['-c search_path=a,\\ b', [['search_path', 'a, b']]],
    ['-c application_name=x\\\\y', [['application_name', 'x\\y']]],
    ['-c a=b\\', [['a', 'b\\']]],
    ['-c a=', [['a', '']]],
    ['-c a=b=c', [['a', 'b=c']]],
    ['-c myapp.tenant=42', [['myapp.tenant', '42']]],
    ['-c a=1 -c b=2 --c=3 -cd=4', [['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']]],
    ['  -c\ta=1 \n --b=2  ', [['a', '1'], ['b', '2']]],
    ['-c statement_timeout=5s -c DateStyle=ISO,\\ MDY', [['statement_timeout', '5s'], ['DateStyle', 'ISO, MDY']]],
    ["-c a='quoted'", [['a', "'quoted'"]]],
  ];
  for (const [options, want] of cases) t.same(parseOptions(options), want, JSON.stringify(options));

  const bad = ['-c', '-c a', '-ca', 'a=b', '-B 10', '--=x', '-c =x', '-c a=b stray'];
  for (const options of bad) throwsProxyError(t, () => parseOptions(options), SqlState.ProtocolViolation, JSON.stringify(options));
});

t.test('sessionSettings', async (t) => {
  const cases: { name: string; params: Record<string, string>; want: [string, string][] }[] = [
    { name: 'drops user, database, options, replication and _pq_.*', params: { user: 'u', database: 'd', options: '', replication: 'database', '_pq_.x': '1', application_name: 'app' }, want: [['application_name', 'app']] },
    { name: 'lower-cases names', params: { user: 'u', DateStyle: 'ISO', TimeZone: 'UTC' }, want: [['datestyle', 'ISO'], ['timezone', 'UTC'], ['application_name', '']] },
    { name: 'merges options', params: { user: 'u', application_name: 'app', options: '-c search_path=a,\\ b --statement-timeout=5s' }, want: [['application_name', 'app'], ['search_path', 'a, b'], ['statement_timeout', '5s']] },
    { name: 'a plain parameter wins over the same one in options (as in Postgres)', params: { user: 'u', options: '-c application_name=from_options', application_name: 'plain' }, want: [['application_name', 'plain']] },
    { name: 'an option named in another case overrides nothing but is lower-cased', params: { user: 'u', options: '-c DateStyle=SQL' }, want: [['datestyle', 'SQL'], ['application_name', '']] },
    { name: 'only user: application_name is Postgres\' default, not the server connection\'s "prescient"', params: { user: 'u' }, want: [['application_name', '']] },
    { name: 'application_name from options counts as given', params: { user: 'u', options: '-c application_name=o' }, want: [['application_name', 'o']] },
    { name: 'customized option', params: { user: 'u', 'myapp.tenant_id': '42' }, want: [['myapp.tenant_id', '42'], ['application_name', '']] },
    { name: 'valid search_path lists', params: { user: 'u', search_path: '"$user", public, "Mixed Case"' }, want: [['search_path', '"$user", public, "Mixed Case"'], ['application_name', '']] },
  ];
  for (const c of cases) t.same(sessionSettings(new Map(Object.entries(c.params))), new Map(c.want), c.name);

  const bad: { name: string; params: Record<string, string>; state: SqlState }[] = [
    { name: 'a name with a semicolon', params: { 'a;b': '1' }, state: SqlState.InvalidParameterValue },
    { name: 'a name with a quote', params: { 'a"b': '1' }, state: SqlState.InvalidParameterValue },
    { name: 'a name from options with an escaped space', params: { options: '-c a\\ b=1' }, state: SqlState.InvalidParameterValue },
    { name: 'a name starting with a digit', params: { '1a': '1' }, state: SqlState.InvalidParameterValue },
    { name: 'bad options', params: { options: '-X' }, state: SqlState.ProtocolViolation },
  ];
  for (const b of bad) throwsProxyError(t, () => sessionSettings(new Map(Object.entries({ user: 'u', ...b.params }))), b.state, b.name);
});

t.test('settingsDiffSql', async (t) => {
  const m = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));
  const sc = (k: string, v: string): string => `pg_catalog.set_config(${k}, ${v}, false)`;
  const cases: { name: string; have: Record<string, string>; want: Record<string, string>; sql: string }[] = [
    { name: 'nothing differs', have: { a: '1' }, want: { a: '1' }, sql: '' },
    { name: 'both empty', have: {}, want: {}, sql: '' },
    { name: 'changed', have: { statement_timeout: '1s' }, want: { statement_timeout: '5s' }, sql: `SELECT ${sc("'statement_timeout'", "'5s'")};` },
    { name: 'added', have: {}, want: { application_name: 'app' }, sql: `SELECT ${sc("'application_name'", "'app'")};` },
    { name: 'removed', have: { application_name: 'app' }, want: {}, sql: 'RESET application_name;' },
    { name: 'set before RESET, one SELECT', have: { a: '1', b: '2' }, want: { a: '3', c: '4' }, sql: `SELECT ${sc("'a'", "'3'")}, ${sc("'c'", "'4'")};RESET b;` },
    { name: 'quote in a value', have: {}, want: { application_name: "it's" }, sql: `SELECT ${sc("'application_name'", "'it''s'")};` },
    { name: 'injection attempt in a value', have: {}, want: { application_name: "x'; DROP TABLE t; --" }, sql: `SELECT ${sc("'application_name'", "'x''; DROP TABLE t; --'")};` },
    { name: 'backslash in a value (E string, whatever standard_conforming_strings is)', have: {}, want: { application_name: "C:\\dir\\'x" }, sql: `SELECT ${sc("'application_name'", "E'C:\\\\dir\\\\''x'")};` },
    { name: 'empty value', have: {}, want: { application_name: '' }, sql: `SELECT ${sc("'application_name'", "''")};` },
    { name: 'dotted name', have: {}, want: { 'myapp.tenant_id': '42' }, sql: `SELECT ${sc("'myapp.tenant_id'", "'42'")};` },
    { name: 'name with a double quote', have: { 'a"b': '1' }, want: {}, sql: 'RESET "a""b";' },
    { name: 'search_path stays one value (set_config parses the list)', have: {}, want: { search_path: 'a, b' }, sql: `SELECT ${sc("'search_path'", "'a, b'")};` },
  ];
  for (const c of cases) t.equal(settingsDiffSql(m(c.have), m(c.want)), c.sql, c.name);
});

t.test('on a real Postgres, the SQL sets what the startup parameter would (set_config)', async (t) => {
  const db = await PGlite.create();
  t.teardown(() => db.close());
  await db.exec(`CREATE SCHEMA a; CREATE SCHEMA b; CREATE SCHEMA "Mixed"; CREATE SCHEMA "a, b"`);
  const show = async (name: string): Promise<string> => {
    const r = await db.query<{ v: string }>('SELECT current_setting($1) AS v', [name]);
    return r.rows[0]!.v;
  };
  const schemas = async (): Promise<string[]> => (await db.query<{ s: string[] }>('SELECT current_schemas(false) AS s')).rows[0]!.s;
  const values: [string, string][] = [
    ['application_name', "it's"],
    ['application_name', 'C:\\dir\\x'],
    ['application_name', "x'; SELECT 1; --"],
    ['application_name', ''],
    ['statement_timeout', '5s'],
    ['datestyle', 'ISO, DMY'],
    ['myapp.tenant_id', '42'],
    ['search_path', 'a, b'],
    ['search_path', 'b,a'],
    ['search_path', '"$user", public'],
    ['search_path', 'A, "Mixed"'],
    ['search_path', '"a, b"'],
    ['search_path', 'a'],
  ];
  for (const scs of ['on', 'off']) {
    for (const [name, value] of values) {
      await db.exec('RESET ALL');
      await db.query('SELECT set_config($1, $2, false)', [name, value]);
      const want = await show(name);
      const wantSchemas = await schemas();
      await db.exec('RESET ALL');
      await db.exec(`SET standard_conforming_strings TO ${scs}`);
      await db.exec(settingsDiffSql(new Map(), new Map([[name, value]])));
      const label = `${name} = ${JSON.stringify(value)} (standard_conforming_strings ${scs})`;
      // a list's text may be spelled differently (`b, a` for `b,a`): what counts is the schemas it resolves to
      if (name === 'search_path') t.same(await schemas(), wantSchemas, `${label}: same schemas`);
      else t.equal(await show(name), want, label);
    }
  }
  await db.exec('RESET ALL');
  await db.exec(settingsDiffSql(new Map(), new Map([['application_name', 'x']])));
  await db.exec(settingsDiffSql(new Map([['application_name', 'x']]), new Map()));
  t.equal(await show('application_name'), '', 'RESET restores the default');
});
