// Tests for the sharding, admin, catalog and plugins keys of config/schema.ts: defaults keep old configs valid, the
// full example parses, and each bad case throws ConfigError naming the field path (and, for conflicts, both owners).
import t from 'tap';
import { ConfigError, parseConfig } from '../../config/loadConfig.js';

function base(): Record<string, any> {
  return {
    database: 'app',
    users: [{ name: 'app', password: 'app-secret' }],
    shards: [
      { name: 's0', host: '127.0.0.1', port: 5432, database: 'app', user: 'postgres' },
      { name: 's1', host: '127.0.0.1', port: 5433, database: 'app', user: 'postgres' },
    ],
  };
}

const FULL = {
  admin: { users: [{ name: 'admin', password: 'admin-secret' }] },
  sharding: {
    account_column: 'account_id',
    tables: { volumes: { account_column: 'owner_id' } },
    domains: {
      volume: { tables: ['volumes', 'volume_attachments'], actions: ['CreateVolume', 'DescribeVolumes', 'AttachVolume', 'DeleteVolume'] },
      snapshot: { tables: ['snapshots'], actions: ['CreateSnapshot'] },
    },
    global_tables: ['regions'],
    global_shard: 's1',
    no_key: { reads: 'global', writes: 'global' },
    strict: true,
  },
  catalog: { url: 'postgres://catalog@localhost/prescient' },
  plugins: [{ name: 'sqlcommenter' }, { module: './my-plugin.js', options: { a: 1 } }],
};

t.test('defaults: a config without the new keys stays valid', async (t) => {
  const c = parseConfig(base());
  t.same(c.admin, { users: [] });
  t.same(c.sharding, {
    account_column: 'account_id', tables: {}, domains: {}, global_tables: [], global_shard: 's0',
    no_key: { reads: 'fanout', writes: 'reject' }, strict: false, action_rules: [], key_plugins: ['sqlcommenter', 'column-rules'],
  });
  t.same(c.catalog, { path: 'prescient.db' });
  t.same(c.plugins, []);
});

t.test('the full example parses', async (t) => {
  const c = parseConfig({ ...base(), ...FULL });
  t.equal(c.sharding.global_shard, 's1');
  t.equal(c.sharding.tables.volumes?.account_column, 'owner_id');
  t.same(c.sharding.domains.volume?.tables, ['volumes', 'volume_attachments']);
  t.same(c.sharding.domains.snapshot?.actions, ['CreateSnapshot']);
  t.same(c.sharding.no_key, { reads: 'global', writes: 'global' });
  t.equal(c.sharding.strict, true);
  t.same(c.catalog, { url: 'postgres://catalog@localhost/prescient' });
  t.same(c.plugins, [{ name: 'sqlcommenter' }, { module: './my-plugin.js', options: { a: 1 } }]);
  t.same(c.admin.users, [{ name: 'admin', password: 'admin-secret' }]);
});

t.test('partial keys get the remaining defaults', async (t) => {
  const c = parseConfig({ ...base(), sharding: { domains: { v: { tables: ['volumes'] } }, no_key: { reads: 'reject' } } });
  t.same(c.sharding.domains.v, { tables: ['volumes'], actions: [] });
  t.same(c.sharding.no_key, { reads: 'reject', writes: 'reject' });
  t.equal(c.sharding.global_shard, 's0');
});

