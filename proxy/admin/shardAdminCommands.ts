// shardAdminCommands owns the admin console's shard-set statements: ADD SHARD name HOST … [PORT …] DATABASE … USER … [PASSWORD …], DRAIN SHARD name, and SHOW RESHARDS.
import type { Config, ShardConfig } from '../../config/schema.js';
import { ShardSchema } from '../../config/schema.js';
import { ShardStatus, type CatalogSnapshot } from '../catalog/Catalog.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { ReshardState, type Reshard, type Resharder } from '../shardManager/Resharder.js';
import type { AdminCommand, AdminResult } from './AdminConsole.js';

/** What the shard statements need of the running proxy. */
export interface ShardAdminHost {
  readonly config: Config;
  readonly catalog: { snapshot(): CatalogSnapshot };
  /** RELOAD with `next`: a shard new in it is added through the Resharder */
  reload(next: Config): Promise<string>;
  /** set when this process is one of several workers */
  readonly peers: unknown;
}

/** A quoted or bare word, as in `HOST '10.0.0.7'` or `PORT 5434`. */
const VALUE = String.raw`(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)"|([A-Za-z0-9_.:@/-]+))`;
const PAIR = new RegExp(String.raw`\s*([A-Za-z]+)\s+${VALUE}`, 'y');
const KEYWORDS = ['HOST', 'PORT', 'DATABASE', 'USER', 'PASSWORD'] as const;
const ADD_USAGE = `usage: ADD SHARD name HOST host [PORT port] DATABASE database USER server_user [PASSWORD 'password']`;

function valueAt(m: RegExpExecArray, at: number): string {
  if (m[at] !== undefined) return m[at]!.replace(/''/g, "'");
  if (m[at + 1] !== undefined) return m[at + 1]!.replace(/""/g, '"');
  return m[at + 2]!;
}

/** `name KEYWORD value …` → the shard, with the schema's defaults (PORT 5432, PASSWORD ''). */
function parseAddShard(args: string): ShardConfig {
  const head = new RegExp(`^${VALUE}`, 'y');
  const name = head.exec(args);
  if (!name) throw new ProxyError('ADMIN_SYNTAX', ADD_USAGE, SqlState.SyntaxError);
  const fields: Record<string, string | number> = { name: valueAt(name, 1) };
  PAIR.lastIndex = head.lastIndex;
  while (PAIR.lastIndex < args.length) {
    const m = PAIR.exec(args);
    const keyword = m?.[1]!.toUpperCase();
    if (!m || !KEYWORDS.includes(keyword as (typeof KEYWORDS)[number])) throw new ProxyError('ADMIN_SYNTAX', ADD_USAGE, SqlState.SyntaxError);
    const field = keyword!.toLowerCase();
    if (field in fields) throw new ProxyError('ADMIN_SYNTAX', `${keyword} given twice; ${ADD_USAGE}`, SqlState.SyntaxError);
    fields[field] = field === 'port' ? Number(valueAt(m, 2)) : valueAt(m, 2);
  }
  if (fields.host === undefined || fields.database === undefined || fields.user === undefined) throw new ProxyError('ADMIN_SYNTAX', ADD_USAGE, SqlState.SyntaxError);
  const parsed = ShardSchema.safeParse(fields);
  if (!parsed.success) throw new ProxyError('ADMIN_SYNTAX', `${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}; ${ADD_USAGE}`, SqlState.InvalidParameterValue);
  return parsed.data;
}

const COLUMNS = ['id', 'kind', 'shard', 'state', 'keys', 'moved', 'failed', 'elapsed_ms', 'error'];
const row = (o: Reshard): (string | number | null)[] => [o.id, o.kind, o.shard, o.state, o.keys, o.moved, o.failed, o.elapsedMs, o.error ?? null];

export function shardAdminCommands(host: ShardAdminHost, resharder: Resharder): AdminCommand[] {
  const commands: AdminCommand[] = [];
  const set = (name: string, syntax: string, description: string, run: AdminCommand['run']): void => void commands.push({ name, syntax, description, run });
  const latest = (shard: string): Reshard | undefined => [...resharder.operations].reverse().find((o) => o.shard === shard);
  const answer = (op: Reshard | undefined, tag: string): AdminResult => {
    if (op === undefined) throw new ProxyError('RESHARD_MISSING', 'no resharding was started', SqlState.InternalError);
    if (op.state === ReshardState.Failed) throw new ProxyError('RESHARD_FAILED', `${op.kind} shard ${op.shard} failed: ${op.error ?? 'unknown error'}`, SqlState.ObjectInUse);
    return { columns: COLUMNS, rows: [row(op)], tag };
  };
  set('ADD SHARD', "ADD SHARD s HOST h [PORT p] DATABASE d USER u [PASSWORD 'pw']", 'adds a shard online; its keys move to it in the background', async (args) => {
    if (host.peers) throw new ProxyError('ADD_SHARD_WORKERS', 'with workers > 1, add the shard to the config file and RELOAD', SqlState.FeatureNotSupported);
    const shard = parseAddShard(args.trim());
    const known = host.catalog.snapshot().shard(shard.name);
    if (known !== undefined && known.status !== ShardStatus.Inactive) {
      throw new ProxyError('SHARD_EXISTS', `shard "${shard.name}" is ${known.status} already`, SqlState.InvalidParameterValue);
    }
    const cfg = host.config;
    const before = resharder.operations.at(-1)?.id ?? 0;
    // a shard new to the config comes in through RELOAD's path; an inactive one listed already (drained, or an ADD
    // that failed) gets the address given, then is brought in the same way
    await host.reload({ ...cfg, shards: [...cfg.shards.filter((s) => s.name !== shard.name), shard] });
    const op = latest(shard.name);
    return answer(op !== undefined && op.id > before ? op : await resharder.addShards([shard.name]), 'ADD SHARD');
  });
  set('DRAIN SHARD', 'DRAIN SHARD s', 'moves every key of a shard elsewhere, then marks it inactive', async (args) => {
    const name = new RegExp(`^${VALUE}$`).exec(args.trim());
    if (!name) throw new ProxyError('ADMIN_SYNTAX', 'usage: DRAIN SHARD name', SqlState.SyntaxError);
    return answer(await resharder.drain(valueAt(name, 1)), 'DRAIN SHARD');
  });
  set('SHOW RESHARDS', 'SHOW RESHARDS', 'every add and drain since start', () => ({ columns: COLUMNS, rows: resharder.operations.map(row) }));
  return commands;
}
