// bench-passthrough owns the pass-through benchmark: pgbench -S against direct Postgres, PgBouncer and Prescient (interleaved), proxy CPU per transaction, and an optional CPU profile of Prescient.
//
// usage (after `npm run build`):
//   npm run bench:passthrough -- [options]
//   node dist/scripts/bench-passthrough.js [options]
//
// options:
//   --duration S          seconds per pgbench run (default 20)
//   --rounds N            interleaved rounds per (mode, clients) cell (default 3)
//   --clients 8,32        client counts (default 8,32)
//   --modes simple,extended,prepared   pgbench -M modes (default all three)
//   --scale N             pgbench -i scale factor (default 10)
//   --pool-size N         server connections per pool, PgBouncer and Prescient (default 40)
//   --jobs N              pgbench -j (default 2)
//   --warmup S            seconds of warm-up through each target before measuring (default 3, 0 = none)
//   --json FILE           also write the results as JSON
//   --cpu-prof            run Prescient under `node --cpu-prof`; print the profile path and its top self-time functions
//   --cpu-prof-dir DIR    where the .cpuprofile goes (default .bench/cpu-prof-<timestamp>)
//   --keep                keep the temp dir (configs, PgBouncer/Prescient logs)
//   --quiet PCT           before each run, wait (up to --quiet-wait S, default 120) until processes outside the
//                         benchmark use less than PCT % of the host's CPU over 1 s (for shared machines; default off)
//
// What it starts (all on 127.0.0.1, all stopped by pid at the end, on SIGINT and on error):
//   - one throwaway Postgres cluster (scripts/testbed.ts), `pgbench -i -s <scale>` into database `app`
//   - PgBouncer (pool_mode=transaction). PgBouncer 1.18 cannot do protocol-level prepared statements in
//     transaction mode (max_prepared_statements arrived in 1.21), so for `-M prepared` a SECOND PgBouncer
//     instance in pool_mode=session is started and used; the table marks those cells.
//   - Prescient (pool mode transaction) via `node dist/proxy/cli.js start --config FILE`
// Progress goes to stderr; the markdown table (and profile summary) to stdout.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findPgBin, freePort, spawnDetachedShell, startClusters, stopClusters, type Cluster } from './testbed.js';
import { NODE_FLAGS } from '../proxy/nodeFlags.js';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const MODES = ['simple', 'extended', 'prepared'] as const;
type Mode = (typeof MODES)[number];
type Target = 'direct' | 'pgbouncer' | 'prescient';
const TARGETS: readonly Target[] = ['direct', 'pgbouncer', 'prescient'];

interface Options {
  durationS: number;
  rounds: number;
  clients: number[];
  modes: Mode[];
  scale: number;
  poolSize: number;
  jobs: number;
  warmupS: number;
  json?: string;
  cpuProf: boolean;
  cpuProfDir?: string;
  keep: boolean;
  quietPct?: number;
  quietWaitS: number;
}

const USAGE = `usage: node dist/scripts/bench-passthrough.js [--duration S] [--rounds N] [--clients 8,32]
       [--modes simple,extended,prepared] [--scale N] [--pool-size N] [--jobs N] [--warmup S]
       [--json FILE] [--cpu-prof] [--cpu-prof-dir DIR] [--keep] [--quiet PCT] [--quiet-wait S]`;

const BOOLEAN_FLAGS = new Set(['cpu-prof', 'keep', 'help']);
const KNOWN_FLAGS = new Set([
  'duration', 'rounds', 'clients', 'modes', 'scale', 'pool-size', 'jobs', 'warmup', 'json',
  'cpu-prof', 'cpu-prof-dir', 'keep', 'quiet', 'quiet-wait', 'help',
]);

function parseArgs(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h') {
      flags.set('help', 'true');
      continue;
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!KNOWN_FLAGS.has(name)) throw new Error(`unknown option --${name}\n${USAGE}`);
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (BOOLEAN_FLAGS.has(name)) flags.set(name, 'true');
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}\n${USAGE}`);
      flags.set(name, v);
    }
  }
  if (flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const int = (name: string, def: number, min: number): number => {
    const v = flags.get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  const clients = (flags.get('clients') ?? '8,32').split(',').filter(Boolean).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bad --clients entry ${s}`);
    return n;
  });
  const modes = (flags.get('modes') ?? MODES.join(',')).split(',').filter(Boolean).map((s) => {
    if (!(MODES as readonly string[]).includes(s)) throw new Error(`bad --modes entry ${s} (simple|extended|prepared)`);
    return s as Mode;
  });
  if (clients.length === 0 || modes.length === 0) throw new Error('--clients and --modes must not be empty');
  return {
    durationS: int('duration', 20, 1),
    rounds: int('rounds', 3, 1),
    clients,
    modes,
    scale: int('scale', 10, 1),
    poolSize: int('pool-size', 40, 1),
    jobs: int('jobs', 2, 1),
    warmupS: int('warmup', 3, 0),
    json: flags.get('json'),
    cpuProf: flags.get('cpu-prof') === 'true',
    cpuProfDir: flags.get('cpu-prof-dir'),
    keep: flags.get('keep') === 'true',
    quietPct: flags.has('quiet') ? int('quiet', 0, 1) : undefined,
    quietWaitS: int('quiet-wait', 120, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Processes we start (tracked by pid so they can all be stopped on exit / SIGINT / error)
// ---------------------------------------------------------------------------------------------

export const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited: boolean;
}

/** Every child process currently alive that we started (long-lived servers and the current pgbench). */
export const procs = new Set<Proc>();
let interrupted = false;

export function spawnProc(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile?: string; capture?: boolean } = {},
): Proc & { stdout: () => string; stderr: () => string } {
  let fd: number | undefined;
  if (opts.logFile) fd = openSync(opts.logFile, 'a');
  // detached: own process group, so a terminal Ctrl-C reaches only us and we stop things in order
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', opts.capture ? 'pipe' : fd ?? 'ignore', opts.capture ? 'pipe' : fd ?? 'ignore'],
  });
  if (fd !== undefined) closeSync(fd);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (child.pid === undefined) {
    // spawn failure is reported through 'error'
  }
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    hasExited: false,
    exited: new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (proc.hasExited) return;
        proc.hasExited = true;
        procs.delete(proc);
        resolve({ code, signal });
      };
      child.on('error', (e) => {
        err += `spawn error: ${e.message}\n`;
        done(-1, null);
      });
      child.on('close', (code, signal) => done(code, signal));
    }),
  };
  procs.add(proc);
  return Object.assign(proc, { stdout: () => out, stderr: () => err });
}

