// Owns: ADD SHARD and DRAIN SHARD as users run them, on real clusters while clients write: a third shard takes exactly
// the keys whose rendezvous owner became it; a drained shard gives all its keys to their owners among the rest and
// ends inactive; every tenant's rows are whole on exactly the shard its placement names; no client error, no write
// lost; RELOAD refuses a config that would strand a shard's keys; DRAIN SHARD refuses the global shard, ADD SHARD a
// shard that has rows already; a RELOAD whose
// config brings a drained shard back takes the same path as ADD SHARD.
import t, { type Test } from 'tap';
import pg from 'pg';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { requirePostgres, directQuery, withClusters, type Cluster } from '../helpers/pg.js';
import { connected, startProxy } from '../helpers/proxy.js';
import { ShardRing } from '../../proxy/catalog/ShardRing.js';

requirePostgres(t);

const clusters = await withClusters(t, 3);
for (const c of clusters) {
  await directQuery(c, `create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id));
    create table notes (account_id text not null, body text not null)`);
}
const ADMIN = { name: 'admin', password: 'admin-secret' };
// two shards configured (s0, s1); the third cluster becomes s2 through ADD SHARD
const proxy = await startProxy(t, clusters.slice(0, 2), {
  admin: { users: [ADMIN] },
  pool: { mode: 'transaction', size: 6, queue_timeout_ms: 20000 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes', 'notes'] } } },
  shard_manager: { fence_timeout_ms: 5000, max_concurrent_moves: 2 },
});
const admin = await connected(t, proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
const console_ = (sql: string): Promise<pg.QueryResult> => admin.query({ text: sql, queryMode: 'simple' } as pg.QueryConfig);
const clusterOf = (shard: string): Cluster => clusters[Number(shard.slice(1))]!;

const TENANTS = Array.from({ length: 30 }, (_, i) => `acct-${i}`);
/** every acknowledged write per tenant: volumes sizes and notes bodies */
const sizes = new Map<string, number[]>(TENANTS.map((a) => [a, []]));
const bodies = new Map<string, string[]>(TENANTS.map((a) => [a, []]));

const placementOf = async (account: string): Promise<{ shard: string; placement: string }> =>
  (await console_(`SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE 'volumes'`)).rows[0];

/** Two clients write to every tenant in turn (autocommit, and two-statement transactions) until `stop()`. */
function writers(tag: number): { stop(): Promise<{ errors: number; writes: number }> } {
  let stop = false;
  let errors = 0;
  let writes = 0;
  const auto = (async () => {
    const w = await connected(t, proxy);
    for (let k = 0; !stop; k++) {
      const a = TENANTS[k % TENANTS.length]!;
      const size = tag * 1_000_000 + k;
      try {
        await w.query(`insert into volumes (account_id, size) values ('${a}', ${size})`);
        sizes.get(a)!.push(size);
        writes++;
      } catch {
        errors++;
      }
    }
  })();
  const tx = (async () => {
    const w = await connected(t, proxy);
    for (let k = 0; !stop; k++) {
      const a = TENANTS[(k * 7) % TENANTS.length]!;
      const size = tag * 1_000_000 + 500_000 + k;
      try {
        await w.query('begin');
        await w.query(`insert into volumes (account_id, size) values ('${a}', ${size})`);
        await w.query(`insert into notes (account_id, body) values ('${a}', 'n${size}')`);
        await w.query('commit');
        sizes.get(a)!.push(size);
        bodies.get(a)!.push(`n${size}`);
        writes++;
      } catch {
        errors++;
        await w.query('rollback').catch(() => {});
      }
    }
  })();
  return {
    async stop() {
      stop = true;
      await Promise.all([auto, tx]);
      return { errors, writes };
    },
  };
}

/** Polls SHOW RESHARDS until operation `id` has finished; its row. */
async function finished(id: number): Promise<Record<string, string>> {
  for (;;) {
    const r = (await console_('SHOW RESHARDS')).rows.find((x) => Number(x.id) === id);
    if (r.state !== 'pinning' && r.state !== 'moving') return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Every tenant's rows, counted on each cluster directly: all of them on the shard its placement names, none elsewhere. */
async function checkRows(t: Test, shards: string[]): Promise<void> {
  const on = await Promise.all(clusters.map(async (c) => ({
    volumes: (await directQuery<{ a: string; s: number[] }>(c, 'select account_id as a, array_agg(size order by size) as s from volumes group by 1')).rows,
    notes: (await directQuery<{ a: string; b: string[] }>(c, 'select account_id as a, array_agg(body order by body) as b from notes group by 1')).rows,
  })));
  let whole = 0;
  for (const a of TENANTS) {
    const { shard } = await placementOf(a);
    t.ok(shards.includes(shard), `${a} is placed on an active shard (${shard})`);
    const home = Number(shard.slice(1));
    const wantSizes = [...sizes.get(a)!].sort((x, y) => x - y);
    const wantBodies = [...bodies.get(a)!].sort();
    on.forEach((c, i) => {
      const v = c.volumes.find((r) => r.a === a)?.s ?? [];
      const n = c.notes.find((r) => r.a === a)?.b ?? [];
      if (i === home) {
        if (JSON.stringify(v) === JSON.stringify(wantSizes) && JSON.stringify(n) === JSON.stringify(wantBodies)) whole++;
        else t.fail(`${a} on ${shard}: ${v.length} volumes and ${n.length} notes, want ${wantSizes.length} and ${wantBodies.length}`);
      } else if (v.length + n.length > 0) t.fail(`${a} has ${v.length + n.length} rows on s${i} besides its shard ${shard}`);
    });
  }
  t.equal(whole, TENANTS.length, 'every tenant whole (every acknowledged write once) on its shard, nothing elsewhere');
}

// the tenants' first rows, through Prescient
const seed = await connected(t, proxy);
for (const a of TENANTS) {
  for (let k = 0; k < 5; k++) {
    await seed.query(`insert into volumes (account_id, size) values ('${a}', ${-1 - k})`);
    sizes.get(a)!.push(-1 - k);
  }
  await seed.query(`insert into notes (account_id, body) values ('${a}', 'first')`);
  bodies.get(a)!.push('first');
}

t.test('ADD SHARD moves exactly the keys the new shard wins, while clients write', async (t) => {
  const before = new ShardRing(['s0', 's1']);
  const after = new ShardRing(['s0', 's1', 's2']);
  const changed = TENANTS.map((a) => `${a}_volume`).filter((k) => after.ownerName(k) !== before.ownerName(k));
  t.ok(changed.length > 1 && changed.every((k) => after.ownerName(k) === 's2'), `${changed.length} of 30 keys change owner, all to s2`);
  // one of them is placed explicitly (moved to the other shard): it is left where it is placed
  const pinned = changed[0]!.replace(/_volume$/, '');
  const other = before.ownerName(changed[0]!) === 's0' ? 's1' : 's0';
  t.equal((await console_(`MIGRATE ACCOUNT '${pinned}' DOMAIN 'volume' TO ${other}`)).rows[0].state, 'done');
  const predicted = changed.slice(1);
  const movesBefore = (await console_('SHOW MIGRATIONS')).rows.length;
  const w = writers(1);
  await new Promise((r) => setTimeout(r, 200));
  const c = clusters[2]!;
  const added = await console_(`ADD SHARD s2 HOST '${c.host}' PORT ${c.port} DATABASE app USER '${c.user}' PASSWORD '${c.password}'`);
  t.equal(added.rows[0].kind, 'add');
  t.equal(Number(added.rows[0].keys), predicted.length, 'ADD SHARD answers how many keys will move: the prediction');
  const done = await finished(Number(added.rows[0].id));
  await new Promise((r) => setTimeout(r, 200));
  const written = await w.stop();
  t.equal(written.errors, 0, 'no client error during the change');
  t.ok(written.writes > 30, `${written.writes} writes acknowledged during the change`);
  t.equal(done.state, 'done', `the reshard finished: ${done.error ?? ''}`);
  t.equal(Number(done.moved), predicted.length);
  const moves = (await console_('SHOW MIGRATIONS')).rows.slice(movesBefore);
  t.same(moves.map((m) => m.key).sort(), [...predicted].sort(), 'the keys moved are exactly the hashed ones whose owner changed');
  t.ok(moves.every((m) => m.state === 'done' && m.to === 's2'), 'each moved to s2');
  for (const a of TENANTS) {
    const p = await placementOf(a);
    if (a === pinned) t.same([p.shard, p.placement], [other, 'explicit'], `${a}: placed explicitly, left on ${other}`);
    else t.equal(p.placement, 'hash', `${a}: no pin left, the hash places it`);
  }
  const shards = (await console_('SHOW SHARDS')).rows.map((r) => [r.name, r.status]);
  t.same(shards, [['s0', 'active'], ['s1', 'active'], ['s2', 'active']]);
  await checkRows(t, ['s0', 's1', 's2']);
});

t.test('DRAIN SHARD moves all its keys to their owners among the rest, then marks it inactive', async (t) => {
  const rest = new ShardRing(['s0', 's2']);
  // a tenant hashed to s0 placed on s1 explicitly: an explicit key on the drained shard moves too
  const guest = (await Promise.all(TENANTS.map(async (a) => [a, await placementOf(a)] as const))).find(([, p]) => p.shard === 's0' && p.placement === 'hash')![0];
  t.equal((await console_(`MIGRATE ACCOUNT '${guest}' DOMAIN 'volume' TO s1`)).rows[0].state, 'done');
  t.equal((await placementOf(guest)).placement, 'explicit');
  const onS1 = [];
  for (const a of TENANTS) if ((await placementOf(a)).shard === 's1') onS1.push(a);
  t.ok(onS1.length > 0, `${onS1.length} tenants on s1`);
  const movesBefore = (await console_('SHOW MIGRATIONS')).rows.length;
  const w = writers(2);
  await new Promise((r) => setTimeout(r, 200));
  const drained = await console_('DRAIN SHARD s1');
  t.equal(Number(drained.rows[0].keys), onS1.length, 'every key of s1 is to move');
  const done = await finished(Number(drained.rows[0].id));
  await new Promise((r) => setTimeout(r, 200));
  const written = await w.stop();
  t.equal(written.errors, 0, 'no client error during the drain');
  t.ok(written.writes > 30, `${written.writes} writes acknowledged during the drain`);
  t.equal(done.state, 'done', `the drain finished: ${done.error ?? ''}`);
  const status = Object.fromEntries((await console_('SHOW SHARDS')).rows.map((r) => [r.name, r.status]));
  t.same(status, { s0: 'active', s1: 'inactive', s2: 'active' }, 's1 ends inactive');
  const moves = (await console_('SHOW MIGRATIONS')).rows.slice(movesBefore);
  t.same(moves.map((m) => m.key).sort(), onS1.map((a) => `${a}_volume`).sort(), 'only the keys of s1 moved');
  for (const a of onS1) {
    const p = await placementOf(a);
    t.same([p.shard, p.placement], [rest.ownerName(`${a}_volume`), 'hash'], `${a} went to its owner among s0, s2`);
  }
  await checkRows(t, ['s0', 's2']);
});

t.test('refusals: a RELOAD that would strand a shard, draining the global shard', async (t) => {
  // the config file lists s0 and s1 only; s2 (added on the console) holds keys
  const reload = await console_('RELOAD').catch((e: Error) => e);
  t.match((reload as Error).message, /"s2" \(active\) missing from the config still hold keys.*DRAIN SHARD s2/);
  t.equal(Object.fromEntries((await console_('SHOW SHARDS')).rows.map((r) => [r.name, r.status])).s2, 'active', 'nothing changed');
  const global = await console_('DRAIN SHARD s0').catch((e: Error) => e);
  t.match((global as Error).message, /holds the global tables/);
  const again = await console_(`ADD SHARD s2 HOST '127.0.0.1' PORT 1 DATABASE app USER x`).catch((e: Error) => e);
  t.match((again as Error).message, /"s2" is active already/);
  const syntax = await console_('ADD SHARD s9 HOST h PORT 5432').catch((e: Error) => e);
  t.match((syntax as Error).message, /usage: ADD SHARD name HOST/);
  // a shard with rows already (here: s0's own cluster) stays out of the ring
  const c = clusters[0]!;
  const full = await console_(`ADD SHARD s3 HOST '${c.host}' PORT ${c.port} DATABASE app USER '${c.user}' PASSWORD '${c.password}'`).catch((e: Error) => e);
  t.match((full as Error).message, /shard "s3" already has rows of \d+ key\(s\)/);
  t.equal(Object.fromEntries((await console_('SHOW SHARDS')).rows.map((r) => [r.name, r.status])).s3, 'inactive', 's3 stays inactive');
});

t.test('RELOAD: a drained shard leaves the config, then comes back as ADD SHARD brings a shard in', async (t) => {
  const cfg = parse(readFileSync(proxy.configPath, 'utf8'));
  const c = clusters[2]!;
  const s1 = cfg.shards.find((s: { name: string }) => s.name === 's1');
  cfg.shards = [cfg.shards.find((s: { name: string }) => s.name === 's0'), { name: 's2', host: c.host, port: c.port, database: 'app', user: c.user, password: c.password }];
  writeFileSync(proxy.configPath, stringify(cfg));
  t.match((await console_('RELOAD')).rows[0].reload, /^RELOAD: 2 shard\(s\), epoch \d+$/, 'the drained s1 (inactive) may leave the config');
  cfg.shards.splice(1, 0, s1);
  writeFileSync(proxy.configPath, stringify(cfg));
  const back = new ShardRing(['s0', 's1', 's2']);
  const predicted = TENANTS.filter((a) => back.ownerName(`${a}_volume`) === 's1');
  const movesBefore = (await console_('SHOW MIGRATIONS')).rows.length;
  const w = writers(3);
  const r = await console_('RELOAD');
  t.match(r.rows[0].reload, new RegExp(`add shard s1: ${predicted.length} key\\(s\\) to move`), r.rows[0].reload);
  const op = (await console_('SHOW RESHARDS')).rows.at(-1);
  const done = await finished(Number(op.id));
  const written = await w.stop();
  t.equal(written.errors, 0, 'no client error during the reload');
  t.equal(done.state, 'done', `the reshard finished: ${done.error ?? ''}`);
  const moves = (await console_('SHOW MIGRATIONS')).rows.slice(movesBefore);
  t.same(moves.map((m) => m.key).sort(), predicted.map((a) => `${a}_volume`).sort(), 'exactly the keys s1 wins back moved');
  t.same(Object.fromEntries((await console_('SHOW SHARDS')).rows.map((x) => [x.name, x.status])), { s0: 'active', s1: 'active', s2: 'active', s3: 'inactive' });
  await checkRows(t, ['s0', 's1', 's2']);
});
