// migrationAdminCommands owns the admin console's tenant moves: MIGRATE ACCOUNT '…' DOMAIN '…' TO shard, CANCEL MIGRATION n, SHOW MIGRATIONS, and SHOW MEMBERS (the processes moving them).
import type { AdminCommand } from './AdminConsole.js';
import { MOVER_OWNER, type Mover } from '../shardManager/Mover.js';
import { MEMBER_TTL_MS } from '../shardManager/Membership.js';
import type { Catalog } from '../catalog/Catalog.js';

const VALUE = String.raw`(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)"|([A-Za-z0-9_.:@-]+))`;
const MIGRATE = new RegExp(String.raw`^ACCOUNT\s+${VALUE}\s+DOMAIN\s+${VALUE}\s+TO\s+${VALUE}$`, 'i');

function valueAt(m: RegExpExecArray, at: number): string | undefined {
  if (m[at] !== undefined) return m[at]!.replace(/''/g, "'");
  if (m[at + 1] !== undefined) return m[at + 1]!.replace(/""/g, '"');
  return m[at + 2];
}

const COLUMNS = ['id', 'key', 'from', 'to', 'state', 'rows', 'pause_ms', 'elapsed_ms', 'error', 'bytes'];

export function migrationAdminCommands(mover: Mover, catalog: Catalog, fenceTimeoutMs: () => number): AdminCommand[] {
  const commands: AdminCommand[] = [];
  const set = (name: string, syntax: string, description: string, run: AdminCommand['run']): void => void commands.push({ name, syntax, description, run });
  set('MIGRATE', "MIGRATE ACCOUNT 'a' DOMAIN 'd' TO shard", "moves one tenant's domain to another shard online", async (args) => {
    const m = MIGRATE.exec(args.trim());
    if (!m) throw new Error(`usage: MIGRATE ACCOUNT 'account-id' DOMAIN 'domain' TO shard`);
    const done = await mover.move(valueAt(m, 1)!, valueAt(m, 4)!, valueAt(m, 7)!, fenceTimeoutMs());
    if (done.error !== undefined) throw new Error(`migration ${done.id} of ${done.key} failed: ${done.error}`);
    return { columns: COLUMNS, rows: [[done.id, done.key, done.from, done.to, done.state, done.rows, done.pauseMs, done.elapsedMs, null, done.bytes]], tag: 'MIGRATE' };
  });
  set('CANCEL MIGRATION', 'CANCEL MIGRATION id', 'stops a move that has not reached its flip', (args) => {
    const id = Number(args.trim());
    if (!Number.isInteger(id) || id <= 0) throw new Error('usage: CANCEL MIGRATION id');
    if (!mover.cancel(id)) throw new Error(`migration ${id} cannot be cancelled: unknown, finished, or past the flip`);
    return { columns: ['cancel'], rows: [[`migration ${id} cancelled`]], tag: 'CANCEL' };
  });
  // every proxy's moves, from the catalog; the ones running here with their figures of this moment
  set('SHOW MIGRATIONS', 'SHOW MIGRATIONS', "the last 1,000 moves of every proxy on the catalog", async () => {
    const live = new Map(mover.running().map((m) => [m.id, m]));
    const now = Date.now();
    return {
      columns: COLUMNS,
      rows: (await catalog.migrations({ limit: 1000 })).map((r) => {
        const m = live.get(r.id);
        const elapsed = r.elapsedMs ?? (m ? now - m.startedAt : null);
        return [r.id, r.key, r.from, r.to, m?.state ?? r.state, m?.rows ?? r.rows, r.pauseMs, elapsed, r.error, m?.bytes ?? r.bytes];
      }),
    };
  });
  // the processes on this catalog: proxies (serving: fences wait for them) and shard-manager processes
  set('SHOW MEMBERS', 'SHOW MEMBERS', 'the proxies and shard-manager processes on the catalog', async () => ({
    columns: ['member', 'serving', 'leading', 'heartbeat_age_ms', 'this'],
    rows: (await catalog.members(MEMBER_TTL_MS)).map((m) => [m.id, m.serving, m.leading, Date.now() - m.heartbeatAt, m.id === MOVER_OWNER]),
  }));
  return commands;
}