export function signalGroup(p: Proc, sig: NodeJS.Signals): void {
  if (p.hasExited || p.pid <= 0) return;
  try {
    process.kill(-p.pid, sig); // the whole process group (detached children lead their own)
  } catch {
    try {
      process.kill(p.pid, sig);
    } catch {
      /* gone */
    }
  }
}

export async function stopProc(p: Proc, sig: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (p.hasExited) return;
  log(`stopping ${p.name} (pid ${p.pid}, ${sig})`);
  signalGroup(p, sig);
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([p.exited, timer])) === 'timeout') {
    log(`${p.name} (pid ${p.pid}) did not exit in ${graceMs} ms; SIGKILL`);
    signalGroup(p, 'SIGKILL');
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

/** Run a command to completion, capturing output (tracked, so SIGINT kills it). */
export async function run(
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }> {
  const p = spawnProc(name, cmd, args, { env, capture: true });
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    signalGroup(p, 'SIGKILL');
  }, timeoutMs);
  const { code, signal } = await p.exited;
  clearTimeout(t);
  return { code, signal, stdout: p.stdout(), stderr: p.stderr(), timedOut };
}

/** A detached shell that kills our servers if this Node process dies without cleaning up (e.g. SIGKILL). */
export function spawnWatchdog(pids: number[]): number | undefined {
  const script = 'parent="$1"; shift; while kill -0 "$parent" 2>/dev/null; do sleep 1; done; for p in "$@"; do kill -TERM "$p" 2>/dev/null; done; sleep 3; for p in "$@"; do kill -KILL "$p" 2>/dev/null; done';
  return spawnDetachedShell(script, 'prescient-bench-watchdog', [String(process.pid), ...pids.map(String)]);
}

export function killPid(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function osUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  if (!line) throw new Error(`OS user ${name} not found (PgBouncer refuses to run as root)`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export function clockTicksPerSecond(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = parseInt(r.stdout ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 100;
}

/** utime + stime of a process (all its threads), in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid: number): { user: number; sys: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' '); // rest[0] is field 3 (state)
    return { user: Number(rest[11]), sys: Number(rest[12]) }; // fields 14 (utime) and 15 (stime)
  } catch {
    return null;
  }
}

/** Busy clock ticks of the whole host (all CPUs) from /proc/stat: user+nice+system+irq+softirq+steal. */
export function hostBusyTicks(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  } catch {
    return null;
  }
}

/** utime+stime (+ cutime+cstime when withChildren) of a pid, from /proc/<pid>/stat; also its ppid. */
export function procTimes(pid: number | 'self', withChildren: boolean): { ticks: number; ppid: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    let ticks = Number(rest[11]) + Number(rest[12]);
    if (withChildren) ticks += Number(rest[13]) + Number(rest[14]); // fields 16, 17: reaped children
    return { ticks, ppid: Number(rest[1]) };
  } catch {
    return null;
  }
}

/**
 * CPU ticks used by everything this benchmark runs: this process and its reaped children (pgbench),
 * the proxies, and the Postgres postmaster with its live and reaped backends.
 */
function ownTicks(proxyPids: number[], postmasterPid: number): number {
  let t = procTimes('self', true)?.ticks ?? 0;
  for (const pid of proxyPids) t += procTimes(pid, false)?.ticks ?? 0;
  t += procTimes(postmasterPid, true)?.ticks ?? 0;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const p = procTimes(Number(e), false);
    if (p && p.ppid === postmasterPid) t += p.ticks;
  }
  return t;
}

