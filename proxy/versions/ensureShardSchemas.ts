// ensureShardSchemas owns installing the prescient schema and version triggers on every configured shard (the CLI's `versions install` and the proxy's start).
import pg from 'pg';
import type { Config, ShardConfig } from '../../config/schema.js';
import { logger as rootLogger, type Logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { installShardSchema, tablesFromConfig, type InstallOptions, type InstallResult } from './ShardSchema.js';

export interface ShardInstallReport {
  shard: string;
  /** set when the install succeeded */
  result?: InstallResult;
  /** set when the shard could not be reached or the install failed (nothing was changed there: one transaction) */
  error?: { message: string; code?: string };
}

export interface EnsureOptions extends InstallOptions {
  log?: Logger;
  /** connection timeout per shard (default 10 000 ms) */
  connectTimeoutMs?: number;
}

/**
 * Installs (or upgrades) the prescient schema and refreshes the version triggers of the config's sharded tables on
 * every shard, in parallel, one transaction per shard; a shard that is already up to date is left untouched. Never
 * throws for a shard: each report says what happened there (the caller decides whether a failure is fatal).
 * For the composition root to call at start, before VersionTracker.start().
 */
export async function ensureShardSchemas(config: Pick<Config, 'shards' | 'sharding'>, opts: EnsureOptions = {}): Promise<ShardInstallReport[]> {
  const log = opts.log ?? rootLogger.child({ component: 'versions' });
  const tables = tablesFromConfig(config);
  return Promise.all(config.shards.map((shard) => ensureOne(shard, tables, opts, log)));
}

async function ensureOne(shard: ShardConfig, tables: ReturnType<typeof tablesFromConfig>, opts: EnsureOptions, log: Logger): Promise<ShardInstallReport> {
  if (shard.user === undefined) {
    // background work is nobody's client: it logs in as the shard's own user (docs/server-identity.md)
    throw new ProxyError('NO_SHARD_USER', `shard "${shard.name}" has no user (shards[].user): the version schema is installed as the shard's own user`, SqlState.InvalidAuthorizationSpecification);
  }
  const client = new pg.Client({
    host: shard.host,
    port: shard.port,
    database: shard.database,
    user: shard.user,
    password: shard.password,
    application_name: 'prescient-versions-install',
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await installShardSchema(client, tables, opts);
    for (const w of result.warnings) log.warn('version triggers: table skipped', { shard: shard.name, warning: w });
    if (result.installed || result.changed > 0 || result.removed > 0) {
      log.info('versioned shard schema installed', { shard: shard.name, schemaVersion: result.schemaVersion, triggers: result.triggers, changed: result.changed, removed: result.removed });
    }
    return { shard: shard.name, result };
  } catch (e) {
    const err = e as Error & { code?: string };
    log.error('versioned shard schema install failed', { shard: shard.name, error: err.message, code: err.code });
    return { shard: shard.name, error: { message: err.message, code: err.code } };
  } finally {
    await client.end().catch(() => {});
  }
}
