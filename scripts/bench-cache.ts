// bench-cache owns the result-cache benchmark: a read-heavy pgbench workload (Zipf accounts) against Postgres directly, Prescient without the cache and Prescient with it (interleaved rounds), with TPS, read latency p50/p99, the cache's hit ratio and the ratios cache/direct and cache/no-cache.
//
// usage (after `npm run build`):
//   npm run bench:cache -- [options]
//   node dist/scripts/bench-cache.js [options]
//
// options:
//   --duration S          seconds per pgbench run (default 15)
//   --rounds N            interleaved rounds per (workload, target) cell (default 2)
//   --clients N           pgbench clients (default 8)
//   --jobs N              pgbench -j (default 2)
//   --mode M              pgbench -M: simple | extended | prepared (default extended)
//   --workloads mixed,read-only   which workloads (default both)
//   --write-pct P         mixed workload: percent of transactions that are writes (default 10)
//   --accounts A          accounts 1..A (default 10000)
//   --rows R              rows per account (default 5)
//   --zipf S              Zipf exponent of the account choice (default 1.1; pgbench random_zipfian, S > 1)
//   --pool-size N         Prescient pool.size (default 16)
//   --warmup S            seconds of warm-up per (workload, target) before the rounds (default 3, 0 = none)
//   --sampling-rate F     fraction of transactions pgbench logs for the latency percentiles (default 0.1)
//   --quiet PCT           before each run, wait (up to --quiet-wait S, default 60) until processes outside the benchmark
//                         use less than PCT % of the host's CPU over 1 s (for shared machines; default off)
//   --json FILE           also write the results as JSON
//   --keep                keep the temp dir (configs, proxy logs)
// Default run: 2 workloads x 3 targets x 2 rounds x 15 s + warm-up and setup ≈ 4 min.
//
// What it starts (127.0.0.1, stopped by pid at the end, on SIGINT and on error): ONE throwaway Postgres cluster
// (scripts/testbed.ts) — one shard is enough to compare the read path with and without the cache; it holds
// items(account_id int, id int, val bigint, note text) with A x R rows — and two Prescient processes on it (pool
// mode transaction): one without the cache (with one shard and no plugins Prescient passes requests through without
// analysing them), one with `cache: { enabled: true, tables: [items] }` (which analyses and routes every request,
// installs the version triggers on `items` — so writes pay for the trigger on every target — and LISTENs for versions).
//
// The workloads (pgbench custom scripts written to the temp dir; `:a` is a literal under -M simple, a $n parameter otherwise):
//   read   \set a random_zipfian(1, :accounts, :zipf)   SELECT id, val, note FROM items WHERE account_id = :a;
//   write  \set a random_zipfian(…)  \set r random(1, :rows)   UPDATE items SET val = val + 1 WHERE account_id = :a AND id = :r;
//   mixed = read@(100-P) + write@P; read-only = read alone (the hit path by itself once the hot accounts are cached).
// Latency: pgbench's per-transaction log (-l --sampling-rate), READ transactions only (script 0), pooled over rounds.
// Hit ratio: SHOW CACHE on Prescient's admin console before and after each cache run.
// Progress goes to stderr; the table to stdout.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import {
  clockTicksPerSecond, cpuTicks, hostBusyTicks, killPid, median, procTimes, procs, run, signalGroup, spawnProc, spawnWatchdog, stopProc, tail, waitForPort,
  type Proc,
} from './bench-passthrough.js';
import { findPgBin, freePort, startClusters, stopClusters, type Cluster } from './testbed.js';
import { NODE_FLAGS } from '../proxy/nodeFlags.js';

