// Owns: a tenant move's safety beyond the happy path — writes made during the copy arrive by catch-up (inserts, updates,
// deletes, each exactly as on the source); a transaction on the key that outlasts the fence aborts the move, not itself;
// and Prescient killed (SIGKILL) at every step of a move, then restarted on the same catalog: the move is settled
// (undone before the flip, finished after it), the tenant's rows are whole on exactly the shard its placement names,
// and nothing of the move (moving marks, logged changes) is left on the source.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirePostgres, directQuery, withClusters, type Cluster } from '../helpers/pg.js';
import { adminConsole, connected, startProxy, type ProxyHandle } from '../helpers/proxy.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
const direct = directQuery;
for (const c of clusters) await direct(c, 'create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))');
const ADMIN = { name: 'admin', password: 'admin-secret' };
const catalogPath = join(mkdtempSync(join(tmpdir(), 'prescient-recovery-')), 'catalog.db');

/** A Prescient on the shared catalog file; `failpoint` stops or slows every move at one step (PRESCIENT_FAILPOINT). */
async function start(failpoint?: string): Promise<ProxyHandle> {
  if (failpoint) process.env.PRESCIENT_FAILPOINT = failpoint;
  try {
    return await startProxy(t, clusters, {
      admin: { users: [ADMIN] },
      catalog: { path: catalogPath },
      pool: { mode: 'transaction', size: 4, queue_timeout_ms: 20000 },
      sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } } },
      shard_manager: { fence_timeout_ms: 1000, capture_timeout_ms: 2000 },
    });
  } finally {
    delete process.env.PRESCIENT_FAILPOINT;
  }
}

const consoleOf = (tt: Tap.Test, p: ProxyHandle) => adminConsole(tt, p, ADMIN);
const clusterOf = (shard: string): Cluster => clusters[Number(shard.slice(1))]!;
const other = (shard: string): string => (shard === 's0' ? 's1' : 's0');
/** the tenant's rows on a shard, read there directly, as "id:size" in id order */
const rowsOn = async (shard: string, account: string): Promise<string[]> =>
  (await direct<{ r: string }>(clusterOf(shard), `select id || ':' || size as r from volumes where account_id = '${account}' order by id`)).rows.map((x) => x.r);
const leftOn = async (shard: string): Promise<number> =>
  Number((await direct<{ n: string }>(clusterOf(shard), `select (select count(*) from prescient.moving) + (select count(*) from prescient.move_changes) as n`).catch(() => ({ rows: [{ n: '0' }] }))).rows[0]!.n);

t.test('writes made during the copy arrive by catch-up; a transaction that outlasts the fence aborts the move, not itself', async (t) => {
  // every move sleeps 1.5 s between the snapshot copy and the catch-up rounds
  const proxy = await start('move.catching_up:sleep=1500');
  t.teardown(() => proxy.stop('SIGKILL'));
  const console_ = await consoleOf(t, proxy);
  const c = await connected(t, proxy);
  const shardOf = async (a: string): Promise<string> => (await console_(`SHOW PLACEMENT FOR ACCOUNT '${a}' TABLE 'volumes'`)).rows[0].shard;

  const model = new Map<number, number>();
  const ins = await c.query(`insert into volumes (account_id, size) select 'acct-c', g from generate_series(1, 200) g returning id, size`);
  for (const r of ins.rows) model.set(r.id, r.size);
  const from = await shardOf('acct-c');
  const moving = console_(`MIGRATE ACCOUNT 'acct-c' DOMAIN 'volume' TO ${other(from)}`);
  await new Promise((r) => setTimeout(r, 500)); // inside the sleep: the copy is taken, the rounds not begun
  for (let k = 0; k < 50; k++) {
    const r = await c.query(`insert into volumes (account_id, size) values ('acct-c', ${1000 + k}) returning id, size`);
    model.set(r.rows[0].id, r.rows[0].size);
  }
  const up = await c.query(`update volumes set size = size + 100000 where account_id = 'acct-c' and id % 10 = 0 returning id, size`);
  for (const r of up.rows) model.set(r.id, r.size);
  const del = await c.query(`delete from volumes where account_id = 'acct-c' and id % 7 = 0 returning id`);
  for (const r of del.rows) model.delete(r.id);
  const done = (await moving).rows[0];
  t.equal(done.state, 'done');
  t.ok(Number(done.rows) > 200, `the catch-up brought rows too (${done.rows} rows written to the target in all)`);
  const want = [...model].sort((a, b) => a[0] - b[0]).map(([id, size]) => `${id}:${size}`);
  t.same(await rowsOn(other(from), 'acct-c'), want, `the target holds exactly the source's ${want.length} rows (${up.rowCount} updated, ${del.rowCount} deleted during the copy)`);
  t.same(await rowsOn(from, 'acct-c'), [], 'none left on the source');
  t.equal(await leftOn(from), 0, 'no moving mark or logged change left on the source');

  // a transaction that reads the key after the copy began, still open when the fence closes: the move gives up
  await c.query(`insert into volumes (account_id, size) values ('acct-f', 1)`);
  const fFrom = await shardOf('acct-f');
  const fMove = console_(`MIGRATE ACCOUNT 'acct-f' DOMAIN 'volume' TO ${other(fFrom)}`).then(() => null, (e: Error) => e);
  await new Promise((r) => setTimeout(r, 500));
  const tx = await connected(t, proxy);
  await tx.query('begin');
  await tx.query(`select count(*) from volumes where account_id = 'acct-f'`);
  t.match((await fMove)?.message ?? '', /still used acct-f_volume after fence_timeout_ms/);
  await tx.query(`insert into volumes (account_id, size) values ('acct-f', 2)`);
  await tx.query('commit');
  t.equal(await shardOf('acct-f'), fFrom, 'the placement did not change');
  t.same((await rowsOn(fFrom, 'acct-f')).length, 2, 'the transaction committed where the tenant is');
  t.same(await rowsOn(other(fFrom), 'acct-f'), [], 'nothing of it on the target');
});

