// actions owns the control-plane action catalogue: ~30 EC2-style actions (CloudTrail names), each a small SQL transaction.
import type pg from 'pg';
import type { Action, ActionContext } from './types.js';
import { existing, forget, ids, newId, oneOf, some, transact, type Tx } from './actionTx.js';

const AZS = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
const VOLUME_TYPES = ['gp3', 'gp2', 'io2', 'st1'];
const INSTANCE_TYPES = ['t3.micro', 't3.large', 'm6i.xlarge', 'c7g.2xlarge', 'r6i.4xlarge'];
const SIZES = [8, 16, 20, 50, 100, 500];
const tags = (ctx: ActionContext, kind: string): string =>
  JSON.stringify({ Name: `${kind}-${ctx.rng.int(1000)}`, env: oneOf(ctx.rng, ['prod', 'staging', 'dev']) });
const ip = (ctx: ActionContext): string => `10.${ctx.rng.int(256)}.${ctx.rng.int(256)}.${1 + ctx.rng.int(254)}`;

function write(name: string, domain: string, body: (tx: Tx) => Promise<void>): Action {
  return { name, domain, write: true, run: (db: pg.ClientBase, ctx) => transact(db, ctx, name, true, body) };
}

/** A Describe*: by a few known ids, or by a state filter (limit 100). One statement, its own implicit transaction. */
function describe(name: string, domain: string, table: string, stateCol: string, states: string[]): Action {
  return {
    name, domain, write: false,
    run: (db, ctx) => transact(db, ctx, name, false, async (tx) => {
      const byId = some(ctx, table, 1 + ctx.rng.int(5));
      if (byId.length && ctx.rng.next() < 0.6) {
        await tx.q(`SELECT * FROM ${table} WHERE account_id = $1 AND id = ANY($2::text[])`, [tx.account, byId]);
      } else {
        await tx.q(`SELECT * FROM ${table} WHERE account_id = $1 AND ${stateCol} = $2 ORDER BY id LIMIT 100`, [tx.account, oneOf(ctx.rng, states)]);
      }
    }, true),
  };
}

function read(name: string, domain: string, sql: string): Action {
  return { name, domain, write: false, run: (db, ctx) => transact(db, ctx, name, false, async (tx) => void (await tx.q(sql, [tx.account])), true) };
}

const createVolume = write('CreateVolume', 'volume', async (tx) => {
  const { ctx } = tx;
  const id = newId('vol');
  const type = oneOf(ctx.rng, VOLUME_TYPES);
  await tx.q(
    `INSERT INTO volumes (id, account_id, state, size_gib, volume_type, iops, availability_zone, encrypted, tags)
     VALUES ($2, $1, 'available', $3, $4, $5, $6, $7, $8::jsonb)`,
    [tx.account, id, oneOf(ctx.rng, SIZES), type, type === 'io2' ? 3000 : null, oneOf(ctx.rng, AZS), ctx.rng.next() < 0.5, tags(ctx, 'vol')],
  );
  tx.onCommit(() => ids(ctx, 'volumes').push(id));
});

const attachVolume = write('AttachVolume', 'volume', async (tx) => {
  const { ctx } = tx;
  const vol = existing(ctx, 'volumes', 'vol');
  const inst = existing(ctx, 'instances', 'i');
  const r = await tx.q(`UPDATE volumes SET state = 'in-use', updated_at = now() WHERE account_id = $1 AND id = $2 AND state = 'available'`, [tx.account, vol]);
  if (r.rowCount !== 1) return;
  const id = newId('attach');
  await tx.q(
    `INSERT INTO volume_attachments (id, account_id, volume_id, instance_id, device, state) VALUES ($2, $1, $3, $4, $5, 'attached')`,
    [tx.account, id, vol, inst, `/dev/sd${'fghijklmnop'[ctx.rng.int(11)]}`],
  );
  tx.onCommit(() => ids(ctx, 'volume_attachments').push(id));
});

