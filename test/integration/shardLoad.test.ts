// Owns: shard_manager load accounting as users see it — requests routed over two shards counted per shard (SHOW LOAD)
// and the hottest tenant named with its share (SHOW HOTSPOTS) and judged by the planner (SHOW PLAN), through a real
// Prescient and real Postgres shards.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, directQuery, withClusters } from '../helpers/pg.js';
import { connected, startProxy } from '../helpers/proxy.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
for (const c of clusters) await directQuery(c, 'create table volumes (account_id text not null, id int not null, size int not null, primary key (account_id, id))');
const ADMIN = { name: 'admin', password: 'admin-secret' };
const proxy = await startProxy(t, clusters, {
  admin: { users: [ADMIN] },
  pool: { mode: 'transaction', size: 4 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes'] } } },
  shard_manager: { enabled: true, window: 30 },
});

t.test('SHOW LOAD counts requests per shard; SHOW HOTSPOTS names the hot tenant and its share', async (t) => {
  const c = await connected(t, proxy);
  // acct-7 does 8 of every 10 requests
  for (let i = 0; i < 20; i++) {
    for (const a of ['acct-7', 'acct-7', 'acct-7', 'acct-7', 'acct-7', 'acct-7', 'acct-7', 'acct-7', 'acct-1', 'acct-2']) {
      await c.query(`/*action='DescribeVolumes'*/ select count(*) from volumes where account_id = '${a}'`);
    }
  }
  const admin = await connected(t, proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const load = await admin.query({ text: 'SHOW LOAD', queryMode: 'simple' } as pg.QueryConfig);
  const total = load.rows.reduce((n, r) => n + Number(r.requests), 0);
  t.equal(total, 200, 'every routed request counted once');
  t.same(load.fields.map((f) => f.name), ['shard', 'requests', 'requests_per_s', 'rows', 'backend_ms', 'errors', 'share']);
  const hot = await admin.query({ text: 'SHOW HOTSPOTS', queryMode: 'simple' } as pg.QueryConfig);
  const placement = hot.rows.filter((r) => r.kind === 'placement');
  t.equal(placement[0].key, 'acct-7_volume', 'the hottest placement key');
  t.equal(Number(placement[0].share), 0.8, 'with its share of the window');
  const action = hot.rows.filter((r) => r.kind === 'action');
  t.equal(action[0].key, 'acct-7_DescribeVolumes', 'the hottest account_action');
  // the planner's dry run: acct-7 alone is more than a shard's fair share (the mean): reported, not moved
  const plan = await admin.query({ text: 'SHOW PLAN', queryMode: 'simple' } as pg.QueryConfig);
  t.equal(plan.rows[0].kind, 'status');
  const tooHot = plan.rows.filter((r) => r.kind === 'too hot').map((r) => r.key);
  t.same(tooHot, ['acct-7_volume'], 'the hot tenant is reported as too hot to move');
  t.notOk(plan.rows.some((r) => r.kind === 'move' && r.key === 'acct-7_volume'), 'and not moved');
});
