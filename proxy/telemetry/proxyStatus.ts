// proxyStatus owns what the dashboard and the metrics read from a running proxy: the admin console's own results (SHOW POOLS, SHARDS, STATS and the commands of the cache, the shard manager and the mover), taken together at one moment, so that the page, /metrics and the console never disagree.
import type { AdminResult, AdminSource } from '../admin/AdminConsole.js';
import { logger } from '../logger.js';

/** The admin commands read besides pools(), shards() and stats(), by the name the status gives each (absent: not registered). */
export const STATUS_COMMANDS = {
  cache: 'SHOW CACHE',
  prefetch: 'SHOW PREFETCH',
  load: 'SHOW LOAD',
  hotspots: 'SHOW HOTSPOTS',
  migrations: 'SHOW MIGRATIONS',
} as const;
export type StatusCommand = keyof typeof STATUS_COMMANDS;

/** One reading of the proxy: each part is the result the admin console gives for the same command (null: not enabled). */
export interface ProxyStatus {
  /** when it was read (ISO 8601) */
  at: string;
  pools: AdminResult;
  shards: AdminResult;
  stats: AdminResult;
  cache: AdminResult | null;
  prefetch: AdminResult | null;
  load: AdminResult | null;
  hotspots: AdminResult | null;
  migrations: AdminResult | null;
}

/** A result's rows as objects keyed by column name. */
export function rowsOf(r: AdminResult | null): Record<string, string | number | boolean | null>[] {
  if (r === null) return [];
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null])));
}

/**
 * Reads the proxy through the admin console's functions. stats() starts a new event-loop delay window, as SHOW STATS
 * does: every reader of it (the console, the dashboard, a scrape) sees the delay since the previous reading.
 */
export async function proxyStatus(admin: AdminSource, now: () => number = Date.now): Promise<ProxyStatus> {
  const extra = async (name: string): Promise<AdminResult | null> => {
    const run = admin.extra?.get(name);
    if (run === undefined) return null;
    try {
      return await run('');
    } catch (e) {
      // one command that fails (the catalog unreachable for SHOW MIGRATIONS) leaves the rest of the status readable
      logger.debug('status: admin command failed', { command: name, error: (e as Error).message });
      return null;
    }
  };
  const at = new Date(now()).toISOString();
  const pools = admin.pools();
  const shards = admin.shards();
  const stats = admin.stats();
  const [cache, prefetch, load, hotspots, migrations] = await Promise.all(Object.values(STATUS_COMMANDS).map(extra));
  return { at, pools, shards, stats, cache: cache ?? null, prefetch: prefetch ?? null, load: load ?? null, hotspots: hotspots ?? null, migrations: migrations ?? null };
}
