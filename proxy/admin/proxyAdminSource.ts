// proxyAdminSource owns what the admin console reads from a running proxy: pools, clients, shards, stats (of every database it serves), and its table of further commands.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ProxyContext } from '../context/ProxyContext.js';
import type { AdminCommand, AdminResult, AdminSource } from './AdminConsole.js';
import { poolAdminCommands } from './poolAdminCommands.js';
import { configAdminCommands } from './configAdminCommands.js';

/**
 * The console over a running proxy (POOLS/CLIENTS/SHARDS/STATS cover every database of `ctx`'s registry, rows naming theirs in
 * `client_database`): SHOW SERVERS, DATABASES, CONFIG, VERSION, PAUSE, RESUME, KILL, then
 * `more` (SHOW PLACEMENT, RELOAD, plugins'; a later one of the same name wins). `extra` maps each name to its run.
 */
export function proxyAdminSource(ctx: ProxyContext, more: readonly AdminCommand[], startedAt = Date.now()): AdminSource {
  const commands = [...poolAdminCommands(ctx), ...configAdminCommands(() => ctx.config), ...more];
  const extra = new Map(commands.map((c) => [c.name, c.run]));
  // how late the event loop runs a 10 ms timer: what a client's next frame waits behind (SHOW STATS, since the last one)
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  /** event-loop delay p99 and max (ms) since the previous SHOW STATS (or the start), then a new window */
  const eventLoop = (): number[] => {
    const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
    const r = loop.count > 0 ? [ms(loop.percentile(99)), ms(loop.max)] : [0, 0];
    loop.reset();
    return r;
  };
  return {
    extra,
    commands,
    pools(): AdminResult {
      return {
        columns: ['shard', 'database', 'user', 'pool_mode', 'size', 'server_total', 'server_active', 'server_idle', 'cl_active', 'cl_waiting', 'acquired', 'waited', 'queue_timeouts', 'connect_failures', 'paused', 'client_database'],
        rows: ctx.registry.contexts().flatMap((ctx) => poolRows(ctx)),
      };
    },
    clients(): AdminResult {
      const rows = [...ctx.registry.clients.values()].map((c) => {
        const d = c.describe();
        return [d.pid as number, d.user as string, c.database, c.applicationName, c.remote, d.state as string,
          d.server === null ? null : `server-${d.server}`, d.waiting ? 'waiting' : d.server === null ? 'idle' : 'active',
          new Date(c.connectedAt).toISOString(), c.stats.queries, c.stats.bytesIn, c.stats.bytesOut, c.detail()];
      });
      return { columns: ['pid', 'user', 'database', 'application_name', 'addr', 'state', 'server', 'status', 'connect_time', 'queries', 'bytes_in', 'bytes_out', 'detail'], rows };
    },
    shards(): AdminResult {
      return {
        columns: ['name', 'host', 'port', 'database', 'user', 'status', 'version', 'pool_size', 'server_total', 'explicit_keys', 'epoch', 'client_database'],
        rows: ctx.registry.contexts().flatMap((ctx) => shardRows(ctx)),
      };
    },
    stats(): AdminResult {
      const clients = [...ctx.registry.clients.values()];
      return {
        columns: ['uptime_s', 'clients', 'connections_total', 'connections_refused', 'cancels', 'queries', 'bytes_in', 'bytes_out', 'prepared_statement_names', 'rss_mb', 'heap_used_mb', 'heap_total_mb', 'external_mb', 'array_buffers_mb', 'event_loop_p99_ms', 'event_loop_max_ms'],
        rows: [[
          Math.round((Date.now() - startedAt) / 1000), clients.length, ctx.counters.connections, ctx.counters.refused, ctx.counters.cancels,
          ctx.closedTotals.queries + clients.reduce((n, c) => n + c.stats.queries, 0),
          ctx.closedTotals.bytesIn + clients.reduce((n, c) => n + c.stats.bytesIn, 0),
          ctx.closedTotals.bytesOut + clients.reduce((n, c) => n + c.stats.bytesOut, 0),
          ctx.registry.contexts().reduce((n, c) => n + c.statementNames.size, 0),
          // where the proxy's memory is: V8's heap, and buffers outside it (socket chunks, frames)
          ...((m) => [m.rss, m.heapUsed, m.heapTotal, m.external, m.arrayBuffers].map((b) => Math.round(b / 1048576)))(process.memoryUsage()),
          ...eventLoop(),
        ]],
      };
    },
  };
}

/** SHOW POOLS of one database: a row per (shard, server user) pool (user: the server user its connections log in as). */
function poolRows(ctx: ProxyContext): AdminResult['rows'] {
  const clients = [...ctx.clients.values()];
  return ctx.allPools().map((p) => [
    p.shard.name, p.shard.database, p.user, ctx.config.pool.mode, p.size, p.totalCount, p.activeCount, p.idleCount,
    clients.filter((c) => c.server !== null && c.server.poolKey === p.key).length,
    // requests in the pool's queue (held by PAUSE, or no connection free)
    p.waitingCount,
    p.stats.acquired, p.stats.waited, p.stats.timeouts, p.stats.connectFailures, p.paused, ctx.config.database,
  ]);
}

/** SHOW SHARDS of one database: its catalog's shards with what its config says of them. */
function shardRows(ctx: ProxyContext): AdminResult['rows'] {
  const snapshot = ctx.catalog.snapshot();
  const configured = new Map(ctx.config.shards.map((s) => [s.name, s]));
  return snapshot.shards.map(({ name }) => {
    const s = snapshot.shard(name);
    const c = configured.get(name);
    const pools = ctx.allPools().filter((p) => p.shard.name === name);
    const explicit = snapshot.explicitPlacements().filter(([, p]) => p.shardId === s?.id).length;
    return [name, s?.host ?? c?.host ?? null, s?.port ?? c?.port ?? null, s?.database ?? c?.database ?? null, c?.user ?? null,
      s?.status ?? 'configured', s?.version ?? null, c ? ctx.config.pool.size : 0, pools.reduce((n, p) => n + p.totalCount, 0), explicit, snapshot.epoch, ctx.config.database];
  });
}