/** Waits until processes outside the benchmark use < pct % of the host CPU over a 1 s window (or maxWaitS passes). */
async function waitQuiet(pct: number, maxWaitS: number, clkTck: number, own: { proxyPids: number[]; postmasterPid: number }): Promise<number | null> {
  const deadline = Date.now() + maxWaitS * 1000;
  let last: number | null = null;
  let warned = false;
  for (;;) {
    const h0 = hostBusyTicks();
    const o0 = ownTicks(own.proxyPids, own.postmasterPid);
    const t0 = process.hrtime.bigint();
    await sleep(1000);
    const h1 = hostBusyTicks();
    const o1 = ownTicks(own.proxyPids, own.postmasterPid);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (h0 === null || h1 === null) return null;
    last = Math.max(0, (100 * (h1 - h0 - (o1 - o0))) / (clkTck * wallS * os.cpus().length));
    if (last < pct) return last;
    if (Date.now() > deadline) {
      log(`host still busy (${last.toFixed(0)}% CPU used by other processes) after ${maxWaitS} s; running anyway`);
      return last;
    }
    if (!warned) {
      log(`waiting for the host to quiet down: other processes use ${last.toFixed(0)}% CPU (threshold ${pct}%)`);
      warned = true;
    }
    if (interrupted) return last;
  }
}

export async function waitForPort(host: string, port: number, timeoutMs: number, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.hasExited) throw new Error(`${proc.name} exited before listening on ${host}:${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${host}:${port}${proc ? ` (${proc.name})` : ''}`);
    await sleep(100);
  }
}

export async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

export interface Endpoint {
  host: string;
  port: number;
  /** the process whose CPU time is charged to this target (none for direct) */
  proc?: Proc;
  cpuPid?: number;
  label: string;
}

const PG_USER = 'postgres';
const PG_DB = 'app';

/** PgBouncer on a free loopback port in front of `pg` (session mode resets server state between clients). */
export async function startPgBouncer(
  dir: string,
  name: string,
  pg: { host: string; port: number; user: string; password: string },
  poolMode: 'transaction' | 'session',
  poolSize: number,
): Promise<Endpoint> {
  const port = await freePort();
  const ini = path.join(dir, `${name}.ini`);
  const userlist = path.join(dir, `${name}-userlist.txt`);
  const logFile = path.join(dir, `${name}.log`);
  const pidFile = path.join(dir, `${name}.pid`);
  await writeFile(
    ini,
    [
      '[databases]',
      `${PG_DB} = host=${pg.host} port=${pg.port} dbname=${PG_DB}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${userlist}`,
      `pool_mode = ${poolMode}`,
      `default_pool_size = ${poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 200',
      'max_db_connections = 0',
      // session mode: a second pgbench run must not find the first one's prepared statements on a reused connection
      `server_reset_query = ${poolMode === 'session' ? 'DISCARD ALL' : ''}`,
      'ignore_startup_parameters = extra_float_digits',
      `pidfile = ${pidFile}`,
      `logfile = ${logFile}`,
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await writeFile(userlist, `"${pg.user}" "${pg.password}"\n`, { mode: 0o600 });
  const args: string[] = [];
  if (isRoot()) {
    const u = osUser('postgres');
    for (const f of [ini, userlist]) await chown(f, u.uid, u.gid);
    args.push('-u', 'postgres'); // PgBouncer refuses to run as root; -u switches user, stays in the foreground
  }
  args.push(ini);
  const proc = spawnProc(name, '/usr/sbin/pgbouncer', args, { logFile: path.join(dir, `${name}.stderr`) });
  try {
    await waitForPort('127.0.0.1', port, 15_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- ${name} log ---\n${await tail(logFile)}\n${await tail(path.join(dir, `${name}.stderr`))}`);
  }
  // Without -d PgBouncer does not fork, so the child is PgBouncer itself; the pidfile confirms it.
  let cpuPid = proc.pid;
  try {
    const fromFile = parseInt(readFileSync(pidFile, 'utf8'), 10);
    if (Number.isFinite(fromFile) && fromFile > 0) cpuPid = fromFile;
  } catch {
    /* keep child pid */
  }
  log(`${name}: PgBouncer pool_mode=${poolMode} default_pool_size=${poolSize} on 127.0.0.1:${port} (pid ${cpuPid})`);
  return { host: '127.0.0.1', port, proc, cpuPid, label: `PgBouncer (${poolMode})` };
}

async function startPrescient(
  dir: string,
  pg: Cluster,
  poolSize: number,
  cpuProfDir: string | undefined,
): Promise<Endpoint> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const cli = path.resolve(here, '../proxy/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} not found; run 'npm run build' first`);
  const port = await freePort();
  const configFile = path.join(dir, 'prescient.yaml');
  const config = {
    listen: { host: '127.0.0.1', port, max_client_connections: 1000 },
    database: PG_DB,
    users: [{ name: pg.user, password: pg.password }],
    auth: { method: 'scram-sha-256' },
    shards: [{ name: 's0', host: pg.host, port: pg.port, database: PG_DB, user: pg.user, password: pg.password }],
    pool: { mode: 'transaction', size: poolSize },
    shutdown: { timeout_ms: 5000 },
    log: { level: 'info' },
  };
  // JSON is YAML
  await writeFile(configFile, '# generated by scripts/bench-passthrough.ts\n' + JSON.stringify(config, null, 2) + '\n');
  const nodeArgs: string[] = [];
  if (cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`);
  const logFile = path.join(dir, 'prescient.log');
  const proc = spawnProc('prescient', process.execPath, [...NODE_FLAGS, ...nodeArgs, cli, 'start', '--config', configFile], { logFile });
  try {
    await waitForPort('127.0.0.1', port, 20_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- prescient log ---\n${await tail(logFile)}`);
  }
  log(`prescient: pool mode transaction size ${poolSize} on 127.0.0.1:${port} (pid ${proc.pid})${cpuProfDir ? ' with --cpu-prof' : ''}`);
  return { host: '127.0.0.1', port, proc, cpuPid: proc.pid, label: 'Prescient (transaction)' };
}

