// versionsCommand owns `prescient versions install --config FILE`: install the prescient schema and version triggers on every configured shard, one line per shard.
import { loadConfig } from '../../config/loadConfig.js';
import { onlyDatabaseConfig } from '../../config/databaseConfig.js';
import { Logger } from '../logger.js';
import { ensureShardSchemas, type ShardInstallReport } from './ensureShardSchemas.js';

export const VERSIONS_USAGE = `usage: prescient versions install --config FILE [--no-prune]
  install    create or upgrade the prescient schema on every shard and (re)create the version triggers on the
             config's sharded tables (--no-prune: keep version triggers on tables the config no longer lists)`;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(name + '='));
  return eq?.slice(name.length + 1);
}

/** One line for a shard's install report. */
export function describeReport(r: ShardInstallReport): string {
  if (r.error) return `${r.shard}: FAILED ${r.error.code ? `[${r.error.code}] ` : ''}${r.error.message}`;
  const x = r.result!;
  const what = x.installed ? `installed schema v${x.schemaVersion}` : `schema v${x.schemaVersion} up to date`;
  const parts = [what, `${x.triggers} triggers (${x.changed} created or replaced, ${x.removed} removed)`];
  const warn = x.warnings.length ? `; ${x.warnings.join('; ')}` : '';
  return `${r.shard}: ${parts.join(', ')}${warn}`;
}

/** Runs `prescient versions <sub> …`; resolves with the exit code (ConfigError propagates to the CLI's handler). */
export async function versionsCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    out.write(VERSIONS_USAGE + '\n');
    return 0;
  }
  if (sub !== 'install') {
    process.stderr.write(`${sub ? `prescient versions: unknown subcommand "${sub}"\n` : ''}${VERSIONS_USAGE}\n`);
    return 2;
  }
  const path = arg(rest, '--config') ?? process.env.PRESCIENT_CONFIG;
  if (!path) {
    process.stderr.write(`prescient versions install: --config FILE is required\n${VERSIONS_USAGE}\n`);
    return 2;
  }
  const config = onlyDatabaseConfig(loadConfig(path), 'prescient versions install');
  // the per-shard lines are the output; keep the structured log to warnings and errors
  const reports = await ensureShardSchemas(config, { prune: !rest.includes('--no-prune'), log: new Logger('error', { component: 'versions' }) });
  for (const r of reports) out.write(describeReport(r) + '\n');
  return reports.some((r) => r.error) ? 1 : 0;
}
