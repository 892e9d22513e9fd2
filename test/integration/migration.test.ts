// Owns: MIGRATE ACCOUNT … DOMAIN … TO … as users run it — one tenant's rows moved to another shard while clients keep
// writing to it (autocommit and in transactions): every acknowledged write on the new shard exactly once, none left on
// the old, ids made later never collide; a move that cannot fence its key in time is aborted and costs the open
// transaction nothing; a copy that differs is caught before the flip; SHOW MIGRATIONS.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, directQuery, withClusters, type Cluster } from '../helpers/pg.js';
import { connected, startProxy } from '../helpers/proxy.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
const direct = directQuery;
for (const c of clusters) await direct(c, 'create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))');
const ADMIN = { name: 'admin', password: 'admin-secret' };
const proxy = await startProxy(t, clusters, {
  admin: { users: [ADMIN] },
  pool: { mode: 'transaction', size: 6, queue_timeout_ms: 20000 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } } },
  shard_manager: { fence_timeout_ms: 1000, capture_timeout_ms: 1000 },
});
const admin = await connected(t, proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
const console_ = (sql: string): Promise<pg.QueryResult> => admin.query({ text: sql, queryMode: 'simple' } as pg.QueryConfig);
const shardOf = async (account: string): Promise<string> =>
  (await console_(`SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE 'volumes'`)).rows[0].shard;
const clusterOf = (shard: string): Cluster => clusters[Number(shard.slice(1))]!;
/** the tenant's rows on a shard, counted there directly */
const rowsOn = async (shard: string, account: string): Promise<number> =>
  Number((await direct<{ n: string }>(clusterOf(shard), `select count(*) as n from volumes where account_id = '${account}'`)).rows[0]!.n);

t.test('a tenant moves while it is written to: nothing lost, nothing doubled, nothing left behind', async (t) => {
  const c = await connected(t, proxy);
  for (let k = 0; k < 50; k++) await c.query(`insert into volumes (account_id, size) values ('acct-7', ${-1 - k})`);
  const from = await shardOf('acct-7');
  const to = from === 's0' ? 's1' : 's0';
  const acked: number[] = [];
  let stop = false;
  let errors = 0;
  const autocommit = (async () => {
    const w = await connected(t, proxy);
    for (let k = 0; !stop; k += 2) {
      try {
        await w.query(`insert into volumes (account_id, size) values ('acct-7', ${k})`);
        acked.push(k);
      } catch {
        errors++;
      }
    }
  })();
  const transactions = (async () => {
    const w = await connected(t, proxy);
    for (let k = 1; !stop; k += 2) {
      try {
        await w.query('begin');
        await w.query(`insert into volumes (account_id, size) values ('acct-7', ${k})`);
        await w.query(`select count(*) from volumes where account_id = 'acct-7'`);
        await w.query('commit');
        acked.push(k);
      } catch {
        errors++;
        await w.query('rollback').catch(() => {});
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const r = await console_(`MIGRATE ACCOUNT 'acct-7' DOMAIN 'volume' TO ${to}`);
  t.equal(r.rows[0].state, 'done');
  t.ok(Number(r.rows[0].rows) >= 50, `${r.rows[0].rows} rows copied`);
  t.ok(Number(r.rows[0].pause_ms) >= 0, `requests for acct-7 waited ${r.rows[0].pause_ms} ms`);
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all([autocommit, transactions]);
  t.equal(errors, 0, 'no client error caused by the move');
  t.equal(await shardOf('acct-7'), to, 'the placement flipped');
  const onTarget = await direct<{ size: number }>(clusterOf(to), `select size from volumes where account_id = 'acct-7'`);
  const sizes = onTarget.rows.map((x) => x.size).sort((a, b) => a - b);
  const want = [...Array.from({ length: 50 }, (_, k) => -1 - k), ...acked].sort((a, b) => a - b);
  t.same(sizes, want, `the new shard holds the 50 first rows and all ${acked.length} acknowledged writes, each once`);
  t.ok(acked.some((k) => k % 2 === 0) && acked.some((k) => k % 2 === 1), 'both writers wrote');
  t.equal(await rowsOn(from, 'acct-7'), 0, 'nothing left on the old shard');
  const viaProxy = await c.query(`select count(*)::int as n from volumes where account_id = 'acct-7'`);
  t.equal(viaProxy.rows[0].n, want.length, 'reads through Prescient see every row');
});

t.test('a transaction older than the move, open past capture_timeout_ms: the move is aborted, the transaction goes on untouched', async (t) => {
  const c = await connected(t, proxy);
  await c.query(`insert into volumes (account_id, size) values ('acct-9', 1)`);
  const from = await shardOf('acct-9');
  const to = from === 's0' ? 's1' : 's0';
  await c.query('begin');
  await c.query(`select count(*) from volumes where account_id = 'acct-9'`);
  const err = await console_(`MIGRATE ACCOUNT 'acct-9' DOMAIN 'volume' TO ${to}`).catch((e: Error) => e);
  t.match((err as Error).message, /transaction\(s\) on the source that began before the move were still open after capture_timeout_ms/);
  await c.query(`insert into volumes (account_id, size) values ('acct-9', 2)`);
  await c.query(`insert into volumes (account_id, size) values ('acct-9', 3)`);
  await c.query('commit');
  t.equal(await shardOf('acct-9'), from, 'the placement did not change');
  t.equal(await rowsOn(from, 'acct-9'), 3, 'the transaction committed all its rows where they were');
  t.equal(await rowsOn(to, 'acct-9'), 0, 'nothing of it on the target');
});

t.test('a transaction that wrote to the table, open past capture_timeout_ms: the move is aborted, the transaction goes on', async (t) => {
  const c = await connected(t, proxy);
  await c.query(`insert into volumes (account_id, size) values ('acct-8', 1)`);
  const from = await shardOf('acct-8');
  const to = from === 's0' ? 's1' : 's0';
  await c.query('begin');
  await c.query(`insert into volumes (account_id, size) values ('acct-8', 2)`);
  const err = await console_(`MIGRATE ACCOUNT 'acct-8' DOMAIN 'volume' TO ${to}`).catch((e: Error) => e);
  t.match((err as Error).message, /still open after capture_timeout_ms|kept table volumes locked past capture_timeout_ms/);
  await c.query(`insert into volumes (account_id, size) values ('acct-8', 3)`);
  await c.query('commit');
  t.equal(await shardOf('acct-8'), from, 'the placement did not change');
  t.equal(await rowsOn(from, 'acct-8'), 3, 'the transaction committed all its rows where they were');
  const marks = await direct<{ n: string }>(clusterOf(from), `select count(*) as n from prescient.moving`);
  t.equal(Number(marks.rows[0]!.n), 0, 'no key left marked as moving on the source');
});

// what happens to a row on its way to the target (as a stray trigger or a concurrent writer would do it)
const TAMPER: [string, string, string][] = [
  ['changed', 'acct-5a', `if new.account_id = 'acct-5a' and new.size = 3 then new.size := 33; end if; return new;`],
  ['removed', 'acct-5b', `if new.account_id = 'acct-5b' and new.size = 3 then return null; end if; return new;`],
  ['added', 'acct-5c', `if new.account_id = 'acct-5c' and new.size = 3 then insert into volumes (account_id, id, size) values ('acct-5c', 100000, 99); end if; return new;`],
];
for (const [what, account, body] of TAMPER) {
  t.test(`verification catches a row ${what} on the target: the flip does not happen, nothing is lost`, async (t) => {
    const c = await connected(t, proxy);
    for (let k = 0; k < 5; k++) await c.query(`insert into volumes (account_id, size) values ('${account}', ${k})`);
    const from = await shardOf(account);
    const to = from === 's0' ? 's1' : 's0';
    await direct(clusterOf(to), `create function tamper() returns trigger language plpgsql as $$ begin ${body} end $$;
      create trigger tamper before insert on volumes for each row execute function tamper()`);
    t.teardown(() => direct(clusterOf(to), 'drop trigger tamper on volumes; drop function tamper()'));
    const err = await console_(`MIGRATE ACCOUNT '${account}' DOMAIN 'volume' TO ${to}`).catch((e: Error) => e);
    t.match((err as Error).message, /table volumes differs after the copy/);
    t.equal(await shardOf(account), from, 'the placement did not change');
    t.equal(await rowsOn(to, account), 0, 'the copy was rolled back on the target');
    const r = await c.query(`select array_agg(size order by size) as s from volumes where account_id = '${account}'`);
    t.same(r.rows[0].s, [0, 1, 2, 3, 4], 'the tenant is whole where it was, and served');
    const list = await console_('SHOW MIGRATIONS');
    t.equal(list.rows.find((x) => x.key === `${account}_volume`).state, 'failed');
  });
}

t.test('CANCEL MIGRATION while the move waits for an older transaction: nothing moves, the transaction goes on', async (t) => {
  const c = await connected(t, proxy);
  await c.query(`insert into volumes (account_id, size) values ('acct-3', 1)`);
  const from = await shardOf('acct-3');
  const to = from === 's0' ? 's1' : 's0';
  await c.query('begin');
  await c.query(`select count(*) from volumes where account_id = 'acct-3'`);
  // the move on a console connection of its own (one connection answers one statement at a time)
  const admin2 = await connected(t, proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const moving = admin2.query({ text: `MIGRATE ACCOUNT 'acct-3' DOMAIN 'volume' TO ${to}`, queryMode: 'simple' } as pg.QueryConfig).then(() => null, (e: Error) => e);
  let m: { id: number; state: string } | undefined;
  for (let i = 0; i < 100 && m?.state !== 'preparing'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    m = (await console_('SHOW MIGRATIONS')).rows.find((r) => r.key === 'acct-3_volume');
  }
  t.equal(m!.state, 'preparing', 'it waits for the transaction older than it');
  const r = await console_(`CANCEL MIGRATION ${m!.id}`);
  t.match(r.rows[0].cancel, /cancelled/);
  t.match((await moving)?.message ?? '', /was cancelled/, 'MIGRATE answers that it was cancelled');
  await c.query(`insert into volumes (account_id, size) values ('acct-3', 2)`);
  await c.query(`insert into volumes (account_id, size) values ('acct-3', 3)`);
  await c.query('commit');
  t.equal(await shardOf('acct-3'), from, 'the placement did not change');
  t.equal(await rowsOn(from, 'acct-3'), 3);
  const after = await console_('SHOW MIGRATIONS');
  t.equal(after.rows.find((x) => x.key === 'acct-3_volume').state, 'cancelled');
  const again = await console_(`CANCEL MIGRATION ${m!.id}`).catch((e: Error) => e);
  t.match((again as Error).message, /cannot be cancelled/, 'a finished one cannot be cancelled');
});