const detachVolume = write('DetachVolume', 'volume', async (tx) => {
  const att = existing(tx.ctx, 'volume_attachments', 'attach');
  const r = await tx.q(`DELETE FROM volume_attachments WHERE account_id = $1 AND id = $2 RETURNING volume_id`, [tx.account, att]);
  tx.onCommit(() => forget(tx.ctx, 'volume_attachments', att));
  if (r.rows.length) await tx.q(`UPDATE volumes SET state = 'available', updated_at = now() WHERE account_id = $1 AND id = $2`, [tx.account, r.rows[0].volume_id]);
});

const deleteVolume = write('DeleteVolume', 'volume', async (tx) => {
  const vol = existing(tx.ctx, 'volumes', 'vol');
  const att = await tx.q(`DELETE FROM volume_attachments WHERE account_id = $1 AND volume_id = $2 RETURNING id`, [tx.account, vol]);
  await tx.q(`DELETE FROM volumes WHERE account_id = $1 AND id = $2`, [tx.account, vol]);
  tx.onCommit(() => {
    forget(tx.ctx, 'volumes', vol);
    for (const row of att.rows) forget(tx.ctx, 'volume_attachments', row.id);
  });
});

const modifyVolume = write('ModifyVolume', 'volume', async (tx) => {
  const vol = existing(tx.ctx, 'volumes', 'vol');
  const cur = await tx.q(`SELECT size_gib FROM volumes WHERE account_id = $1 AND id = $2 FOR UPDATE`, [tx.account, vol]);
  if (!cur.rows.length) return;
  await tx.q(`UPDATE volumes SET size_gib = LEAST(size_gib + $3, 16384), volume_type = $4, updated_at = now() WHERE account_id = $1 AND id = $2`,
    [tx.account, vol, 1 + tx.ctx.rng.int(100), oneOf(tx.ctx.rng, VOLUME_TYPES)]);
});

const createSnapshot = write('CreateSnapshot', 'snapshot', async (tx) => {
  const id = newId('snap');
  const vol = ids(tx.ctx, 'volumes').length ? existing(tx.ctx, 'volumes', 'vol') : null;
  await tx.q(`INSERT INTO snapshots (id, account_id, volume_id, state, size_gib, description, tags) VALUES ($2, $1, $3, 'completed', $4, $5, $6::jsonb)`,
    [tx.account, id, vol, oneOf(tx.ctx.rng, SIZES), 'nightly backup', tags(tx.ctx, 'snap')]);
  tx.onCommit(() => ids(tx.ctx, 'snapshots').push(id));
});

const deleteSnapshot = write('DeleteSnapshot', 'snapshot', async (tx) => {
  const snap = existing(tx.ctx, 'snapshots', 'snap');
  await tx.q(`DELETE FROM snapshots WHERE account_id = $1 AND id = $2`, [tx.account, snap]);
  tx.onCommit(() => forget(tx.ctx, 'snapshots', snap));
});

const copySnapshot = write('CopySnapshot', 'snapshot', async (tx) => {
  const src = existing(tx.ctx, 'snapshots', 'snap');
  const id = newId('snap');
  const r = await tx.q(
    `INSERT INTO snapshots (id, account_id, volume_id, state, size_gib, progress, description, tags)
     SELECT $3, account_id, volume_id, 'pending', size_gib, 0, 'Copied from ' || id, tags FROM snapshots WHERE account_id = $1 AND id = $2`,
    [tx.account, src, id]);
  if (r.rowCount !== 1) return;
  await tx.q(`UPDATE snapshots SET state = 'completed', progress = 100, updated_at = now() WHERE account_id = $1 AND id = $2`, [tx.account, id]);
  tx.onCommit(() => ids(tx.ctx, 'snapshots').push(id));
});