// ---------------------------------------------------------------------------------------------
// pgbench
// ---------------------------------------------------------------------------------------------

function pgEnv(pg: Cluster): NodeJS.ProcessEnv {
  return { ...process.env, PGPASSWORD: pg.password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
}

interface RunResult {
  mode: Mode;
  clients: number;
  round: number;
  target: Target;
  via: string;
  tps: number | null;
  latencyMs: number | null;
  transactions: number | null;
  failed: number | null;
  /** proxy utime+stime during the run, clock ticks */
  cpuTicks: number | null;
  cpuUserTicks: number | null;
  cpuSysTicks: number | null;
  cpuUsPerTxn: number | null;
  /** CPU used on this host during the run by processes that are not part of the benchmark, in % of all cores (noise indicator) */
  foreignCpuPct: number | null;
  exitCode: number | null;
  error?: string;
}

function parsePgbench(out: string): { tps: number | null; latencyMs: number | null; transactions: number | null; failed: number | null } {
  const num = (re: RegExp): number | null => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  return {
    tps: num(/^tps = ([\d.]+)/m),
    latencyMs: num(/^latency average = ([\d.]+) ms/m),
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
  };
}

async function pgbench(
  pg: Cluster,
  ep: Endpoint,
  mode: Mode,
  clients: number,
  durationS: number,
  jobs: number,
  clkTck: number,
  own: { proxyPids: number[]; postmasterPid: number },
): Promise<Omit<RunResult, 'mode' | 'clients' | 'round' | 'target'>> {
  const args = [
    '-S', '-n', '-T', String(durationS), '-c', String(clients), '-j', String(Math.min(jobs, clients)), '-M', mode,
    '-h', ep.host, '-p', String(ep.port), '-U', pg.user, PG_DB,
  ];
  const hostBefore = hostBusyTicks();
  const ownBefore = ownTicks(own.proxyPids, own.postmasterPid);
  const t0 = process.hrtime.bigint();
  const before = ep.cpuPid ? cpuTicks(ep.cpuPid) : null;
  const r = await run('pgbench', findPgBin('pgbench'), args, pgEnv(pg), (durationS + 90) * 1000);
  const after = ep.cpuPid ? cpuTicks(ep.cpuPid) : null;
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const hostAfter = hostBusyTicks();
  const ownAfter = ownTicks(own.proxyPids, own.postmasterPid);
  const foreignCpuPct =
    hostBefore !== null && hostAfter !== null
      ? Math.max(0, (100 * (hostAfter - hostBefore - (ownAfter - ownBefore))) / (clkTck * wallS * os.cpus().length))
      : null;
  const parsed = parsePgbench(r.stdout);
  const userTicks = before && after ? after.user - before.user : null;
  const sysTicks = before && after ? after.sys - before.sys : null;
  const ticks = userTicks !== null && sysTicks !== null ? userTicks + sysTicks : null;
  const cpuUsPerTxn = ticks !== null && parsed.transactions ? (ticks / clkTck) * 1e6 / parsed.transactions : null;
  let error: string | undefined;
  if (r.timedOut) error = 'pgbench timed out';
  else if (r.code !== 0 || parsed.tps === null) {
    const lines = (r.stderr + '\n' + r.stdout).split('\n').filter((l) => /error|abort|fatal|failed|could not/i.test(l));
    error = `pgbench exit ${r.code ?? r.signal}: ${(lines.slice(0, 3).join(' | ') || r.stderr.trim().slice(0, 300))}`;
  }
  return { via: ep.label, ...parsed, cpuTicks: ticks, cpuUserTicks: userTicks, cpuSysTicks: sysTicks, cpuUsPerTxn, foreignCpuPct, exitCode: r.code, ...(error ? { error } : {}) };
}

// ---------------------------------------------------------------------------------------------
// CPU profile summary
// ---------------------------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface ProfileEntry {
  name: string;
  location: string;
  selfMs: number;
  pct: number;
  pctBusy: number;
}

function shortUrl(url: string, root: string): string {
  if (!url) return '';
  let p = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (p.startsWith(root + path.sep)) p = path.relative(root, p);
  return p;
}

