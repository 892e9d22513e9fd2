// Owns: SqliteCatalog behaviour — persistence across restart, epoch, explicit placement vs hashing, history, syncShards, cross-process visibility.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCatalog, SQLITE_SCHEMA_VERSION } from '../../proxy/catalog/SqliteCatalog.js';
import { CatalogError, CatalogErrorCode, ShardStatus } from '../../proxy/catalog/Catalog.js';
import { createCatalog } from '../../proxy/catalog/createCatalog.js';
import { PostgresCatalog } from '../../proxy/catalog/PostgresCatalog.js';

const dir = mkdtempSync(path.join(tmpdir(), 'prescient-catalog-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const newFile = (): string => path.join(dir, `catalog-${++fileNo}.db`);

const shardCfg = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `s${i}`, host: '127.0.0.1', port: 5500 + i, database: 'app' }));

async function opened(t: Test, file: string, pollMs = 0): Promise<SqliteCatalog> {
  const c = new SqliteCatalog({ path: file, pollMs });
  await c.open();
  t.teardown(() => c.close());
  return c;
}

// the catalog's poll timers are unref'd (they must not keep a proxy alive); keep the test process alive meanwhile
const keepAlive = setInterval(() => {}, 1000);
t.teardown(() => clearInterval(keepAlive));

const keys = Array.from({ length: 20000 }, (_, i) => `acct-${i}_volume`);

t.test('schema, WAL and an empty catalog', async (t) => {
  const file = newFile();
  const c = await opened(t, file);
  t.equal(c.epoch, 0);
  t.same(c.snapshot().shards, []);
  t.throws(() => c.snapshot().placementOf('k'), { code: CatalogErrorCode.NoActiveShards });
  const raw = new Database(file, { readonly: true });
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(raw.prepare('select version from schema_version').pluck().get(), SQLITE_SCHEMA_VERSION);
  const tables = raw.prepare("select name from sqlite_master where type = 'table' order by name").pluck().all();
  for (const tb of ['shards', 'placements', 'placement_history', 'migrations', 'catalog_epoch', 'schema_version']) {
    t.ok(tables.includes(tb), `table ${tb}`);
  }
  raw.close();
});

t.test('epoch grows with every change, not with no-ops', async (t) => {
  const c = await opened(t, newFile());
  const seen: number[] = [];
  c.onChange((e) => seen.push(e));
  await c.syncShards(shardCfg(3));
  t.equal(c.epoch, 1, 'syncShards is one change');
  await c.syncShards(shardCfg(3));
  t.equal(c.epoch, 1, 'identical config: no change, no epoch');
  const v1 = await c.setPlacement('a_volume', 's1', 'test');
  t.equal(c.epoch, 2);
  const v2 = await c.setPlacement('a_volume', 's2', 'test');
  t.equal(c.epoch, 3);
  t.same([v1, v2], [1, 2], 'key version +1 per change');
  await c.clearPlacement('a_volume', 'back to hashing');
  t.equal(c.epoch, 4);
  await c.clearPlacement('a_volume', 'again');
  t.equal(c.epoch, 4, 'clearing a cleared key is a no-op');
  await c.setShardStatus('s0', ShardStatus.Draining);
  t.equal(c.epoch, 5);
  t.equal(c.snapshot().shard('s0')!.status, 'draining');
  t.equal(c.snapshot().shard('s0')!.version, 2, 'shard version grows');
  await c.setShardStatus('s0', ShardStatus.Draining);
  t.equal(c.epoch, 5);
  t.same(seen, [1, 2, 3, 4, 5], 'onChange once per epoch');
  await t.rejects(c.setPlacement('k', 'nope', 'x'), { code: CatalogErrorCode.UnknownShard });
  await t.rejects(c.setShardStatus('nope', 'active'), { code: CatalogErrorCode.UnknownShard });
  await t.rejects(c.setShardStatus('s0', 'bogus' as ShardStatus), { code: CatalogErrorCode.InvalidArgument });
  await t.rejects(c.setPlacement('', 's0', 'x'), { code: CatalogErrorCode.InvalidArgument });
  t.equal(c.epoch, 5, 'failed changes leave the epoch alone (rolled back)');
});

