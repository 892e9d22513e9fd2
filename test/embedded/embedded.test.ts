// Owns: end-to-end tests of the zero-install default — `prescient start` without --config, in front of PGlite.
import t from 'tap';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../scripts/testbed.js';
import { pgbench, psql, findPgBin, type ConnOptions, type TeardownCapable } from '../helpers/pg.js';
import { CLI } from '../helpers/proxy.js';

const START_TIMEOUT_MS = 90_000; // first start runs initdb inside PGlite: 2-16 s seen, slower on a loaded machine

function hasBin(name: string): boolean {
  try {
    findPgBin(name);
    return true;
  } catch {
    return false;
  }
}

const rssMb = (pid: number): number => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

interface Embedded {
  proc: ChildProcess;
  port: number;
  startMs: number;
  logs(): string;
  /** sends SIGTERM and resolves with the exit code */
  stop(): Promise<number | null>;
}

/** Starts `prescient start --data dir` on `port`; polls TCP connect until it accepts. Killed in t.teardown. */
async function startEmbedded(t: TeardownCapable, dataDir: string, port: number): Promise<Embedded> {
  const started = Date.now();
  const proc = spawn(process.execPath, [CLI, 'start', '--data', dataDir], {
    cwd: tmpdir(),
    env: { ...process.env, PRESCIENT_PORT: String(port), PRESCIENT_HTTP_PORT: '0', PRESCIENT_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d.toString()));
  proc.stderr!.on('data', (d) => (out += d.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => { exitCode = code; resolve(code); }));
  t.teardown(async () => {
    if (exitCode !== undefined) return;
    proc.kill('SIGKILL');
    await exited;
  });

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`prescient exited with ${exitCode} before accepting:\n${out}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    // its own listener: the port was free when chosen, but another test's process may take it meanwhile
    if (ok && new RegExp(`"msg":"listening".*"port":${port}\\b`).test(out)) break;
    if (Date.now() > deadline) throw new Error(`prescient did not accept on ${port} within ${START_TIMEOUT_MS} ms:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    port,
    startMs: Date.now() - started,
    logs: () => out,
    stop: async () => {
      if (exitCode === undefined) proc.kill('SIGTERM');
      return exited;
    },
  };
}

interface Client extends pg.Client {
  /** ParameterStatus values the proxy reported (at login and later) */
  reported: Map<string, string>;
}

async function connect(port: number, user = 'app', password = 'app', database = 'app'): Promise<Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database, connectionTimeoutMillis: 30_000 }) as Client;
  c.reported = new Map();
  (c as unknown as { connection: NodeJS.EventEmitter }).connection.on('parameterStatus', (m: { parameterName: string; parameterValue: string }) => {
    c.reported.set(m.parameterName, m.parameterValue);
  });
  await c.connect();
  return c;
}

async function settings(c: pg.Client): Promise<{ tz: string; sp: string; st: string; wm: string }> {
  const r = await c.query(
    `select current_setting('TimeZone') as tz, current_setting('search_path') as sp, current_setting('statement_timeout') as st, current_setting('work_mem') as wm`,
  );
  return r.rows[0];
}