t.test('a client that vanishes mid-transaction while the fence waits for it: the move goes on, nothing of it is lost', async (t) => {
  const proxy = await start('move.catching_up:sleep=800');
  t.teardown(() => proxy.stop('SIGKILL'));
  const console_ = await consoleOf(t, proxy);
  const watch = await consoleOf(t, proxy);
  const c = await connected(t, proxy);
  for (let k = 0; k < 10; k++) await c.query(`insert into volumes (account_id, size) values ('acct-v', ${k})`);
  const from = (await console_(`SHOW PLACEMENT FOR ACCOUNT 'acct-v' TABLE 'volumes'`)).rows[0].shard;
  const want = await rowsOn(from, 'acct-v');
  const moving = console_(`MIGRATE ACCOUNT 'acct-v' DOMAIN 'volume' TO ${other(from)}`);
  await new Promise((r) => setTimeout(r, 300));
  // a transaction on the key after the copy began, with a write in it, then the client vanishes without a word
  const gone = await connected(t, proxy);
  await gone.query('begin');
  await gone.query(`insert into volumes (account_id, size) values ('acct-v', 999)`);
  let state = '';
  for (let i = 0; i < 200 && state !== 'fencing'; i++) {
    state = (await watch('SHOW MIGRATIONS')).rows.find((r) => r.key === 'acct-v_volume')?.state ?? '';
    if (state !== 'fencing') await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(state, 'fencing', 'the fence waits for the open transaction');
  (gone as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  const done = (await moving).rows[0];
  t.equal(done.state, 'done', 'the fence drained when the session went');
  t.same(await rowsOn(other(from), 'acct-v'), want, 'the tenant whole on the new shard, without the vanished uncommitted write');
  t.same(await rowsOn(from, 'acct-v'), [], 'nothing left behind');
});

// the steps in order, with how a restart settles a move killed there
const STEPS: [string, 'rolled_back' | 'done'][] = [
  ['preparing', 'rolled_back'],
  ['copying', 'rolled_back'],
  ['catching_up', 'rolled_back'],
  ['fencing', 'rolled_back'],
  ['final_catchup', 'rolled_back'],
  ['verifying', 'rolled_back'],
  ['flipping', 'rolled_back'],
  ['committed', 'rolled_back'],
  ['cleaning', 'done'],
];

for (const [i, [step, settled]] of STEPS.entries()) {
  t.test(`killed at ${step}: the restart settles the move (${settled}), the tenant whole on one shard`, async (t) => {
    const account = `acct-k${i}`;
    const proxy = await start(`move.${step}:hold`);
    const console_ = await consoleOf(t, proxy);
    const c = await connected(t, proxy);
    for (let k = 0; k < 20; k++) await c.query(`insert into volumes (account_id, size) values ('${account}', ${k})`);
    const from = (await console_(`SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE 'volumes'`)).rows[0].shard;
    const want = await rowsOn(from, account);
    void console_(`MIGRATE ACCOUNT '${account}' DOMAIN 'volume' TO ${other(from)}`).catch(() => {});
    for (let k = 0; k < 400 && !proxy.logs().includes(`"failpoint":"move.${step}"`); k++) await new Promise((r) => setTimeout(r, 25));
    t.ok(proxy.logs().includes(`"failpoint":"move.${step}"`), `the move reached ${step}`);
    await proxy.stop('SIGKILL');

    const again = await start();
    t.teardown(() => again.stop('SIGKILL'));
    const console2 = await consoleOf(t, again);
    const m = (await console2('SHOW MIGRATIONS')).rows.filter((r) => r.key === `${account}_volume`);
    t.same(m.map((r) => r.state), [settled], `SHOW MIGRATIONS: ${settled}`);
    const placed = (await console2(`SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE 'volumes'`)).rows[0].shard;
    t.equal(placed, settled === 'done' ? other(from) : from, `the placement is on ${placed}`);
    t.same(await rowsOn(placed, account), want, 'every row where the placement says');
    t.same(await rowsOn(other(placed), account), [], 'none on the other shard');
    t.equal(await leftOn(from), 0, 'no moving mark or logged change left on the source');
    const c2 = await connected(t, again);
    await c2.query(`insert into volumes (account_id, size) values ('${account}', 99)`);
    t.equal((await rowsOn(placed, account)).length, 21, 'and it is served: a new write lands there');
  });
}
