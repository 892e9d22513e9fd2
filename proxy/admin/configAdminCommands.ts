// configAdminCommands owns the admin console's SHOW CONFIG (the running config flattened, secrets masked, with defaults and what RELOAD changes) and SHOW VERSION.
import { ConfigSchema, type Config } from '../../config/schema.js';
import { version } from '../version.js';
import type { AdminCommand } from './AdminConsole.js';

type Value = string | number | boolean | null;

/** keys (by their path's start) whose new value RELOAD applies to new requests; the rest take effect at the next start */
const RELOADABLE = ['users', 'admin.', 'auth.', 'log.', 'sharding.', 'shards', 'shard_manager.'];
/** keys whose defaults are not a config's own (lists of the config's own entries, and values derived from them) */
const NO_DEFAULT = ['database', 'users', 'shards', 'admin.users', 'sharding.global_shard', 'plugins'];
const MASK = '********';

/** `p.` names every key under p; `p` names p itself, its fields and its list entries */
const startsWithKey = (key: string, prefixes: readonly string[]): boolean =>
  prefixes.some((p) => (p.endsWith('.') ? key.startsWith(p) : key === p || key.startsWith(`${p}.`) || key.startsWith(`${p}[`)));

/** `a.b[0].c` → value; lists of plain values stay one JSON value; secrets (passwords, a URL's password) are masked. */
export function flattenConfig(value: unknown, prefix = '', out = new Map<string, Value>()): Map<string, Value> {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.some((v) => v !== null && typeof v === 'object')) value.forEach((v, i) => flattenConfig(v, `${prefix}[${i}]`, out));
    else out.set(prefix, JSON.stringify(value));
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.set(prefix, '{}');
    for (const [k, v] of entries) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    const last = prefix.slice(prefix.lastIndexOf('.') + 1);
    if (/password|secret|token/i.test(last) && value !== undefined && value !== '') out.set(prefix, MASK);
    else if (typeof value === 'string') out.set(prefix, value.replace(/(:\/\/[^:/@]*:)[^@]*@/, `$1${MASK}@`));
    else out.set(prefix, (value ?? null) as Value);
  }
  return out;
}

/** The schema's defaults, flattened: a config of only the required keys, parsed. */
function defaults(): Map<string, Value> {
  const minimal = ConfigSchema.parse({ database: 'd', users: [{ name: 'u', auth: 'trust' }], shards: [{ name: 's', host: 'h', database: 'd' }] });
  const out = flattenConfig(minimal);
  for (const k of [...out.keys()]) if (startsWithKey(k, NO_DEFAULT)) out.delete(k);
  return out;
}

export function configAdminCommands(config: () => Config): AdminCommand[] {
  let dflt: Map<string, Value> | null = null;
  return [
    {
      name: 'SHOW CONFIG', syntax: 'SHOW CONFIG', description: 'the running config, one key a row: value, default, changeable (by RELOAD); secrets masked',
      run: () => {
        dflt ??= defaults();
        const d = dflt;
        return {
          columns: ['key', 'value', 'default', 'changeable'],
          rows: [...flattenConfig(config())].map(([k, v]) => [k, v, d.has(k) ? d.get(k)! : null, startsWithKey(k, RELOADABLE)]),
        };
      },
    },
    {
      name: 'SHOW VERSION', syntax: 'SHOW VERSION', description: "Prescient's version and Node's",
      run: () => ({ columns: ['version', 'node'], rows: [[`Prescient ${version}`, process.version]] }),
    },
  ];
}
