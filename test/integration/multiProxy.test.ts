// Owns: the shard manager with several proxies on one Postgres catalog, as the sidecar case runs it — two proxies and
// a `prescient shard-manager` process: one leader among them (taken over when it dies); a move run from one proxy
// fences the key on both (clients writing through either lose nothing, get no error); a transaction on the other proxy
// that outlasts the fence aborts the move, naming that proxy; the proxy running a move killed mid-move: the survivors
// settle it (rolled back), release the key they held, and the writes held meanwhile land once.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { requirePostgres, directQuery, withClusters, type Cluster } from '../helpers/pg.js';
import { CLI, adminConsole, connected, proxyConfig, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { NODE_FLAGS } from '../../proxy/nodeFlags.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
const direct = directQuery;
for (const c of clusters) await direct(c, 'create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))');
const c0 = clusters[0]!;
const url = `postgres://${encodeURIComponent(c0.user)}:${encodeURIComponent(c0.password ?? '')}@${c0.host}:${c0.port}/app`;
const ADMIN = { name: 'admin', password: 'admin-secret' };
const overrides = {
  admin: { users: [ADMIN] },
  catalog: { url },
  pool: { mode: 'transaction', size: 4, queue_timeout_ms: 30000 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } } },
  shard_manager: { enabled: true, moves: false, fence_timeout_ms: 1500, capture_timeout_ms: 3000 },
};

async function start(failpoint?: string): Promise<ProxyHandle> {
  if (failpoint) process.env.PRESCIENT_FAILPOINT = failpoint;
  try {
    return await startProxy(t, clusters, overrides);
  } finally {
    delete process.env.PRESCIENT_FAILPOINT;
  }
}

// A (moves from it stop at the final catch-up), then B (moves from it pause 1 s before catching up: writes go on
// meanwhile, and a test can open a transaction then), then the shard manager on its own
const A = await start('move.final_catchup:hold');
const B = await start('move.catching_up:sleep=1000');
const dir = mkdtempSync(join(tmpdir(), 'prescient-sm-'));
const smConfig = join(dir, 'prescient.yaml');
writeFileSync(smConfig, stringify(proxyConfig(clusters, 1, overrides)));
const sm = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath, ...NODE_FLAGS, CLI, 'shard-manager', '--config', smConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
let smLog = '';
sm.stdout!.on('data', (d) => (smLog += d));
sm.stderr!.on('data', (d) => (smLog += d));
t.teardown(() => void sm.kill('SIGKILL'));

const consoleOf = (tt: Tap.Test, p: ProxyHandle) => adminConsole(tt, p, ADMIN);
const clusterOf = (shard: string): Cluster => clusters[Number(shard.slice(1))]!;
const other = (shard: string): string => (shard === 's0' ? 's1' : 's0');
const sizesOn = async (shard: string, account: string): Promise<number[]> =>
  (await direct<{ size: number }>(clusterOf(shard), `select size from volumes where account_id = '${account}' order by size`)).rows.map((r) => r.size);
const until = async (what: () => Promise<boolean>, ms = 20000): Promise<boolean> => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await what()) return true;
  return false;
};

t.test('three members, one leader', async (t) => {
  const q = await consoleOf(t, B);
  t.ok(await until(async () => (await q('SHOW MEMBERS')).rows.length === 3), 'SHOW MEMBERS lists both proxies and the shard manager');
  const rows = (await q('SHOW MEMBERS')).rows;
  t.same(rows.map((r) => r.serving).sort(), ['false', 'true', 'true'], 'two serve clients, one does not');
  t.equal(rows.filter((r) => r.leading === 'true').length, 1, 'exactly one leads');
});

t.test('a move run from B fences the key on A too: writers through both lose nothing and see no error', async (t) => {
  const qB = await consoleOf(t, B);
  const from = (await qB(`SHOW PLACEMENT FOR ACCOUNT 'acct-m' TABLE 'volumes'`)).rows[0].shard;
  const acked: number[] = [];
  let errors = 0;
  let stop = false;
  let n = 0;
  const writer = async (p: ProxyHandle): Promise<void> => {
    const c = await connected(t, p);
    while (!stop) {
      const size = n++;
      try {
        await c.query(`insert into volumes (account_id, size) values ('acct-m', ${size})`);
        acked.push(size);
      } catch {
        errors++;
      }
    }
  };
  const writers = [writer(A), writer(B), writer(A), writer(B)];
  await new Promise((r) => setTimeout(r, 300));
  const done = (await qB(`MIGRATE ACCOUNT 'acct-m' DOMAIN 'volume' TO ${other(from)}`)).rows[0];
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(writers);
  t.equal(done.state, 'done');
  t.equal(errors, 0, 'no client error');
  t.same(await sizesOn(other(from), 'acct-m'), [...acked].sort((a, b) => a - b), `all ${acked.length} acknowledged writes on the new shard, once each (through A and B)`);
  t.same(await sizesOn(from, 'acct-m'), [], 'none left on the old shard');
});

