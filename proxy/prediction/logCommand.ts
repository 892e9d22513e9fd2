// logCommand owns `prescient log export`: the action log's segments (of every process that wrote to the folder) as one NDJSON stream of ActionEvents in time order, to stdout or a file.
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { anchorPaths, loadConfig } from '../../config/loadConfig.js';
import { onlyDatabaseConfig } from '../../config/databaseConfig.js';
import { formatActionEvent } from './ActionEvent.js';
import { ActionLogStore } from './ActionLogStore.js';

const USAGE = `usage: prescient log export (--config FILE | --dir DIR) [--out FILE] [--since MS]
  Writes the action log (action_log.dir of FILE, or DIR) as NDJSON, one ActionEvent per line in time order:
  to FILE, else to stdout. --since: only events at or after MS (ms since the epoch).`;

export async function logCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const opts = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const m = /^--(config|dir|out|since)(?:=(.*))?$/.exec(a);
    const value = m?.[2] ?? rest[++i];
    if (!m || value === undefined) {
      process.stderr.write(`prescient log: unknown or incomplete option "${a}"\n${USAGE}\n`);
      return 2;
    }
    opts.set(m[1]!, value);
  }
  if (sub !== 'export' || (opts.has('config') === opts.has('dir'))) {
    process.stderr.write(`${sub === 'export' ? 'give one of --config, --dir\n' : `prescient log: unknown subcommand "${sub ?? ''}"\n`}${USAGE}\n`);
    return 2;
  }
  const since = Number(opts.get('since') ?? 0);
  if (!Number.isFinite(since)) {
    process.stderr.write(`--since: expected ms since the epoch\n${USAGE}\n`);
    return 2;
  }
  const cfgPath = opts.get('config');
  const dir = cfgPath ? onlyDatabaseConfig(anchorPaths(loadConfig(cfgPath), dirname(resolve(cfgPath))), 'prescient log export').action_log.dir : resolve(opts.get('dir')!);
  const events = await ActionLogStore.read(dir, since);
  const text = events.map((e) => formatActionEvent(e) + '\n').join('');
  const out = opts.get('out');
  if (out) await writeFile(out, text);
  else process.stdout.write(text);
  process.stderr.write(`${events.length} action(s) from ${dir}\n`);
  return 0;
}
