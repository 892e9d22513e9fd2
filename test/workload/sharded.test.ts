// Owns: the workload through Prescient over three real shards — load (per-account batches), run tagged and untagged, every account's rows checked on each shard directly against the admin console's placement, the write ledger verified; and a second config whose domains split by action.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, CLI, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { runCommand } from '../../scripts/testbed.js';
import { ACTIONS, RESOURCE_TABLES } from '../../workload/actions.js';
import { runWorkload, type RunReport } from '../../workload/run.js';
import { verify } from '../../workload/verify.js';

requirePostgres(t);

type Tap = Test;
const TABLES = ['accounts', ...RESOURCE_TABLES, 'write_log'];
const ACCOUNTS = 40;
const ADMIN = { name: 'admin', password: 'admin-secret' };
const dir = mkdtempSync(join(tmpdir(), 'prescient-sharded-workload-'));
// app: the single-domain config; app2: the config whose domains split by action (fresh data, its own catalog)
const clusters = await withClusters(t, 3, { databases: ['app', 'app2'] });

const workload = (args: string[]) => runCommand(process.execPath, [CLI, 'workload', ...args], { timeoutMs: 120_000 });
const url = (p: ProxyHandle): string => `postgres://${APP_USER.name}:${APP_USER.password}@${p.host}:${p.port}/app`;
const shardUrl = (c: Cluster, db: string): string => `postgres://${c.user}:${c.password}@${c.host}:${c.port}/${db}`;
const shardIndex = (name: string): number => Number(name.slice(1));

async function client(tt: Tap, cfg: pg.ClientConfig): Promise<pg.Client> {
  const c = new pg.Client(cfg);
  c.on('error', () => {});
  await c.connect();
  tt.teardown(() => c.end().catch(() => {}));
  return c;
}

/** Direct connections to the three shards' database `db`. */
const shards = (tt: Tap, db: string): Promise<pg.Client[]> => Promise.all(clusters.map((c) => client(tt, { connectionString: shardUrl(c, db) })));

/** The shard index the admin console names for account × (action | table). */
function placer(admin: pg.Client): (account: string, by: { action?: string; table?: string }) => Promise<number> {
  const cache = new Map<string, number>();
  return async (account, by) => {
    const q = `SHOW PLACEMENT FOR ACCOUNT '${account}'${by.action ? ` ACTION '${by.action}'` : ''}${by.table ? ` TABLE '${by.table}'` : ''}`;
    let s = cache.get(q);
    if (s === undefined) {
      const r = await admin.query({ text: q, queryMode: 'simple' } as pg.QueryConfig);
      s = shardIndex(r.rows[0].shard as string);
      cache.set(q, s);
    }
    return s;
  };
}

/** table → account → the shards holding its rows (index → row count), read on each shard directly. */
async function holdings(direct: pg.Client[]): Promise<Map<string, Map<string, Map<number, number>>>> {
  const out = new Map<string, Map<string, Map<number, number>>>();
  for (const table of TABLES) {
    const byAccount = new Map<string, Map<number, number>>();
    for (const [i, d] of direct.entries()) {
      const r = await d.query(`select account_id, count(*)::int n from ${table} group by account_id`);
      for (const row of r.rows) {
        const m = byAccount.get(row.account_id) ?? new Map<number, number>();
        m.set(i, row.n);
        byAccount.set(row.account_id, m);
      }
    }
    out.set(table, byAccount);
  }
  return out;
}

/** "  volumes   123 rows" lines of `workload load` → table → rows inserted. */
const loadedRows = (stdout: string): Record<string, number> =>
  Object.fromEntries([...stdout.matchAll(/^\s+(\w+)\s+(\d+) rows$/gm)].map((m) => [m[1]!, Number(m[2])]));

async function run(name: string, target: string, tagged: boolean, durationMs = 4000): Promise<RunReport> {
  return runWorkload({
    target, agents: 8, durationMs, zipf: 1.1, seed: name, tagged, thinkScale: 0.3,
    ledger: join(dir, `${name}.ledger`), log: join(dir, `${name}.log`),
  });
}