const runInstances = write('RunInstances', 'instance', async (tx) => {
  const { ctx } = tx;
  const n = 1 + ctx.rng.int(3);
  const created: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = newId('i');
    await tx.q(
      `INSERT INTO instances (id, account_id, state, instance_type, image_id, availability_zone, private_ip, tags) VALUES ($2, $1, 'running', $3, $4, $5, $6, $7::jsonb)`,
      [tx.account, id, oneOf(ctx.rng, INSTANCE_TYPES), newId('ami'), oneOf(ctx.rng, AZS), ip(ctx), tags(ctx, 'web')]);
    created.push(id);
  }
  tx.onCommit(() => ids(ctx, 'instances').push(...created));
});

function instanceState(name: string, from: string, to: string): Action {
  return write(name, 'instance', async (tx) => {
    await tx.q(`UPDATE instances SET state = $4, updated_at = now() WHERE account_id = $1 AND id = ANY($2::text[]) AND state = $3`,
      [tx.account, some(tx.ctx, 'instances', 1 + tx.ctx.rng.int(2)), from, to]);
  });
}

const terminateInstances = write('TerminateInstances', 'instance', async (tx) => {
  const inst = existing(tx.ctx, 'instances', 'i');
  await tx.q(`SELECT state FROM instances WHERE account_id = $1 AND id = $2 FOR UPDATE`, [tx.account, inst]);
  await tx.q(`UPDATE instances SET state = 'terminated', updated_at = now() WHERE account_id = $1 AND id = $2`, [tx.account, inst]);
  tx.onCommit(() => forget(tx.ctx, 'instances', inst));
});

const rebootInstances = write('RebootInstances', 'instance', async (tx) => {
  await tx.q(`UPDATE instances SET updated_at = now() WHERE account_id = $1 AND id = $2 AND state = 'running'`, [tx.account, existing(tx.ctx, 'instances', 'i')]);
});

const createImage = write('CreateImage', 'image', async (tx) => {
  const id = newId('ami');
  await tx.q(`INSERT INTO images (id, account_id, name, state, architecture, source_instance_id, tags) VALUES ($2, $1, $3, 'available', $4, $5, $6::jsonb)`,
    [tx.account, id, `image-${tx.ctx.rng.int(100000)}`, oneOf(tx.ctx.rng, ['x86_64', 'arm64']), existing(tx.ctx, 'instances', 'i'), tags(tx.ctx, 'ami')]);
  tx.onCommit(() => ids(tx.ctx, 'images').push(id));
});

function deleter(name: string, domain: string, table: string, prefix: string): Action {
  return write(name, domain, async (tx) => {
    const id = existing(tx.ctx, table, prefix);
    await tx.q(`DELETE FROM ${table} WHERE account_id = $1 AND id = $2`, [tx.account, id]);
    tx.onCommit(() => forget(tx.ctx, table, id));
  });
}

const createSecurityGroup = write('CreateSecurityGroup', 'security_group', async (tx) => {
  const id = newId('sg');
  await tx.q(`INSERT INTO security_groups (id, account_id, group_name, description, vpc_id, tags) VALUES ($2, $1, $3, 'managed by workload', $4, $5::jsonb)`,
    [tx.account, id, `sg-${tx.ctx.rng.int(100000)}`, `vpc-${tx.ctx.rng.int(8)}`, tags(tx.ctx, 'sg')]);
  tx.onCommit(() => ids(tx.ctx, 'security_groups').push(id));
});

const authorizeIngress = write('AuthorizeSecurityGroupIngress', 'security_group', async (tx) => {
  const rule = JSON.stringify([{ proto: 'tcp', port: oneOf(tx.ctx.rng, [22, 80, 443, 5432, 8080]), cidr: `10.${tx.ctx.rng.int(256)}.0.0/16` }]);
  await tx.q(
    `UPDATE security_groups SET ingress_rules = CASE WHEN jsonb_array_length(ingress_rules) >= 50 THEN $3::jsonb ELSE ingress_rules || $3::jsonb END,
     updated_at = now() WHERE account_id = $1 AND id = $2`,
    [tx.account, existing(tx.ctx, 'security_groups', 'sg'), rule]);
});