t.test('a transaction on A that outlasts the fence aborts a move run from B, which names A', async (t) => {
  const qB = await consoleOf(t, B);
  const qA = await consoleOf(t, A);
  const aId = (await qA('SHOW MEMBERS')).rows.find((r) => r.this === 'true').member;
  const c = await connected(t, B);
  await c.query(`insert into volumes (account_id, size) values ('acct-t', 1)`);
  const from = (await qB(`SHOW PLACEMENT FOR ACCOUNT 'acct-t' TABLE 'volumes'`)).rows[0].shard;
  // the move on a console connection of its own (one connection answers one statement at a time)
  const moving = (await consoleOf(t, B))(`MIGRATE ACCOUNT 'acct-t' DOMAIN 'volume' TO ${other(from)}`).then(() => null, (e: Error) => e);
  // the transaction begins after the move's change capture (else the move waits for it as an older transaction)
  t.ok(await until(async () => (await qB('SHOW MIGRATIONS')).rows.some((r) => r.key === 'acct-t_volume' && r.state === 'catching_up')), 'the move is catching up');
  const tx = await connected(t, A);
  await tx.query('begin');
  await tx.query(`select count(*) from volumes where account_id = 'acct-t'`);
  const err = await moving;
  t.match(err?.message ?? '', new RegExp(`still used acct-t_volume after fence_timeout_ms .*${aId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  await tx.query(`insert into volumes (account_id, size) values ('acct-t', 2)`);
  await tx.query('commit');
  t.same(await sizesOn(from, 'acct-t'), [1, 2], 'the transaction committed where the tenant is');
});

t.test('A, the leader, killed mid-move (fence closed on both): the survivors settle it, B releases the held write, another leads', async (t) => {
  const qA = await consoleOf(t, A);
  const qB = await consoleOf(t, B);
  const aId = (await qA('SHOW MEMBERS')).rows.find((r) => r.this === 'true').member;
  const c = await connected(t, B);
  await c.query(`insert into volumes (account_id, size) values ('acct-x', 1)`);
  const from = (await qB(`SHOW PLACEMENT FOR ACCOUNT 'acct-x' TABLE 'volumes'`)).rows[0].shard;
  void qA(`MIGRATE ACCOUNT 'acct-x' DOMAIN 'volume' TO ${other(from)}`).catch(() => {});
  t.ok(await until(async () => A.logs().includes('"failpoint":"move.final_catchup"')), 'the move on A holds at the final catch-up, the fence closed');
  const held = c.query(`insert into volumes (account_id, size) values ('acct-x', 2)`).then(() => 'written', (e: Error) => e.message);
  await new Promise((r) => setTimeout(r, 300));
  t.same(await sizesOn(from, 'acct-x'), [1], 'B holds the write while the key is fenced');
  t.equal((await qB('SHOW MEMBERS')).rows.find((r) => r.member === aId).leading, 'true', 'A (the first to start) is the leader it kills');
  await A.stop('SIGKILL');
  t.equal(await held, 'written', 'once the move is settled, B lets the held write through');
  t.ok(await until(async () => (await qB('SHOW MIGRATIONS')).rows.find((r) => r.key === 'acct-x_volume')?.state === 'rolled_back'), 'SHOW MIGRATIONS: rolled_back');
  t.same(await sizesOn(from, 'acct-x'), [1, 2], 'every row where the tenant was');
  t.same(await sizesOn(other(from), 'acct-x'), [], 'nothing on the target');
  t.ok(await until(async () => (await qB('SHOW MEMBERS')).rows.filter((r) => r.leading === 'true').length === 1 && (await qB('SHOW MEMBERS')).rows.length === 2), 'two members left, one of them leads');
});
