// Tests for config/schema.ts's `databases` and config/databaseConfig.ts: each database's effective settings (the top level's by default), the one-database form as its one entry, and the errors naming the path.
import t from 'tap';
import { ConfigError, parseConfig, anchorPaths } from '../../config/loadConfig.js';
import { databaseConfig, onlyDatabaseConfig } from '../../config/databaseConfig.js';
import { workerShare } from '../../proxy/workers/workerShare.js';

const users = [{ name: 'u', password: 'p' }];
const shard = (name: string): Record<string, unknown> => ({ name, host: 'h', database: 'd', user: 'x' });

t.test('each database has its own shards, and the top level pool (overridden key by key), sharding and catalog file', async (t) => {
  const c = parseConfig({
    users, pool: { size: 7 }, sharding: { account_column: 'tenant' },
    databases: {
      app: { shards: [shard('a0'), shard('a1')], pool: { mode: 'session' } },
      postgres: { shards: [shard('p0')], aliases: ['template1'], sharding: { global_tables: ['t'] }, catalog: { path: 'pg.db' } },
    },
  });
  t.same(Object.keys(c.databases), ['app', 'postgres']);
  const app = databaseConfig(c, 'app');
  const pg = databaseConfig(c, 'postgres');
  t.same([app.database, app.shards.map((s) => s.name), app.pool.mode, app.pool.size], ['app', ['a0', 'a1'], 'session', 7]);
  t.same([pg.database, pg.shards.map((s) => s.name), pg.pool.mode, pg.pool.size], ['postgres', ['p0'], 'transaction', 7]);
  t.equal(app.sharding.account_column, 'tenant', 'the top-level sharding by default');
  t.same([pg.sharding.account_column, pg.sharding.global_tables], ['account_id', ['t']], 'its own sharding, whole');
  t.same([app.sharding.global_shard, pg.sharding.global_shard], ['a0', 'p0'], 'global_shard: each database\'s first shard');
  t.same([app.catalog, pg.catalog], [{ path: 'prescient-app.db' }, { path: 'pg.db' }], 'a catalog file per database next to the top-level one');
  t.same(c.databases.postgres!.aliases, ['template1']);
  t.equal(c.database, 'app', 'the top level is the first database\'s view');
  const anchored = anchorPaths(c, '/etc/prescient');
  t.same([anchored.databases.app!.catalog.path, anchored.databases.postgres!.catalog.path], ['/etc/prescient/prescient-app.db', '/etc/prescient/pg.db']);
  const half = workerShare(c, 0, 2);
  t.same([half.databases.app!.pool.size, half.databases.postgres!.pool.size], [4, 4], 'workers split every database\'s pool');
  t.throws(() => databaseConfig(c, 'nope'), /no database "nope"/);
  t.throws(() => onlyDatabaseConfig(c, 'prescient versions install'), /prescient versions install works on a config with one database; this one has 2 \(app, postgres\)/, 'a one-database command refuses it');
});

t.test('the one-database form is the one entry of databases', async (t) => {
  const c = parseConfig({ users, database: 'app', shards: [shard('s0')], catalog: { path: 'own.db' } });
  t.same(Object.keys(c.databases), ['app']);
  const app = databaseConfig(c, 'app');
  t.same([app.shards, app.catalog, app.pool, app.sharding], [c.shards, { path: 'own.db' }, c.pool, c.sharding], 'the same settings, the catalog file unchanged');
  t.equal(onlyDatabaseConfig(c, 'x').database, 'app', 'a one-database command takes it');
});

const bad: { name: string; config: Record<string, unknown>; issues: string[] }[] = [
  { name: 'both forms', config: { users, database: 'x', databases: { a: { shards: [shard('a')] } } }, issues: ['database: give either'] },
  { name: 'neither form', config: { users }, issues: ['database: required', 'shards: required'] },
  { name: 'no database', config: { users, databases: {} }, issues: ['databases: at least one'] },
  { name: 'the admin database\'s name', config: { users, databases: { prescient: { shards: [shard('a')] } } }, issues: ['databases.prescient: "prescient" is the admin console\'s database'] },
  { name: 'an alias taken', config: { users, databases: { a: { shards: [shard('a')], aliases: ['b'] }, b: { shards: [shard('b')] } } }, issues: ['databases.b: "b" is already a name of database "a"'] },
  { name: 'a catalog shared', config: { users, databases: { a: { shards: [shard('a')], catalog: { path: 'x.db' } }, b: { shards: [shard('b')], catalog: { path: 'x.db' } } } }, issues: ['databases.b.catalog: databases "a" and "b" would share'] },
  { name: 'a Postgres catalog at the top level', config: { users, catalog: { url: 'postgres://h/c' }, databases: { a: { shards: [shard('a')] } } }, issues: ['databases.a.catalog: required'] },
  { name: 'errors inside an entry', config: { users, databases: { a: { shards: [shard('a')], sharding: { global_shard: 'zz' } }, b: { shards: [shard('b')], pool: { sise: 3 } } } }, issues: ['databases.b.pool.sise: unknown key', 'databases.a.sharding.global_shard: "zz" is not a configured shard (database "a")'] },
  { name: 'a top-level rule wrong for a database', config: { users, sharding: { global_shard: 'a' }, databases: { a: { shards: [shard('a')] }, b: { shards: [shard('b')] } } }, issues: ['sharding.global_shard: "a" is not a configured shard (database "b")'] },
  { name: 'one action log folder for two', config: { users, action_log: { enabled: true }, databases: { a: { shards: [shard('a')] }, b: { shards: [shard('b')] } } }, issues: ['action_log.dir: databases "a" and "b" would write their action logs to the same dir'] },
  { name: 'a shard without database', config: { users, databases: { a: { shards: [{ name: 'a', host: 'h' }] } } }, issues: ['databases.a.shards[0].database:'] },
];

t.test('bad databases configs name the path', async (t) => {
  for (const b of bad) {
    try {
      parseConfig(b.config);
      t.fail(`${b.name}: parsed`);
    } catch (e) {
      t.ok(e instanceof ConfigError, `${b.name}: ConfigError`);
      for (const want of b.issues) t.ok((e as ConfigError).issues.some((i) => i.startsWith(want)), `${b.name}: ${want}`, { issues: (e as ConfigError).issues });
    }
  }
});
