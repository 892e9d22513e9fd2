// createProxyContext owns opening, in order, what the proxy shares (TLS, the catalog synced from config, the SQL parser, key versions, plugins, router, analyzer, admin console) and building the ProxyContext from it, whole.
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/schema.js';
import { ProxyContext } from './ProxyContext.js';
import { logger } from '../logger.js';
import { createCatalog } from '../catalog/createCatalog.js';
import { Analyzer } from '../analyzer/Analyzer.js';
import { Router } from '../router/Router.js';
import { PluginHost } from '../plugins/PluginHost.js';
import type { PluginServices } from '../plugins/api.js';
import type { AdminCommand } from '../admin/AdminConsole.js';
import { proxyAdminSource } from '../admin/proxyAdminSource.js';
import { routingAdminCommands } from '../admin/routingAdminCommands.js';
import { migrationAdminCommands } from '../admin/migrationAdminCommands.js';
import { shardAdminCommands } from '../admin/shardAdminCommands.js';
import { LoadWindow } from '../shardManager/LoadWindow.js';
import { Resharder, describeReshard } from '../shardManager/Resharder.js';
import { ShardManager } from '../shardManager/ShardManager.js';
import { VersionTracker } from '../versions/VersionTracker.js';
import { ensureShardSchemas } from '../versions/ensureShardSchemas.js';
import type { WorkerPeers } from '../workers/WorkerPeers.js';
import { backgroundRead } from './backgroundRead.js';
import type { ClientRegistry } from './ClientRegistry.js';

/** What the composition root passes in besides the config. */
export interface ProxyContextOptions {
  /** folder of the config file: plugin module paths are relative to it */
  configDir?: string;
  /** re-reads the config file for RELOAD */
  reloadConfig?: () => Config;
  /** this process is one of several workers (config.workers > 1) */
  peers?: WorkerPeers | null;
  /** what this database shares with the proxy's others (Server.open gives every database the same) */
  registry?: ClientRegistry<ProxyContext>;
}

/** Opens everything the proxy shares (the catalog migrated and synced, the SQL parser, versions, plugins) and builds the context. */
export async function createProxyContext(config: Config, options: ProxyContextOptions = {}): Promise<ProxyContext> {
  const t = config.listen.tls;
  const secureContext = t
    ? tls.createSecureContext({ cert: readFileSync(t.cert), key: readFileSync(t.key), ca: t.ca ? readFileSync(t.ca) : undefined })
    : null;
  const startedAt = Date.now();
  const catalog = createCatalog(config.catalog);
  await catalog.open();
  try {
    // a shard the catalog still holds keys on must stay listed; one new to a running ring is brought in below, with its keys
    const added = await Resharder.syncShards(catalog, config.shards);
    await Analyzer.init();
    let versions: VersionTracker | null = null;
    let afterDdl: (() => Promise<void>) | null = null;
    if (config.cache.enabled) {
      // versioned shards: the prescient schema and triggers where missing, then a LISTEN connection per shard
      await ensureShardSchemas(config);
      versions = new VersionTracker(config.shards);
      await versions.start();
      // a table created through the proxy gets its version triggers before the client hears of it
      afterDdl = async () => {
        await ensureShardSchemas(config);
      };
    }
    const entries = [
      // tracing first: its onRequest must see every request, also one a later plugin answers (a cache hit) or refuses
      ...(config.telemetry.tracing.enabled ? [{ name: 'tracing' }] : []),
      ...config.sharding.key_plugins.map((name) => ({ name })),
      ...(config.cache.enabled ? [{ name: 'result-cache' }] : []),
      ...(config.shard_manager.enabled ? [{ name: 'shard-load' }] : []),
      ...(config.action_log.enabled ? [{ name: 'action-log' }] : []),
      ...config.plugins,
    ];
    const pluginCommands: AdminCommand[] = [];
    const router = new Router(config);
    // plugins ask for placement keys once the proxy runs: by then `ctx` holds the router in effect (RELOAD replaces it)
    let ctx: ProxyContext | undefined;
    let shardManager: ShardManager | null = null;
    // the shard manager's window of load: the shard-load plugin records into it, the rebalancer reads it
    const load = config.shard_manager.enabled ? new LoadWindow(config.shard_manager.window, config.shard_manager.heavy_hitters) : null;
    const services: PluginServices = {
      versions: versions ?? undefined,
      load: load ?? undefined,
      placementKey: (account, action, tables) => `${account}_${ctx?.router.domainOf(action ?? null, tables) ?? router.domainOf(action ?? null, tables) ?? 'default'}`,
      adminCommand: (name, run, about) => {
        const upper = name.toUpperCase().replace(/\s+/g, ' ').trim();
        pluginCommands.push({ name: upper, syntax: about?.syntax ?? upper, description: about?.description ?? 'added by a plugin', run });
      },
      backgroundRead: (key, user, request, settings) => (ctx ? backgroundRead(ctx, key, user, request, settings) : Promise.resolve(null)),
    };
    const plugins = await PluginHost.load(entries, { config, configDir: options.configDir, services });
    const analyzer = new Analyzer({
      accountColumn: config.sharding.account_column,
      tableAccountColumns: Object.fromEntries(
        Object.entries(config.sharding.tables).flatMap(([table, v]) => (v.account_column ? [[table, v.account_column]] : [])),
      ),
    });
    ctx = new ProxyContext({
      config, secureContext, catalog, analyzer, router, plugins, versions, afterDdl, readConfig: options.reloadConfig, peers: options.peers, registry: options.registry,
      // SHOW PLACEMENT and RELOAD, then what plugins registered (a plugin's command of the same name wins)
      admin: (c) => {
        const sm = (shardManager = ShardManager.create({ config: () => c.config, catalog: c.catalog, fence: c.fence, load, invalidate: (k) => c.versions?.localWrite(k) }));
        const moves = migrationAdminCommands(sm.mover, c.catalog, () => c.config.shard_manager.fence_timeout_ms);
        const resharder = (c.resharder = sm.resharder);
        const shardSet = shardAdminCommands(c, resharder);
        return proxyAdminSource(c, [...routingAdminCommands(c), ...moves, ...shardSet, ...pluginCommands], startedAt);
      },
    });
    catalog.onChange((epoch) => logger.debug('catalog changed', { epoch }));
    // members, fences, load, the planner; moves a killed process left half done are settled before clients come
    await shardManager!.start();
    {
      const sm = shardManager!;
      ctx.closers.push(() => void sm.stop());
    }
    if (added.length > 0 && ctx.resharder !== null) logger.info('start-up: new shard(s) in the config', { reshard: describeReshard(await ctx.resharder.addShards(added)) });
    return ctx;
  } catch (e) {
    await catalog.close().catch(() => {});
    throw e;
  }
}
