// Owns: integration tests for the server identity (docs/server-identity.md): clients log in to a shard without a forced
// user as themselves, a shard's forced user, users[].server_user overrides, a pool per (shard, server user) in SHOW POOLS,
// and a wrong server password failing only its own client.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster, type TeardownCapable } from '../helpers/pg.js';
import { connectError, connected, startProxy, type PgError, type ProxyHandle } from '../helpers/proxy.js';

requirePostgres(t);

// the first role owns the database's public schema; `app` is granted the database but owns nothing
const OWNER = { name: 'owner', password: 'owner-secret' };
const APP = { name: 'app', password: 'app-secret' };
const BAD = { name: 'bad', password: 'bad-secret' };
const [cluster] = (await withClusters(t, 1, { users: [OWNER, APP, BAD] })) as [Cluster];
const ADMIN = { name: 'admin', password: 'admin-secret' };

{
  const c = new pg.Client({ host: cluster.host, port: cluster.port, user: OWNER.name, password: OWNER.password, database: 'app' });
  await c.connect();
  await c.query('create table owned_table (id int primary key)');
  await c.end();
}

/** Shards without a forced user (no shards[].user). */
function unforcedShards(c: Cluster): Record<string, unknown>[] {
  return [{ name: 's0', host: c.host, port: c.port, database: 'app' }];
}

const as = (user: { name: string; password: string }): pg.ClientConfig => ({ user: user.name, password: user.password });

async function currentUser(t: TeardownCapable, proxy: ProxyHandle, user: { name: string; password: string }): Promise<string> {
  const c = await connected(t, proxy, as(user));
  const r = await c.query<{ current_user: string; session_user: string }>('select current_user, session_user');
  await c.end();
  return r.rows[0]!.current_user;
}

async function showPools(t: TeardownCapable, proxy: ProxyHandle): Promise<Record<string, unknown>[]> {
  const admin = await connected(t, proxy, { ...as(ADMIN), database: 'prescient' });
  const r = await admin.query('SHOW POOLS');
  await admin.end();
  return r.rows as Record<string, unknown>[];
}

t.test('no forced user: each client runs as its own user, one pool per (shard, user)', async (t) => {
  const proxy = await startProxy(t, [cluster], {
    users: [OWNER, APP],
    shards: unforcedShards(cluster),
    admin: { users: [ADMIN] },
  });
  t.equal(await currentUser(t, proxy, APP), 'app', 'app runs as app');
  t.equal(await currentUser(t, proxy, OWNER), 'owner', 'owner runs as owner');

  const app = await connected(t, proxy, as(APP));
  const err = await app.query('drop table owned_table').then(() => null, (e: PgError) => e);
  t.equal(err?.code, '42501', `app cannot drop what it does not own: ${err?.message}`);
  await app.end();

  const owner = await connected(t, proxy, as(OWNER));
  const r = await owner.query("select count(*)::int as n from pg_tables where tablename = 'owned_table'");
  t.equal(r.rows[0].n, 1, 'the table survived');
  await owner.end();

  const pools = await showPools(t, proxy);
  t.same(pools.map((p) => `${p.shard}/${p.user}`).sort(), ['s0/app', 's0/owner'], 'SHOW POOLS: one pool per (shard, user)');
  t.ok(pools.every((p) => Number(p.server_total) >= 1), 'each pool opened its own server connection');
});

t.test('a forced shard user (today\'s config) runs every client as that user; users[].server_user overrides it', async (t) => {
  const ALIAS = { name: 'alias', password: 'alias-secret', server_user: OWNER.name, server_password: OWNER.password };
  const proxy = await startProxy(t, [cluster], {
    users: [APP, ALIAS],
    // the default test config: shards[].user is the cluster's superuser
    admin: { users: [ADMIN] },
  });
  t.equal(await currentUser(t, proxy, APP), cluster.user, 'app runs as the forced user');
  t.equal(await currentUser(t, proxy, { name: ALIAS.name, password: ALIAS.password }), 'owner', 'server_user wins over the forced user');
  const pools = await showPools(t, proxy);
  t.same(pools.map((p) => `${p.shard}/${p.user}`).sort(), [`s0/owner`, `s0/${cluster.user}`].sort(), 'one pool per server user');
});

t.test('users[].server_user on a shard without a forced user; a wrong server password fails only its own client', async (t) => {
  const ALIAS = { name: 'alias', password: 'alias-secret', server_user: OWNER.name, server_password: OWNER.password };
  // `bad` logs in to Prescient with its own password, but the server knows another
  const BAD_CLIENT = { name: BAD.name, password: 'client-side', server_password: 'not-the-server-password' };
  const proxy = await startProxy(t, [cluster], {
    users: [APP, ALIAS, BAD_CLIENT],
    shards: unforcedShards(cluster),
    admin: { users: [ADMIN] },
  });
  const app = await connected(t, proxy, as(APP));
  t.equal(await currentUser(t, proxy, { name: ALIAS.name, password: ALIAS.password }), 'owner', 'alias runs as owner');

  const err = await connectError(proxy, { user: BAD.name, password: BAD_CLIENT.password });
  t.equal(err.code, '28P01', `the server's refusal is passed on: ${err.message}`);
  t.match(err.message, /password authentication failed for user "bad"/, 'the message names the server user');

  const r = await app.query('select current_user');
  t.equal(r.rows[0].current_user, 'app', 'other clients are unaffected');
  t.equal(await currentUser(t, proxy, APP), 'app', 'and new ones log in');
  const pools = await showPools(t, proxy);
  const bad = pools.find((p) => p.user === 'bad');
  t.equal(Number(bad?.connect_failures), 1, 'the failure is counted on its own pool');
  await app.end();
});
