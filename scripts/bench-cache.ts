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
//   --rtt-ms MS           put Postgres "across a network": every target reaches it through scripts/delay-relay.ts, which adds
//                         MS per round trip (default 0 = loopback; 1 = 0.5 ms each way, a database in the same region)
//   --cpu-prof            run the cache proxy under `node --cpu-prof` (profile in .bench/cpu-prof-<timestamp>)
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

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { clockTicksPerSecond, waitQuiet, type Own } from './lib/cpu.js';
import { makeLog } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { finish, Interrupt, runMain } from './lib/main.js';
import { pgbench as runPgbench, pgbenchVersion as pgbenchVersionLine, readLatencyLogs } from './lib/pgbench.js';
import { benchConfig, cpuProfDir, startPrescient as launchPrescient } from './lib/prescient.js';
import { fileURLToPath } from 'node:url';
import { killEverything, procs, signalGroup, spawnWatchdog, stopProc, tail, type Proc } from './lib/proc.js';
import { median, percentile } from './lib/stats.js';
import { reachCluster } from './lib/delayRelay.js';

const log = makeLog('bench-cache');

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
  rttMs: number;
  cpuProf: boolean;
  json?: string;
  keep: boolean;
}

const USAGE = `usage: npm run bench:cache -- [--duration S] [--rounds N] [--clients N] [--jobs N] [--mode simple|extended|prepared]
       [--workloads mixed,read-only] [--write-pct P] [--accounts A] [--rows R] [--zipf S] [--pool-size N] [--warmup S]
       [--sampling-rate F] [--quiet PCT] [--quiet-wait S] [--rtt-ms MS] [--cpu-prof] [--json FILE] [--keep]`;