t.test('explicit placement overrides hashing; clearing returns to hashing with the version kept', async (t) => {
  const c = await opened(t, newFile());
  await c.syncShards(shardCfg(4));
  const key = 'acct-42_volume';
  const hashed = c.snapshot().placementOf(key);
  t.equal(hashed.explicit, false);
  t.equal(hashed.version, 0);
  const other = ['s0', 's1', 's2', 's3'].find((n) => n !== hashed.shard.name)!;
  const before = c.snapshot();
  const v = await c.setPlacement(key, other, 'hot key');
  const p = c.snapshot().placementOf(key);
  t.same([p.shard.name, p.explicit, p.version], [other, true, v]);
  t.equal(before.placementOf(key).shard.name, hashed.shard.name, 'an old snapshot is immutable');
  t.equal(c.snapshot().placementOf('acct-43_volume').explicit, false, 'other keys still hash');
  await c.clearPlacement(key, 'cool');
  const q = c.snapshot().placementOf(key);
  t.same([q.shard.name, q.explicit, q.version], [hashed.shard.name, false, 2]);
  // placing on a draining shard is allowed; on an inactive one it is not
  await c.setShardStatus('s3', 'inactive');
  await t.rejects(c.setPlacement(key, 's3', 'x'), { code: CatalogErrorCode.ShardInactive });
  t.type(new CatalogError(CatalogErrorCode.ShardInactive, 'x'), Error);
});

t.test('history is append-only, ordered, with reasons', async (t) => {
  const file = newFile();
  const c = await opened(t, file);
  await c.syncShards(shardCfg(3));
  await c.setPlacement('k_volume', 's1', 'hot key: cpu');
  await c.setPlacement('k_volume', 's2', 'rebalance');
  await c.clearPlacement('k_volume', 'cool-down over');
  const h = await c.history('k_volume');
  t.same(
    h.map((r) => [r.version, r.shardName, r.reason]),
    [
      [1, 's1', 'hot key: cpu'],
      [2, 's2', 'rebalance'],
      [3, null, 'cool-down over'],
    ],
  );
  t.ok(h.every((r) => r.at instanceof Date && r.epoch > 0), 'timestamps and epochs');
  t.ok(h[0].epoch < h[1].epoch && h[1].epoch < h[2].epoch);
  t.same(await c.history('unknown'), []);
  const raw = new Database(file);
  t.throws(() => raw.prepare("update placement_history set reason = 'x'").run(), /append-only/);
  t.throws(() => raw.prepare('delete from placement_history').run(), /append-only/);
  raw.close();
});

t.test('survives a restart: shards, placements, history and epoch persist', async (t) => {
  const file = newFile();
  const a = new SqliteCatalog({ path: file, pollMs: 0 });
  await a.open();
  await a.syncShards(shardCfg(3));
  await a.setPlacement('p_volume', 's2', 'r1');
  await a.setPlacement('q_snapshot', 's0', 'r2');
  await a.clearPlacement('q_snapshot', 'r3');
  await a.setShardStatus('s1', 'draining');
  const epoch = a.epoch;
  const owners = keys.slice(0, 2000).map((k) => a.snapshot().placementOf(k).shard.name);
  await a.close();

  const b = await opened(t, file);
  t.equal(b.epoch, epoch, 'epoch persisted');
  const s = b.snapshot();
  t.same(
    s.shards.map((x) => [x.name, x.status]),
    [
      ['s0', 'active'],
      ['s1', 'draining'],
      ['s2', 'active'],
    ],
  );
  t.same(s.placementOf('p_volume'), { shard: s.shard('s2'), explicit: true, version: 1 });
  t.same([s.placementOf('q_snapshot').explicit, s.placementOf('q_snapshot').version], [false, 2]);
  t.same(keys.slice(0, 2000).map((k) => s.placementOf(k).shard.name), owners, 'same hashing after restart');
  t.same((await b.history('q_snapshot')).map((r) => r.reason), ['r2', 'r3']);
  await b.setPlacement('p_volume', 's0', 'after restart');
  t.equal(b.epoch, epoch + 1, 'epoch continues');
  t.equal(b.snapshot().placementOf('p_volume').version, 2, 'key version continues');
});

