// Integration tests: shard routing through a real Prescient over three real Postgres shards — keys from literals,
// $n per Bind, sqlcommenter tags, SET prescient.account; deferred BEGIN and pinned transactions, the cross-shard
// refusal, keyless writes refused, fan-out reads merged, DDL broadcast, global tables, the admin console's placement.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, connOf, pgbench, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, startProxy, type ProxyHandle } from '../helpers/proxy.js';

requirePostgres(t);

const clusters = await withClusters(t, 3);
const ADMIN = { name: 'admin', password: 'admin-secret' };
const proxy = await startProxy(t, clusters, {
  admin: { users: [ADMIN] },
  pool: { mode: 'transaction', size: 4, queue_timeout_ms: 20000 },
  sharding: {
    account_column: 'account_id',
    domains: {
      volume: { tables: ['volumes', 'volume_attachments'], actions: ['CreateVolume', 'DescribeVolumes'] },
      snapshot: { tables: ['snapshots'], actions: ['CreateSnapshot', 'DescribeSnapshots'] },
    },
    global_tables: ['regions'],
  },
});

const direct = async (c: Cluster, sql: string, params: unknown[] = []): Promise<pg.QueryResult> => {
  const client = new pg.Client({ ...connOf(c), database: 'app' });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
};

async function connect(tt: { teardown(fn: () => unknown): void }, p: ProxyHandle = proxy, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: p.host, port: p.port, user: APP_USER.name, password: APP_USER.password, database: 'app', ...extra });
  c.on('error', () => {});
  await c.connect();
  tt.teardown(() => c.end().catch(() => {}));
  return c;
}