function summarizeProfile(file: string, root: string, top = 15): {
  totalMs: number;
  idleMs: number;
  gcMs: number;
  functions: ProfileEntry[];
  jsFunctions: ProfileEntry[];
  projectInclusive: ProfileEntry[];
  files: ProfileEntry[];
} {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of prof.nodes) byId.set(n.id, n);
  // timeDeltas[i] is the time between sample i-1 and sample i; like DevTools, charge the interval
  // after sample i (timeDeltas[i+1]) to sample i, and the last sample up to endTime.
  const selfUs = new Map<number, number>();
  const n = prof.samples.length;
  let t = prof.startTime;
  const stamps: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    t += prof.timeDeltas[i] ?? 0;
    stamps[i] = t;
  }
  for (let i = 0; i < n; i++) {
    const next = i + 1 < n ? stamps[i + 1]! : Math.max(prof.endTime, stamps[i]!);
    const d = Math.max(0, next - stamps[i]!);
    const id = prof.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + d);
  }
  const parent = new Map<number, number>();
  for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const keyOf = (node: ProfileNode): { key: string; name: string; loc: string } => {
    const cf = node.callFrame;
    const name = cf.functionName || '(anonymous)';
    const loc = cf.url ? `${shortUrl(cf.url, root)}:${cf.lineNumber + 1}` : '';
    return { key: `${name}\u0000${loc}`, name, loc };
  };
  // inclusive time of project functions (dist/...): each distinct function on a sample's stack gets its time once
  const inclusive = new Map<string, { name: string; location: string; us: number }>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (!node) break;
      const k = keyOf(node);
      if (!k.loc.startsWith('dist' + path.sep) || seen.has(k.key)) continue;
      seen.add(k.key);
      const e = inclusive.get(k.key) ?? { name: k.name, location: k.loc, us: 0 };
      e.us += us;
      inclusive.set(k.key, e);
    }
  }
  const fn = new Map<string, { name: string; location: string; us: number }>();
  const files = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const cf = node.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') idleUs += us;
    if (name === '(garbage collector)') gcUs += us;
    const loc = cf.url ? `${shortUrl(cf.url, root)}:${cf.lineNumber + 1}` : '';
    const key = `${name}\u0000${loc}`;
    const e = fn.get(key) ?? { name, location: loc, us: 0 };
    e.us += us;
    fn.set(key, e);
    const fileKey = cf.url ? shortUrl(cf.url, root) : name;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const toEntry = (name: string, location: string, us: number): ProfileEntry => ({
    name,
    location,
    selfMs: us / 1000,
    pct: (100 * us) / Math.max(1, totalUs),
    pctBusy: name === '(idle)' ? 0 : (100 * us) / busyUs,
  });
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    gcMs: gcUs / 1000,
    functions: [...fn.values()]
      .filter((e) => e.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => toEntry(e.name, e.location, e.us)),
    jsFunctions: [...fn.values()]
      .filter((e) => e.location !== '')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => toEntry(e.name, e.location, e.us)),
    projectInclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 12)
      .map((e) => toEntry(e.name, e.location, e.us)),
    files: [...files.entries()]
      .filter(([k]) => k !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([k, us]) => toEntry(k, '', us)),
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface SummaryRow {
  mode: Mode;
  clients: number;
  pgbouncerPoolMode: 'transaction' | 'session';
  tps: Record<Target, number | null>;
  latencyMs: Record<Target, number | null>;
  failed: Record<Target, number>;
  errors: Record<Target, number>;
  prescientVsPgbouncer: number | null;
  prescientVsDirect: number | null;
  cpuUsPerTxn: { pgbouncer: number | null; prescient: number | null };
  /** the same split into user and kernel (sys) time */
  cpuSplitUsPerTxn: { pgbouncer: { user: number; sys: number } | null; prescient: { user: number; sys: number } | null };
  /** highest share of host CPU used by unrelated processes during any run of this cell, % */
  maxForeignCpuPct: number | null;
}

function summarize(results: RunResult[], opts: Options): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const mode of opts.modes) {
    for (const clients of opts.clients) {
      const cell = results.filter((r) => r.mode === mode && r.clients === clients);
      if (cell.length === 0) continue;
      const of = (t: Target): RunResult[] => cell.filter((r) => r.target === t);
      const ok = (t: Target): RunResult[] => of(t).filter((r) => r.tps !== null && !r.error);
      const tps = {} as Record<Target, number | null>;
      const lat = {} as Record<Target, number | null>;
      const failed = {} as Record<Target, number>;
      const errors = {} as Record<Target, number>;
      for (const t of TARGETS) {
        tps[t] = median(ok(t).map((r) => r.tps!));
        lat[t] = median(ok(t).flatMap((r) => (r.latencyMs === null ? [] : [r.latencyMs])));
        failed[t] = of(t).reduce((s, r) => s + (r.failed ?? 0), 0);
        errors[t] = of(t).filter((r) => r.error).length;
      }
      const cpu = (t: Target): number | null => {
        const rs = ok(t).filter((r) => r.cpuTicks !== null && r.transactions);
        const txns = rs.reduce((s, r) => s + r.transactions!, 0);
        const ticks = rs.reduce((s, r) => s + r.cpuTicks!, 0);
        return txns > 0 ? ((ticks / clockTicks) * 1e6) / txns : null;
      };
      const split = (t: Target): { user: number; sys: number } | null => {
        const rs = ok(t).filter((r) => r.cpuUserTicks !== null && r.cpuSysTicks !== null && r.transactions);
        const txns = rs.reduce((s, r) => s + r.transactions!, 0);
        if (txns === 0) return null;
        const us = (ticks: number): number => ((ticks / clockTicks) * 1e6) / txns;
        return { user: us(rs.reduce((s, r) => s + r.cpuUserTicks!, 0)), sys: us(rs.reduce((s, r) => s + r.cpuSysTicks!, 0)) };
      };
      rows.push({
        mode,
        clients,
        pgbouncerPoolMode: mode === 'prepared' ? 'session' : 'transaction',
        tps,
        latencyMs: lat,
        failed,
        errors,
        prescientVsPgbouncer: tps.prescient !== null && tps.pgbouncer ? tps.prescient / tps.pgbouncer : null,
        prescientVsDirect: tps.prescient !== null && tps.direct ? tps.prescient / tps.direct : null,
        cpuUsPerTxn: { pgbouncer: cpu('pgbouncer'), prescient: cpu('prescient') },
        cpuSplitUsPerTxn: { pgbouncer: split('pgbouncer'), prescient: split('prescient') },
        maxForeignCpuPct: cell.some((r) => r.foreignCpuPct !== null)
          ? Math.max(...cell.flatMap((r) => (r.foreignCpuPct === null ? [] : [r.foreignCpuPct])))
          : null,
      });
    }
  }
  return rows;
}

