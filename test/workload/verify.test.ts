// Tests verify.ts: ledger vs write_log on real clusters — clean, missing, duplicated, out of order, split across two targets.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import { check, main, verify } from '../../workload/verify.js';
import type { LedgerEntry } from '../../workload/types.js';
import { actionByName } from '../../workload/actions.js';
import { ensureAccount } from '../../workload/replaySeed.js';
import { makeRng } from '../../workload/rng.js';

requirePostgres(t);

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = readFileSync(join(root, 'workload', 'schema.sql'), 'utf8');
const urlOf = (c: Cluster): string => `postgres://${c.user}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/app`;

async function sql(c: Cluster, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: urlOf(c) });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

/** Inserts write_log rows (one transaction per write, in seq order) and returns the ledger entries. */
async function writes(c: Cluster, account: string, seqs: number[]): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for (const seq of seqs) {
    await sql(c, `insert into write_log (account_id, seq, action) values ($1, $2, 'CreateVolume')`, [account, seq]);
    out.push({ account, seq, action: 'CreateVolume', t: Date.now() });
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'prescient-verify-'));
const ledgerFile = (name: string, es: LedgerEntry[]): string => {
  const f = join(dir, name);
  writeFileSync(f, es.map((e) => JSON.stringify(e)).join('\n') + '\n');
  return f;
};

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const orig = process.stdout.write.bind(process.stdout);
  let out = '';
  (process.stdout as { write: unknown }).write = (s: string | Uint8Array): boolean => ((out += String(s)), true);
  try {
    return { code: await fn(), out };
  } finally {
    process.stdout.write = orig;
  }
}

const [a, b] = await withClusters(t, 2);
await sql(a!, schema);
await sql(b!, schema);

t.test('real write actions from actions.ts → ledger verifies clean', async (t) => {
  const db = new pg.Client({ connectionString: urlOf(b!) });
  await db.connect();
  t.teardown(() => db.end());
  const account = await ensureAccount(db, 'acct-real', 'test');
  const ctx = { account, rng: makeRng(1), tagged: true };
  const ledger: LedgerEntry[] = [];
  for (const name of ['CreateVolume', 'CreateSnapshot', 'RunInstances', 'CreateVolume', 'CreateKeyPair']) {
    const r = await actionByName(name)!.run(db, ctx);
    t.equal(r.seq, account.nextSeq, name);
    ledger.push({ account: account.id, seq: r.seq!, action: name, t: Date.now() });
    account.nextSeq++;
  }
  const r = await verify([ledgerFile('real.ndjson', ledger)], [urlOf(b!)]);
  t.ok(r.ok);
  t.equal(r.writes, 5);
  await db.query(`delete from write_log where account_id = 'acct-real'`);
});

t.test('one target: clean, then missing, then duplicated', async (t) => {
  const ledger = [...(await writes(a!, 'acct-1', [1, 2, 3])), ...(await writes(a!, 'acct-2', [1, 2]))];
  const f = ledgerFile('one.ndjson', ledger);
  const clean = await capture(() => main(['--ledger', f, '--target', urlOf(a!)]));
  t.equal(clean.code, 0);
  t.match(clean.out, 'verified 5 writes for 2 accounts: 0 missing, 0 duplicated, 0 out of order');

  await sql(a!, `delete from write_log where account_id = 'acct-1' and seq = 2`);
  const missing = await capture(() => main(['--ledger', f, '--target', urlOf(a!)]));
  t.equal(missing.code, 1);
  t.match(missing.out, '1 missing');
  t.match(missing.out, 'acct-1/2');
  t.comment(missing.out);

  await sql(a!, `insert into write_log (account_id, seq, action) values ('acct-1', 2, 'CreateVolume')`); // restore
  await sql(a!, `insert into write_log (account_id, seq, action) values ('acct-2', 2, 'CreateVolume')`); // duplicate
  const dup = await capture(() => main(['--ledger', f, '--target', urlOf(a!)]));
  t.equal(dup.code, 1);
  t.match(dup.out, '1 duplicated');
  t.match(dup.out, 'acct-2/2 ×2');
  // acct-1/2 was re-inserted after acct-1/3: that is out of order on this target
  t.match(dup.out, '1 out of order');
  t.match(dup.out, 'acct-1/2 after 3');
  t.comment(dup.out);
});

t.test('two targets with one account split across them: clean; unacknowledged rows are counted, not errors', async (t) => {
  const ledger = [...(await writes(a!, 'acct-s', [1, 2])), ...(await writes(b!, 'acct-s', [3, 4, 5]))];
  await sql(b!, `insert into write_log (account_id, seq, action) values ('acct-s', 6, 'CreateVolume')`); // never acked
  const f = ledgerFile('split-a.ndjson', ledger.slice(0, 2));
  const g = ledgerFile('split-b.ndjson', ledger.slice(2));
  const r = await verify([f, g], [urlOf(a!), urlOf(b!)]);
  const mine = check(ledger, []).writes;
  t.equal(mine, 5);
  t.same(r.missing.filter((m) => m.account === 'acct-s'), []);
  t.same(r.duplicated.filter((m) => m.account === 'acct-s'), []);
  t.same(r.outOfOrder.filter((m) => m.account === 'acct-s'), []);
  t.equal(r.unacknowledged >= 1, true);
  // only the split account in the ledger → a clean run
  await sql(a!, `delete from write_log where account_id <> 'acct-s'`);
  const out = await capture(() => main(['--ledger', f, '--ledger', g, '--target', urlOf(a!), '--target', urlOf(b!)]));
  t.equal(out.code, 0, out.out);
  t.match(out.out, 'verified 5 writes for 1 accounts: 0 missing, 0 duplicated, 0 out of order');
  t.match(out.out, '1 unacknowledged');
  // the same seq on both shards is a duplicate across targets
  await sql(b!, `insert into write_log (account_id, seq, action) values ('acct-s', 1, 'CreateVolume')`);
  const dup = await capture(() => main(['--ledger', f, '--ledger', g, '--target', urlOf(a!), '--target', urlOf(b!)]));
  t.equal(dup.code, 1);
  t.match(dup.out, 'acct-s/1 ×2');
});

t.test('check() is pure: out-of-order only within one target', async (t) => {
  const ledger: LedgerEntry[] = [1, 2].map((seq) => ({ account: 'x', seq, action: 'A', t: 0 }));
  t.ok(check(ledger, [{ account: 'x', seq: 2, target: 0 }, { account: 'x', seq: 1, target: 1 }]).ok);
  t.equal(check(ledger, [{ account: 'x', seq: 2, target: 0 }, { account: 'x', seq: 1, target: 0 }]).outOfOrder.length, 1);
});
