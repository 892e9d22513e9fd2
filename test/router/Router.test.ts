// Owns: Router — key derivation order, domains, placement, global tables, DDL broadcast, no-key policy, transaction pinning.
import t from 'tap';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import { CatalogSnapshot, type PlacementEntry } from '../../proxy/catalog/Catalog.js';
import { Router, KeySource, type Route, type RouteSession } from '../../proxy/router/Router.js';
import { parseConfig } from '../../config/loadConfig.js';
import { tagKey } from '../../plugins/sqlcommenter.js';
import { columnKey } from '../../plugins/columnRules.js';
import type { RequestContext, SessionInfo } from '../../proxy/plugins/api.js';
import { describeStatements } from '../../proxy/plugins/describeStatements.js';

await Analyzer.init();

const config = (sharding: Record<string, unknown> = {}) =>
  parseConfig({
    database: 'app',
    users: [{ name: 'app', password: 'x' }],
    shards: ['s0', 's1', 's2'].map((name, i) => ({ name, host: '127.0.0.1', port: 5432 + i, database: 'app', user: 'postgres' })),
    sharding: {
      domains: {
        volume: { tables: ['volumes', 'volume_attachments'], actions: ['CreateVolume', 'DescribeVolumes'] },
        snapshot: { tables: ['snapshots'], actions: ['CreateSnapshot', 'DescribeSnapshots'] },
      },
      global_tables: ['regions'],
      ...sharding,
    },
  });

const shardRows = ['s0', 's1', 's2'].map((name, i) => ({ id: i + 1, name, host: '127.0.0.1', port: 5432 + i, database: 'app', status: 'active' as const, version: 1 }));
const snapshot = (placements: [string, number][] = []): CatalogSnapshot =>
  new CatalogSnapshot(1, shardRows, new Map<string, PlacementEntry>(placements.map(([k, id]) => [k, { shardId: id, version: 1 }])));

const analyzer = new Analyzer({ accountColumn: 'account_id' });
/** The proxy's path: the built-in key plugins (sqlcommenter, column-rules) fill the key, then the router decides. */
const route = (router: Router, sql: string, session: RouteSession = {}, params?: (string | null)[], snap = snapshot()): Route => {
  const statements = analyzer.analyze(sql);
  const bound = params?.map((p) => (p === null ? null : Buffer.from(p)));
  const settings = new Map<string, string>();
  if (session.action) settings.set('prescient.action', session.action);
  const ctx: RequestContext = { session: {} as SessionInfo, sql, protocol: bound ? 'extended' : 'simple', kind: 'other', statements: describeStatements(statements), params: bound, settings };
  tagKey(ctx);
  const reject = columnKey(ctx);
  if (reject) return { kind: 'reject', code: reject.code as Route extends { code: infer C } ? C : never, message: reject.message };
  return router.route({ statements, session, params: bound, key: ctx.shardKey }, snap);
};

t.test('key derivation, first match wins', async (t) => {
  const router = new Router(config());
  const snap = snapshot();
  const expectShard = (r: Route, account: string, domain: string, source: KeySource, label: string): void => {
    t.equal(r.kind, 'shard', label);
    if (r.kind !== 'shard') return;
    t.equal(r.account, account, `${label}: account`);
    t.equal(r.domain, domain, `${label}: domain`);
    t.equal(r.source, source, `${label}: source`);
    t.equal(r.key, `${account}_${domain}`, `${label}: placement key`);
    t.equal(r.shard, snap.placementOf(r.key).shard.name, `${label}: the catalog's shard`);
  };
  const cases: [string, string, RouteSession, (string | null)[] | undefined, string, string, KeySource][] = [
    ['tag beats the column', "/* account='acct-9',action='CreateVolume' */ insert into volumes (id, account_id) values ('v1', 'acct-1')", {}, undefined, 'acct-9', 'volume', KeySource.Tag],
    ['literal in WHERE', "select * from volumes where account_id = 'acct-1' and state = 'available'", {}, undefined, 'acct-1', 'volume', KeySource.Literal],
    ['literal in VALUES', "insert into snapshots (id, account_id) values ('s1', 'acct-2')", {}, undefined, 'acct-2', 'snapshot', KeySource.Literal],
    ['parameter per Bind', 'select * from volumes where account_id = $1', {}, ['acct-3'], 'acct-3', 'volume', KeySource.Parameter],
    ['parameter through a cast', 'update snapshots set state = $2 where account_id = $1::text', {}, ['acct-4', 'x'], 'acct-4', 'snapshot', KeySource.Parameter],
    ['SET prescient.account', 'select * from volumes', { account: 'acct-5' }, undefined, 'acct-5', 'volume', KeySource.SessionSetting],
    ['startup parameter last', 'select * from snapshots', { startupAccount: 'acct-6' }, undefined, 'acct-6', 'snapshot', KeySource.StartupParameter],
    ['the column beats the session setting', "select * from volumes where account_id = 'acct-7'", { account: 'acct-5' }, undefined, 'acct-7', 'volume', KeySource.Literal],
    ['action tag picks the domain', "/* account='acct-8',action='DescribeSnapshots' */ select 1 from volumes", {}, undefined, 'acct-8', 'snapshot', KeySource.Tag],
    ['a table outside every domain is its own', "select * from instances where account_id = 'acct-1'", {}, undefined, 'acct-1', 'instances', KeySource.Literal],
  ];
  for (const [label, sql, session, params, account, domain, source] of cases) expectShard(route(router, sql, session, params), account, domain, source, label);
});