const createKeyPair = write('CreateKeyPair', 'key_pair', async (tx) => {
  const id = newId('key');
  await tx.q(`INSERT INTO key_pairs (id, account_id, key_name, key_type, fingerprint, tags) VALUES ($2, $1, $3, $4, $5, $6::jsonb)`,
    [tx.account, id, `key-${tx.ctx.rng.int(100000)}`, oneOf(tx.ctx.rng, ['rsa', 'ed25519']), newId('fp'), tags(tx.ctx, 'key')]);
  tx.onCommit(() => ids(tx.ctx, 'key_pairs').push(id));
});

const createNetworkInterface = write('CreateNetworkInterface', 'network_interface', async (tx) => {
  const id = newId('eni');
  const mac = Array.from({ length: 6 }, () => tx.ctx.rng.int(256).toString(16).padStart(2, '0')).join(':');
  await tx.q(`INSERT INTO network_interfaces (id, account_id, subnet_id, private_ip, mac_address, status, tags) VALUES ($2, $1, $3, $4, $5, 'available', $6::jsonb)`,
    [tx.account, id, `subnet-${tx.ctx.rng.int(16)}`, ip(tx.ctx), mac, tags(tx.ctx, 'eni')]);
  tx.onCommit(() => ids(tx.ctx, 'network_interfaces').push(id));
});

export const ACTIONS: Action[] = [
  createVolume,
  describe('DescribeVolumes', 'volume', 'volumes', 'state', ['available', 'in-use']),
  attachVolume, detachVolume, deleteVolume, modifyVolume,
  createSnapshot,
  describe('DescribeSnapshots', 'snapshot', 'snapshots', 'state', ['completed', 'pending']),
  deleteSnapshot, copySnapshot,
  runInstances,
  describe('DescribeInstances', 'instance', 'instances', 'state', ['running', 'stopped']),
  instanceState('StartInstances', 'stopped', 'running'),
  instanceState('StopInstances', 'running', 'stopped'),
  terminateInstances, rebootInstances,
  describe('DescribeImages', 'image', 'images', 'state', ['available']),
  createImage,
  deleter('DeregisterImage', 'image', 'images', 'ami'),
  createSecurityGroup,
  describe('DescribeSecurityGroups', 'security_group', 'security_groups', 'vpc_id', ['vpc-0', 'vpc-1', 'vpc-2']),
  authorizeIngress,
  deleter('DeleteSecurityGroup', 'security_group', 'security_groups', 'sg'),
  createKeyPair,
  describe('DescribeKeyPairs', 'key_pair', 'key_pairs', 'key_type', ['rsa', 'ed25519']),
  deleter('DeleteKeyPair', 'key_pair', 'key_pairs', 'key'),
  createNetworkInterface,
  describe('DescribeNetworkInterfaces', 'network_interface', 'network_interfaces', 'status', ['available', 'in-use']),
  deleter('DeleteNetworkInterface', 'network_interface', 'network_interfaces', 'eni'),
  read('DescribeAccountAttributes', 'account', `SELECT id, tier, region, attributes FROM accounts WHERE account_id = $1`),
  read('GetCallerIdentity', 'account', `SELECT id AS account, name AS arn FROM accounts WHERE account_id = $1`),
];

const BY_NAME = new Map(ACTIONS.map((a) => [a.name, a]));

export function actionByName(name: string): Action | undefined {
  return BY_NAME.get(name);
}

/** The resource tables an AccountState.resources map is keyed by. */
export const RESOURCE_TABLES = ['volumes', 'snapshots', 'instances', 'volume_attachments', 'images', 'security_groups', 'key_pairs', 'network_interfaces'] as const;