function parseArgs(argv: string[]): Options {
  const flags = new Args(argv, {
    usage: USAGE,
    values: ['duration', 'rounds', 'clients', 'jobs', 'mode', 'workloads', 'write-pct', 'accounts', 'rows', 'zipf', 'pool-size', 'warmup', 'sampling-rate', 'quiet', 'quiet-wait', 'rtt-ms', 'json'],
    booleans: ['keep', 'cpu-prof'],
  });
  const mode = flags.get('mode') ?? 'extended';
  if (mode !== 'simple' && mode !== 'extended' && mode !== 'prepared') throw new Error(`--mode: simple, extended or prepared, got ${mode}`);
  return {
    durationS: flags.num('duration', 15, 1),
    rounds: flags.num('rounds', 2, 1),
    clients: flags.num('clients', 8, 1),
    jobs: flags.num('jobs', 2, 1),
    mode,
    workloads: flags.list('workloads', WORKLOADS),
    writePct: flags.num('write-pct', 10, 0, 100),
    accounts: flags.num('accounts', 10_000, 1),
    rows: flags.num('rows', 5, 1),
    zipf: flags.num('zipf', 1.1, 1.001, 1000, false),
    poolSize: flags.num('pool-size', 16, 1),
    warmupS: flags.num('warmup', 3, 0),
    samplingRate: flags.num('sampling-rate', 0.1, 0.0001, 1, false),
    quietPct: flags.has('quiet') ? flags.num('quiet', 0, 1, 100) : undefined,
    quietWaitS: flags.num('quiet-wait', 60, 0),
    rttMs: flags.num('rtt-ms', 0, 0, 100, false),
    cpuProf: flags.bool('cpu-prof'),
    json: flags.get('json'),
    keep: flags.bool('keep'),
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

async function startPrescient(dir: string, name: string, c: Cluster, pgAt: { host: string; port: number }, poolSize: number, cache: boolean, profDir?: string): Promise<Endpoint> {
  const p = await launchPrescient({
    dir,
    name,
    cpuProfDir: profDir,
    generatedBy: 'scripts/bench-cache.ts',
    config: (port) => ({
      ...benchConfig(port, poolSize, 'warn'),
      database: DB,
      users: [{ name: c.user, password: c.password }],
      admin: { users: [ADMIN] },
      shards: [{ name: 's0', host: pgAt.host, port: pgAt.port, database: DB, user: c.user, password: c.password }],
      sharding: { account_column: 'account_id', domains: { item: { tables: ['items'] } } },
      catalog: { path: path.join(dir, `${name}.db`) },
      cache: { enabled: cache, tables: ['items'] },
    }),
  });
  log(`${name}: Prescient ${cache ? 'with' : 'without'} the cache on 127.0.0.1:${p.port} (pid ${p.proc.pid})`);
  return { host: p.host, port: p.port, proc: p.proc, admin: { host: p.host, port: p.port } };
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

interface Ctx {
  dir: string;
  opts: Options;
  cluster: Cluster;
  clkTck: number;
  own: Own;
}

let runCounter = 0;

async function pgbench(ctx: Ctx, ep: Endpoint, workload: Workload, durationS: number): Promise<Omit<RunResult, 'workload' | 'target' | 'round' | 'hits' | 'misses'>> {
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
  const r = await runPgbench(args, { password: cluster.password, durationS, cpuPid: ep.proc?.pid, own: ctx.own, clkTck: ctx.clkTck });
  const readUs = await readLatencyLogs(prefix, 0); // script 0: the read
  return {
    tps: r.tps,
    transactions: r.transactions,
    failed: r.failed,
    readUs,
    proxyCpuTicks: r.cpu ? r.cpu.user + r.cpu.sys : null,
    foreignCpuPct: r.foreignCpuPct,
    ...(r.error ? { error: r.error } : {}),
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

function report(cells: Cell[], opts: Options, rttMeasured: number | null): string {
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
    opts.rttMs > 0
      ? `Postgres across a network: every target (direct too) reaches it through scripts/delay-relay.ts, ${opts.rttMs} ms per round trip asked, ${rttMeasured === null ? '?' : rttMeasured.toFixed(3)} ms measured (median select 1 through it minus direct).`
      : 'Postgres on loopback (no added network latency; --rtt-ms adds some).',
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
  const pgbenchVersion = pgbenchVersionLine();
  const cells = opts.workloads.length * TARGETS.length;
  log(`${pgbenchVersion}; node ${process.version}; ${os.cpus().length} cores`);
  log(`plan: ${opts.workloads.join(', ')} x ${TARGETS.length} targets x ${opts.rounds} round(s) x ${opts.durationS} s + warm-up ≈ ${Math.ceil((cells * (opts.rounds * (opts.durationS + 1) + opts.warmupS + 1)) / 60)} min (+ setup)`);
  let tmp: string | undefined;
  let clusters: Cluster[] = [];
  const proxies: Endpoint[] = [];
  const relays: Proc[] = [];
  let rttMeasured: number | null = null;
  let watchdog: number | undefined;
  let exitCode = 0;
  const interrupt = new Interrupt(
    () => {
      log('signal: stopping the current run and cleaning up (again to kill everything)');
      for (const p of procs) if (p.name === 'pgbench') signalGroup(p, 'SIGTERM');
    },
    () => killEverything([]),
  );
  const check = (): void => interrupt.check();
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
    const reached = await reachCluster(tmp, cluster, opts.rttMs, DB, log);
    if (reached.relay) relays.push(reached.relay);
    const pgAt = reached.at;
    rttMeasured = reached.rttMeasured;
    const nocache = await startPrescient(tmp, 'prescient-nocache', cluster, pgAt, opts.poolSize, false);
    proxies.push(nocache);
    const profDir = opts.cpuProf ? cpuProfDir(undefined, path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')) : undefined;
    if (profDir) await mkdir(profDir, { recursive: true });
    const cache = await startPrescient(tmp, 'prescient-cache', cluster, pgAt, opts.poolSize, true, profDir);
    proxies.push(cache);
    watchdog = spawnWatchdog([...proxies.map((p) => p.proc!.pid), ...relays.map((p) => p.pid)]);
    // direct: no proxy CPU to count (the delay relay's own CPU is not Postgres')
    const endpoints: Record<Target, Endpoint> = { direct: { host: pgAt.host, port: pgAt.port }, nocache, cache };
    const ctx: Ctx = { dir: tmp, opts, cluster, clkTck, own: { proxyPids: proxies.map((p) => p.proc!.pid), postmasterPids: [cluster.pid] } };

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
          if (opts.quietPct !== undefined) await waitQuiet(opts.quietPct, opts.quietWaitS, clkTck, ctx.own, log);
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
    process.stdout.write('\n' + report(summary, opts, rttMeasured));
    await writeJson(opts.json, { meta: { date: new Date().toISOString(), node: process.version, pgbench: pgbenchVersion, cores: os.cpus().length, ...opts, rttMeasuredMs: rttMeasured }, summary, runs: results.map(({ readUs, ...r }) => ({ ...r, readSamples: readUs.length })) }, log);
    if (results.some((r) => r.error)) exitCode = 1;
  } catch (e) {
    exitCode = interrupt.failed(e, log);
  } finally {
    for (const p of [...procs]) if (p.name === 'pgbench') await stopProc(p, 'SIGKILL', 5000);
    for (const p of proxies) if (p.proc) await stopProc(p.proc, 'SIGTERM', 10_000);
    if (opts.cpuProf) log('CPU profile of the cache proxy: .bench/cpu-prof-* (newest)');
    for (const p of relays) await stopProc(p, 'SIGTERM', 5000);
    await finish({ log, interrupt, clusters, watchdog, tmp, keepTmp: opts.keep || (exitCode !== 0 && !interrupt.interrupted), kept: 'configs, proxy logs' });
  }
  return exitCode;
}

runMain(import.meta.url, main, log);
