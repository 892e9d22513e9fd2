// shardManagerCommand owns `prescient shard-manager --config FILE`: the shard manager as a process of its own on the proxies' catalog (no clients): it bids to lead, plans over the load every proxy publishes, settles moves of dead proxies; SIGHUP reads the config again, SIGTERM/SIGINT stop it.
import { dirname, resolve } from 'node:path';
import { anchorPaths, loadConfig } from '../../config/loadConfig.js';
import { onlyDatabaseConfig } from '../../config/databaseConfig.js';
import type { Config } from '../../config/schema.js';
import { createCatalog } from '../catalog/createCatalog.js';
import { effectiveLevel, logger } from '../logger.js';
import { MOVER_OWNER } from './Mover.js';
import { ShardManager } from './ShardManager.js';

const USAGE = `usage: prescient shard-manager --config FILE
  Runs the shard manager on the catalog of the proxies of FILE (catalog.url: a shared Postgres catalog): it plans
  while it leads (one leader among it and the proxies), and settles the moves of processes that died.`;

export async function shardManagerCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const at = args.findIndex((a) => a === '--config' || a.startsWith('--config='));
  const path = at < 0 ? undefined : args[at]!.includes('=') ? args[at]!.slice('--config='.length) : args[at + 1];
  const unknown = args.filter((a, i) => i !== at && !(i === at + 1 && !args[at]!.includes('=')));
  if (!path || unknown.length > 0) {
    process.stderr.write(`${unknown.length > 0 ? `unknown argument(s): ${unknown.join(' ')}\n` : ''}${USAGE}\n`);
    return 2;
  }
  const read = (): Config => onlyDatabaseConfig(anchorPaths(loadConfig(path), dirname(resolve(path))), 'prescient shard-manager');
  let config = read();
  logger.setLevel(effectiveLevel(config.log.level));
  const catalog = createCatalog(config.catalog);
  await catalog.open();
  const sm = ShardManager.create({ config: () => config, catalog });
  await sm.start();
  logger.info('shard manager running', { member: MOVER_OWNER, catalog: config.catalog.url ? 'postgres' : config.catalog.path });
  process.on('SIGHUP', () => {
    try {
      config = read();
      logger.setLevel(effectiveLevel(config.log.level));
      logger.info('configuration reloaded', { shards: config.shards.map((s) => s.name) });
    } catch (e) {
      logger.error('SIGHUP: reload failed, the previous configuration stays in effect', { error: (e as Error).message });
    }
  });
  await new Promise<void>((done) => {
    // the loop's timers do not hold the process; this does, until a signal
    const keep = setInterval(() => {}, 1 << 30);
    const stop = (signal: string): void => {
      logger.info('signal received', { signal });
      clearInterval(keep);
      done();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await sm.stop();
  await catalog.close();
  return 0;
}