t.test('syncShards: upsert, removed shards become inactive and only their keys move', async (t) => {
  const c = await opened(t, newFile());
  await c.syncShards(shardCfg(5));
  const before = c.snapshot();
  const ids = before.shards.map((s) => s.id);
  const cfg = shardCfg(5).filter((s) => s.name !== 's2');
  cfg[0] = { ...cfg[0], port: 6000 };
  await c.syncShards(cfg);
  const after = c.snapshot();
  t.same(after.shards.map((s) => s.id), ids, 'stable ids');
  t.equal(after.shard('s2')!.status, 'inactive', 'missing from config: inactive');
  t.equal(after.shard('s0')!.port, 6000, 'address updated');
  t.equal(after.shard('s0')!.version, 2);
  t.equal(after.shard('s1')!.version, 1, 'untouched shard keeps its version');
  t.equal(after.activeShards, 4);
  let moved = 0;
  let wrong = 0;
  for (const k of keys) {
    const a = before.placementOf(k).shard.name;
    const b = after.placementOf(k).shard.name;
    if (a !== b) {
      moved++;
      if (a !== 's2') wrong++;
    }
    if (b === 's2') wrong++;
  }
  t.equal(wrong, 0, 'only s2 keys moved, none landed on s2');
  t.ok(Math.abs(moved / keys.length - 0.2) < 0.02, `moved ${moved}/${keys.length} ≈ 1/5`);
  // back in config: active again, and hashing is exactly as before
  await c.syncShards(shardCfg(5).map((s, i) => (i === 0 ? { ...s, port: 6000 } : s)));
  t.equal(c.snapshot().shard('s2')!.status, 'active');
  t.equal(keys.filter((k) => c.snapshot().placementOf(k).shard.name !== before.placementOf(k).shard.name).length, 0);
  await t.rejects(c.syncShards([shardCfg(1)[0], shardCfg(1)[0]]), { code: CatalogErrorCode.InvalidArgument });
});

t.test('two instances on one file see each other\'s changes (epoch polling)', async (t) => {
  const file = newFile();
  const a = await opened(t, file, 50);
  const b = await opened(t, file, 50);
  await a.syncShards(shardCfg(3));
  const seen = new Promise<number>((resolve) => b.onChange((e) => resolve(e)));
  const t0 = Date.now();
  await a.setPlacement('x_volume', 's1', 'from a');
  const e = await seen;
  const ms = Date.now() - t0;
  t.ok(e >= 1);
  // b may have seen epoch 1 first; wait until it catches up to a
  while (b.epoch < a.epoch) await new Promise((r) => setTimeout(r, 10));
  t.equal(b.snapshot().placementOf('x_volume').shard.name, 's1');
  t.comment(`second instance saw the change after ~${ms} ms (poll 50 ms)`);
  await b.setPlacement('x_volume', 's2', 'from b');
  t.equal(b.epoch, a.epoch + 1, 'b writes the next epoch');
  const deadline = Date.now() + 2000;
  while (a.epoch < b.epoch && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(a.snapshot().placementOf('x_volume').shard.name, 's2', 'a sees b\'s change');
  t.equal(a.snapshot().placementOf('x_volume').version, 2);
});

t.test('default poll interval picks up a change within ~250 ms', async (t) => {
  const file = newFile();
  const a = await opened(t, file);
  const b = new SqliteCatalog({ path: file });
  await b.open();
  t.teardown(() => b.close());
  await a.syncShards(shardCfg(2));
  const t0 = Date.now();
  while (b.epoch < a.epoch) await new Promise((r) => setTimeout(r, 5));
  const ms = Date.now() - t0;
  t.ok(ms < 1000, `seen after ${ms} ms`);
});

t.test('createCatalog picks the backend', async (t) => {
  t.type(createCatalog({ path: newFile() }), SqliteCatalog);
  t.type(createCatalog({ url: 'postgres://x@127.0.0.1:1/x' }), PostgresCatalog);
  t.throws(() => createCatalog({}), { code: CatalogErrorCode.Config });
  const c = createCatalog({ path: newFile() });
  await t.rejects(c.setPlacement('k', 's', 'r'), { code: CatalogErrorCode.NotOpen });
});
