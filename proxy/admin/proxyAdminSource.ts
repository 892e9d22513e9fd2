// proxyAdminSource owns what the admin console reads from a running proxy: pools, clients, shards, stats.
import type { ProxyContext } from '../session/ProxyContext.js';
import type { AdminResult, AdminSource } from './AdminConsole.js';

export function proxyAdminSource(ctx: ProxyContext, startedAt = Date.now()): AdminSource {
  return {
    pools(): AdminResult {
      const p = ctx.pool;
      const waiting = [...ctx.clients.values()].filter((c) => c.describe().waiting).length;
      return {
        columns: ['shard', 'database', 'user', 'pool_mode', 'size', 'server_total', 'server_active', 'server_idle', 'cl_active', 'cl_waiting', 'acquired', 'waited', 'queue_timeouts', 'connect_failures'],
        rows: [[
          p.shard.name, p.shard.database, p.shard.user, ctx.config.pool.mode, p.size, p.totalCount, p.activeCount, p.idleCount,
          [...ctx.clients.values()].filter((c) => c.server !== null).length, waiting,
          p.stats.acquired, p.stats.waited, p.stats.timeouts, p.stats.connectFailures,
        ]],
      };
    },
    clients(): AdminResult {
      const rows = [...ctx.clients.values()].map((c) => {
        const d = c.describe();
        return [d.pid as number, d.user as string, c.database, c.applicationName, c.remote, d.state as string,
          d.server === null ? null : `server-${d.server}`, d.waiting ? 'waiting' : d.server === null ? 'idle' : 'active',
          new Date(c.connectedAt).toISOString(), c.stats.queries, c.stats.bytesIn, c.stats.bytesOut];
      });
      return { columns: ['pid', 'user', 'database', 'application_name', 'addr', 'state', 'server', 'status', 'connect_time', 'queries', 'bytes_in', 'bytes_out'], rows };
    },
    shards(): AdminResult {
      return {
        columns: ['name', 'host', 'port', 'database', 'user', 'status', 'pool_size', 'server_total'],
        rows: ctx.config.shards.map((s) => [s.name, s.host, s.port, s.database, s.user,
          s.name === ctx.pool.shard.name ? 'active' : 'configured', ctx.config.pool.size, s.name === ctx.pool.shard.name ? ctx.pool.totalCount : 0]),
      };
    },
    stats(): AdminResult {
      const clients = [...ctx.clients.values()];
      return {
        columns: ['uptime_s', 'clients', 'connections_total', 'connections_refused', 'cancels', 'queries', 'bytes_in', 'bytes_out', 'prepared_statement_names'],
        rows: [[
          Math.round((Date.now() - startedAt) / 1000), clients.length, ctx.counters.connections, ctx.counters.refused, ctx.counters.cancels,
          ctx.closedTotals.queries + clients.reduce((n, c) => n + c.stats.queries, 0),
          ctx.closedTotals.bytesIn + clients.reduce((n, c) => n + c.stats.bytesIn, 0),
          ctx.closedTotals.bytesOut + clients.reduce((n, c) => n + c.stats.bytesOut, 0),
          ctx.statementNames.size,
        ]],
      };
    },
  };
}
