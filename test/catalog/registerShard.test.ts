// Owns: Catalog.registerShard in both backends (a shard with a given status, outside the ring while inactive) and
// Resharder.syncShards over a real catalog: a shard new to a running ring is registered inactive and returned, a shard
// that still holds keys cannot be left out of the list, a drained one that stays listed stays inactive, a fresh
// catalog takes the list as it is.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { SqliteCatalog } from '../../proxy/catalog/SqliteCatalog.js';
import { PostgresCatalog } from '../../proxy/catalog/PostgresCatalog.js';
import { ShardStatus, type Catalog } from '../../proxy/catalog/Catalog.js';
import { Resharder } from '../../proxy/shardManager/Resharder.js';
import { parseConfig } from '../../config/loadConfig.js';

requirePostgres(t);

const keepAlive = setInterval(() => {}, 1000);
t.teardown(() => clearInterval(keepAlive));
const dir = mkdtempSync(path.join(tmpdir(), 'prescient-register-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const entry = (i: number) => ({ name: `s${i}`, host: '127.0.0.1', port: 5500 + i, database: 'app' });
const shards = (...ids: number[]) => parseConfig({ database: 'app', users: [{ name: 'app', password: 'x' }], shards: ids.map(entry) }).shards;
const statuses = (c: Catalog) => Object.fromEntries(c.snapshot().shards.map((s) => [s.name, s.status]));

async function behaves(t: Test, c: Catalog): Promise<void> {
  t.same(await Resharder.syncShards(c, shards(0, 1)), [], 'a fresh catalog takes the list as it is');
  t.same(statuses(c), { s0: 'active', s1: 'active' });
  const owner = c.snapshot().placementOf('acct-1_volume').shard.name;
  t.same(await Resharder.syncShards(c, shards(0, 1, 2)), ['s2'], 'a shard new to the running ring is returned');
  t.same(statuses(c), { s0: 'active', s1: 'active', s2: 'inactive' }, '… registered inactive: outside the ring');
  t.equal(c.snapshot().placementOf('acct-1_volume').shard.name, owner, 'no key is re-routed yet');
  await c.registerShard({ ...entry(2), port: 6000 }, ShardStatus.Active);
  t.same([c.snapshot().shard('s2')!.status, c.snapshot().shard('s2')!.port], ['active', 6000], 'registerShard sets address and status');
  await t.rejects(Resharder.syncShards(c, shards(0, 1)), /"s2" \(active\) missing from the config still hold keys.*DRAIN SHARD s2/);
  t.equal(statuses(c).s2, 'active', 'a refused list changes nothing');
  await c.setShardStatus('s2', ShardStatus.Inactive);
  t.same(await Resharder.syncShards(c, shards(0, 1)), [], 'an inactive shard may leave the list');
  t.same(await Resharder.syncShards(c, shards(0, 1, 2), shards(0, 1)), ['s2'], 'listed again (new to the config in effect), it comes back through addShards');
  t.equal(statuses(c).s2, 'inactive');
  t.same(await Resharder.syncShards(c, shards(0, 1, 2), shards(0, 1, 2)), [], 'a drained shard that stays listed is not new');
  t.equal(statuses(c).s2, 'inactive', '… and stays inactive (syncShards alone would make it active)');
}

t.test('SQLite', async (t) => {
  const c = new SqliteCatalog({ path: path.join(dir, 'catalog.db'), pollMs: 0 });
  await c.open();
  t.teardown(() => c.close());
  await behaves(t, c);
});

t.test('Postgres', async (t) => {
  const [cl] = await withClusters(t, 1, { users: [] });
  const c = new PostgresCatalog({ url: `postgres://${encodeURIComponent(cl!.user)}:${encodeURIComponent(cl!.password)}@${cl!.host}:${cl!.port}/app`, pollMs: 0 });
  await c.open();
  t.teardown(() => c.close());
  await behaves(t, c);
});
