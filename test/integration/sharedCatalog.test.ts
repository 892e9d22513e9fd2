// Integration test: two Prescient processes sharing one Postgres catalog — a placement change made through the
// catalog is seen by both (admin console and routing) within a second; the catalog survives a proxy restart.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, connOf, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { PostgresCatalog } from '../../proxy/catalog/PostgresCatalog.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
const ADMIN = { name: 'admin', password: 'admin-secret' };
const c0 = connOf(clusters[0]!);
const url = `postgres://${encodeURIComponent(c0.user)}:${encodeURIComponent(c0.password ?? '')}@${c0.host}:${c0.port}/app`;

const direct = async (c: Cluster, sql: string, params: unknown[] = []): Promise<pg.QueryResult> => {
  const client = new pg.Client({ ...connOf(c), database: 'app' });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
};
for (const c of clusters) await direct(c, 'create table volumes (id text primary key, account_id text not null)');

const overrides = {
  admin: { users: [ADMIN] },
  pool: { mode: 'transaction', size: 2 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume'] } } },
  catalog: { url },
};
const proxies = [await startProxy(t, clusters, overrides), await startProxy(t, clusters, overrides)];

async function connect(tt: { teardown(fn: () => unknown): void }, p: ProxyHandle, admin = false): Promise<pg.Client> {
  const c = new pg.Client(admin
    ? { host: p.host, port: p.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' }
    : { host: p.host, port: p.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  c.on('error', () => {});
  await c.connect();
  tt.teardown(() => c.end().catch(() => {}));
  return c;
}

const placementOn = async (admin: pg.Client, account: string): Promise<{ shard: string; placement: string; epoch: string }> => {
  const r = await admin.query({ text: `SHOW PLACEMENT FOR ACCOUNT '${account}' ACTION 'CreateVolume'`, queryMode: 'simple' } as pg.QueryConfig);
  return r.rows[0];
};

t.test('a placement change reaches both proxies within a second', async (t) => {
  const admins = [await connect(t, proxies[0]!, true), await connect(t, proxies[1]!, true)];
  const before = await Promise.all(admins.map((a) => placementOn(a, 'acct-move')));
  t.equal(before[0]!.shard, before[1]!.shard, 'both proxies agree on the hashed placement');
  t.equal(before[0]!.placement, 'hash');
  const target = before[0]!.shard === 's0' ? 's1' : 's0';

  const catalog = new PostgresCatalog({ url });
  await catalog.open();
  t.teardown(() => catalog.close());
  const changedAt = performance.now();
  await catalog.setPlacement('acct-move_volume', target, 'test: move a key');
  const seenAfter: number[] = [];
  for (const admin of admins) {
    for (;;) {
      const p = await placementOn(admin, 'acct-move');
      if (p.shard === target) {
        seenAfter.push(performance.now() - changedAt);
        t.equal(p.placement, 'explicit');
        break;
      }
      if (performance.now() - changedAt > 5000) {
        t.fail('the placement change did not arrive within 5 s');
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  t.ok(Math.max(...seenAfter) < 1000, `both proxies saw it within a second (${seenAfter.map((ms) => ms.toFixed(0)).join(' ms, ')} ms)`);
  // and routing follows it in both
  for (const [i, p] of proxies.entries()) {
    const c = await connect(t, p);
    await c.query('insert into volumes (id, account_id) values ($1, $2)', [`v-${i}`, 'acct-move']);
  }
  const onTarget = await direct(clusters[Number(target.slice(1))]!, `select count(*)::int n from volumes where account_id = 'acct-move'`);
  t.equal(onTarget.rows[0].n, 2, `both proxies wrote to ${target}`);
});

t.test('placements and the epoch persist across a proxy restart', async (t) => {
  const admin = await connect(t, proxies[0]!, true);
  const before = await placementOn(admin, 'acct-move');
  await admin.end();
  t.equal(await proxies[0]!.stop(), 0, 'clean exit');
  const again = await startProxy(t, clusters, overrides);
  const after = await placementOn(await connect(t, again, true), 'acct-move');
  t.equal(after.shard, before.shard, 'same shard');
  t.equal(after.placement, 'explicit', 'still explicit');
  t.equal(after.epoch, before.epoch, 'same epoch');
});
