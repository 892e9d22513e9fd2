// routingAdminCommands owns the admin console's routing statements: SHOW PLACEMENT FOR ACCOUNT '…' [ACTION '…'], SHOW KEYS… and RELOAD.
import type { ProxyContext } from '../context/ProxyContext.js';
import type { AdminCommand } from './AdminConsole.js';

/** A quoted or bare word, as in `ACCOUNT 'acct-1'` or `ACTION CreateVolume`. */
const VALUE = String.raw`(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)"|([A-Za-z0-9_.:@-]+))`;
const PLACEMENT = new RegExp(String.raw`^FOR\s+ACCOUNT\s+${VALUE}(?:\s+ACTION\s+${VALUE})?(?:\s+TABLE\s+${VALUE})?$`, 'i');

function valueAt(m: RegExpExecArray, at: number): string | undefined {
  if (m[at] !== undefined) return m[at]!.replace(/''/g, "'");
  if (m[at + 1] !== undefined) return m[at + 1]!.replace(/""/g, '"');
  return m[at + 2];
}

export function routingAdminCommands(ctx: ProxyContext): AdminCommand[] {
  const commands: AdminCommand[] = [];
  const set = (name: string, syntax: string, description: string, run: AdminCommand['run']): void => void commands.push({ name, syntax, description, run });
  set('SHOW PLACEMENT', "SHOW PLACEMENT FOR ACCOUNT 'a' [ACTION 'X'] [TABLE 't']", 'where a key lives: domain, placement key, shard, address, explicit or hash, version, epoch', (args) => {
    const m = PLACEMENT.exec(args.trim());
    if (!m) throw new Error(`usage: SHOW PLACEMENT FOR ACCOUNT 'account-id' [ACTION 'ActionName'] [TABLE 'table']`);
    const account = valueAt(m, 1)!;
    const action = valueAt(m, 4) ?? null;
    const table = valueAt(m, 7);
    const domain = ctx.router.domainOf(action, table ? [table] : []) ?? 'default';
    const key = `${account}_${domain}`;
    const snapshot = ctx.catalog.snapshot();
    const p = snapshot.placementOf(key);
    return {
      columns: ['account', 'action', 'domain', 'shard_key', 'shard', 'host', 'port', 'database', 'placement', 'version', 'epoch'],
      rows: [[account, action, domain, key, p.shard.name, p.shard.host, p.shard.port, p.shard.database, p.explicit ? 'explicit' : 'hash', p.version, snapshot.epoch]],
    };
  });
  set('RELOAD', 'RELOAD', 're-reads the config file: users, log level, sharding rules, new shards', async () => {
    const message = await ctx.reload();
    // the other workers (config.workers > 1) read the file too
    ctx.peers?.reloadOthers();
    return { columns: ['reload'], rows: [[message]], tag: 'RELOAD' };
  });
  return commands;
}