function fmt(n: number | null, digits = 0): string {
  return n === null ? 'err' : n.toFixed(digits);
}

function splitText(s: { user: number; sys: number } | null): string {
  return s ? ` (${s.user.toFixed(0)}u+${s.sys.toFixed(0)}s)` : '';
}

function markdownTable(rows: SummaryRow[], opts: Options): string {
  const head = [
    'mode', 'clients', 'direct TPS', 'PgBouncer TPS', 'Prescient TPS',
    'direct lat ms', 'PgBouncer lat ms', 'Prescient lat ms',
    'Prescient/PgBouncer', 'Prescient/direct', 'PgBouncer CPU µs/txn', 'Prescient CPU µs/txn', 'failed txns d/b/p', 'other load % (max)',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const mark = r.pgbouncerPoolMode === 'session' ? ' †' : '';
    const errs = (t: Target): string => (r.errors[t] ? ` (${r.errors[t]} err)` : '');
    lines.push(
      '| ' +
        [
          r.mode,
          String(r.clients),
          fmt(r.tps.direct) + errs('direct'),
          fmt(r.tps.pgbouncer) + mark + errs('pgbouncer'),
          fmt(r.tps.prescient) + errs('prescient'),
          fmt(r.latencyMs.direct, 3),
          fmt(r.latencyMs.pgbouncer, 3) + mark,
          fmt(r.latencyMs.prescient, 3),
          r.prescientVsPgbouncer === null ? 'n/a' : r.prescientVsPgbouncer.toFixed(2) + mark,
          r.prescientVsDirect === null ? 'n/a' : r.prescientVsDirect.toFixed(2),
          fmt(r.cpuUsPerTxn.pgbouncer, 1) + splitText(r.cpuSplitUsPerTxn.pgbouncer) + mark,
          fmt(r.cpuUsPerTxn.prescient, 1) + splitText(r.cpuSplitUsPerTxn.prescient),
          `${r.failed.direct}/${r.failed.pgbouncer}/${r.failed.prescient}`,
          fmt(r.maxForeignCpuPct),
        ].join(' | ') +
        ' |',
    );
  }
  const notes = [
    '',
    `pgbench -S (select only), scale ${opts.scale}, -T ${opts.durationS} s, -j ${opts.jobs}, ${opts.rounds} interleaved round(s) per cell ` +
      `(direct, PgBouncer, Prescient); TPS and latency are medians over rounds; CPU µs/txn = proxy process utime+stime over all rounds / transactions (u = user, s = kernel).`,
    '"other load" = host CPU used during a run by processes outside this benchmark, in % of all cores (high values mean noisy numbers).',
    `Pools: PgBouncer default_pool_size=${opts.poolSize}, Prescient pool.size=${opts.poolSize}, both transaction mode; everything on one ${os.cpus().length}-core host.`,
  ];
  if (rows.some((r) => r.pgbouncerPoolMode === 'session'))
    notes.push(
      '† -M prepared: PgBouncer 1.18 does not support protocol-level prepared statements in transaction mode ' +
        '(max_prepared_statements arrived in 1.21), so these cells use a second PgBouncer instance in pool_mode=session. ' +
        'Prescient stays in transaction mode.',
    );
  if (opts.cpuProf) notes.push('Prescient ran under node --cpu-prof: its numbers include profiler overhead.');
  return lines.join('\n') + '\n' + notes.join('\n') + '\n';
}

