// Owns: the prescient schema on a real shard — idempotent install/upgrade, the generated per-table trigger functions, tablesFromConfig, and what the version triggers do per statement (INSERT/UPDATE/DELETE/TRUNCATE, rollback, savepoints, concurrency, hostile search_path).
import t from 'tap';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import {
  installShardSchema,
  quoteIdent,
  readVersions,
  SHARD_SCHEMA_VERSION,
  shardSchemaVersion,
  tablesFromConfig,
  VERSIONS_CHANNEL,
  type VersionedTable,
} from '../../proxy/versions/ShardSchema.js';
import { VersionsError, VersionsErrorCode } from '../../proxy/versions/VersionsError.js';
import { parseConfig } from '../../config/loadConfig.js';

requirePostgres(t);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WRITER = { name: 'writer', password: 'writer-secret' };

function connect(c: Cluster, user = { name: c.user, password: c.password }): Promise<pg.Client> {
  const client = new pg.Client({ host: c.host, port: c.port, database: 'app', user: user.name, password: user.password });
  client.on('error', () => {});
  return client.connect().then(() => client);
}

t.test('tablesFromConfig: domain tables, own-domain override tables, account column overrides', async (t) => {
  const config = parseConfig({
    database: 'app',
    users: [{ name: 'u', auth: 'trust' }],
    shards: [{ name: 's0', host: 'h', database: 'app', user: 'u' }],
    sharding: {
      account_column: 'account_id',
      tables: { volumes: { account_column: 'owner_id' }, 'public.volume_attachments': {}, regions: {} },
      domains: { volume: { tables: ['volumes', 'public.snapshots'], actions: ['CreateVolume'] }, audit: { tables: ['audit_log'] } },
      global_tables: ['regions'],
    },
  });
  t.same(tablesFromConfig(config), [
    { table: 'volumes', accountColumn: 'owner_id', domain: 'volume' },
    { table: 'public.snapshots', accountColumn: 'account_id', domain: 'volume' },
    { table: 'audit_log', accountColumn: 'account_id', domain: 'audit' },
    // outside every domain: its own domain, the unqualified name (as the router does); global tables are not versioned
    { table: 'public.volume_attachments', accountColumn: 'account_id', domain: 'volume_attachments' },
  ]);
});