const bad: { name: string; patch: Record<string, any>; names: string[] }[] = [
  {
    name: 'table in two domains',
    patch: { sharding: { domains: { volume: { tables: ['volumes'] }, snapshot: { tables: ['snapshots', 'volumes'] } } } },
    names: ['sharding.domains.snapshot.tables[1]:', '"volumes"', '"volume"', '"snapshot"'],
  },
  {
    name: 'action in two domains',
    patch: { sharding: { domains: { volume: { actions: ['CreateVolume'] }, snapshot: { actions: ['CreateVolume'] } } } },
    names: ['sharding.domains.snapshot.actions[0]:', '"CreateVolume"', '"volume"', '"snapshot"'],
  },
  {
    name: 'global_shard not a shard',
    patch: { sharding: { global_shard: 's9' } },
    names: ['sharding.global_shard:', '"s9"'],
  },
  {
    name: 'table both global and in a domain',
    patch: { sharding: { global_tables: ['regions', 'volumes'], domains: { volume: { tables: ['volumes'] } } } },
    names: ['sharding.global_tables[1]:', '"volumes"', '"volume"'],
  },
  { name: 'catalog with neither', patch: { catalog: {} }, names: ['catalog:', 'exactly one'] },
  { name: 'catalog with both', patch: { catalog: { path: 'x.db', url: 'postgres://h/db' } }, names: ['catalog:', 'exactly one'] },
  { name: 'catalog url not postgres', patch: { catalog: { url: 'mysql://h/db' } }, names: ['catalog.url:'] },
  { name: 'catalog unknown key', patch: { catalog: { path: 'x.db', file: 'y' } }, names: ['catalog.file: unknown key'] },
  { name: 'no_key.reads bad', patch: { sharding: { no_key: { reads: 'guess' } } }, names: ['sharding.no_key.reads:'] },
  { name: 'no_key.writes fanout', patch: { sharding: { no_key: { writes: 'fanout' } } }, names: ['sharding.no_key.writes:'] },
  { name: 'strict not boolean', patch: { sharding: { strict: 'yes' } }, names: ['sharding.strict:'] },
  { name: 'account_column empty', patch: { sharding: { account_column: '' } }, names: ['sharding.account_column:'] },
  { name: 'table override unknown key', patch: { sharding: { tables: { volumes: { column: 'x' } } } }, names: ['sharding.tables.volumes.column: unknown key'] },
  { name: 'domain unknown key', patch: { sharding: { domains: { v: { table: ['x'] } } } }, names: ['sharding.domains.v.table: unknown key'] },
  { name: 'sharding unknown key', patch: { sharding: { acount_column: 'x' } }, names: ['sharding.acount_column: unknown key'] },
  { name: 'plugin with neither name nor module', patch: { plugins: [{ options: {} }] }, names: ['plugins[0]:', 'exactly one'] },
  { name: 'plugin with both', patch: { plugins: [{ name: 'a' }, { name: 'b', module: './b.js' }] }, names: ['plugins[1]:'] },
  { name: 'plugin unknown key', patch: { plugins: [{ name: 'a', opts: {} }] }, names: ['plugins[0].opts: unknown key'] },
  { name: 'admin user without password', patch: { admin: { users: [{ name: 'admin' }] } }, names: ['admin.users[0].password:'] },
];

for (const c of bad) {
  t.test(`bad: ${c.name}`, async (t) => {
    const raw = { ...base(), ...c.patch };
    try {
      parseConfig(raw);
      t.fail('did not throw');
    } catch (e) {
      t.type(e, ConfigError);
      const msg = (e as Error).message;
      for (const n of c.names) t.ok(msg.includes(n), `names ${n}`, { message: msg });
    }
  });
}

t.test('one error per conflict, all reported together', async (t) => {
  try {
    parseConfig({
      ...base(),
      sharding: { global_shard: 'nope', global_tables: ['t'], domains: { a: { tables: ['t'] }, b: { tables: ['t'] } } },
    });
    t.fail('did not throw');
  } catch (e) {
    const issues = (e as ConfigError).issues;
    t.equal(issues.filter((i) => i.startsWith('sharding.domains.b.tables[0]:')).length, 1);
    t.equal(issues.filter((i) => i.startsWith('sharding.global_tables[0]:')).length, 1);
    t.equal(issues.filter((i) => i.startsWith('sharding.global_shard:')).length, 1);
  }
});

t.test('admin users: password required unless they authenticate by trust', async (t) => {
  const c = parseConfig({ ...base(), admin: { users: [{ name: 'ops', auth: 'trust' }, { name: 'admin', password: 's', auth: 'md5' }] } });
  t.same(c.admin.users, [{ name: 'ops', auth: 'trust' }, { name: 'admin', password: 's', auth: 'md5' }]);
  t.throws(() => parseConfig({ ...base(), admin: { users: [{ name: 'a', auth: 'md5' }] } }), /admin\.users\[0\]\.password:/);
});
