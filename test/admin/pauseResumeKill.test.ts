// Owns: the admin console's PAUSE/RESUME (per shard and all), KILL, SHOW SERVERS/DATABASES/CONFIG/VERSION and SHOW HELP = the error hint, through a real Prescient with two shards, several clients and a small pool.
import t from 'tap';
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { requirePostgres, withClusters, directQuery } from '../helpers/pg.js';
import { startProxy, connected, adminConsole, type PgError } from '../helpers/proxy.js';

requirePostgres(t);

const ADMIN = { name: 'admin', password: 'admin-secret' };
const clusters = await withClusters(t, 2);
for (const c of clusters) await directQuery(c, 'create table items (account_id text not null, n int not null)');
const sharding = { account_column: 'account_id', domains: { item: { tables: ['items'] } } };
// a small pool: two connections per shard for several clients
const proxy = await startProxy(t, clusters, { admin: { users: [ADMIN] }, pool: { mode: 'transaction', size: 2, queue_timeout_ms: 120_000 }, sharding });

const admin = await adminConsole(t, proxy, ADMIN);
// a second console: the first one's PAUSE answers only once the shard has drained
const watch = await adminConsole(t, proxy, ADMIN);

/** polls `cond` (every 50 ms, up to 30 s) */
async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** a promise and whether it has settled yet */
function tracked<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  return { p, settled: () => done };
}

// an account on each shard
const onShard = new Map<string, string>();
for (let i = 0; onShard.size < 2 && i < 200; i++) {
  const r = await admin(`SHOW PLACEMENT FOR ACCOUNT 'acct-${i}' TABLE 'items'`);
  if (!onShard.has(r.rows[0].shard)) onShard.set(r.rows[0].shard, `acct-${i}`);
}
const [a0, a1] = [onShard.get('s0')!, onShard.get('s1')!];
const count = (c: pg.Client, account: string): Promise<number> => c.query(`select count(*)::int as n from items where account_id = '${account}'`).then((r) => r.rows[0].n as number);
const waitingOn = async (shard: string): Promise<number> => (await watch('SHOW POOLS')).rows.filter((r) => r.shard === shard).reduce((n, r) => n + Number(r.cl_waiting), 0);

t.test('PAUSE waits for the open transaction to commit; held statements complete after RESUME; the other shard flows', async (t) => {
  const [c1, c2, c3] = [await connected(t, proxy), await connected(t, proxy), await connected(t, proxy)];
  await c1.query('begin');
  await c1.query(`insert into items (account_id, n) values ('${a0}', 1)`);
  const pause = tracked(admin('PAUSE s0'));
  await until(async () => (await watch('SHOW DATABASES')).rows.some((r) => r.shard === 's0' && r.paused === 'true'), 'SHOW DATABASES to show s0 paused');
  t.notOk(pause.settled(), 'PAUSE has not answered while a transaction on s0 is open');
  t.equal(await count(c3, a1), 0, 'PAUSE s0 leaves s1 flowing');
  await c1.query('commit');
  const answer = await pause.p;
  t.equal(answer.command, 'PAUSE', 'PAUSE answered once the transaction committed');

  const held = tracked(count(c2, a0));
  await until(async () => (await waitingOn('s0')) >= 1, 'the held statement counted as waiting');
  t.equal(await count(c3, a1), 0, 's1 still flows while s0 holds a statement');
  t.notOk(held.settled(), 'the statement on s0 is held');
  const pools = (await watch('SHOW POOLS')).rows;
  t.ok(pools.filter((r) => r.shard === 's0').every((r) => r.paused === 'true'), 'SHOW POOLS shows s0 paused');
  t.ok(pools.filter((r) => r.shard === 's1').every((r) => r.paused === 'false'), 'and s1 not');
  t.equal((await admin('RESUME s0')).command, 'RESUME');
  t.equal(await held.p, 1, 'the held statement completes after RESUME, with the committed row');
});

