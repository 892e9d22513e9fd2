// databaseConfig owns the view of the config one database runs with: the process-wide keys, and that database's own.
import type { Config } from './schema.js';

/** The config the database `name` runs with (its ProxyContext's): `database`, `shards`, `pool`… are its own. */
export function databaseConfig(config: Config, name: string): Config {
  const db = config.databases[name];
  if (db === undefined) throw new Error(`no database "${name}" in the config (databases: ${Object.keys(config.databases).join(', ')})`);
  const { aliases: _aliases, ...own } = db;
  return { ...config, database: name, ...own };
}
