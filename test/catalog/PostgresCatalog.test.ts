// Owns: PostgresCatalog against a real cluster — schema at open, two instances seeing each other's changes (NOTIFY), reopen, LISTEN reconnect.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { PostgresCatalog, POSTGRES_SCHEMA_VERSION } from '../../proxy/catalog/PostgresCatalog.js';
import { CatalogErrorCode } from '../../proxy/catalog/Catalog.js';
import { createCatalog } from '../../proxy/catalog/createCatalog.js';

requirePostgres(t);

// the catalog's timers are unref'd (they must not keep a proxy alive); keep the test process alive meanwhile
const keepAlive = setInterval(() => {}, 1000);
t.teardown(() => clearInterval(keepAlive));

const shardCfg = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `s${i}`, host: '127.0.0.1', port: 5500 + i, database: 'app' }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('PostgresCatalog', async (t) => {
  const [cl] = await withClusters(t, 1, { users: [] });
  const url = `postgres://${encodeURIComponent(cl.user)}:${encodeURIComponent(cl.password)}@${cl.host}:${cl.port}/app`;

  await t.test('two instances see a placement change within one second', async (t) => {
    // pollMs 0: only LISTEN/NOTIFY can deliver the change, so this measures the notification path
    const a = new PostgresCatalog({ url, pollMs: 0 });
    const b = new PostgresCatalog({ url, pollMs: 0 });
    await Promise.all([a.open(), b.open()]); // concurrent first open: the schema migration is serialized
    t.teardown(() => Promise.all([a.close(), b.close()]));
    await a.syncShards(shardCfg(3));
    while (b.epoch < a.epoch) await sleep(5);
    t.same(b.snapshot().shards.map((s) => s.name), ['s0', 's1', 's2']);

    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const target = `s${i % 3}`;
      const t0 = process.hrtime.bigint();
      const v = await a.setPlacement('acct-1_volume', target, `move ${i}`);
      while (b.snapshot().placementOf('acct-1_volume').version < v) await sleep(1);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t.equal(b.snapshot().placementOf('acct-1_volume').shard.name, target);
    }
    const worst = Math.max(...samples);
    t.comment(`write on A → visible on B: ${samples.map((x) => x.toFixed(1)).join(', ')} ms`);
    t.ok(worst < 1000, `worst ${worst.toFixed(1)} ms < 1000 ms`);

    // and the other direction, plus onChange
    const fired = new Promise<number>((resolve) => a.onChange(resolve));
    await b.setShardStatus('s2', 'draining');
    t.equal(await fired, b.epoch);
    t.equal(a.snapshot().shard('s2')!.status, 'draining');
  });

  await t.test('epoch, history, syncShards and errors match the SQLite semantics', async (t) => {
    const c = new PostgresCatalog({ url });
    await c.open();
    t.teardown(() => c.close());
    const e0 = c.epoch;
    await c.syncShards(shardCfg(4)); // adds s3 (s2 stays draining: config does not override a status)
    t.equal(c.epoch, e0 + 1, 'syncShards with a change → one epoch');
    t.equal(c.snapshot().shard('s2')!.status, 'draining');
    await c.syncShards(shardCfg(4));
    t.equal(c.epoch, e0 + 1, 'no-op sync: no epoch');
    await c.setPlacement('h_volume', 's0', 'first');
    await c.setPlacement('h_volume', 's1', 'second');
    await c.clearPlacement('h_volume', 'third');
    await c.clearPlacement('h_volume', 'no-op');
    t.equal(c.epoch, e0 + 4);
    const h = await c.history('h_volume');
    t.same(
      h.map((r) => [r.version, r.shardName, r.reason]),
      [
        [1, 's0', 'first'],
        [2, 's1', 'second'],
        [3, null, 'third'],
      ],
    );
    t.ok(h.every((r) => r.at instanceof Date));
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    await t.rejects(raw.query("update prescient_catalog.placement_history set reason = 'x'"), /append-only/);
    await t.rejects(raw.query('delete from prescient_catalog.placement_history'), /append-only/);
    const sv = await raw.query('select version from prescient_catalog.schema_version');
    t.equal(sv.rows[0].version, POSTGRES_SCHEMA_VERSION);
    await raw.end();

    const before = c.snapshot();
    await c.syncShards(shardCfg(4).filter((s) => s.name !== 's1'));
    const after = c.snapshot();
    t.equal(after.shard('s1')!.status, 'inactive');
    const keys = Array.from({ length: 5000 }, (_, i) => `acct-${i}_snapshot`);
    const wrong = keys.filter((k) => {
      const x = before.placementOf(k).shard.name;
      const y = after.placementOf(k).shard.name;
      return (x !== y && x !== 's1') || y === 's1';
    }).length;
    t.equal(wrong, 0, 'only the removed shard\'s keys move');
    await t.rejects(c.setPlacement('k', 's1', 'x'), { code: CatalogErrorCode.ShardInactive });
    await t.rejects(c.setPlacement('k', 'nope', 'x'), { code: CatalogErrorCode.UnknownShard });
    await c.syncShards(shardCfg(3));
  });

  await t.test('survives reopen', async (t) => {
    const a = createCatalog({ url });
    await a.open();
    await a.setPlacement('keep_volume', 's1', 'persist me');
    const epoch = a.epoch;
    const snapBefore = a.snapshot();
    await a.close();
    const b = createCatalog({ url });
    await b.open();
    t.teardown(() => b.close());
    t.equal(b.epoch, epoch);
    const p = b.snapshot().placementOf('keep_volume');
    t.same([p.shard.name, p.explicit], ['s1', true]);
    t.same(
      b.snapshot().shards.map((s) => [s.id, s.name, s.status, s.version]),
      snapBefore.shards.map((s) => [s.id, s.name, s.status, s.version]),
    );
    t.same((await b.history('keep_volume')).map((r) => r.reason), ['persist me']);
  });

  await t.test('LISTEN connection is re-established after it is killed', async (t) => {
    const a = new PostgresCatalog({ url, pollMs: 0, reconnectMs: 50 });
    const b = new PostgresCatalog({ url, pollMs: 0, reconnectMs: 50 });
    await a.open();
    await b.open();
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const killed = await admin.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'listen %' and pid <> pg_backend_pid()",
    );
    t.ok(killed.rowCount! >= 1, 'listener backends terminated');
    await admin.end();
    const deadline = Date.now() + 5000;
    while (!(a.listening && b.listening) && Date.now() < deadline) await sleep(20);
    t.ok(a.listening && b.listening, 'both listening again');
    const v = await a.setPlacement('re_volume', 's0', 'after reconnect');
    const t0 = Date.now();
    while (b.snapshot().placementOf('re_volume').version < v && Date.now() - t0 < 2000) await sleep(2);
    t.equal(b.snapshot().placementOf('re_volume').version, v, `seen after ${Date.now() - t0} ms`);
  });

  await t.test('with LISTEN down, the 1 s epoch poll still delivers the change', async (t) => {
    const a = new PostgresCatalog({ url, pollMs: 0 });
    const b = new PostgresCatalog({ url: `${url}?application_name=catalog_b`, reconnectMs: 60000 });
    await a.open();
    await b.open();
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'catalog_b' and query ilike 'listen %'",
    );
    await admin.end();
    const deadline = Date.now() + 2000;
    while (b.listening && Date.now() < deadline) await sleep(10);
    t.notOk(b.listening, 'b lost its LISTEN connection (reconnect in 60 s)');
    const v = await a.setPlacement('poll_volume', 's2', 'seen by polling');
    const t0 = Date.now();
    while (b.snapshot().placementOf('poll_volume').version < v && Date.now() - t0 < 3000) await sleep(10);
    const ms = Date.now() - t0;
    t.equal(b.snapshot().placementOf('poll_volume').version, v, `seen by polling after ${ms} ms`);
    t.ok(ms < 1500, 'within one poll interval (+ slack)');
  });

  await t.test('open fails cleanly on a bad URL', async (t) => {
    const c = new PostgresCatalog({ url: `postgres://nobody:x@${cl.host}:${cl.port}/app` });
    await t.rejects(c.open());
    await c.close();
  });
});