const log = (msg: string): void => {
  process.stderr.write(`[bench-cache ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const WORKLOADS = ['mixed', 'read-only'] as const;
type Workload = (typeof WORKLOADS)[number];
const TARGETS = ['direct', 'nocache', 'cache'] as const;
type Target = (typeof TARGETS)[number];
const TARGET_LABEL: Record<Target, string> = { direct: 'Postgres directly', nocache: 'Prescient, no cache', cache: 'Prescient + cache' };
type Mode = 'simple' | 'extended' | 'prepared';

interface Options {
  durationS: number;
  rounds: number;
  clients: number;
  jobs: number;
  mode: Mode;
  workloads: Workload[];
  writePct: number;
  accounts: number;
  rows: number;
  zipf: number;
  poolSize: number;
  warmupS: number;
  samplingRate: number;
  quietPct?: number;
  quietWaitS: number;
  json?: string;
  keep: boolean;
}

const USAGE = `usage: npm run bench:cache -- [--duration S] [--rounds N] [--clients N] [--jobs N] [--mode simple|extended|prepared]
       [--workloads mixed,read-only] [--write-pct P] [--accounts A] [--rows R] [--zipf S] [--pool-size N] [--warmup S]
       [--sampling-rate F] [--quiet PCT] [--quiet-wait S] [--json FILE] [--keep]`;

function parseArgs(argv: string[]): Options {
  const flags = new Map<string, string>();
  const known = new Set(['duration', 'rounds', 'clients', 'jobs', 'mode', 'workloads', 'write-pct', 'accounts', 'rows', 'zipf', 'pool-size', 'warmup', 'sampling-rate', 'quiet', 'quiet-wait', 'json', 'keep', 'help']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!known.has(name)) throw new Error(`unknown option --${name}\n${USAGE}`);
    if (name === 'keep') {
      flags.set(name, 'true');
      continue;
    }
    const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new Error(`missing value for --${name}\n${USAGE}`);
    flags.set(name, v);
  }
  const num = (name: string, def: number, min: number, max = Infinity, int = true): number => {
    const v = flags.get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max) throw new Error(`--${name}: expected ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
    return n;
  };
  const mode = flags.get('mode') ?? 'extended';
  if (mode !== 'simple' && mode !== 'extended' && mode !== 'prepared') throw new Error(`--mode: simple, extended or prepared, got ${mode}`);
  const workloads = (flags.get('workloads') ?? WORKLOADS.join(',')).split(',').filter(Boolean).map((w) => {
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workloads: ${WORKLOADS.join(', ')}; got ${w}`);
    return w as Workload;
  });
  const zipf = num('zipf', 1.1, 1.001, 1000, false);
  return {
    durationS: num('duration', 15, 1),
    rounds: num('rounds', 2, 1),
    clients: num('clients', 8, 1),
    jobs: num('jobs', 2, 1),
    mode,
    workloads,
    writePct: num('write-pct', 10, 0, 100),
    accounts: num('accounts', 10_000, 1),
    rows: num('rows', 5, 1),
    zipf,
    poolSize: num('pool-size', 16, 1),
    warmupS: num('warmup', 3, 0),
    samplingRate: num('sampling-rate', 0.1, 0.0001, 1, false),
    quietPct: flags.has('quiet') ? num('quiet', 0, 1, 100) : undefined,
    quietWaitS: num('quiet-wait', 60, 0),
    json: flags.get('json'),
    keep: flags.get('keep') === 'true',
  };
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

const DB = 'app';
const ADMIN = { name: 'admin', password: 'admin-secret' };

interface Endpoint {
  host: string;
  port: number;
  proc?: Proc;
  /** admin console (the cache proxy) */
  admin?: { host: string; port: number };
}

async function load(c: Cluster, accounts: number, rows: number): Promise<void> {
  const client = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: DB });
  await client.connect();
  try {
    await client.query('create table items (account_id int not null, id int not null, val bigint not null default 0, note text, primary key (account_id, id))');
    await client.query(
      `insert into items (account_id, id, val, note) select a, r, 0, 'item ' || r || ' of account ' || a || ' ' || md5((a * 100 + r)::text) from generate_series(1, $1::int) a, generate_series(1, $2::int) r`,
      [accounts, rows],
    );
    await client.query('vacuum analyze items');
  } finally {
    await client.end();
  }
}

async function startPrescient(dir: string, name: string, c: Cluster, poolSize: number, cache: boolean): Promise<Endpoint> {
  const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../proxy/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} not found; run 'npm run build' first`);
  const port = await freePort();
  const config = {
    listen: { host: '127.0.0.1', port, max_client_connections: 1000 },
    database: DB,
    users: [{ name: c.user, password: c.password }],
    admin: { users: [ADMIN] },
    auth: { method: 'scram-sha-256' },
    shards: [{ name: 's0', host: c.host, port: c.port, database: DB, user: c.user, password: c.password }],
    pool: { mode: 'transaction', size: poolSize },
    sharding: { account_column: 'account_id', domains: { item: { tables: ['items'] } } },
    catalog: { path: path.join(dir, `${name}.db`) },
    cache: { enabled: cache, tables: ['items'] },
    shutdown: { timeout_ms: 5000 },
    log: { level: 'warn' },
  };
  const configFile = path.join(dir, `${name}.yaml`);
  await writeFile(configFile, '# generated by scripts/bench-cache.ts\n' + JSON.stringify(config, null, 2) + '\n');
  const logFile = path.join(dir, `${name}.log`);
  const proc = spawnProc(name, process.execPath, [...NODE_FLAGS, cli, 'start', '--config', configFile], { logFile });
  try {
    await waitForPort('127.0.0.1', port, 20_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- ${name} log ---\n${await tail(logFile)}`);
  }
  log(`${name}: Prescient ${cache ? 'with' : 'without'} the cache on 127.0.0.1:${port} (pid ${proc.pid})`);
  return { host: '127.0.0.1', port, proc, admin: { host: '127.0.0.1', port } };
}

interface CacheCounters {
  hits: number;
  misses: number;
}

async function cacheCounters(ep: { host: string; port: number }): Promise<CacheCounters> {
  const c = new pg.Client({ host: ep.host, port: ep.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  await c.connect();
  try {
    const r = await c.query({ text: 'SHOW CACHE', queryMode: 'simple' } as pg.QueryConfig);
    const total = r.rows.find((x) => x.domain === '*') ?? {};
    return { hits: Number(total.hits ?? 0), misses: Number(total.misses ?? 0) };
  } finally {
    await c.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// pgbench
// ---------------------------------------------------------------------------------------------

const READ_SQL = `-- bench-cache read: one account's items (Zipf)
\\set a random_zipfian(1, :accounts, :zipf)
SELECT id, val, note FROM items WHERE account_id = :a;
`;
const WRITE_SQL = `-- bench-cache write: one item of one account (Zipf)
\\set a random_zipfian(1, :accounts, :zipf)
\\set r random(1, :rows)
UPDATE items SET val = val + 1 WHERE account_id = :a AND id = :r;
`;

interface RunResult {
  workload: Workload;
  target: Target;
  round: number;
  tps: number | null;
  transactions: number | null;
  failed: number | null;
  /** sampled latencies (µs) of the read transactions */
  readUs: number[];
  hits: number | null;
  misses: number | null;
  /** the target proxy's utime+stime during the run, clock ticks (null for direct) */
  proxyCpuTicks: number | null;
  foreignCpuPct: number | null;
  error?: string;
}

/** CPU ticks of this process and its reaped children (pgbench), the proxies, and the postmaster with its backends. */
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

interface Ctx {
  dir: string;
  opts: Options;
  cluster: Cluster;
  clkTck: number;
  proxyPids: number[];
}

let runCounter = 0;

/** Waits (up to maxWaitS) until processes outside the benchmark use less than pct % of the host's CPU over 1 s; returns the last reading. */
async function waitQuiet(ctx: Ctx, pct: number, maxWaitS: number): Promise<number | null> {
  const deadline = Date.now() + maxWaitS * 1000;
  let warned = false;
  for (;;) {
    const h0 = hostBusyTicks();
    const o0 = ownTicks(ctx.proxyPids, ctx.cluster.pid);
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 1000));
    const h1 = hostBusyTicks();
    const o1 = ownTicks(ctx.proxyPids, ctx.cluster.pid);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (h0 === null || h1 === null) return null;
    const other = Math.max(0, (100 * (h1 - h0 - (o1 - o0))) / (ctx.clkTck * wallS * os.cpus().length));
    if (other < pct) return other;
    if (Date.now() > deadline) {
      log(`host still busy (${other.toFixed(0)}% CPU used by other processes) after ${maxWaitS} s; running anyway`);
      return other;
    }
    if (!warned) log(`waiting for the host to quiet down: other processes use ${other.toFixed(0)}% CPU (threshold ${pct}%)`);
    warned = true;
  }
}

async function pgbench(ctx: Ctx, ep: Endpoint, workload: Workload, durationS: number): Promise<Omit<RunResult, 'workload' | 'target' | 'round' | 'hits' | 'misses'>> {
  const cpuBefore = ep.proc ? cpuTicks(ep.proc.pid) : null;
  const { opts, cluster } = ctx;
  const prefix = path.join(ctx.dir, 'logs', `run${++runCounter}`);
  const scripts = workload === 'read-only' || opts.writePct === 0
    ? ['-f', path.join(ctx.dir, 'read.sql')]
    : opts.writePct === 100
      ? ['-f', path.join(ctx.dir, 'write.sql')]
      : ['-f', `${path.join(ctx.dir, 'read.sql')}@${100 - opts.writePct}`, '-f', `${path.join(ctx.dir, 'write.sql')}@${opts.writePct}`];
  const args = [
    '-n', ...scripts,
    '-D', `accounts=${opts.accounts}`, '-D', `rows=${opts.rows}`, '-D', `zipf=${opts.zipf}`,
    '-T', String(durationS), '-c', String(opts.clients), '-j', String(Math.min(opts.jobs, opts.clients)), '-M', opts.mode,
    '-l', `--sampling-rate=${opts.samplingRate}`, `--log-prefix=${prefix}`,
    '-h', ep.host, '-p', String(ep.port), '-U', cluster.user, DB,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, PGPASSWORD: cluster.password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
  const hostBefore = hostBusyTicks();
  const ownBefore = ownTicks(ctx.proxyPids, cluster.pid);
  const t0 = process.hrtime.bigint();
  const r = await run('pgbench', findPgBin('pgbench'), args, env, (durationS + 90) * 1000);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuAfter = ep.proc ? cpuTicks(ep.proc.pid) : null;
  const hostAfter = hostBusyTicks();
  const ownAfter = ownTicks(ctx.proxyPids, cluster.pid);
  const foreignCpuPct = hostBefore !== null && hostAfter !== null
    ? Math.max(0, (100 * (hostAfter - hostBefore - (ownAfter - ownBefore))) / (ctx.clkTck * wallS * os.cpus().length))
    : null;
  const num = (re: RegExp): number | null => {
    const m = re.exec(r.stdout);
    return m ? Number(m[1]) : null;
  };
  // per-transaction log lines: client_id transaction_no time_us script_no time_epoch time_us [...]
  const readUs: number[] = [];
  const logDir = path.dirname(prefix);
  for (const f of readdirSync(logDir)) {
    if (!f.startsWith(path.basename(prefix) + '.')) continue;
    const file = path.join(logDir, f);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const x = line.split(' ');
      if (x.length < 6 || x[3] !== '0') continue; // script 0: the read
      const us = Number(x[2]);
      if (Number.isFinite(us)) readUs.push(us);
    }
    await rm(file, { force: true });
  }
  const tps = num(/^tps = ([\d.]+)/m);
  let error: string | undefined;
  if (r.timedOut) error = 'pgbench timed out';
  else if (r.code !== 0 || tps === null) {
    const lines = (r.stderr + '\n' + r.stdout).split('\n').filter((l) => /error|abort|fatal|failed|could not/i.test(l));
    error = `pgbench exit ${r.code ?? r.signal}: ${lines.slice(0, 3).join(' | ') || r.stderr.trim().slice(0, 300)}`;
  }
  return {
    tps,
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
    readUs,
    proxyCpuTicks: cpuBefore && cpuAfter ? cpuAfter.user + cpuAfter.sys - cpuBefore.user - cpuBefore.sys : null,
    foreignCpuPct,
    ...(error ? { error } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

interface Cell {
  workload: Workload;
  target: Target;
  tps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  hitRatio: number | null;
  /** the proxy's CPU per transaction, µs */
  cpuUsPerTxn: number | null;
  failed: number;
  errors: number;
  maxForeignCpuPct: number | null;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summarize(results: RunResult[], opts: Options, clkTck: number): Cell[] {
  const cells: Cell[] = [];
  for (const workload of opts.workloads) {
    for (const target of TARGETS) {
      const rs = results.filter((r) => r.workload === workload && r.target === target);
      const ok = rs.filter((r) => r.tps !== null && !r.error);
      const lat = ok.flatMap((r) => r.readUs).sort((a, b) => a - b);
      const hits = ok.reduce((n, r) => n + (r.hits ?? 0), 0);
      const lookups = ok.reduce((n, r) => n + (r.hits ?? 0) + (r.misses ?? 0), 0);
      const ms = (us: number | null): number | null => (us === null ? null : us / 1000);
      const foreign = rs.flatMap((r) => (r.foreignCpuPct === null ? [] : [r.foreignCpuPct]));
      const withCpu = ok.filter((r) => r.proxyCpuTicks !== null && r.transactions);
      const txns = withCpu.reduce((n, r) => n + r.transactions!, 0);
      const ticks = withCpu.reduce((n, r) => n + r.proxyCpuTicks!, 0);
      cells.push({
        workload,
        target,
        tps: median(ok.map((r) => r.tps!)),
        p50Ms: ms(percentile(lat, 50)),
        p99Ms: ms(percentile(lat, 99)),
        hitRatio: target === 'cache' && lookups > 0 ? hits / lookups : null,
        cpuUsPerTxn: txns > 0 ? ((ticks / clkTck) * 1e6) / txns : null,
        failed: rs.reduce((n, r) => n + (r.failed ?? 0), 0),
        errors: rs.filter((r) => r.error).length,
        maxForeignCpuPct: foreign.length ? Math.max(...foreign) : null,
      });
    }
  }
  return cells;
}

const fmt = (n: number | null, digits = 0): string => (n === null ? 'n/a' : n.toFixed(digits));
const ratio = (a: number | null, b: number | null): string => (a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`);

function report(cells: Cell[], opts: Options): string {
  const lines = [
    '| workload | target | TPS | read p50 ms | read p99 ms | hit ratio | proxy CPU µs/txn | failed | other load % (max) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of cells) {
    lines.push(`| ${c.workload} | ${TARGET_LABEL[c.target]} | ${fmt(c.tps)}${c.errors ? ` (${c.errors} err)` : ''} | ${fmt(c.p50Ms, 3)} | ${fmt(c.p99Ms, 3)} | ${c.hitRatio === null ? '' : `${(100 * c.hitRatio).toFixed(1)}%`} | ${fmt(c.cpuUsPerTxn, 1)} | ${c.failed} | ${fmt(c.maxForeignCpuPct)} |`);
  }
  lines.push('', '| workload | TPS cache/direct | TPS cache/no-cache | read p50 direct/cache | read p50 no-cache/cache | read p99 direct/cache |', '|---|---:|---:|---:|---:|---:|');
  for (const w of opts.workloads) {
    const of = (t: Target): Cell => cells.find((c) => c.workload === w && c.target === t)!;
    const [d, n, c] = [of('direct'), of('nocache'), of('cache')];
    lines.push(`| ${w} | ${ratio(c.tps, d.tps)} | ${ratio(c.tps, n.tps)} | ${ratio(d.p50Ms, c.p50Ms)} | ${ratio(n.p50Ms, c.p50Ms)} | ${ratio(d.p99Ms, c.p99Ms)} |`);
  }
  lines.push(
    '',
    `pgbench -M ${opts.mode} -c ${opts.clients} -j ${opts.jobs}, -T ${opts.durationS} s x ${opts.rounds} interleaved round(s) per cell (direct, no cache, cache); ` +
      `${opts.accounts} accounts x ${opts.rows} rows, Zipf ${opts.zipf}; mixed = ${100 - opts.writePct}% reads / ${opts.writePct}% writes, read-only = 100% reads.`,
    'TPS = median over rounds (all transactions, reads and writes); read p50/p99 = percentiles of the READ transactions in pgbench\'s per-transaction log ' +
      `(--sampling-rate ${opts.samplingRate}) pooled over rounds; hit ratio = SHOW CACHE hits / (hits + misses) during the measured runs.`,
    `One Postgres cluster (one shard), both Prescient processes on it (pool.size ${opts.poolSize}, transaction mode); the version triggers the cache proxy installs ` +
      `fire on every write, whichever target sent it. Everything on one ${os.cpus().length}-core host: pgbench, Postgres and Prescient share the CPUs.`,
    'proxy CPU µs/txn = the Prescient process\'s utime+stime during the runs / transactions (Prescient runs on one thread: 1e6 / this is its ceiling in TPS).',
    '"other load" = host CPU used during a run by processes outside this benchmark, in % of all cores (high values mean noisy numbers).',
  );
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const clkTck = clockTicksPerSecond();
  const pgbenchVersion = spawnSync(findPgBin('pgbench'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  const cells = opts.workloads.length * TARGETS.length;
  log(`${pgbenchVersion}; node ${process.version}; ${os.cpus().length} cores`);
  log(`plan: ${opts.workloads.join(', ')} x ${TARGETS.length} targets x ${opts.rounds} round(s) x ${opts.durationS} s + warm-up ≈ ${Math.ceil((cells * (opts.rounds * (opts.durationS + 1) + opts.warmupS + 1)) / 60)} min (+ setup)`);
  let tmp: string | undefined;
  let clusters: Cluster[] = [];
  const proxies: Endpoint[] = [];
  let watchdog: number | undefined;
  let interrupted = false;
  let exitCode = 0;
  const onSignal = (): void => {
    if (interrupted) {
      for (const p of procs) signalGroup(p, 'SIGKILL');
      process.exit(130);
    }
    interrupted = true;
    log('signal: stopping the current run and cleaning up (again to kill everything)');
    for (const p of procs) if (p.name === 'pgbench') signalGroup(p, 'SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const check = (): void => {
    if (interrupted) throw new Error('interrupted');
  };
  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-cache-'));
    await writeFile(path.join(tmp, 'read.sql'), READ_SQL);
    await writeFile(path.join(tmp, 'write.sql'), WRITE_SQL);
    await mkdir(path.join(tmp, 'logs'));
    log('starting Postgres (testbed)');
    clusters = await startClusters(1, { databases: [DB], settings: { max_connections: 200 } });
    const cluster = clusters[0]!;
    log(`loading ${opts.accounts} accounts x ${opts.rows} rows`);
    await load(cluster, opts.accounts, opts.rows);
    check();
    const nocache = await startPrescient(tmp, 'prescient-nocache', cluster, opts.poolSize, false);
    proxies.push(nocache);
    const cache = await startPrescient(tmp, 'prescient-cache', cluster, opts.poolSize, true);
    proxies.push(cache);
    watchdog = spawnWatchdog(proxies.map((p) => p.proc!.pid));
    const endpoints: Record<Target, Endpoint> = { direct: { host: cluster.host, port: cluster.port }, nocache, cache };
    const ctx: Ctx = { dir: tmp, opts, cluster, clkTck, proxyPids: proxies.map((p) => p.proc!.pid) };

    if (opts.warmupS > 0) {
      for (const w of opts.workloads) {
        for (const target of TARGETS) {
          log(`warm-up ${opts.warmupS} s: ${w} via ${TARGET_LABEL[target]}`);
          const r = await pgbench(ctx, endpoints[target], w, opts.warmupS);
          check();
          if (r.error) throw new Error(`warm-up via ${TARGET_LABEL[target]} failed: ${r.error}`);
        }
      }
    }
    const results: RunResult[] = [];
    const total = opts.rounds * cells;
    for (let round = 1; round <= opts.rounds; round++) {
      for (const workload of opts.workloads) {
        for (const target of TARGETS) {
          check();
          if (opts.quietPct !== undefined) await waitQuiet(ctx, opts.quietPct, opts.quietWaitS);
          const before = target === 'cache' ? await cacheCounters(cache.admin!) : null;
          const r = await pgbench(ctx, endpoints[target], workload, opts.durationS);
          const after = target === 'cache' ? await cacheCounters(cache.admin!) : null;
          check();
          const res: RunResult = {
            workload, target, round, ...r,
            hits: before && after ? after.hits - before.hits : null,
            misses: before && after ? after.misses - before.misses : null,
          };
          results.push(res);
          const hitText = res.hits !== null ? ` hit ratio ${((100 * res.hits) / Math.max(1, res.hits + (res.misses ?? 0))).toFixed(1)}%` : '';
          const sorted = [...res.readUs].sort((a, b) => a - b);
          log(
            `[${results.length}/${total}] round ${round} ${workload.padEnd(9)} ${TARGET_LABEL[target].padEnd(19)} ` +
              (res.proxyCpuTicks !== null && res.transactions ? `cpu ${(((res.proxyCpuTicks / clkTck) * 1e6) / res.transactions).toFixed(1)} µs/txn ` : '') +
              (res.error
                ? `ERROR ${res.error}`
                : `tps ${fmt(res.tps)} read p50 ${fmt((percentile(sorted, 50) ?? NaN) / 1000, 3)} ms p99 ${fmt((percentile(sorted, 99) ?? NaN) / 1000, 3)} ms failed ${res.failed ?? '?'}${hitText}`) +
              (res.foreignCpuPct !== null ? ` (other host load ${res.foreignCpuPct.toFixed(0)}%)` : ''),
          );
          for (const p of proxies) if (p.proc?.hasExited) throw new Error(`${p.proc.name} exited during the benchmark\n${await tail(path.join(tmp, `${p.proc.name}.log`))}`);
        }
      }
    }
    const summary = summarize(results, opts, clkTck);
    process.stdout.write('\n' + report(summary, opts));
    if (opts.json) {
      await writeFile(opts.json, JSON.stringify({ meta: { date: new Date().toISOString(), node: process.version, pgbench: pgbenchVersion, cores: os.cpus().length, ...opts }, summary, runs: results.map(({ readUs, ...r }) => ({ ...r, readSamples: readUs.length })) }, null, 2) + '\n');
      log(`wrote ${opts.json}`);
    }
    if (results.some((r) => r.error)) exitCode = 1;
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    exitCode = interrupted ? 130 : 1;
  } finally {
    for (const p of [...procs]) if (p.name === 'pgbench') await stopProc(p, 'SIGKILL', 5000);
    for (const p of proxies) if (p.proc) await stopProc(p.proc, 'SIGTERM', 10_000);
    killPid(watchdog, 'SIGKILL');
    if (clusters.length > 0) {
      log('stopping Postgres');
      await stopClusters(clusters).catch((e: unknown) => log(`stopClusters: ${(e as Error).message}`));
    }
    if (tmp) {
      if (opts.keep || (exitCode !== 0 && !interrupted)) log(`kept ${tmp} (configs, proxy logs)`);
      else await rm(tmp, { recursive: true, force: true });
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
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
