// databaseAdminCommands owns the admin console's SHOW DATABASES: each database the proxy serves, with its pools and clients now.
import type { ProxyContext } from '../context/ProxyContext.js';
import type { AdminResult } from './AdminConsole.js';

/** SHOW DATABASES over every database of `ctx`'s registry (PgBouncer's statement of that name, in Prescient's terms). */
export function databaseAdminCommands(ctx: ProxyContext): Map<string, (args: string) => AdminResult | Promise<AdminResult>> {
  const commands = new Map<string, (args: string) => AdminResult | Promise<AdminResult>>();
  commands.set('SHOW DATABASES', () => ({
    columns: ['name', 'aliases', 'shards', 'pool_mode', 'pool_size', 'clients', 'server_connections'],
    rows: ctx.registry.contexts().map((c) => [
      c.config.database,
      (c.config.databases[c.config.database]?.aliases ?? []).join(','),
      c.config.shards.map((s) => s.name).join(','),
      c.config.pool.mode,
      c.config.pool.size,
      c.clients.size,
      c.allPools().reduce((n, p) => n + p.totalCount, 0),
    ]),
  }));
  return commands;
}