function profileText(
  file: string,
  s: ReturnType<typeof summarizeProfile>,
  processCpu: { user: number; sys: number } | null,
): string {
  const busy = s.totalMs - s.idleMs;
  const table = (entries: ProfileEntry[], label: string): string[] => [
    `| # | ${label} ms | % busy | function | location |`,
    '|---:|---:|---:|---|---|',
    ...entries.map((f, i) => `| ${i + 1} | ${f.selfMs.toFixed(0)} | ${f.pctBusy.toFixed(1)} | ${f.name} | ${f.location} |`),
  ];
  const lines = [
    `CPU profile: ${file}`,
    `profiled ${(s.totalMs / 1000).toFixed(1)} s wall; main thread busy (non-idle) ${(busy / 1000).toFixed(1)} s; GC ${(s.gcMs / 1000).toFixed(2)} s (${((100 * s.gcMs) / Math.max(1, busy)).toFixed(1)}% of busy)`,
    processCpu
      ? `process CPU over its lifetime (/proc, all threads): user ${(processCpu.user / clockTicks).toFixed(1)} s + sys ${(processCpu.sys / clockTicks).toFixed(1)} s`
      : '',
    'Note: V8 samples wall time. Native entries such as writeBuffer (socket.write -> write(2)) include kernel time and time the',
    'thread sat descheduled inside the syscall (on loopback a write wakes the peer, which may preempt us on a busy 2-core box).',
    '',
    'Top self-time functions (main thread; % of busy time):',
    '',
    ...table(s.functions, 'self'),
    '',
    'Top self-time JavaScript functions (entries with a source location):',
    '',
    ...table(s.jsFunctions, 'self'),
    '',
    'Prescient functions by inclusive time (self + callees):',
    '',
    ...table(s.projectInclusive, 'total'),
    '',
    'Self time by script:',
    '',
    '| self ms | % busy | script |',
    '|---:|---:|---|',
    ...s.files.map((f) => `| ${f.selfMs.toFixed(0)} | ${f.pctBusy.toFixed(1)} | ${f.name} |`),
  ];
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

let clockTicks = 100;

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  clockTicks = clockTicksPerSecond();
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '../..');
  const maxClients = Math.max(...opts.clients);
  const cpuProfDir = opts.cpuProf
    ? path.resolve(opts.cpuProfDir ?? path.join(root, '.bench', `cpu-prof-${new Date().toISOString().replace(/[:.]/g, '-')}`))
    : undefined;

  const pgbenchVersion = spawnSync(findPgBin('pgbench'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  const pgbouncerVersion = (spawnSync('/usr/sbin/pgbouncer', ['--version'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0]?.trim() ?? '?';
  log(`${pgbenchVersion}; ${pgbouncerVersion}; node ${process.version}; ${os.cpus().length} cores; CLK_TCK ${clockTicks}`);
  log(
    `plan: modes ${opts.modes.join(',')} x clients ${opts.clients.join(',')} x ${opts.rounds} round(s) x 3 targets x ${opts.durationS} s ` +
      `≈ ${Math.ceil((opts.modes.length * opts.clients.length * opts.rounds * 3 * (opts.durationS + 1)) / 60)} min (+ setup)`,
  );

  let tmp: string | undefined;
  let clusters: Cluster[] = [];
  let watchdog: number | undefined;
  let prescient: Endpoint | undefined;
  const servers: Endpoint[] = [];
  const results: RunResult[] = [];
  let exitCode = 0;

  const onSigint = (): void => {
    if (interrupted) {
      // second Ctrl-C: kill everything now
      for (const p of procs) signalGroup(p, 'SIGKILL');
      for (const c of clusters) killPid(c.pid, 'SIGQUIT');
      process.exit(130);
    }
    interrupted = true;
    log('SIGINT: stopping the current run and cleaning up (Ctrl-C again to kill everything)');
    for (const p of procs) if (p.name === 'pgbench' || p.name === 'pgbench-init' || p.name === 'psql') signalGroup(p, 'SIGTERM');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const check = (): void => {
    if (interrupted) throw new Error('interrupted');
  };

  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-'));
    if (isRoot()) {
      const u = osUser('postgres');
      await chown(tmp, u.uid, u.gid);
    }
    if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });

    log('starting Postgres (testbed)');
    clusters = await startClusters(1, {
      auth: 'scram-sha-256',
      databases: [PG_DB],
      settings: { max_connections: 300 },
    });
    const pg = clusters[0]!;
    log(`postgres on ${pg.host}:${pg.port} (pid ${pg.pid}, data ${pg.dataDir})`);
    check();

    log(`pgbench -i -s ${opts.scale}`);
    const init = await run(
      'pgbench-init',
      findPgBin('pgbench'),
      ['-i', '-s', String(opts.scale), '-q', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, PG_DB],
      pgEnv(pg),
      15 * 60_000,
    );
    check();
    if (init.code !== 0) throw new Error(`pgbench -i failed (exit ${init.code})\n${init.stderr}`);

    const direct: Endpoint = { host: pg.host, port: pg.port, label: 'direct' };
    const bouncerTx = await startPgBouncer(tmp, 'pgbouncer-tx', pg, 'transaction', opts.poolSize);
    servers.push(bouncerTx);
    let bouncerSession: Endpoint | undefined;
    if (opts.modes.includes('prepared')) {
      bouncerSession = await startPgBouncer(tmp, 'pgbouncer-session', pg, 'session', Math.max(opts.poolSize, maxClients));
      servers.push(bouncerSession);
      log('note: -M prepared uses the pool_mode=session PgBouncer (1.18 has no prepared statements in transaction mode)');
    }
    prescient = await startPrescient(tmp, pg, opts.poolSize, cpuProfDir);
    servers.push(prescient);
    watchdog = spawnWatchdog(servers.flatMap((s) => (s.proc ? [s.proc.pid] : [])));
    check();

    // Smoke test each endpoint (auth, routing) before spending minutes on runs.
    for (const ep of [direct, ...servers]) {
      const r = await run(
        'psql',
        findPgBin('psql'),
        ['-X', '-At', '-h', ep.host, '-p', String(ep.port), '-U', pg.user, '-d', PG_DB, '-c', 'select count(*) from pgbench_branches'],
        pgEnv(pg),
        30_000,
      );
      check();
      if (r.code !== 0 || r.stdout.trim() !== String(opts.scale)) throw new Error(`smoke test via ${ep.label} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    }
    log('smoke test ok: direct, PgBouncer, Prescient');

    const own = { proxyPids: servers.flatMap((s) => (s.cpuPid ? [s.cpuPid] : [])), postmasterPid: pg.pid };
    const endpointFor = (t: Target, mode: Mode): Endpoint =>
      t === 'direct' ? direct : t === 'prescient' ? prescient! : mode === 'prepared' ? bouncerSession! : bouncerTx;

    if (opts.warmupS > 0) {
      for (const ep of [direct, ...servers]) {
        log(`warm-up ${opts.warmupS} s via ${ep.label} (-c ${maxClients} -M simple)`);
        await pgbench(pg, ep, 'simple', maxClients, opts.warmupS, opts.jobs, clockTicks, own);
        check();
      }
    }

    const total = opts.modes.length * opts.clients.length * opts.rounds * TARGETS.length;
    let done = 0;
    for (const mode of opts.modes) {
      for (const clients of opts.clients) {
        for (let round = 1; round <= opts.rounds; round++) {
          for (const target of TARGETS) {
            check();
            const ep = endpointFor(target, mode);
            if (opts.quietPct !== undefined) await waitQuiet(opts.quietPct, opts.quietWaitS, clockTicks, own);
            check();
            const r = await pgbench(pg, ep, mode, clients, opts.durationS, opts.jobs, clockTicks, own);
            check();
            done++;
            const res: RunResult = { mode, clients, round, target, ...r };
            results.push(res);
            log(
              `[${done}/${total}] ${mode} c=${clients} round ${round} ${target.padEnd(9)} ` +
                (res.error
                  ? `ERROR ${res.error}`
                  : `tps ${fmt(res.tps)} lat ${fmt(res.latencyMs, 3)} ms failed ${res.failed ?? '?'}` +
                    (res.cpuUsPerTxn !== null
                      ? ` cpu ${res.cpuUsPerTxn.toFixed(1)} µs/txn (user ${res.cpuUserTicks} / sys ${res.cpuSysTicks} ticks)`
                      : '')) +
                (res.foreignCpuPct !== null ? ` (other host load ${res.foreignCpuPct.toFixed(0)}%)` : ''),
            );
            if (ep.proc?.hasExited) throw new Error(`${ep.proc.name} exited during the benchmark\n${await tail(path.join(tmp, ep.proc.name === 'prescient' ? 'prescient.log' : `${ep.proc.name}.log`))}`);
          }
        }
      }
    }

    const rows = summarize(results, opts);
    const table = markdownTable(rows, opts);
    process.stdout.write('\n' + table);

    // Stop Prescient now so the profile is written (on exit) and can be summarized.
    let profile: { file: string; summary: ReturnType<typeof summarizeProfile> } | undefined;
    const prescientCpu = prescient.cpuPid ? cpuTicks(prescient.cpuPid) : null;
    if (prescient.proc) await stopProc(prescient.proc, 'SIGTERM', 20_000);
    if (cpuProfDir) {
      const files = readdirSync(cpuProfDir).filter((f) => f.endsWith('.cpuprofile'));
      if (files.length === 0) log(`no .cpuprofile written in ${cpuProfDir}`);
      else {
        const file = path.join(cpuProfDir, files.sort().at(-1)!);
        const summary = summarizeProfile(file, root);
        profile = { file, summary };
        process.stdout.write('\n' + profileText(file, summary, prescientCpu));
      }
    }

    if (opts.json) {
      const out = {
        meta: {
          date: new Date().toISOString(),
          node: process.version,
          pgbench: pgbenchVersion,
          pgbouncer: pgbouncerVersion,
          cores: os.cpus().length,
          cpuModel: os.cpus()[0]?.model,
          clockTicksPerSecond: clockTicks,
          ...opts,
          pgbouncerPrepared: 'PgBouncer 1.18 has no prepared-statement support in transaction mode; -M prepared runs use a second PgBouncer in pool_mode=session',
        },
        summary: rows,
        runs: results,
        ...(profile ? { profile: { file: profile.file, processCpuTicks: prescientCpu, ...profile.summary } } : {}),
      };
      await writeFile(opts.json, JSON.stringify(out, null, 2) + '\n');
      log(`wrote ${opts.json}`);
    }
    if (results.some((r) => r.error)) exitCode = 1;
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    exitCode = interrupted ? 130 : 1;
  } finally {
    // Stop everything we started, by pid: pgbench (if any), Prescient, PgBouncers, then Postgres.
    for (const p of [...procs]) if (p.name.startsWith('pgbench') || p.name === 'psql') await stopProc(p, 'SIGKILL', 5000);
    if (prescient?.proc) await stopProc(prescient.proc, 'SIGTERM', 20_000);
    for (const s of servers) if (s.proc) await stopProc(s.proc, 'SIGTERM', 10_000);
    for (const p of [...procs]) await stopProc(p, 'SIGTERM', 10_000);
    killPid(watchdog, 'SIGKILL');
    if (clusters.length > 0) {
      log('stopping Postgres');
      await stopClusters(clusters).catch((e: unknown) => log(`stopClusters: ${(e as Error).message}`));
    }
    if (tmp) {
      if (opts.keep || (exitCode !== 0 && !interrupted)) log(`kept ${tmp} (configs and logs)`);
      else await rm(tmp, { recursive: true, force: true });
    }
    if (cpuProfDir) log(`CPU profile dir: ${cpuProfDir}`);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  return exitCode;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      log(`fatal: ${(e as Error).stack ?? String(e)}`);
      process.exit(1);
    },
  );
}
