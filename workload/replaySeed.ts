// replaySeed owns preparing one replay account: its accounts row and a few resources (so actions act on something), and its state.
import type pg from 'pg';
import { newId, tag } from './actionTx.js';
import { RESOURCE_TABLES } from './actions.js';
import type { AccountState } from './types.js';

/** [table, id prefix, INSERT of one row with ($1 account, $2 id)] */
const SEED: [table: string, prefix: string, sql: string][] = [
  ['volumes', 'vol', `insert into volumes (id, account_id, state, size_gib, volume_type, availability_zone) values ($2, $1, 'available', 8, 'gp3', 'us-east-1a')`],
  ['snapshots', 'snap', `insert into snapshots (id, account_id, state, size_gib) values ($2, $1, 'completed', 8)`],
  ['instances', 'i', `insert into instances (id, account_id, state, instance_type, availability_zone) values ($2, $1, 'running', 't3.micro', 'us-east-1a')`],
  ['images', 'ami', `insert into images (id, account_id, name, state, architecture) values ($2, $1, 'replay-' || $2, 'available', 'x86_64')`],
  ['security_groups', 'sg', `insert into security_groups (id, account_id, group_name, description, vpc_id) values ($2, $1, 'replay-' || $2, 'replay', 'vpc-replay')`],
  ['key_pairs', 'key', `insert into key_pairs (id, account_id, key_name, key_type, fingerprint) values ($2, $1, 'replay-' || $2, 'ed25519', 'ff')`],
  ['network_interfaces', 'eni', `insert into network_interfaces (id, account_id, subnet_id, private_ip, mac_address, status) values ($2, $1, 'subnet-replay', '10.0.0.10', '02:00:00:00:00:01', 'available')`],
];

/**
 * Makes sure `id` exists with a few resources (one transaction) and returns its state: the resource ids it has
 * and nextSeq = 1 + the highest write_log seq already recorded for it (so a replay can run again on the same DB).
 */
export async function ensureAccount(db: pg.ClientBase, id: string, persona: string): Promise<AccountState> {
  const p = tag(id, 'ReplaySeed');
  const resources: Record<string, string[]> = {};
  await db.query(p + 'BEGIN');
  try {
    const created = await db.query(
      p + `insert into accounts (id, account_id, name, persona) values ($1, $1, $2, $3) on conflict (id) do nothing returning id`,
      [id, id, persona],
    );
    if (created.rowCount) for (const [, prefix, sql] of SEED) await db.query(p + sql, [id, newId(prefix)]);
    for (const table of RESOURCE_TABLES) {
      const r = await db.query<{ id: string }>(p + `select id from ${table} where account_id = $1 order by created_at, id limit 50`, [id]);
      resources[table] = r.rows.map((x) => x.id);
    }
    const s = await db.query<{ m: string | null }>(p + 'select max(seq)::text as m from write_log where account_id = $1', [id]);
    await db.query(p + 'COMMIT');
    return { id, persona, nextSeq: Number(s.rows[0]?.m ?? 0) + 1, resources };
  } catch (e) {
    await db.query(p + 'ROLLBACK').catch(() => {});
    throw e;
  }
}