/** The shard the admin console names for account × action. */
async function placement(tt: { teardown(fn: () => unknown): void }, account: string, action: string): Promise<string> {
  const admin = await connect(tt, proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const r = await admin.query({ text: `SHOW PLACEMENT FOR ACCOUNT '${account}' ACTION '${action}'`, queryMode: 'simple' } as pg.QueryConfig);
  return r.rows[0].shard as string;
}

const shardIndex = (name: string): number => Number(name.slice(1));

t.test('DDL reaches every shard', async (t) => {
  const c = await connect(t);
  await c.query(`create table volumes (id text primary key, account_id text not null, size_gib int not null)`);
  await c.query(`create table snapshots (id text primary key, account_id text not null, volume_id text)`);
  await c.query(`create table regions (name text primary key)`);
  for (const [i, cl] of clusters.entries()) {
    const r = await direct(cl, `select count(*)::int n from information_schema.tables where table_name in ('volumes', 'snapshots')`);
    t.equal(r.rows[0].n, 2, `shard s${i} has the sharded tables`);
    const g = await direct(cl, `select count(*)::int n from information_schema.tables where table_name = 'regions'`);
    t.equal(g.rows[0].n, i === 0 ? 1 : 0, `the global table only on the global shard (s${i})`);
  }
  // DDL that fails on one shard is applied on none, and the error says where it failed
  await direct(clusters[1]!, 'create table only_on_s1 (x int)');
  const err = await c.query(`create table only_on_s1 (x int, y int)`).catch((e: Error & { code?: string }) => e);
  t.ok(err instanceof Error, 'fails: the table exists on s1');
  t.equal((err as { code?: string }).code, '42P07', 'with the server error code');
  t.match((err as Error).message, /on shard s1; no shard applied it/);
  for (const i of [0, 2]) {
    const r = await direct(clusters[i]!, `select count(*)::int n from information_schema.tables where table_name = 'only_on_s1'`);
    t.equal(r.rows[0].n, 0, `rolled back on s${i}`);
  }
  // statements that cannot run in a transaction block are applied shard by shard
  await c.query('create index concurrently volumes_size_idx on volumes (size_gib)');
  for (const [i, cl] of clusters.entries()) {
    const r = await direct(cl, `select count(*)::int n from pg_indexes where indexname = 'volumes_size_idx'`);
    t.equal(r.rows[0].n, 1, `CREATE INDEX CONCURRENTLY on s${i}`);
  }
});

t.test('rows land on the shard the catalog names', async (t) => {
  const c = await connect(t);
  const accounts = Array.from({ length: 30 }, (_, i) => `acct-${i + 1}`);
  for (const a of accounts) {
    await c.query(`insert into volumes (id, account_id, size_gib) values ('v-${a}', '${a}', 1)`);
    await c.query('insert into volumes (id, account_id, size_gib) values ($1, $2, $3)', [`v2-${a}`, a, 2]);
    await c.query(`/* account='${a}',action='CreateSnapshot' */ insert into snapshots (id, account_id) values ('s-${a}', '${a}')`);
  }
  const seen = new Set<string>();
  for (const a of accounts) {
    const vs = await placement(t, a, 'CreateVolume');
    const ss = await placement(t, a, 'CreateSnapshot');
    seen.add(vs);
    for (const [i, cl] of clusters.entries()) {
      const v = await direct(cl, 'select count(*)::int n from volumes where account_id = $1', [a]);
      t.equal(v.rows[0].n, `s${i}` === vs ? 2 : 0, `${a} volumes on s${i}`);
      const s = await direct(cl, 'select count(*)::int n from snapshots where account_id = $1', [a]);
      t.equal(s.rows[0].n, `s${i}` === ss ? 1 : 0, `${a} snapshots on s${i}`);
    }
    const back = await c.query('select id from volumes where account_id = $1 order by id', [a]);
    t.same(back.rows.map((r) => r.id), [`v-${a}`, `v2-${a}`], `${a} reads back through $1`);
  }
  t.equal(seen.size, 3, 'accounts spread over all three shards');
});

t.test('SET prescient.account routes a session', async (t) => {
  const c = await connect(t);
  await c.query(`set prescient.account = 'acct-7'`);
  const home = await placement(t, 'acct-7', 'DescribeVolumes');
  const r = await c.query('select id, account_id from volumes order by id');
  const onShard = await direct(clusters[shardIndex(home)]!, 'select id from volumes order by id');
  t.same(r.rows.map((x) => x.id), onShard.rows.map((x) => x.id), "a keyless read runs on the session account's shard only");
  t.ok(r.rows.some((x) => x.account_id === 'acct-7'), 'which holds the account');
  await c.query(`reset prescient.account`);
  const all = await c.query('select id from volumes order by id');
  t.equal(all.rowCount, 60, 'after RESET the same read fans out to all shards');
  t.same(all.rows.map((x) => x.id), [...all.rows.map((x) => x.id)].sort(), 'merged in ORDER BY order');
});

t.test('transactions: deferred BEGIN, pinning, cross-shard refusal', async (t) => {
  const c = await connect(t);
  const a = 'acct-1';
  const home = await placement(t, a, 'CreateVolume');
  const other = Array.from({ length: 30 }, (_, i) => `acct-${i + 1}`).find((x) => x !== a)!;
  let b = other;
  for (let i = 2; i <= 30; i++) {
    if ((await placement(t, `acct-${i}`, 'CreateVolume')) !== home) { b = `acct-${i}`; break; }
  }
  await c.query('begin');
  await c.query('update volumes set size_gib = size_gib + 10 where account_id = $1', [a]);
  const err = await c.query('update volumes set size_gib = size_gib + 10 where account_id = $1', [b]).catch((e: Error & { code?: string }) => e);
  t.ok(err instanceof Error, 'a statement for another shard in the transaction is refused');
  t.equal((err as { code?: string }).code, '0A000');
  t.match((err as Error).message, /cross-shard/);
  await c.query('commit');
  const r = await direct(clusters[shardIndex(home)]!, 'select sum(size_gib)::int s from volumes where account_id = $1', [a]);
  t.equal(r.rows[0].s, 23, 'the transaction committed on its shard');
  // BEGIN … COMMIT with nothing routed in between is answered without a shard
  await c.query('begin');
  await c.query('commit');
  // a rolled back transaction leaves nothing
  await c.query('begin');
  await c.query(`insert into volumes (id, account_id, size_gib) values ('tmp', $1, 1)`, [a]);
  await c.query('rollback');
  const none = await c.query(`select count(*)::int n from volumes where account_id = $1 and id = 'tmp'`, [a]);
  t.equal(none.rows[0].n, 0);
});

t.test('keyless writes are refused, global tables go to the global shard', async (t) => {
  const c = await connect(t);
  const err = await c.query(`update volumes set size_gib = 0`).catch((e: Error & { code?: string }) => e);
  t.ok(err instanceof Error);
  t.equal((err as { code?: string }).code, '0A000');
  t.match((err as Error).message, /volumes.*shard key|shard key.*volumes/);
  await c.query(`insert into regions values ('us-east-1'), ('eu-west-1')`);
  const g = await direct(clusters[0]!, 'select count(*)::int n from regions');
  t.equal(g.rows[0].n, 2, 'global rows on the first shard');
  const o = await direct(clusters[1]!, `select count(*)::int n from information_schema.tables where table_name = 'regions'`);
  t.equal(o.rows[0].n, 0, 'and nowhere else');
  const back = await c.query('select name from regions order by name');
  t.same(back.rows.map((r) => r.name), ['eu-west-1', 'us-east-1']);
});

t.test('fan-out reads merge; unmergeable ones are refused', async (t) => {
  const c = await connect(t);
  const r = await c.query('select id, size_gib from volumes order by size_gib desc, id limit 5');
  t.equal(r.rowCount, 5);
  t.same(r.rows.map((x) => x.size_gib), [...r.rows.map((x) => x.size_gib)].sort((x, y) => y - x), 'sorted after the merge');
  const p = await c.query('select id from volumes where size_gib = $1 order by id', [2]);
  t.equal(p.rowCount, 29, 'extended protocol fan-out (acct-1 grew by 10 above)');
  const n = await c.query('select count(*) from volumes where size_gib = $1', [2]);
  t.equal(n.rows[0].count, '29', 'a keyless count is merged from every shard');
  const err = await c.query('select count(distinct size_gib) from volumes').catch((e: Error & { code?: string }) => e);
  t.ok(err instanceof Error, 'a DISTINCT aggregate over every shard refused');
  t.equal((err as { code?: string }).code, '0A000');
  t.match((err as Error).message, /cannot be merged/);
});

t.test("the example plugin of docs/plugins.md reroutes VIP accounts end to end", async (t) => {
  const { fileURLToPath } = await import('node:url');
  const module = fileURLToPath(new URL('../../plugins/examples/route-vip.mjs', import.meta.url));
  const vip = await startProxy(t, clusters, {
    pool: { mode: 'transaction', size: 2 },
    sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } }, global_tables: ['regions'] },
    plugins: [{ module, options: { shard: 's2', accounts: ['acct-vip-1'] } }],
  });
  const c = await connect(t, vip);
  await c.query(`insert into volumes (id, account_id, size_gib) values ('vip-v1', 'acct-vip-1', 5)`);
  await c.query(`insert into volumes (id, account_id, size_gib) values ('vip-v2', $1, 6)`, ['acct-vip-1']);
  const onS2 = await direct(clusters[2]!, `select count(*)::int n from volumes where account_id = 'acct-vip-1'`);
  t.equal(onS2.rows[0].n, 2, 'both VIP rows on s2, whatever the hash says');
  for (const i of [0, 1]) {
    const n = await direct(clusters[i]!, `select count(*)::int n from volumes where account_id = 'acct-vip-1'`);
    t.equal(n.rows[0].n, 0, `none on s${i}`);
  }
  const back = await c.query('select id from volumes where account_id = $1 order by id', ['acct-vip-1']);
  t.same(back.rows.map((r) => r.id), ['vip-v1', 'vip-v2'], 'reads follow the same rule');
  const err = await c.query('delete from volumes').catch((e: Error & { code?: string }) => e);
  t.equal((err as { code?: string }).code, '42501', "the plugin's onRequest refusal reaches the client");
  t.match((err as Error).message, /DELETE without WHERE/);
  t.match(vip.logs(), /route-vip ready/, "the plugin's setup ran and logged through the host");
});

