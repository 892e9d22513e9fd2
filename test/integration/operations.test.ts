// Owns: operating the proxy process — SIGHUP reloads the config, a dead stderr does not make it spin, and clients cut
// off at the shutdown timeout are told 57P01 first.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import pg from 'pg';
import { freePort } from '../../scripts/testbed.js';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { APP_USER, CLI, connectError, newClient, proxyConfig, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { RawClient, errorFields, frameName, sendCancel, type Frame } from '../helpers/rawClient.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';

requirePostgres(t);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the proxy's log matches `re` (counting only what was logged after `from` characters). */
async function logged(proxy: ProxyHandle, re: RegExp, from: number, timeoutMs = 10000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(proxy.logs().slice(from));
    if (m) return m[0];
    if (Date.now() > deadline) throw new Error(`no log line matching ${re} within ${timeoutMs} ms:\n${proxy.logs().slice(from)}`);
    await sleep(20);
  }
}

async function login(proxy: ProxyHandle, password: string): Promise<number> {
  const c = newClient(proxy, { password });
  await c.connect();
  const r = await c.query('select 1 as one');
  await c.end();
  return r.rows[0].one as number;
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const clusters = await withClusters(t, 1, { users: [] });
const cluster = clusters[0]!;

t.test('SIGHUP reloads the config file like the admin console RELOAD', async (t) => {
  const proxy = await startProxy(t, clusters);
  t.equal(await login(proxy, APP_USER.password), 1, 'the configured password works');

  const config = parseYaml(readFileSync(proxy.configPath, 'utf8')) as { users: { name: string; password: string }[] };
  config.users[0]!.password = 'new-secret';
  writeFileSync(proxy.configPath, stringify(config));
  let from = proxy.logs().length;
  proxy.proc.kill('SIGHUP');
  await logged(proxy, /"msg":"configuration reloaded"/, from);
  t.match(proxy.logs().slice(from), /"signal":"SIGHUP"/, 'the signal is logged');
  t.equal(proxy.proc.exitCode, null, 'still running');
  t.equal(proxy.proc.signalCode, null, 'not killed by the signal');
  t.equal(await login(proxy, 'new-secret'), 1, 'the new password works');
  const e = await connectError(proxy, { password: APP_USER.password });
  t.equal(e.code, '28P01', 'the old password is refused');

  // a broken file: the error is logged and the running config stays
  writeFileSync(proxy.configPath, 'shards: [ {name: s0\nusers: 7\n');
  from = proxy.logs().length;
  proxy.proc.kill('SIGHUP');
  const line = await logged(proxy, /\{[^\n]*"level":"error"[^\n]*reload[^\n]*\}/, from);
  t.comment(line);
  t.equal(proxy.proc.exitCode, null, 'still running after a failed reload');
  t.equal(await login(proxy, 'new-secret'), 1, 'still serving with the last good config');
  t.equal(await proxy.stop('SIGTERM'), 0, 'SIGTERM still stops it with exit 0');
});

t.test('stderr a broken pipe: no runaway loop, clients served, SIGTERM still works', async (t) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'prescient-cfg-'));
  const configPath = join(dir, 'prescient.yaml');
  writeFileSync(configPath, stringify(proxyConfig(clusters, port, { log: { level: 'debug' } })));
  const proc = spawn(process.execPath, [CLI, 'start', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  t.teardown(() => void proc.kill('SIGKILL'));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${out}`)), 20000);
    proc.stderr!.on('data', (d) => {
      out += d.toString();
      if (out.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  // the log collector dies: the read end of the proxy's stderr is closed
  proc.stderr!.destroy();
  await sleep(100);

  const ep = { host: '127.0.0.1', port };
  const c = newClient(ep);
  await c.connect();
  t.teardown(() => c.end().catch(() => {}));
  const before = cpuSeconds(proc.pid!);
  const started = Date.now();
  let queries = 0;
  while (Date.now() - started < 2000) {
    // each of these logs a line (debug: a cancel for an unknown client; info: SIGUSR2 lists the clients)
    await sendCancel(ep.host, ep.port, 1, 1);
    proc.kill('SIGUSR2');
    const r = await c.query('select $1::int as n', [queries]);
    if (r.rows[0].n !== queries) t.fail(`query ${queries} answered ${r.rows[0].n}`);
    queries++;
    await sleep(50);
  }
  const used = cpuSeconds(proc.pid!) - before;
  const window = (Date.now() - started) / 1000;
  t.comment(`proxy CPU ${used.toFixed(2)} s in a ${window.toFixed(1)} s window, ${queries} queries`);
  t.ok(used < 0.5, `no runaway loop: ${used.toFixed(2)} s of CPU in ${window.toFixed(1)} s (bound 0.5 s)`);
  t.ok(queries > 5, 'the client was served all along');
  proc.kill('SIGTERM');
  const code = await Promise.race([exited, sleep(15000).then(() => 'timeout' as const)]);
  t.equal(code, 0, 'SIGTERM ends it with exit 0');
});

t.test('shutdown timeout: a client still in a transaction gets FATAL 57P01, then the close; its write is rolled back', async (t) => {
  const direct = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'app' });
  await direct.connect();
  t.teardown(() => direct.end().catch(() => {}));
  await direct.query('create table if not exists cut_off (id int)');
  await direct.query('truncate cut_off');

  const proxy = await startProxy(t, clusters, { shutdown: { timeout_ms: 500 } });
  const c = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  t.teardown(() => c.destroy());
  t.same(await c.rows('begin'), []);
  t.same(await c.rows('insert into cut_off values (1)'), []);
  const exited = proxy.stop('SIGTERM');
  const frames: Frame[] = [];
  let closed = '';
  try {
    for (;;) frames.push(await c.next(10000));
  } catch (e) {
    closed = (e as Error).message;
  }
  t.match(closed, /connection closed/, 'then the connection is closed');
  t.same(frames.map((f) => frameName(f.code)), ['ErrorResponse'], 'one ErrorResponse before the close');
  const err = frames.find((f) => f.code === BackendCode.ErrorResponse);
  if (err) {
    const fields = errorFields(err);
    t.equal(fields.get('S'), 'FATAL');
    t.equal(fields.get('C'), '57P01');
    t.equal(fields.get('M'), 'terminating connection due to administrator command');
  }
  t.equal(await exited, 0, 'exit 0');
  // the backend that held the transaction is gone once the proxy has exited; wait for Postgres to notice
  for (let i = 0; i < 100; i++) {
    const r = await direct.query(`select count(*)::int as n from pg_stat_activity where state like 'idle in transaction%' and datname = 'app'`);
    if (r.rows[0].n === 0) break;
    await sleep(50);
  }
  const r = await direct.query('select count(*)::int as n from cut_off');
  t.equal(r.rows[0].n, 0, 'the uncommitted insert is not in the database');
});