/** Every error message the run reported, as a t.comment, and zero errors. */
function noErrors(tt: Tap, name: string, r: RunReport): void {
  tt.comment(`${name}: ${r.overall.count} actions (${r.overall.tps} tps), ${r.overall.errors} errors${Object.keys(r.errorMessages).length ? ': ' + JSON.stringify(r.errorMessages) : ''}`);
  tt.equal(r.overall.errors, 0, `${name}: zero errors`);
  tt.same(r.errorMessages, {}, `${name}: no error messages`);
  tt.ok(r.overall.count > 100, `${name}: ${r.overall.count} actions`);
  tt.equal(r.accounts, ACCOUNTS, `${name}: over the ${ACCOUNTS} loaded accounts`);
}

const ledgerLines = (name: string): number => readFileSync(join(dir, `${name}.ledger`), 'utf8').split('\n').filter(Boolean).length;

t.test('one domain: the workload through Prescient keeps every account on its shard', async (t) => {
  // One domain holding every workload table (accounts and write_log too): an account's data is colocated on one
  // shard. Every write action inserts its write_log row in its transaction, and some touch two resource tables
  // (AttachVolume: volumes and volume_attachments), so with a domain per table an untagged action would name several
  // keys — on different shards for most accounts — and be refused as cross-shard; with one domain a transaction
  // stays on one shard whether it is routed by its tag or, untagged, by each statement's account column.
  const proxy = await startProxy(t, clusters, {
    admin: { users: [ADMIN] },
    pool: { mode: 'transaction', size: 8, queue_timeout_ms: 20000 },
    catalog: { path: join(dir, 'catalog-one-domain.db') },
    sharding: { account_column: 'account_id', domains: { account: { tables: TABLES } } },
  });
  const target = url(proxy);
  const direct = await shards(t, 'app');
  const admin = await client(t, { host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const placement = placer(admin);

  await t.test('the default load (many accounts per keyless COPY) is refused; the schema is broadcast', async (t) => {
    const r = await workload(['load', '--target', target, '--accounts', String(ACCOUNTS), '--seed', '5']);
    t.not(r.code, 0, 'exits non-zero');
    t.match(r.stderr, /without a shard key/, 'the keyless COPY is refused');
    t.comment(`default load through Prescient: ${r.stderr.split('\n').find((l) => /shard key/.test(l))?.trim()}`);
    for (const [i, d] of direct.entries()) {
      const s = await d.query(`select count(*)::int n from information_schema.tables where table_schema = 'public' and table_name = any($1)`, [TABLES]);
      t.equal(s.rows[0].n, TABLES.length, `applySchema (DDL broadcast) created every table on s${i}`);
      const a = await d.query('select count(*)::int n from accounts');
      t.equal(a.rows[0].n, 0, `nothing loaded on s${i}`);
    }
  });

  let loaded: Record<string, number> = {};
  await t.test('load --per-account through Prescient', async (t) => {
    // --copy-min 0: every batch through the tagged CREATE TEMP TABLE / COPY / INSERT … SELECT transaction
    const r = await workload(['load', '--target', target, '--accounts', String(ACCOUNTS), '--seed', '5', '--per-account', '--copy-min', '0']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, new RegExp(`loaded ${ACCOUNTS} accounts .*per-account batches`));
    loaded = loadedRows(r.stdout);
    t.equal(loaded.accounts, ACCOUNTS, 'one accounts row per account');
    for (const table of TABLES.filter((x) => x !== 'write_log')) {
      let total = 0;
      for (const d of direct) total += (await d.query(`select count(*)::int n from ${table}`)).rows[0].n as number;
      t.equal(total, loaded[table], `${table}: ${total} rows over the three shards, as loaded`);
    }
    // the default --copy-min: small batches as one tagged INSERT … SELECT FROM jsonb_to_recordset($1)
    const again = await workload(['load', '--target', target, '--accounts', String(ACCOUNTS), '--seed', '5', '--per-account']);
    t.equal(again.code, 0, again.stderr);
    t.ok(Object.values(loadedRows(again.stdout)).every((n) => n === 0), 'loading again with the same seed inserts nothing');
  });

  await t.test('run tagged, then untagged, through Prescient', async (t) => {
    noErrors(t, 'tagged', await run('tagged', target, true));
    noErrors(t, 'untagged', await run('untagged', target, false));
  });

  await t.test("every account's rows are only on the shard the catalog names", async (t) => {
    const held = await holdings(direct);
    const perShard = [0, 0, 0];
    for (let a = 1; a <= ACCOUNTS; a++) {
      const acct = `acct-${a}`;
      const home = await placement(acct, { table: 'volumes' });
      perShard[home]!++;
      for (const table of TABLES) {
        t.equal(await placement(acct, { table }), home, `${acct}: ${table} is in the one domain`);
        const on = [...(held.get(table)!.get(acct)?.keys() ?? [])];
        t.ok(on.every((s) => s === home), `${acct} ${table}: rows only on s${home} (found on ${on.map((s) => `s${s}`).join(', ') || 'none'})`);
      }
      t.equal(held.get('accounts')!.get(acct)?.get(home), 1, `${acct}: its accounts row on s${home}`);
    }
    // and no rows of any other account id anywhere
    const strays = TABLES.flatMap((table) => [...held.get(table)!.keys()].filter((acct) => !/^acct-([1-9]|[1-3][0-9]|40)$/.test(acct)).map((x) => `${table}/${x}`));
    t.same(strays, [], 'no rows of unknown accounts');
    t.comment(`accounts per shard: ${perShard.map((n, i) => `s${i} ${n}`).join(', ')}`);
    t.ok(perShard.every((n) => n > 0), 'every shard got some accounts');
    t.ok([...held.get('write_log')!.values()].length > 0, 'the runs wrote write_log rows');
  });

  await t.test('verify finds nothing lost, per shard and through Prescient', async (t) => {
    const ledgers = ['tagged', 'untagged'].map((n) => join(dir, `${n}.ledger`));
    const perShard = await verify(ledgers, clusters.map((c) => shardUrl(c, 'app')));
    t.ok(perShard.writes > 0, `${perShard.writes} acknowledged writes for ${perShard.accounts} accounts`);
    t.equal(perShard.writes, ledgerLines('tagged') + ledgerLines('untagged'), 'every ledger line is a distinct account/seq');
    t.same({ missing: perShard.missing, duplicated: perShard.duplicated, outOfOrder: perShard.outOfOrder, unacknowledged: perShard.unacknowledged },
      { missing: [], duplicated: [], outOfOrder: [], unacknowledged: 0 }, 'the three shards directly: nothing missing, duplicated, out of order or unacknowledged');
    const viaProxy = await verify(ledgers, [target]);
    t.ok(viaProxy.ok, 'through Prescient (a merged fan-out read of write_log): clean');
    t.equal(viaProxy.writes, perShard.writes);
    t.equal(viaProxy.unacknowledged, 0);
  });
});

t.test('domains split by action (tagged): every row on its domain\'s shard', async (t) => {
  // Volume actions and snapshot actions in their own domains, every other action (and the tables they write) in a
  // third. Tagged, a transaction stays within one domain although every write action also inserts write_log: the
  // tag's action picks the domain for every statement of the transaction, so an action's write_log row lands on its
  // domain's shard (write_log is spread over the domains; `verify` unions every shard, and `workload run` reads the
  // next seq once per action domain). Untagged it cannot work: each statement is routed by its table, so
  // CreateVolume's INSERT INTO volumes (volume domain) and INSERT INTO write_log (account domain) name two keys on
  // different shards for most accounts, and the second is refused as cross-shard (shown at the end).
  const volume = ACTIONS.filter((a) => a.domain === 'volume').map((a) => a.name);
  const snapshot = ACTIONS.filter((a) => a.domain === 'snapshot').map((a) => a.name);
  const rest = ACTIONS.filter((a) => a.domain !== 'volume' && a.domain !== 'snapshot').map((a) => a.name);
  const proxy = await startProxy(t, clusters, {
    admin: { users: [ADMIN] },
    pool: { mode: 'transaction', size: 8, queue_timeout_ms: 20000 },
    catalog: { path: join(dir, 'catalog-by-action.db') },
    shards: clusters.map((c, i) => ({ name: `s${i}`, host: c.host, port: c.port, database: 'app2', user: c.user, password: c.password })),
    sharding: {
      account_column: 'account_id',
      domains: {
        volume: { tables: ['volumes', 'volume_attachments'], actions: volume },
        snapshot: { tables: ['snapshots'], actions: snapshot },
        account: { tables: TABLES.filter((x) => !['volumes', 'volume_attachments', 'snapshots'].includes(x)), actions: rest },
      },
    },
  });
  const target = url(proxy);
  const direct = await shards(t, 'app2');
  const admin = await client(t, { host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const placement = placer(admin);
  const domainOf = (table: string): { action: string } => ({ action: table === 'volumes' || table === 'volume_attachments' ? 'CreateVolume' : table === 'snapshots' ? 'CreateSnapshot' : 'DescribeAccountAttributes' });

  // the default --copy-min: most batches are one INSERT, an account's large tables go through COPY
  const r = await workload(['load', '--target', target, '--accounts', String(ACCOUNTS), '--seed', '6', '--per-account']);
  t.equal(r.code, 0, 'load --per-account: ' + r.stderr);
  const loaded = loadedRows(r.stdout);
  t.equal(loaded.accounts, ACCOUNTS, `loaded ${JSON.stringify(loaded)}`);
  for (const table of TABLES.filter((x) => x !== 'write_log')) {
    let total = 0;
    for (const d of direct) total += (await d.query(`select count(*)::int n from ${table}`)).rows[0].n as number;
    t.equal(total, loaded[table], `${table}: ${total} rows over the three shards, as loaded`);
  }
  // two runs: the second starts from the seqs the first left in every domain
  noErrors(t, 'by-action-1', await run('by-action-1', target, true, 3000));
  noErrors(t, 'by-action-2', await run('by-action-2', target, true, 3000));

  const held = await holdings(direct);
  const perDomainShard = new Map<string, Set<number>>();
  let split = 0;
  for (let a = 1; a <= ACCOUNTS; a++) {
    const acct = `acct-${a}`;
    const homes = new Set<number>();
    for (const table of TABLES.filter((x) => x !== 'write_log')) {
      const by = domainOf(table);
      const home = await placement(acct, by);
      t.equal(await placement(acct, { table }), home, `${acct}: ${table} by table and by ${by.action} agree`);
      homes.add(home);
      const set = perDomainShard.get(by.action) ?? new Set<number>();
      set.add(home);
      perDomainShard.set(by.action, set);
      const on = [...(held.get(table)!.get(acct)?.keys() ?? [])];
      t.ok(on.every((s) => s === home), `${acct} ${table}: rows only on s${home} (found on ${on.map((s) => `s${s}`).join(', ') || 'none'})`);
    }
    if (homes.size > 1) split++;
  }
  // write_log: each row on the shard of its own action's domain
  const wrong: string[] = [];
  let rows = 0;
  for (const [i, d] of direct.entries()) {
    const w = await d.query('select account_id, action, count(*)::int n from write_log group by 1, 2');
    for (const row of w.rows) {
      rows += row.n;
      if ((await placement(row.account_id, { action: row.action })) !== i) wrong.push(`${row.account_id}/${row.action} on s${i}`);
    }
  }
  t.ok(rows > 0, `${rows} write_log rows`);
  t.same(wrong, [], "every write_log row is on its action's domain shard");
  t.ok(split > 0, `${split} of ${ACCOUNTS} accounts have domains on different shards`);
  for (const [by, set] of perDomainShard) t.equal(set.size, 3, `${by}'s domain: accounts on all three shards`);

  const v = await verify(['by-action-1', 'by-action-2'].map((n) => join(dir, `${n}.ledger`)), clusters.map((c) => shardUrl(c, 'app2')));
  t.ok(v.writes > 0, `${v.writes} acknowledged writes for ${v.accounts} accounts`);
  t.same({ missing: v.missing, duplicated: v.duplicated, outOfOrder: v.outOfOrder, unacknowledged: v.unacknowledged },
    { missing: [], duplicated: [], outOfOrder: [], unacknowledged: 0 }, 'verify over the three shards: clean (no seq reused by the second run)');

  // why this config is tagged only: untagged, CreateVolume's two statements route by table to two domains
  let acct = '';
  for (let a = 1; a <= ACCOUNTS && !acct; a++) {
    if ((await placement(`acct-${a}`, { table: 'volumes' })) !== (await placement(`acct-${a}`, { table: 'write_log' }))) acct = `acct-${a}`;
  }
  const c = await client(t, { connectionString: target });
  await c.query('BEGIN');
  await c.query(`INSERT INTO volumes (id, account_id, state, size_gib, volume_type, availability_zone) VALUES ('vol-untagged', $1, 'available', 8, 'gp3', 'us-east-1a')`, [acct]);
  const err = await c.query('INSERT INTO write_log (account_id, seq, action) VALUES ($1, 1000000, $2)', [acct, 'CreateVolume']).catch((e: Error & { code?: string }) => e);
  await c.query('ROLLBACK');
  t.equal((err as { code?: string }).code, '0A000', `untagged CreateVolume for ${acct}: write_log is refused`);
  t.match((err as Error).message, /cross-shard/);
});
