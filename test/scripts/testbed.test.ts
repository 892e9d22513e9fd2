// Owns: tests for scripts/testbed.ts (throwaway Postgres clusters) and test/helpers/pg.ts.
import t from 'tap';
import pg from 'pg';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isPidAlive } from '../../scripts/testbed.js';
import { requirePostgres, connOf, pgbench, psql, startClusters, stopClusters, withClusters } from '../helpers/pg.js';

requirePostgres(t);

const alice = { name: 'alice', password: "al'ice pw" };

async function query<T extends pg.QueryResultRow>(
  conn: { host: string; port: number; user: string; password: string; database: string },
  sql: string,
): Promise<T[]> {
  const client = new pg.Client({ ...conn, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

t.test('two scram clusters: distinct servers, extra user can create tables, stop kills them', async (t) => {
  const started = Date.now();
  const clusters = await startClusters(2, { users: [alice], databases: ['app', 'other'] });
  t.comment(`started 2 clusters in ${Date.now() - started} ms`);
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await stopClusters(clusters);
  });

  t.equal(clusters.length, 2);
  const [a, b] = clusters as [(typeof clusters)[0], (typeof clusters)[0]];
  t.not(a.port, b.port, 'different ports');
  t.not(a.pid, b.pid, 'different postmasters');
  t.not(a.dataDir, b.dataDir, 'different data dirs');

  for (const c of clusters) {
    t.equal(c.host, '127.0.0.1');
    t.equal(c.user, 'postgres');
    t.ok(isPidAlive(c.pid), `${c.name} postmaster ${c.pid} alive`);

    const su = await query<{ port: number; super: string; enc: string }>(
      { host: c.host, port: c.port, user: c.user, password: c.password, database: 'app' },
      `select inet_server_port() as port, current_setting('is_superuser') as super, current_setting('password_encryption') as enc`,
    );
    t.equal(su[0]!.port, c.port, `${c.name}: inet_server_port() matches`);
    t.equal(su[0]!.super, 'on', `${c.name}: postgres is superuser`);
    t.equal(su[0]!.enc, 'scram-sha-256');

    const conn = { host: c.host, port: c.port, user: alice.name, password: alice.password, database: 'app' };
    await query(conn, `create table widgets (id int primary key, name text)`);
    await query(conn, `insert into widgets values (1, '${c.name}')`);
    const rows = await query<{ name: string; who: string }>(conn, `select name, current_user as who from widgets`);
    t.same(rows, [{ name: c.name, who: 'alice' }], `${c.name}: alice created and used a table`);
    await query({ ...conn, database: 'other' }, `create table t (x int)`);

    // wrong password is rejected (auth really is enforced over TCP)
    await t.rejects(query({ ...conn, password: 'nope' }, 'select 1'), /password authentication failed/);
  }

  // the psql helper against the real binary
  const r = await psql(['-At', '-c', 'select current_user, inet_server_port()'], connOf(a, alice));
  t.equal(r.code, 0, 'psql exit 0');
  t.equal(r.stdout.trim(), `alice|${a.port}`);
  const bad = await psql(['-c', 'select * from no_such_table'], connOf(b));
  t.not(bad.code, 0, 'psql fails on error (ON_ERROR_STOP)');
  t.match(bad.stderr, /no_such_table/);
  const viaStdin = await psql(['-At', '-f', '-'], { ...connOf(b), input: 'select 40 + 2;\n' });
  t.equal(viaStdin.stdout.trim(), '42', 'psql input via stdin');

  // pgbench helper: tiny init + a couple of transactions
  const init = await pgbench(['-i', '-s', '1', '-q'], connOf(b));
  t.equal(init.code, 0, 'pgbench -i ok', { stderr: init.stderr });
  const run = await pgbench(['-c', '2', '-t', '5', '-S', '-n'], connOf(b));
  t.equal(run.code, 0, 'pgbench run ok', { stderr: run.stderr });
  t.match(run.stdout, /number of transactions actually processed: 10/);

  const pids = clusters.map((c) => c.pid);
  const dirs = clusters.map((c) => c.dataDir);
  await stopClusters(clusters);
  stopped = true;
  for (const pid of pids) t.notOk(isPidAlive(pid), `postmaster ${pid} gone`);
  for (const d of dirs) t.notOk(existsSync(d), `${d} removed`);
});

t.test('md5 auth cluster via withClusters', async (t) => {
  const started = Date.now();
  const [c] = await withClusters(t, 1, { auth: 'md5', users: [alice] });
  t.comment(`started 1 cluster in ${Date.now() - started} ms`);
  const cl = c!;
  const rows = await query<{ enc: string; pw: string }>(
    { host: cl.host, port: cl.port, user: 'postgres', password: cl.password, database: 'app' },
    `select current_setting('password_encryption') as enc,
            (select left(rolpassword, 3) from pg_authid where rolname = 'alice') as pw`,
  );
  t.same(rows, [{ enc: 'md5', pw: 'md5' }], 'passwords stored as md5');
  const su = await query<{ pw: string }>(
    { host: cl.host, port: cl.port, user: 'postgres', password: cl.password, database: 'app' },
    `select left(rolpassword, 3) as pw from pg_authid where rolname = 'postgres'`,
  );
  t.equal(su[0]!.pw, 'md5', 'superuser password stored as md5');

  const conn = { host: cl.host, port: cl.port, user: alice.name, password: alice.password, database: 'app' };
  await query(conn, 'create table m (x int)');
  const r = await query<{ n: string }>(conn, 'select count(*)::text as n from m');
  t.same(r, [{ n: '0' }]);
  await t.rejects(query({ ...conn, password: 'wrong' }, 'select 1'), /password authentication failed/);
});

t.test('failed start leaves nothing behind', async (t) => {
  // A private parent dir (opts.dir) so we can check it is empty afterwards; it must be traversable
  // by the postgres OS user when running as root.
  const parent = await mkdtemp(path.join(os.tmpdir(), 'prescient-testbed-test-'));
  await chmod(parent, 0o755);
  t.teardown(() => rm(parent, { recursive: true, force: true }));
  // Duplicate user names make the setup SQL fail after the servers are up.
  const before = Date.now();
  await t.rejects(startClusters(2, { dir: parent, users: [alice, alice] }), /already exists/, 'startClusters rejects');
  t.comment(`failure path took ${Date.now() - before} ms`);
  t.same(await readdir(parent), [], 'cluster dirs removed');
  const leftovers = (await readdir('/proc').catch(() => [] as string[]))
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(parent) && isPidAlive(Number(p));
      } catch {
        return false;
      }
    });
  t.same(leftovers, [], 'no postmaster left running');
});