t.test('PAUSE without a shard holds every shard until RESUME', async (t) => {
  const [c1, c2] = [await connected(t, proxy), await connected(t, proxy)];
  await admin('PAUSE');
  const held = [tracked(count(c1, a0)), tracked(count(c2, a1))];
  await until(async () => (await waitingOn('s0')) >= 1 && (await waitingOn('s1')) >= 1, 'a statement held on each shard');
  t.notOk(held.some((h) => h.settled()), 'both held');
  await admin('RESUME');
  t.same(await Promise.all(held.map((h) => h.p)), [1, 0], 'both complete after RESUME');
});

t.test('clients that vanish while PAUSE holds their statements cost nobody anything: the queue empties, RESUME serves the rest', async (t) => {
  const survivor = await connected(t, proxy);
  await admin('PAUSE s0');
  // more held clients than the shard has server connections; all but one go away without a word
  const gone = await Promise.all([1, 2, 3].map(() => connected(t, proxy)));
  for (const c of gone) void count(c, a0).catch(() => {});
  const kept = tracked(count(survivor, a0));
  await until(async () => (await waitingOn('s0')) >= 4, 'four statements held on s0');
  for (const c of gone) (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await until(async () => (await waitingOn('s0')) === 1, 'the vanished clients out of the queue');
  t.notOk(kept.settled(), 'the survivor is still held');
  await admin('RESUME s0');
  t.equal(await kept.p, 1, 'the survivor is served after RESUME');
  const servers = (await watch('SHOW POOLS')).rows.filter((r) => r.shard === 's0');
  t.ok(servers.every((r) => Number(r.server_total) <= 2 && Number(r.cl_waiting) === 0), 'no server connection beyond the pool, nobody waiting');
  const fresh = await connected(t, proxy);
  t.equal(await count(fresh, a0), 1, 'a new client is served at once');
});

t.test('PAUSE and KILL refuse what they do not know', async (t) => {
  const cases = [
    { sql: 'PAUSE nowhere', code: '42704' },
    { sql: 'RESUME s0 s1', code: '42601' },
    { sql: 'KILL 12x', code: '42601' },
    { sql: 'KILL 1', code: '42704' },
  ];
  for (const c of cases) await t.rejects(admin(c.sql), { code: c.code }, c.sql);
});

t.test('KILL closes exactly that client with 57P01, rolls back its transaction; the others go on', async (t) => {
  const clients = [];
  for (const name of ['k0', 'k1', 'k2']) clients.push(await connected(t, proxy, { application_name: name }));
  const [victim, other1, other2] = clients as [pg.Client, pg.Client, pg.Client];
  await victim.query('begin');
  await victim.query(`insert into items (account_id, n) values ('${a1}', 7)`);
  const backend = (await victim.query(`select pg_backend_pid() as pid from items where account_id = '${a1}' limit 1`)).rows[0].pid as number;
  const pid = (await admin('SHOW CLIENTS')).rows.find((r) => r.application_name === 'k0')!.pid as string;
  const servers = (await admin('SHOW SERVERS')).rows;
  const serving = servers.find((r) => r.link === pid);
  t.ok(serving, 'SHOW SERVERS links a server connection to the client in a transaction');
  t.equal(serving?.state, 'active');
  t.equal(serving?.shard, 's1');
  t.equal(Number(serving?.remote_pid), backend, "remote_pid is the backend's pid");
  t.equal(serving?.tx, 'T', 'in a transaction');
  const errored = new Promise<PgError>((resolve) => victim.on('error', (e) => resolve(e as PgError)));
  const killed = await admin(`KILL ${pid}`);
  t.equal(killed.command, 'KILL');
  const e = await errored;
  t.equal(e.code, '57P01', 'the client hears 57P01');
  t.match(e.message, /terminating connection due to administrator command/);
  t.equal(await count(other1, a1), 0, 'its insert was rolled back; another client goes on');
  t.equal(await count(other2, a0), 1, 'and another (the row the first test committed)');
  await until(async () => !(await admin('SHOW CLIENTS')).rows.some((r) => r.pid === pid), 'the killed client to leave SHOW CLIENTS');
  t.equal((await admin('SHOW CLIENTS')).rows.filter((r) => ['k1', 'k2'].includes(r.application_name)).length, 2, 'the others are still there');
});

t.test('SHOW DATABASES, CONFIG, VERSION', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const cases: { sql: string; check: (rows: Record<string, string>[]) => void }[] = [
    { sql: 'SHOW DATABASES', check: (rows) => {
      t.same(rows.map((r) => [r.name, r.shard, r.pool_mode, r.pool_size, r.paused]), [['app', 's0', 'transaction', '2', 'false'], ['app', 's1', 'transaction', '2', 'false']]);
    } },
    { sql: 'SHOW CONFIG', check: (rows) => {
      const by = new Map(rows.map((r) => [r.key, r]));
      t.same([by.get('pool.size')?.value, by.get('pool.size')?.default, by.get('pool.size')?.changeable], ['2', '20', 'false'], 'pool.size: value, default, not changeable by RELOAD');
      t.same([by.get('log.level')?.value, by.get('log.level')?.changeable], ['info', 'true'], 'log.level is changeable');
      t.equal(by.get('users[0].password')?.value, '********', 'passwords are masked');
      t.equal(by.get('admin.users[0].password')?.value, '********');
      t.notOk(rows.some((r) => JSON.stringify(r).includes('secret')), 'no secret appears anywhere');
    } },
    { sql: 'SHOW VERSION', check: (rows) => {
      t.same(rows, [{ version: `Prescient ${pkg.version}`, node: process.version }]);
    } },
  ];
  for (const c of cases) c.check((await admin(c.sql)).rows as Record<string, string>[]);
});