t.test('embedded PGlite behind prescient', async (t) => {
  if (!existsSync(CLI)) {
    t.fail(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'prescient-embedded-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'pglite');
  const port = await freePort();
  const proxy = await startEmbedded(t, dataDir, port);
  t.comment(`first start (initdb) accepted after ${proxy.startMs} ms; proxy RSS ${rssMb(proxy.proc.pid!)} MB`);
  t.match(proxy.logs(), /embedded postgres \(PGlite\) ready/, 'logs that the embedded database is ready');
  t.match(proxy.logs(), /psql postgres:\/\/app:app@127\.0\.0\.1/, 'logs how to connect');
  t.ok(existsSync(`${dataDir}.lock`), 'the data dir is locked while running');

  await t.test('select version(), create, insert, select', async (t) => {
    const c = await connect(port);
    t.teardown(() => c.end().catch(() => {}));
    const v = await c.query('select version() as v');
    t.match(v.rows[0].v, /PGlite/, 'served by PGlite');
    await c.query('create table widgets (id serial primary key, name text not null)');
    await c.query(`insert into widgets (name) values ('a'), ('b'), ('c')`);
    const r = await c.query('select name from widgets order by id');
    t.same(r.rows.map((x) => x.name), ['a', 'b', 'c']);
  });

  await t.test('authentication: app/app and postgres/postgres, database app only', async (t) => {
    const p = await connect(port, 'postgres', 'postgres');
    t.equal((await p.query('select 1 as one')).rows[0].one, 1, 'postgres/postgres logs in');
    await p.end();
    await t.rejects(connect(port, 'app', 'wrong'), { code: '28P01' }, 'a wrong password is refused');
    await t.rejects(connect(port, 'app', 'app', 'postgres'), { code: '3D000' }, 'only database "app" is served');
  });

  await t.test('the next client does not see the previous client\'s session state', async (t) => {
    const fresh = await connect(port);
    const defaults = await settings(fresh);
    const reportedTz = fresh.reported.get('TimeZone');
    await fresh.end();
    t.equal(reportedTz, defaults.tz, 'login reports the real TimeZone');

    const a = await connect(port);
    await a.query('create schema if not exists s1');
    await a.query('create table s1.only_in_s1 (x int)');
    await a.query('set search_path to s1, public');
    await a.query(`set timezone to 'America/New_York'`);
    await a.query(`set statement_timeout to '1234'`);
    const qa = { name: 'q', text: `select $1::int + 1 as n, current_setting('TimeZone') as tz` };
    t.same((await a.query({ ...qa, values: [1] })).rows, [{ n: 2, tz: 'America/New_York' }], 'A: named statement');
    t.same((await a.query({ ...qa, values: [41] })).rows, [{ n: 42, tz: 'America/New_York' }], 'A: named statement again');
    t.equal((await a.query('select count(*)::int as n from only_in_s1')).rows[0].n, 0, 'A: search_path applies');
    await a.end();

    const b = await connect(port);
    t.teardown(() => b.end().catch(() => {}));
    t.same(await settings(b), defaults, 'B: TimeZone, search_path, statement_timeout back to defaults');
    t.equal(b.reported.get('TimeZone'), defaults.tz, 'B: login reports the default TimeZone, not A\'s');
    t.equal(b.reported.get('search_path'), defaults.sp, 'B: login reports the default search_path, not A\'s');
    await t.rejects(b.query('select * from only_in_s1'), { code: '42P01' }, 'B: A\'s search_path is gone');
    const qb = { name: 'q', text: 'select $1::int * 10 as n' };
    t.same((await b.query({ ...qb, values: [7] })).rows, [{ n: 70 }], 'B: its own statement named q');
    t.same((await b.query({ ...qb, values: [8] })).rows, [{ n: 80 }], 'B: q again');
    const ps = await b.query('select name from pg_prepared_statements');
    t.ok(ps.rows.every((r) => /^prescient_\d+$/.test(r.name)), 'only prescient_N names on the server');
  });

  await t.test('a client leaving while another holds the connection still gets its state reset', async (t) => {
    const defaults = await (async () => {
      const c = await connect(port);
      const s = await settings(c);
      await c.end();
      return s;
    })();
    const a = await connect(port);
    const b = await connect(port);
    t.teardown(() => b.end().catch(() => {}));
    await a.query(`set statement_timeout to '4321'`);
    await a.query(`set work_mem to '7MB'`);
    await b.query('begin'); // b holds the one server connection
    await a.end();
    await b.query('commit');
    const c = await connect(port);
    t.teardown(() => c.end().catch(() => {}));
    const s = await settings(c);
    t.equal(s.st, defaults.st, 'statement_timeout reset');
    t.equal(s.wm, defaults.wm, 'work_mem reset');
  });

  await t.test('a client that dies inside a transaction leaves nothing behind', async (t) => {
    const x = await connect(port);
    x.on('error', () => {});
    await x.query(`set timezone to 'Asia/Tokyo'`);
    const q = { name: 'qq', text: `select 42 as answer, current_setting('TimeZone') as tz` };
    t.same((await x.query(q)).rows, [{ answer: 42, tz: 'Asia/Tokyo' }]);
    await x.query('begin');
    await x.query('create table half_done (x int)');
    (x as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    await new Promise((r) => setTimeout(r, 300));

    const y = await connect(port);
    t.teardown(() => y.end().catch(() => {}));
    t.same((await y.query({ ...q, name: 'other' })).rows, [{ answer: 42, tz: 'UTC' }], 'same statement text prepares again, TimeZone is the default');
    t.equal((await y.query(`select count(*)::int as n from pg_class where relname = 'half_done'`)).rows[0].n, 0, 'the transaction was rolled back');
  });

  await t.test('COPY FROM STDIN is refused and the database stays usable', async (t) => {
    const c = await connect(port);
    t.teardown(() => c.end().catch(() => {}));
    await t.rejects(c.query('copy widgets (name) from stdin'), { code: '0A000', message: /COPY FROM STDIN is not supported/ });
    t.equal((await c.query('select count(*)::int as n from widgets')).rows[0].n, 3, 'still answering');
    const out = await c.query(`copy (select 1) to stdout`).then(() => 'ok', (e: Error) => e.message);
    t.ok(out === 'ok' || /copy/i.test(out), 'COPY TO STDOUT does not break the connection');
    t.equal((await c.query('select 1 as one')).rows[0].one, 1);
  });

  const conn: ConnOptions = { host: '127.0.0.1', port, user: 'app', password: 'app', database: 'app', timeoutMs: 120_000 };

  await t.test('psql', { skip: hasBin('psql') ? false : 'psql not installed' }, async (t) => {
    const v = await psql(['-At', '-c', 'select version()'], conn);
    t.equal(v.code, 0, v.stderr);
    t.match(v.stdout, /PGlite/);
    const r = await psql(['-At', '-c', 'create table ptab (x int)', '-c', 'insert into ptab values (1), (2)', '-c', 'select sum(x) from ptab'], conn);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^3$/m);
    const copy = await psql(['-c', '\\copy ptab from stdin'], { ...conn, input: '3\n\\.\n' });
    t.not(copy.code, 0, '\\copy from stdin fails');
    t.match(copy.stderr, /COPY FROM STDIN is not supported/);
    const after = await psql(['-At', '-c', 'select count(*) from ptab'], conn);
    t.equal(after.stdout.trim(), '2', 'and the database still answers');
  });

  await t.test('pgbench', { skip: hasBin('pgbench') ? false : 'pgbench not installed' }, async (t) => {
    // client-side generation uses COPY FROM STDIN: refused with a hint
    const copyInit = await pgbench(['-i', '-s', '1'], conn);
    t.not(copyInit.code, 0, 'pgbench -i (COPY) fails cleanly');
    t.match(copyInit.stderr, /COPY FROM STDIN is not supported/);
    const init = await pgbench(['-i', '-s', '1', '-I', 'dtGvp'], conn);
    t.equal(init.code, 0, `pgbench -i -I dtGvp: ${init.stderr}`);
    const run = await pgbench(['-c', '4', '-j', '4', '-T', '5', '-S'], conn);
    t.equal(run.code, 0, run.stderr);
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(run.stdout)?.[1] ?? 0);
    const failed = /number of failed transactions: (\d+)/.exec(run.stdout)?.[1];
    const tps = /tps = ([\d.]+)/.exec(run.stdout)?.[1];
    t.ok(processed > 0, `${processed} transactions`);
    t.equal(failed, '0', 'no failed transactions');
    t.comment(`pgbench -c 4 -j 4 -T 5 -S: ${tps} tps; proxy RSS ${rssMb(proxy.proc.pid!)} MB`);
  });

  await t.test('SIGHUP without --config: logged as nothing to reload, the proxy keeps serving', async (t) => {
    const from = proxy.logs().length;
    proxy.proc.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!/nothing to reload/.test(proxy.logs().slice(from)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.match(proxy.logs().slice(from), /"msg":"SIGHUP: nothing to reload/, 'logged');
    t.equal(proxy.proc.exitCode, null, 'still running');
    const c = await connect(port);
    t.equal((await c.query('select 1 as one')).rows[0].one, 1, 'still serving');
    await c.end();
  });

  await t.test('SIGTERM stops the proxy and PGlite; the data persists', async (t) => {
    t.equal(await proxy.stop(), 0, 'exit code 0');
    t.match(proxy.logs(), /embedded postgres stopped/, 'PGlite closed');
    t.notOk(existsSync(`${dataDir}.lock`), 'lock released');

    const again = await startEmbedded(t, dataDir, port);
    t.comment(`restart accepted after ${again.startMs} ms`);
    const c = await connect(port);
    t.same((await c.query('select name from widgets order by id')).rows.map((r) => r.name), ['a', 'b', 'c'], 'rows survived the restart');
    await c.end();
    t.equal(await again.stop(), 0, 'exit code 0 again');
  });
});
