// createCatalog owns choosing the catalog backend from config: a Postgres URL (shared) or a SQLite file (default).
import { CatalogError, CatalogErrorCode, type Catalog } from './Catalog.js';
import { PostgresCatalog } from './PostgresCatalog.js';
import { SqliteCatalog } from './SqliteCatalog.js';

export interface CatalogConfig {
  /** SQLite file (default backend). */
  path?: string;
  /** postgres:// URL of a shared catalog database; wins over `path`. */
  url?: string;
  /** Override the change-poll interval (SQLite default 250 ms, Postgres 1000 ms). */
  pollMs?: number;
}

export function createCatalog(config: CatalogConfig): Catalog {
  if (config.url) return new PostgresCatalog({ url: config.url, pollMs: config.pollMs });
  if (config.path) return new SqliteCatalog({ path: config.path, pollMs: config.pollMs });
  throw new CatalogError(CatalogErrorCode.Config, 'catalog config needs either `url` (Postgres) or `path` (SQLite)');
}
