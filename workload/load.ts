// load owns `prescient workload load`: create the schema, then load N accounts with heavy-tailed resource counts.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { tag } from './actionTx.js';
import { BulkTable, statements } from './bulk.js';
import { Flags, redact } from './flags.js';
import { choosePersona } from './personas.js';
import { makeRng, pareto, resourceId } from './rng.js';
import type { Rng } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));

/** schema.sql next to this module (source tree) or in the source tree when running from dist/. */
export function schemaSql(): string {
  for (const p of [join(here, 'schema.sql'), join(here, '..', '..', 'workload', 'schema.sql')]) {
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new Error('schema.sql not found');
}

export async function applySchema(db: pg.ClientBase): Promise<void> {
  for (const s of statements(schemaSql())) await db.query(s);
}

/** How an account's resources split over the resource tables. */
const SPLIT: [string, number][] = [['volumes', 0.35], ['snapshots', 0.25], ['instances', 0.15], ['images', 0.05], ['security_groups', 0.08], ['key_pairs', 0.04], ['network_interfaces', 0.08]];
const TS = 'timestamptz';
const common: [string, string][] = [['tags', 'jsonb'], ['created_at', TS], ['updated_at', TS]];
const tables = (batch: number): Record<string, BulkTable> => ({
  accounts: new BulkTable('accounts', [['id', 'text'], ['account_id', 'text'], ['name', 'text'], ['persona', 'text'], ['tier', 'text'], ['attributes', 'jsonb'], ['created_at', TS], ['updated_at', TS]], batch),
  volumes: new BulkTable('volumes', [['id', 'text'], ['account_id', 'text'], ['state', 'text'], ['size_gib', 'int'], ['volume_type', 'text'], ['availability_zone', 'text'], ['encrypted', 'bool'], ...common], batch),
  volume_attachments: new BulkTable('volume_attachments', [['id', 'text'], ['account_id', 'text'], ['volume_id', 'text'], ['instance_id', 'text'], ['device', 'text'], ['state', 'text'], ...common], batch),
  snapshots: new BulkTable('snapshots', [['id', 'text'], ['account_id', 'text'], ['volume_id', 'text'], ['state', 'text'], ['size_gib', 'int'], ['description', 'text'], ...common], batch),
  instances: new BulkTable('instances', [['id', 'text'], ['account_id', 'text'], ['state', 'text'], ['instance_type', 'text'], ['image_id', 'text'], ['availability_zone', 'text'], ['private_ip', 'text'], ...common], batch),
  images: new BulkTable('images', [['id', 'text'], ['account_id', 'text'], ['name', 'text'], ['state', 'text'], ['architecture', 'text'], ...common], batch),
  security_groups: new BulkTable('security_groups', [['id', 'text'], ['account_id', 'text'], ['group_name', 'text'], ['description', 'text'], ['vpc_id', 'text'], ...common], batch),
  key_pairs: new BulkTable('key_pairs', [['id', 'text'], ['account_id', 'text'], ['key_name', 'text'], ['key_type', 'text'], ['fingerprint', 'text'], ...common], batch),
  network_interfaces: new BulkTable('network_interfaces', [['id', 'text'], ['account_id', 'text'], ['subnet_id', 'text'], ['private_ip', 'text'], ['mac_address', 'text'], ['status', 'text'], ...common], batch),
});

/**
 * The action tagged on a table's per-account batches: the one that creates its rows in `workload run`
 * (actions.ts), so a proxy whose domains list actions puts loaded rows where that domain's actions look for them.
 */
export const LOAD_ACTION: Record<string, string> = {
  accounts: 'DescribeAccountAttributes', volumes: 'CreateVolume', volume_attachments: 'AttachVolume', snapshots: 'CreateSnapshot',
  instances: 'RunInstances', images: 'CreateImage', security_groups: 'CreateSecurityGroup', key_pairs: 'CreateKeyPair',
  network_interfaces: 'CreateNetworkInterface',
};

const of = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;
const DAY = 86_400_000;

export interface LoadOptions {
  accounts: number; seed: string; alpha: number; xmin: number; maxResources: number; batch: number;
  /**
   * One account per batch, every statement tagged `/* account='…',action='…' *\/` (LOAD_ACTION): loading through a
   * sharding proxy, which refuses the default batches (many accounts in one keyless COPY). Slower: one statement or
   * transaction per account and table.
   */
  perAccount?: boolean;
  /** per-account batches of at least this many rows go through COPY, smaller ones are one INSERT (default 100) */
  copyMin?: number;
}
export interface LoadSummary { accounts: number; rows: Record<string, number>; resourcesPerAccount: number[]; seconds: number }

/** Load accounts acct-1 … acct-N (deterministic by seed; re-running with the same seed inserts nothing new). */
export async function loadAccounts(db: pg.ClientBase, o: LoadOptions): Promise<LoadSummary> {
  const rng = makeRng(`${o.seed}:load`);
  const t = tables(o.batch);
  const t0 = performance.now();
  const now = Date.now();
  const sizes: number[] = [];
  // the target tables' schema: per-account batches stage in pg_temp.<table>, which shadows the unqualified name
  const schema = o.perAccount ? String((await db.query('SELECT quote_ident(current_schema()) AS s')).rows[0].s) : '';
  for (let a = 1; a <= o.accounts; a++) {
    const acct = `acct-${a}`;
    if (o.perAccount) for (const b of Object.values(t)) await b.forAccount(db, { prefix: tag(acct, LOAD_ACTION[b.table]!), schema, copyMin: o.copyMin ?? 100 });
    const total = pareto(rng, o.xmin, o.alpha, o.maxResources);
    sizes.push(total);
    const created = new Date(now - (30 + rng.int(700)) * DAY).toISOString();
    await t.accounts!.add(db, [acct, acct, `arn:aws:iam::${String(100000000000 + a)}:root`, choosePersona(rng).name,
      total > 1000 ? 'enterprise' : 'standard', JSON.stringify({ 'max-instances': 20 + rng.int(1000), 'supported-platforms': ['VPC'] }), created, created]);
    const ts = (): string => new Date(now - rng.next() * 365 * DAY).toISOString();
    const tg = (): string => JSON.stringify({ Name: `r-${rng.int(10000)}`, env: of(rng, ['prod', 'staging', 'dev']) });
    const vols: string[] = [];
    const insts: string[] = [];
    const count = (table: string, share: number): number => Math.max(table === 'volumes' || table === 'instances' ? 1 : 0, Math.round(total * share));
    // a quarter of the instances have a volume attached: volumes 0 … nAttach-1 are in use by instances 0 … nAttach-1
    const nAttach = Math.min(count('volumes', SPLIT[0]![1]), Math.floor(count('instances', SPLIT[2]![1]) / 4));
    for (const [table, share] of SPLIT) {
      const n = count(table, share);
      for (let i = 0; i < n; i++) {
        const c = ts();
        const tail = [tg(), c, c];
        switch (table) {
          case 'volumes': { const id = resourceId(rng, 'vol'); vols.push(id); await t.volumes!.add(db, [id, acct, i < nAttach ? 'in-use' : 'available', of(rng, [8, 20, 100, 500]), of(rng, ['gp3', 'gp2', 'io2']), of(rng, ['us-east-1a', 'us-east-1b']), rng.next() < 0.5, ...tail]); break; }
          case 'snapshots': await t.snapshots!.add(db, [resourceId(rng, 'snap'), acct, of(rng, vols) ?? null, 'completed', of(rng, [8, 20, 100]), 'scheduled backup', ...tail]); break;
          case 'instances': { const id = resourceId(rng, 'i'); insts.push(id); await t.instances!.add(db, [id, acct, of(rng, ['running', 'running', 'stopped']), of(rng, ['t3.micro', 'm6i.xlarge', 'c7g.2xlarge']), resourceId(rng, 'ami'), 'us-east-1a', `10.0.${rng.int(256)}.${1 + rng.int(254)}`, ...tail]); break; }
          case 'images': await t.images!.add(db, [resourceId(rng, 'ami'), acct, `image-${rng.int(100000)}`, 'available', of(rng, ['x86_64', 'arm64']), ...tail]); break;
          case 'security_groups': await t.security_groups!.add(db, [resourceId(rng, 'sg'), acct, `sg-${rng.int(100000)}`, 'loaded', `vpc-${rng.int(3)}`, ...tail]); break;
          case 'key_pairs': await t.key_pairs!.add(db, [resourceId(rng, 'key'), acct, `key-${rng.int(100000)}`, of(rng, ['rsa', 'ed25519']), resourceId(rng, 'fp'), ...tail]); break;
          case 'network_interfaces': await t.network_interfaces!.add(db, [resourceId(rng, 'eni'), acct, `subnet-${rng.int(16)}`, `10.1.${rng.int(256)}.${1 + rng.int(254)}`, resourceId(rng, 'mac'), 'available', ...tail]); break;
        }
      }
    }
    for (let i = 0; i < nAttach; i++) {
      const c = ts();
      await t.volume_attachments!.add(db, [resourceId(rng, 'attach'), acct, vols[i], insts[i], '/dev/sdf', 'attached', tg(), c, c]);
    }
  }
  for (const b of Object.values(t)) await b.flush(db);
  const rows: Record<string, number> = {};
  for (const [k, b] of Object.entries(t)) rows[k] = b.inserted;
  return { accounts: o.accounts, rows, resourcesPerAccount: sizes, seconds: (performance.now() - t0) / 1000 };
}

export async function main(args: string[]): Promise<number> {
  const f = new Flags(args);
  const target = f.str('target') ?? process.env.DATABASE_URL;
  if (!target) {
    process.stderr.write('usage: prescient workload load --target postgres://… [--accounts 100] [--seed 1] [--alpha 0.9] [--xmin 3] [--max-resources 50000] [--batch 20000] [--per-account [--copy-min 100]]\n');
    return 2;
  }
  const o: LoadOptions = { accounts: f.num('accounts', 100), seed: f.str('seed') ?? '1', alpha: f.num('alpha', 0.9), xmin: f.num('xmin', 3), maxResources: f.num('max-resources', 50000), batch: f.num('batch', 20000), perAccount: f.bool('per-account'), copyMin: f.num('copy-min', 100) };
  const db = new pg.Client({ connectionString: target });
  await db.connect();
  try {
    await applySchema(db);
    const s = await loadAccounts(db, o);
    const total = Object.values(s.rows).reduce((a, b) => a + b, 0);
    const sorted = [...s.resourcesPerAccount].sort((a, b) => a - b);
    const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    process.stdout.write(`loaded ${s.accounts} accounts into ${redact(target)} (seed ${o.seed}${o.perAccount ? ', per-account batches' : ''})\n`);
    for (const [k, v] of Object.entries(s.rows)) process.stdout.write(`  ${k.padEnd(20)} ${String(v).padStart(9)} rows\n`);
    process.stdout.write(`  resources/account: p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${sorted[sorted.length - 1] ?? 0}\n`);
    process.stdout.write(`  ${total} rows in ${s.seconds.toFixed(2)} s (${Math.round(total / Math.max(s.seconds, 1e-9))} rows/s)\n`);
    return 0;
  } finally {
    await db.end();
  }
}
