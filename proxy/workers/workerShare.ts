// workerShare owns how N workers split the budgets of one config: each worker's pool.size (every database's) and listen.max_client_connections, so that together they never exceed what was configured.
import type { Config } from '../../config/schema.js';

/** Worker `index`'s part of `total` split over `count` workers (the first `total % count` get one more); at least `min`. */
export function shareOf(total: number, index: number, count: number, min = 1): number {
  return Math.max(min, Math.floor(total / count) + (index < total % count ? 1 : 0));
}

/**
 * The config worker `index` of `count` runs with: pool.size and listen.max_client_connections are its share of the
 * configured ones (a pool of 20 over 2 workers is 10 + 10 server connections per shard and server user). A pool smaller
 * than the workers still gives each worker one connection: the total is then `count`, said at start-up.
 */
export function workerShare(config: Config, index: number, count: number): Config {
  if (count <= 1) return config;
  return {
    ...config,
    pool: { ...config.pool, size: shareOf(config.pool.size, index, count) },
    // each database's pools are split the same way
    databases: Object.fromEntries(Object.entries(config.databases).map(([name, db]) => [name, { ...db, pool: { ...db.pool, size: shareOf(db.pool.size, index, count) } }])),
    listen: { ...config.listen, max_client_connections: shareOf(config.listen.max_client_connections, index, count) },
  };
}