t.test('explicit placement overrides hashing', async (t) => {
  const router = new Router(config());
  const hashed = route(router, "select * from volumes where account_id = 'acct-1'");
  t.equal(hashed.kind, 'shard');
  if (hashed.kind !== 'shard') return;
  const other = shardRows.find((s) => s.name !== hashed.shard)!;
  const placed = route(router, "select * from volumes where account_id = 'acct-1'", {}, undefined, snapshot([['acct-1_volume', other.id]]));
  t.match(placed, { kind: 'shard', shard: other.name, explicit: true });
});

t.test('global tables, DDL, statements without tables', async (t) => {
  const router = new Router(config());
  t.match(route(router, 'select * from regions'), { kind: 'global', shard: 's0' });
  t.match(route(router, 'create table widgets (id int)'), { kind: 'broadcast', shards: ['s0', 's1', 's2'] });
  t.match(route(router, 'select 1'), { kind: 'any' });
  t.match(route(router, 'begin'), { kind: 'any' });
  t.match(route(router, "set application_name = 'x'"), { kind: 'any' });
  t.match(new Router(config({ global_shard: 's2' })).route({ statements: analyzer.analyze('select * from regions'), session: {} }, snapshot()), { kind: 'global', shard: 's2' });
});

t.test('no key: reads fan out (or go global, or are refused), writes are refused, strict refuses all', async (t) => {
  t.match(route(new Router(config()), 'select * from volumes'), { kind: 'fanout', shards: ['s0', 's1', 's2'] });
  t.match(route(new Router(config({ no_key: { reads: 'global' } })), 'select * from volumes'), { kind: 'global', shard: 's0' });
  t.match(route(new Router(config({ no_key: { reads: 'reject' } })), 'select * from volumes'), { kind: 'reject', code: '0A000', message: /read without a shard key on volumes/ });
  t.match(route(new Router(config()), "update volumes set state = 'x'"), { kind: 'reject', code: '0A000', message: /write to volumes without a shard key: add account_id = … to the statement/ });
  t.match(route(new Router(config()), "delete from snapshots where account_id in ('a', 'b')"), { kind: 'reject', message: /names several accounts/ });
  t.match(route(new Router(config({ strict: true })), 'select * from volumes'), { kind: 'reject', message: /strict mode/ });
  t.match(route(new Router(config({ no_key: { writes: 'global' } })), "update volumes set state = 'x'"), { kind: 'global', shard: 's0' });
});

t.test('a transaction stays on its shard; another shard is refused', async (t) => {
  const router = new Router(config());
  const first = route(router, "select * from volumes where account_id = 'acct-1'");
  if (first.kind !== 'shard') return t.fail('expected a shard route');
  t.match(route(router, "select * from volumes where account_id = 'acct-1'", { pinned: first.shard }), { kind: 'shard', shard: first.shard });
  t.match(route(router, 'commit', { pinned: first.shard }), { kind: 'any' });
  // find an account that hashes elsewhere
  let other = '';
  for (let i = 2; i < 200 && !other; i++) {
    const r = route(router, `select * from volumes where account_id = 'acct-${i}'`);
    if (r.kind === 'shard' && r.shard !== first.shard) other = `acct-${i}`;
  }
  t.ok(other, 'an account on another shard');
  t.match(route(router, `select * from volumes where account_id = '${other}'`, { pinned: first.shard }), {
    kind: 'reject', code: '0A000', message: new RegExp(`cross-shard transaction refused: this transaction is on shard "${first.shard}"`),
  });
  t.match(route(router, `select * from volumes where account_id = 'acct-1'; select * from volumes where account_id = '${other}'`), { kind: 'reject', message: /two accounts/ });
  t.match(route(router, `select * from volumes where account_id = 'acct-1'; select * from regions`), { kind: 'reject', message: /several shards/ });
});

t.test('keys spread over all three shards', async (t) => {
  const router = new Router(config());
  const counts = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const r = route(router, `select * from volumes where account_id = 'acct-${i}'`);
    if (r.kind === 'shard') counts.set(r.shard, (counts.get(r.shard) ?? 0) + 1);
  }
  t.equal(counts.size, 3);
  for (const [shard, n] of counts) t.ok(n > 850 && n < 1150, `${shard}: ${n} of 3000`);
});
