// databaseConfig owns the view of the config one database runs with: the process-wide keys, and that database's own.
import type { Config } from './schema.js';
import { ConfigError } from './loadConfig.js';

/** The config the database `name` runs with (its ProxyContext's): `database`, `shards`, `pool`… are its own. */
export function databaseConfig(config: Config, name: string): Config {
  const db = config.databases[name];
  if (db === undefined) throw new Error(`no database "${name}" in the config (databases: ${Object.keys(config.databases).join(', ')})`);
  const { aliases: _aliases, ...own } = db;
  return { ...config, database: name, ...own };
}

/** The config of a file's only database, for a command that works on one (a file with several is refused, naming them). */
export function onlyDatabaseConfig(config: Config, command: string): Config {
  const names = Object.keys(config.databases);
  if (names.length !== 1) {
    throw new ConfigError(`${command} works on a config with one database; this one has ${names.length} (${names.join(', ')}): give it a file with one`);
  }
  return databaseConfig(config, names[0]!);
}