t.test('observer hooks see what the client sees; a throwing observer is disabled, never fatal', async (t) => {
  const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'prescient-observer-'));
  const log = join(dir, 'events.jsonl');
  const module = join(dir, 'observer.mjs');
  writeFileSync(module, `
    import { appendFileSync } from 'node:fs';
    const out = (e) => appendFileSync(${JSON.stringify(log)}, JSON.stringify(e) + '\\n');
    export default {
      name: 'observer', apiVersion: 1,
      createSessionHooks: (session) => ({
        onBackendMessage(code) { if (code === 0x44) out({ hook: 'row', pid: session.pid }); },
        onResponse(info) { out({ hook: 'response', sql: info.request?.sql, rows: info.rows, error: info.error?.code, ms: info.durationMs }); },
        onError(e) { out({ hook: 'error', code: e.code, source: e.source }); },
        onClose() { out({ hook: 'close' }); },
      }),
    };
    export const plugin2 = null;
  `);
  const thrower = join(dir, 'thrower.mjs');
  writeFileSync(thrower, `export default { name: 'thrower', apiVersion: 1, createSessionHooks: () => ({ onBackendMessage() { throw new Error('boom'); } }) };`);
  const p = await startProxy(t, clusters, {
    pool: { mode: 'transaction', size: 2 },
    sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } } },
    plugins: [{ module: thrower }, { module }],
  });
  const c = await connect(t, p);
  const r = await c.query('select id from volumes where account_id = $1 order by id', ['acct-3']);
  await c.query('select 1/0').catch(() => {});
  await c.query('select id from volumes where account_id = $1', ['acct-4']);
  await c.end();
  await new Promise((res) => setTimeout(res, 200));
  const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(events.filter((e) => e.hook === 'row').length, r.rowCount! + 2, 'every DataRow observed');
  const responses = events.filter((e) => e.hook === 'response');
  t.equal(responses.length, 3, 'one onResponse per request');
  t.match(responses[0], { sql: 'select id from volumes where account_id = $1 order by id', rows: r.rowCount });
  t.match(responses[1], { error: '22012' });
  t.match(events.filter((e) => e.hook === 'error'), [{ code: '22012', source: 'backend' }]);
  t.equal(events.filter((e) => e.hook === 'close').length, 1, 'onClose once');
  t.match(p.logs(), /plugin observer failed; disabled for this session/, 'the throwing observer was disabled and logged');
});