t.test('SHOW HELP lists every command of the table, and the unknown-command hint is the same list', async (t) => {
  const help = (await admin('SHOW HELP')).rows as { command: string; syntax: string; description: string }[];
  for (const name of ['SHOW POOLS', 'SHOW CLIENTS', 'SHOW SERVERS', 'SHOW DATABASES', 'SHOW CONFIG', 'SHOW VERSION', 'PAUSE', 'RESUME', 'KILL', 'SHOW PLACEMENT', 'RELOAD', 'MIGRATE', 'SHOW HELP']) {
    t.ok(help.some((h) => h.command === name), `HELP lists ${name}`);
  }
  t.ok(help.every((h) => h.description.length > 0 && h.syntax.toUpperCase().startsWith(h.command)), 'each with its syntax and a description');
  const e = await admin('SHOW NONSENSE').then(() => null, (err: PgError & { hint?: string }) => err);
  t.equal(e?.code, '42601');
  t.equal(e?.hint, `admin commands: ${help.map((h) => h.syntax).join(', ')}`, 'the hint lists exactly what HELP lists');
  // every command HELP lists is recognised (none answers "unknown admin command")
  for (const h of help) {
    if (['PAUSE', 'KILL', 'MIGRATE', 'ADD SHARD', 'DRAIN SHARD', 'RELOAD', 'CANCEL MIGRATION'].includes(h.command)) continue;
    const r = await admin(h.command).then(() => 'ok', (err: Error) => err.message);
    t.notMatch(r, /unknown admin command/, `${h.command} is recognised`);
  }
});

t.test('a statement held by PAUSE gets the pool queue timeout (pool.queue_timeout_ms) if RESUME does not come', async (t) => {
  const short = await startProxy(t, clusters.slice(0, 1), { admin: { users: [ADMIN] }, pool: { mode: 'transaction', size: 2, queue_timeout_ms: 300 } });
  const console = await adminConsole(t, short, ADMIN);
  const c = await connected(t, short);
  await console('PAUSE');
  const e = await c.query('select 1').then(() => null, (err: PgError) => err);
  t.equal(e?.code, '53300', 'the held statement times out with 53300');
  t.match(e?.message, /paused/);
  await console('RESUME');
  t.same((await c.query('select 1 as x')).rows, [{ x: 1 }], 'the session goes on after RESUME');
});