t.test('versioned shard', async (t) => {
  const [c] = await withClusters(t, 1, { users: [WRITER] });
  const admin = await connect(c!);
  t.teardown(() => admin.end());
  await admin.query(`
    create table volumes (account_id bigint, id bigint, size_gib int, primary key (account_id, id));
    create schema billing;
    create table billing."Invoices" ("Account" text, id int);
    create view volume_view as select * from volumes;
    grant all on volumes, billing."Invoices" to writer;
    grant usage on schema billing to writer;
  `);
  const tables: VersionedTable[] = [
    { table: 'volumes', accountColumn: 'account_id', domain: 'volume' },
    { table: 'billing.Invoices', accountColumn: 'Account', domain: 'billing' },
    { table: 'public.missing', accountColumn: 'account_id', domain: 'missing' },
    { table: 'volume_view', accountColumn: 'account_id', domain: 'volume' },
  ];

  await t.test('install is idempotent and versioned; missing tables are skipped with a warning', async (t) => {
    t.equal(await shardSchemaVersion(admin), 0, 'nothing before install');
    const first = await installShardSchema(admin, tables);
    t.equal(first.installed, true);
    t.equal(first.schemaVersion, SHARD_SCHEMA_VERSION);
    t.equal(first.triggers, 8, 'four triggers on each of the two tables found');
    t.equal(first.changed, 8);
    t.equal(first.warnings.length, 2);
    t.match(first.warnings.join('\n'), /public\.missing does not exist/);
    t.match(first.warnings.join('\n'), /volume_view is not a table/);
    const names = (await admin.query(`select tgrelid::regclass::text as rel, tgname from pg_trigger where tgname like 'prescient_versions_%' order by 1, 2`)).rows;
    t.same(names.map((r) => `${r.rel}.${r.tgname}`), [
      'billing."Invoices".prescient_versions_delete',
      'billing."Invoices".prescient_versions_insert',
      'billing."Invoices".prescient_versions_truncate',
      'billing."Invoices".prescient_versions_update',
      'volumes.prescient_versions_delete',
      'volumes.prescient_versions_insert',
      'volumes.prescient_versions_truncate',
      'volumes.prescient_versions_update',
    ]);

    // each table's triggers call a function generated for that table (static SQL, no search_path of its own)
    const functions = async () =>
      (
        await admin.query(
          `select t.tgrelid::regclass::text as rel, count(*)::int as n, count(distinct t.tgfoid)::int as fns, min(p.proname) as fn,
                  bool_and(p.prosecdef and p.proconfig is null) as secdef_no_config
           from pg_trigger t join pg_proc p on p.oid = t.tgfoid where t.tgname like 'prescient_versions_%' group by 1 order by 1`,
        )
      ).rows;
    const generated = async () =>
      (await admin.query(`select count(*)::int as n from pg_proc where pronamespace = 'prescient'::regnamespace and proname ~ '^on_write_[0-9]+$'`)).rows[0].n;
    const volumesOid = (await admin.query(`select 'volumes'::regclass::oid::text as oid`)).rows[0].oid;
    const fns = await functions();
    t.same(fns.map((r) => [r.rel, r.n, r.fns, r.secdef_no_config]), [['billing."Invoices"', 4, 1, true], ['volumes', 4, 1, true]], 'one function per table');
    t.equal(fns[1].fn, `on_write_${volumesOid}`, 'named after the table oid');

    const again = await installShardSchema(admin, tables);
    t.same({ ...again, warnings: again.warnings.length }, { installed: false, schemaVersion: SHARD_SCHEMA_VERSION, triggers: 8, changed: 0, removed: 0, warnings: 2 }, 're-running is a no-op');
    t.equal(await shardSchemaVersion(admin), SHARD_SCHEMA_VERSION);
    t.equal((await admin.query('select count(*)::int as n from prescient.schema_version')).rows[0].n, 1, 'one schema_version row');

    // concurrent installers serialize on the advisory lock
    const others = await Promise.all([connect(c!), connect(c!)]);
    const rs = await Promise.all(others.map((o) => installShardSchema(o, tables)));
    await Promise.all(others.map((o) => o.end()));
    t.same(rs.map((r) => r.changed), [0, 0]);

    // a changed domain replaces that table's function and triggers; a table no longer listed loses them (prune), and
    // its generated function goes with them
    const changed = await installShardSchema(admin, [{ table: 'volumes', accountColumn: 'account_id', domain: 'vol' }]);
    t.same([changed.changed, changed.removed, changed.triggers], [4, 4, 4]);
    t.equal(await generated(), 1, 'the pruned table\'s function is dropped');
    t.match((await admin.query(`select prosrc from pg_proc where proname = $1`, [`on_write_${volumesOid}`])).rows[0].prosrc, /'_vol'/, 'the new domain is in the function');
    const restored = await installShardSchema(admin, tables);
    t.same([restored.changed, restored.removed, restored.triggers], [8, 0, 8]);
    t.equal(await generated(), 2);
    // a function edited behind the installer's back (or by another release) is put back, with its triggers
    await admin.query(`create or replace function prescient.on_write_${volumesOid}() returns trigger language plpgsql security definer as $$begin return null; end$$`);
    const repaired = await installShardSchema(admin, tables);
    t.same([repaired.changed, repaired.removed, repaired.triggers], [4, 0, 8], 'a differing function body is replaced');

    // a schema newer than this code: refuse (and change nothing)
    await admin.query('update prescient.schema_version set version = version + 1');
    await t.rejects(installShardSchema(admin, tables), { code: VersionsErrorCode.SchemaTooNew });
    await admin.query('update prescient.schema_version set version = version - 1');
    await t.rejects(installShardSchema(admin, [{ table: 'a.b.c', accountColumn: 'x', domain: 'd' }]), VersionsError);
    const noColumn = await installShardSchema(admin, [...tables, { table: 'billing.Invoices', accountColumn: 'Account', domain: 'billing' }]);
    t.equal(noColumn.changed, 0, 'the same table listed twice with the same settings is fine');
    const bad = await installShardSchema(admin, [{ table: 'volumes', accountColumn: 'owner', domain: 'volume' }], { prune: false });
    t.match(bad.warnings, [/volumes has no column owner/], 'a table without the account column is skipped, never given a failing trigger');
    t.equal(bad.changed, 0);
  });

  // every notification on the channel, as `key version`
  const listener = await connect(c!);
  t.teardown(() => listener.end());
  const notes: string[] = [];
  listener.on('notification', (n) => n.channel === VERSIONS_CHANNEL && notes.push(n.payload!));
  await listener.query(`listen ${VERSIONS_CHANNEL}`);
  const settle = async (): Promise<string[]> => {
    // a round trip on the listener after the writer's commit: notifications sent before it are in
    await sleep(50);
    await listener.query('select 1');
    return notes.splice(0);
  };
  const history = async (): Promise<string[]> =>
    (await admin.query('select shard_key, version from prescient.version_history order by id')).rows.map((r) => `${r.shard_key} ${r.version}`);
  const writer = await connect(c!, WRITER);
  t.teardown(() => writer.end());

  await t.test('INSERT: one bump per key per transaction; the writer needs no rights on the prescient schema', async (t) => {
    const h0 = (await history()).length;
    await writer.query('insert into volumes values (1, 1, 10), (1, 2, 10), (2, 1, 10), (1, 3, 10)');
    t.same((await settle()).sort(), ['1_volume 1', '2_volume 1'], 'four rows, two accounts → two notifications');
    t.same(Object.fromEntries(await readVersions(admin)), { '1_volume': 1, '2_volume': 1 });
    t.same((await history()).slice(h0), ['1_volume 1', '2_volume 1'], 'history in sorted key order');
    const txids = (await admin.query('select distinct txid from prescient.version_history')).rows;
    t.equal(txids.length, 1, 'both history rows carry the one writing transaction');
    await writer.query('insert into volumes values (2, 2, 10)');
    t.same(await settle(), ['2_volume 2']);
    await writer.query('insert into volumes select 3, g, 1 from generate_series(1, 1000) g');
    t.same(await settle(), ['3_volume 1'], 'a thousand rows of one account: one bump');
    await t.rejects(writer.query('select * from prescient.key_versions'), /permission denied/, 'writers cannot read or forge versions');
  });

  await t.test('UPDATE: the old and the new account both bump; an UPDATE touching no row bumps nothing', async (t) => {
    await writer.query('update volumes set size_gib = size_gib + 1 where account_id = 1');
    t.same(await settle(), ['1_volume 2']);
    await writer.query('update volumes set account_id = 4 where account_id = 2 and id = 1');
    t.same((await settle()).sort(), ['2_volume 3', '4_volume 1'], 'moving a row between accounts bumps both keys');
    await writer.query('update volumes set size_gib = 0 where account_id = 999');
    t.same(await settle(), [], 'no rows, no bump');
    await writer.query('update volumes set size_gib = 5 where account_id in (1, 3)');
    t.same((await settle()).sort(), ['1_volume 3', '3_volume 2']);
  });

  await t.test('DELETE', async (t) => {
    await writer.query('delete from volumes where account_id in (3, 4)');
    t.same((await settle()).sort(), ['3_volume 3', '4_volume 2']);
  });

  await t.test('rolled-back writes bump nothing and notify nothing', async (t) => {
    const before = Object.fromEntries(await readVersions(admin));
    const h0 = (await history()).length;
    await writer.query('begin');
    await writer.query('insert into volumes values (5, 1, 1)');
    await writer.query('update volumes set size_gib = 1 where account_id = 1');
    await writer.query('rollback');
    await writer.query('begin');
    await writer.query('savepoint s');
    await writer.query('delete from volumes where account_id = 2');
    await writer.query('rollback to savepoint s');
    await writer.query('commit');
    t.same(await settle(), []);
    t.same(Object.fromEntries(await readVersions(admin)), before);
    t.equal((await history()).length, h0);
    // keys written before a savepoint survive a rollback to it; those after it do not
    await writer.query('begin');
    await writer.query('update volumes set size_gib = 7 where account_id = 1');
    await writer.query('savepoint s');
    await writer.query('update volumes set size_gib = 7 where account_id = 2');
    await writer.query('rollback to savepoint s');
    await writer.query('commit');
    t.same(await settle(), [`1_volume ${Number(before['1_volume']) + 1}`], 'only the key written outside the rolled-back savepoint');
    // several statements in one committed transaction: one bump per key, notified at commit
    await writer.query('begin');
    await writer.query('insert into volumes values (5, 1, 1)');
    await writer.query('insert into volumes values (5, 2, 1)');
    await writer.query('update volumes set size_gib = 8 where account_id in (2, 5)');
    t.same(await settle(), [], 'nothing before commit');
    t.same(Object.fromEntries(await readVersions(admin, ['5_volume'])), {}, 'and nothing visible before commit');
    await writer.query('commit');
    t.same(await settle(), [`2_volume ${Number(before['2_volume']) + 1}`, '5_volume 1'], 'three statements, two keys: two bumps, in key order');
    t.equal((await admin.query('select count(*)::int as n from prescient.pending_bumps')).rows[0].n, 0, 'no pending keys left behind');
    // writes inside a released savepoint count (a key already pending, and a new one)
    await writer.query('begin');
    await writer.query('update volumes set size_gib = 9 where account_id = 1');
    await writer.query('savepoint s');
    await writer.query('update volumes set size_gib = 9 where account_id = 1');
    await writer.query('insert into volumes values (5, 3, 1)');
    await writer.query('release savepoint s');
    await writer.query('commit');
    t.same(await settle(), [`1_volume ${Number(before['1_volume']) + 2}`, '5_volume 2'], 'released savepoint: its keys count');
    // SET CONSTRAINTS ALL IMMEDIATE: the flush runs at the end of each statement (one bump per statement)
    await writer.query('begin');
    await writer.query('set constraints all immediate');
    await writer.query('update volumes set size_gib = 10 where account_id = 5');
    await writer.query('update volumes set size_gib = 11 where account_id = 5');
    await writer.query('commit');
    t.same(await settle(), ['5_volume 3', '5_volume 4'], 'immediate: one bump per statement');
    t.equal((await admin.query('select count(*)::int as n from prescient.pending_bumps')).rows[0].n, 0);
  });

  await t.test('a transaction that writes a key in two statements does not deadlock with a concurrent writer of the same key', async (t) => {
    // With a key lock taken per statement (schema v1) this deadlocks: T1 holds row 1 and key K, T2 holds row 2 and waits
    // for K, T1 then waits for row 2. Bumped at commit, T2 simply waits for row 2 like it would without the trigger.
    const [t1, t2] = await Promise.all([connect(c!, WRITER), connect(c!, WRITER)]);
    t.teardown(() => Promise.all([t1.end(), t2.end()]));
    await admin.query('insert into volumes values (20, 1, 0), (20, 2, 0)');
    await settle();
    const t2pid = (await t2.query('select pg_backend_pid() as pid')).rows[0].pid;
    await t1.query('begin');
    await t1.query('update volumes set size_gib = size_gib + 1 where account_id = 20 and id = 1');
    let t2done = false;
    const second = t2
      .query('update volumes set size_gib = size_gib + 1 where account_id = 20 and id = 2')
      .then(() => null, (e: Error) => e.message)
      .finally(() => (t2done = true));
    // T2 either finishes (no key lock in its way) or blocks on one (v1: T1 holds the key's row)
    for (let i = 0; i < 200 && !t2done; i++) {
      const w = await admin.query('select wait_event_type from pg_stat_activity where pid = $1', [t2pid]);
      if (w.rows[0]?.wait_event_type === 'Lock') break;
      await sleep(10);
    }
    t.ok(t2done, 'T2 was not blocked: T1 holds no key lock before its commit');
    const first = await t1.query('update volumes set size_gib = size_gib + 1 where account_id = 20 and id = 2').then(() => null, (e: Error) => e.message);
    await t1.query(first ? 'rollback' : 'commit');
    t.same([first, await second], [null, null], 'neither transaction fails (v1: one of them got "deadlock detected")');
    t.same(await settle(), ['20_volume 2', '20_volume 3'], 'T2, then T1: one bump each, in commit order');
  });

  await t.test('an upgrade from schema version 1 appends the steps, keeps versions and moves the triggers to a generated function', async (t) => {
    await admin.query('create database upgrade');
    const up = new pg.Client({ host: c!.host, port: c!.port, database: 'upgrade', user: c!.user, password: c!.password });
    await up.connect();
    t.teardown(() => up.end());
    await up.query('create table volumes (account_id bigint, id bigint)');
    const table = [{ table: 'volumes', accountColumn: 'account_id', domain: 'volume' }];
    const v1 = await installShardSchema(up, table, { upTo: 1 });
    t.same([v1.installed, v1.schemaVersion, v1.changed], [true, 1, 4]);
    await up.query('begin');
    await up.query('insert into volumes values (1, 1)');
    await up.query('insert into volumes values (1, 2)');
    await up.query('commit');
    t.same(Object.fromEntries(await readVersions(up)), { '1_volume': 2 }, 'version 1: one bump per statement');
    const v2 = await installShardSchema(up, table, { upTo: 2 });
    t.same([v2.installed, v2.schemaVersion, v2.changed, v2.triggers], [true, 2, 0, 4], 'version 2: upgraded in place; the triggers stay');
    await up.query('begin');
    await up.query('insert into volumes values (1, 10)');
    await up.query('insert into volumes values (1, 11)');
    await up.query('commit');
    t.same(Object.fromEntries(await readVersions(up)), { '1_volume': 3 }, 'version 2: one bump per transaction');
    await up.query('insert into volumes values (2, 1)');
    const v3 = await installShardSchema(up, table);
    t.same([v3.installed, v3.schemaVersion, v3.changed, v3.triggers], [true, SHARD_SCHEMA_VERSION, 4, 4], 'upgraded in place; the triggers now call the table\'s function');
    const fn = (await up.query(`select distinct p.proname from pg_trigger t join pg_proc p on p.oid = t.tgfoid where t.tgname like 'prescient_versions_%'`)).rows;
    t.same(fn.map((r) => r.proname), [`on_write_${(await up.query(`select 'volumes'::regclass::oid::text as oid`)).rows[0].oid}`]);
    t.same(Object.fromEntries(await readVersions(up)), { '1_volume': 3, '2_volume': 1 });
    await up.query('begin');
    await up.query('insert into volumes values (1, 3)');
    await up.query('insert into volumes values (1, 4)');
    await up.query('commit');
    t.same(Object.fromEntries(await readVersions(up)), { '1_volume': 4, '2_volume': 1 }, `version ${SHARD_SCHEMA_VERSION}: one bump per transaction, counting on from the old version`);
    t.equal(await shardSchemaVersion(up), SHARD_SCHEMA_VERSION);
    const again = await installShardSchema(up, table);
    t.same([again.installed, again.changed], [false, 0]);
  });

  await t.test('TRUNCATE bumps the domain key *_<domain>; quoted and schema-qualified names work', async (t) => {
    await writer.query(`insert into billing."Invoices" values ('acct_with_underscores', 1), ('O''Brien', 2), (null, 3)`);
    t.same((await settle()).sort(), ["O'Brien_billing 1", 'acct_with_underscores_billing 1'], 'a row with a NULL account has no key');
    await admin.query('truncate volumes');
    t.same(await settle(), ['*_volume 1'], 'TRUNCATE: every key of the domain is invalid');
    await admin.query('truncate volumes');
    t.same(await settle(), ['*_volume 2']);
    const v = await readVersions(admin, ['*_volume', '1_volume', 'nope']);
    t.same(Object.fromEntries(v), { '*_volume': 2, '1_volume': 5 }, 'readVersions(keys) returns only the keys that exist');
  });

  await t.test('COPY and INSERT … ON CONFLICT also bump', async (t) => {
    await pipeline(Readable.from(['6\t1\t1\n6\t2\t1\n']), admin.query(copyFrom('copy volumes from stdin')));
    t.same(await settle(), ['6_volume 1'], 'COPY FROM: one bump');
    await admin.query(`insert into volumes values (6, 1, 2), (7, 1, 1) on conflict (account_id, id) do update set size_gib = excluded.size_gib`);
    t.same((await settle()).sort(), ['6_volume 2', '7_volume 1'], 'the INSERT trigger sees the new row, the UPDATE trigger the updated one');
  });

  await t.test('concurrent multi-key writers in opposite key orders do not deadlock', async (t) => {
    const [a, b] = await Promise.all([connect(c!, WRITER), connect(c!, WRITER)]);
    t.teardown(() => Promise.all([a!.end(), b!.end()]));
    await admin.query(`insert into volumes select acc, g, 0 from unnest(array[11, 12]) acc, generate_series(1, 2) g`);
    const before = Object.fromEntries(await readVersions(admin, ['11_volume', '12_volume']));
    const N = 300;
    let errors = 0;
    const loop = async (client: pg.Client, first: number, second: number, base: number): Promise<void> => {
      for (let i = 0; i < N; i++) {
        try {
          // one statement, two keys, this client's own rows (no row conflicts: only the key rows are shared)
          await client.query('insert into volumes values ($1, $3, 1), ($2, $3, 1)', [first, second, base + i]);
          await client.query('update volumes set size_gib = size_gib + 1 where (account_id, id) in (($1, $3), ($2, $3))', [first, second, base === 1000 ? 1 : 2]);
        } catch (e) {
          errors++;
          t.fail(`iteration ${i}: ${(e as Error).message}`);
          return;
        }
      }
    };
    const t0 = Date.now();
    await Promise.all([loop(a!, 11, 12, 1000), loop(b!, 12, 11, 5000)]);
    t.equal(errors, 0, 'no deadlock (or any other error)');
    const after = Object.fromEntries(await readVersions(admin, ['11_volume', '12_volume']));
    t.equal(Number(after['11_volume']) - Number(before['11_volume']), 4 * N, 'every statement bumped each key exactly once');
    t.equal(Number(after['12_volume']) - Number(before['12_volume']), 4 * N);
    t.comment(`${4 * N} two-key statements from two clients in ${Date.now() - t0} ms`);
    notes.length = 0;
  });

  await t.test('generated functions: odd names are quoted; a writer\'s search_path cannot redirect them', async (t) => {
    await admin.query('create database odd');
    const oddAdmin = new pg.Client({ host: c!.host, port: c!.port, database: 'odd', user: c!.user, password: c!.password });
    await oddAdmin.connect();
    t.teardown(() => oddAdmin.end());
    const column = `acc$prescient$'\\"`;
    const domain = `d$prescient$'\\x`;
    await oddAdmin.query(`create table "we""ird" (${quoteIdent(column)} text, id int)`);
    await oddAdmin.query(`grant all on "we""ird" to writer; create schema evil authorization writer`);
    const odd = [{ table: 'we"ird', accountColumn: column, domain }];
    const first = await installShardSchema(oddAdmin, odd);
    t.same([first.changed, first.warnings], [4, []]);
    t.equal((await installShardSchema(oddAdmin, odd)).changed, 0, 'arguments and body read back equal: no change');

    // the writer shadows, in a schema searched before pg_catalog, what the trigger functions use
    const ow = new pg.Client({ host: c!.host, port: c!.port, database: 'odd', user: WRITER.name, password: WRITER.password });
    await ow.connect();
    t.teardown(() => ow.end());
    await ow.query(`
      create function evil.cardinality(anyarray) returns int language sql as 'select 0';
      create function evil.pg_notify(text, text) returns void language plpgsql as $$begin raise exception 'hijacked pg_notify'; end$$;
      create function evil.pg_current_xact_id() returns xid8 language plpgsql as $$begin raise exception 'hijacked pg_current_xact_id'; end$$;
      create function evil.now() returns timestamptz language plpgsql as $$begin raise exception 'hijacked now'; end$$;
      create function evil.never(text, text) returns boolean language sql as 'select false';
      create operator evil.= (leftarg = text, rightarg = text, function = evil.never);
      create function evil.forge(text, text) returns text language sql as $$select 'forged'$$;
      create operator evil.|| (leftarg = text, rightarg = text, function = evil.forge);
      set search_path = evil, pg_catalog, public;
    `);
    t.equal((await ow.query(`select 'a' || 'b' as x`)).rows[0].x, 'forged', 'the shadowing works for the writer\'s own SQL');
    await ow.query(`insert into "we""ird" values ('a', 1), ('b', 2)`);
    await ow.query('begin');
    await ow.query(`insert into "we""ird" values ('c', 3)`);
    await ow.query(`update "we""ird" set id = id + 1 where id = 3`);
    await ow.query('commit');
    await ow.query(`update "we""ird" set id = 5 where id = 1`);
    await ow.query(`truncate "we""ird"`);
    t.same(Object.fromEntries(await readVersions(oddAdmin)), {
      [`a_${domain}`]: 2,
      [`b_${domain}`]: 1,
      [`c_${domain}`]: 1,
      [`*_${domain}`]: 1,
    }, 'keys with the odd domain, one bump per key per transaction, nothing hijacked');
  });
});