t.test("the plugin example of docs/plugins.md is the file the test runs", async (t) => {
  const { readFileSync } = await import('node:fs');
  const readme = readFileSync(new URL('../../docs/plugins.md', import.meta.url), 'utf8');
  const block = /```js\n(export default function routeVip[\s\S]*?)```/.exec(readme)?.[1];
  t.ok(block, 'docs/plugins.md has the example');
  const code = (text: string): string[] => text.split('\n').map((l) => l.replace(/\s+\/\/.*$/, '').trim()).filter((l) => l && !l.startsWith('//'));
  const file = code(readFileSync(new URL('../../plugins/examples/route-vip.mjs', import.meta.url), 'utf8'));
  t.same(code(block ?? ''), file, 'same code, line by line (comments aside)');
});

t.test('temporary tables follow the session; SET right after BEGIN waits for the transaction shard', async (t) => {
  const c = await connect(t);
  for (let i = 1; i <= 6; i++) {
    const a = `acct-tmp-${i}`;
    await c.query('begin');
    await c.query(`/* account='${a}' */ create temp table load_batch (like volumes including defaults) on commit drop`);
    await c.query(`/* account='${a}' */ insert into load_batch (id, account_id, size_gib) values ('tmp-${i}', '${a}', 1)`);
    await c.query(`/* account='${a}' */ insert into volumes select * from load_batch`);
    await c.query('commit');
    const home = await placement(t, a, 'CreateVolume');
    const n = await direct(clusters[shardIndex(home)]!, 'select count(*)::int n from volumes where account_id = $1', [a]);
    t.equal(n.rows[0].n, 1, `${a}: loaded through a temp table onto its shard`);
  }
  for (let i = 1; i <= 6; i++) {
    const a = `acct-set-${i}`;
    await c.query('begin');
    await c.query(`set local lock_timeout = '5s'`);
    await c.query('insert into volumes (id, account_id, size_gib) values ($1, $2, 1)', [`set-${i}`, a]);
    const lt = await c.query('show lock_timeout');
    t.equal(lt.rows[0].lock_timeout, '5s', `${a}: the SET LOCAL ran in the transaction on the account's shard`);
    await c.query('commit');
  }
});

t.test('pgbench -M simple|extended|prepared: a keyed write transaction with the account as a variable', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const c = await connect(t);
  await c.query('create table counters (account_id int not null, n int not null, primary key (account_id))');
  for (let a = 1; a <= 20; a++) await c.query('insert into counters (account_id, n) values ($1, 0)', [a]);
  const script = join(mkdtempSync(join(tmpdir(), 'prescient-pgb-')), 'upd.sql');
  writeFileSync(script, '\\set a random(1, 20)\nBEGIN;\nUPDATE counters SET n = n + 1 WHERE account_id = :a;\nSELECT n FROM counters WHERE account_id = :a;\nEND;\n');
  for (const mode of ['simple', 'extended', 'prepared']) {
    const r = await pgbench(['-n', '-f', script, '-M', mode, '-t', '50', '-c', '3'], { host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
    t.equal(r.code, 0, `-M ${mode}: pgbench succeeds${r.code ? ': ' + r.stderr.slice(0, 400) : ''}`);
  }
  let total = 0;
  for (const cl of clusters) total += Number((await direct(cl, 'select coalesce(sum(n), 0)::int s from counters')).rows[0].s);
  t.equal(total, 450, 'every transaction counted once, on its account\'s shard');
});
