// Owns: ProxyContext — whole when built (routing parts, admin console, routing flag), RELOAD through ctx.reload, drain at shutdown.
import t from 'tap';
import { ProxyContext, type ProxyContextParts } from '../../proxy/context/ProxyContext.js';
import type { ClientHandle } from '../../proxy/context/ClientHandle.js';
import type { Catalog } from '../../proxy/catalog/Catalog.js';
import type { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import type { PluginHost } from '../../proxy/plugins/PluginHost.js';
import type { AdminSource } from '../../proxy/admin/AdminConsole.js';
import { Router } from '../../proxy/router/Router.js';
import { parseConfig } from '../../config/loadConfig.js';
import type { Config } from '../../config/schema.js';

const config = (shards: string[], extra: Record<string, unknown> = {}): Config =>
  parseConfig({
    database: 'app',
    users: [{ name: 'app', password: 'x' }],
    shards: shards.map((name, i) => ({ name, host: '127.0.0.1', port: 5432 + i, database: 'app', user: 'postgres' })),
    ...extra,
  });

function parts(cfg: Config, readConfig?: () => Config): ProxyContextParts & { synced: string[][]; closed: string[] } {
  const synced: string[][] = [];
  const closed: string[] = [];
  const catalog = {
    epoch: 7,
    syncShards: async (shards: { name: string }[]) => void synced.push(shards.map((s) => s.name)),
    close: async () => void closed.push('catalog'),
  } as unknown as Catalog;
  const plugins = { close: async () => void closed.push('plugins') } as unknown as PluginHost;
  const admin = (ctx: ProxyContext): AdminSource => ({
    pools: () => ({ columns: ['shards'], rows: [[ctx.config.shards.length]] }),
    clients: () => ({ columns: [], rows: [] }),
    shards: () => ({ columns: [], rows: [] }),
    stats: () => ({ columns: [], rows: [] }),
  });
  return {
    config: cfg, secureContext: null, catalog, analyzer: {} as Analyzer, router: new Router(cfg), plugins,
    versions: null, afterDdl: null, readConfig, admin, synced, closed,
  };
}

t.test('built whole: routing parts, admin console and the routing flag are there from the constructor on', async (t) => {
  const one = new ProxyContext(parts(config(['s0'])));
  t.equal(one.routing, false, 'one shard, no plugins, no cache: pass-through');
  t.ok(one.catalog && one.analyzer && one.router && one.plugins && one.adminSource);
  t.same(one.adminSource.pools().rows, [[1]], 'the admin console reads the context it was built over');
  const three = new ProxyContext(parts(config(['s0', 's1', 's2'])));
  t.equal(three.routing, true, 'several shards: requests are analysed and routed');
});

t.test('reload: config, router and routing flag are replaced through ctx.reload only', async (t) => {
  const p = parts(config(['s0']), () => config(['s0', 's1']));
  const ctx = new ProxyContext(p);
  const before = ctx.router;
  ctx.rememberLogin('k', Buffer.from('x'));
  const message = await ctx.reload();
  t.equal(message, 'RELOAD: 2 shard(s), epoch 7');
  t.same(p.synced, [['s0', 's1']], 'the catalog learns the new shard list');
  t.not(ctx.router, before, 'a new router');
  t.equal(ctx.config.shards.length, 2);
  t.equal(ctx.routing, true);
  t.equal(ctx.loginReports.size, 0, 'logins ask a server again');
  t.ok(ctx.shard('s1'));
});

t.test('reload without a config file is refused and changes nothing', async (t) => {
  const ctx = new ProxyContext(parts(config(['s0'])));
  await t.rejects(ctx.reload(), /RELOAD needs a config file/);
  t.equal(ctx.config.shards.length, 1);
});

t.test('drained resolves once shutdown began and the last client is gone; close closes plugins then the catalog', async (t) => {
  const p = parts(config(['s0']));
  const ctx = new ProxyContext(p);
  const client = { pid: 42, secret: 1, stats: { queries: 3, bytesIn: 10, bytesOut: 20 }, cancelTarget: null } as unknown as ClientHandle;
  t.equal(ctx.openSession(), true);
  t.equal(ctx.admitClient(client), true);
  ctx.beginShutdown();
  t.equal(ctx.shuttingDown, true);
  let drained = false;
  const done = ctx.drained().then(() => (drained = true));
  await new Promise((r) => setImmediate(r));
  t.equal(drained, false, 'a client is still there');
  ctx.forgetClient(client);
  await done;
  t.equal(drained, true);
  t.same(ctx.closedTotals, { queries: 3, bytesIn: 10, bytesOut: 20 });
  await ctx.close();
  t.same(p.closed, ['plugins', 'catalog']);
});
