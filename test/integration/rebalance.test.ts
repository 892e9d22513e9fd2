// Owns: the shard manager's loop as users run it — four busy tenants on one shard of two: the planner sees the
// imbalance last `sustain` seconds and moves tenants to the idle shard on its own, with their rows intact, while the
// tenants keep being written to — and not all of them (a moved tenant's past load counts for its new shard).
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
  shard_manager: { enabled: true, window: 4, sustain: 1, imbalance: 1.25, cooldown: 600 },
});

t.test('four busy tenants on one shard: some move to the idle one, nothing lost', async (t) => {
  const admin = await connected(t, proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const q = (sql: string): Promise<pg.QueryResult> => admin.query({ text: sql, queryMode: 'simple' } as pg.QueryConfig);
  const shardOf = async (a: string): Promise<string> => (await q(`SHOW PLACEMENT FOR ACCOUNT '${a}' TABLE 'volumes'`)).rows[0].shard;
  // four tenants that hash to s0
  const tenants: string[] = [];
  for (let i = 0; tenants.length < 4; i++) if ((await shardOf(`t-${i}`)) === 's0') tenants.push(`t-${i}`);
  const c = await connected(t, proxy);
  const acked = new Map<string, number>(tenants.map((a) => [a, 0]));
  let errors = 0;
  const deadline = Date.now() + 20_000;
  let moved: pg.QueryResult | null = null;
  while (Date.now() < deadline) {
    for (const a of tenants) {
      try {
        await c.query(`insert into volumes (account_id, size) values ('${a}', 1)`);
        acked.set(a, acked.get(a)! + 1);
      } catch {
        errors++;
      }
    }
    const m = await q('SHOW MIGRATIONS');
    if (m.rows.some((r) => r.state === 'done')) {
      moved = m;
      break;
    }
  }
  t.ok(moved, 'the shard manager moved a tenant on its own');
  const done = moved!.rows.filter((r) => r.state === 'done');
  t.ok(done.every((r) => r.from === 's0' && r.to === 's1'), `from the busy shard to the idle one: ${done.map((r) => r.key).join(', ')}`);
  // let moves under way finish, then check every tenant's rows where its placement says
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(errors, 0, 'no client error caused by the moves');
  const placed = await Promise.all(tenants.map((a) => shardOf(a)));
  t.ok(placed.includes('s0') && placed.includes('s1'), `the tenants end on both shards, not all moved over: ${placed.join(', ')}`);
  for (const a of tenants) {
    const where = await shardOf(a);
    const here = await direct<{ n: string }>(clusters[Number(where.slice(1))]!, `select count(*) as n from volumes where account_id = '${a}'`);
    const there = await direct<{ n: string }>(clusters[where === 's0' ? 1 : 0]!, `select count(*) as n from volumes where account_id = '${a}'`);
    t.same([Number(here.rows[0]!.n), Number(there.rows[0]!.n)], [acked.get(a)!, 0], `${a} on ${where}: all ${acked.get(a)} rows, none elsewhere`);
  }
});
