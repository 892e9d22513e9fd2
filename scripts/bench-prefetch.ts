// bench-prefetch owns the predictive-prefetch benchmark: the workload's personas (workload/run.ts) through Prescient with the cache off, the cache only, and the cache + prefetch, in interleaved rounds with one seed — action and read-action latency, read hit ratio, backend queries, prefetches issued/stored/used/wasted and the proxy's event-loop delay.
//
// usage (after `npm run build`):
//   npm run bench:prefetch -- [options]
//   node dist/scripts/bench-prefetch.js [options]
//
// options:
//   --duration S          seconds per workload run (default 20)
//   --rounds N            interleaved rounds (default 2): each round runs every target once, in order
//   --targets off,cache,prefetch   which targets (default all three)
//   --agents N            workload agents, one connection each (default 8)
//   --accounts A          accounts loaded (acct-1 … acct-A, default 200); the agents pick them Zipf(--zipf)
//   --zipf S              Zipf exponent of the account choice (default 1.1)
//   --think-scale F       persona think time × F (default 1: 5–20 ms means, exponential)
//   --seed S              workload seed, the same for every run (default 1)
//   --pool-size N         Prescient pool.size (default 8)
//   --warmup S            seconds of workload per target before the rounds (default 5; primes caches and the online model)
//   --threshold P         cache.prefetch.threshold (default: the config's, 0.3)
//   --min-used-share P    cache.prefetch.min_used_share (default: the config's, 0.5)
//   --top N               cache.prefetch.top (default: the config's, 3)
//   --model FILE          cache.prefetch.model: a model file of `prescient train` (default: Markov-1 learned online)
//   --rtt-ms MS           Postgres "across a network": every target reaches it through scripts/delay-relay.ts, MS more per
//                         round trip (default 0 = loopback; 1 = 0.5 ms each way, a database in the same region)
//   --cpu-prof            run the cache and prefetch targets' proxies under `node --cpu-prof` (profile in .bench/cpu-prof-<timestamp>;
//                         read it with `node dist/scripts/profile-top.js --file …`)
//   --json FILE           also write the results as JSON
//   --keep                keep the temp dir (configs, proxy logs, action logs)
//   --cloudtrail DIR      replay these CloudTrail logs (`workload replay`: each event under its own name, reads and
//                         writes as their records say) instead of running the personas; every run (warm-up too) replays
//                         the whole trail; --duration, --agents, --zipf and --think-scale do not apply
//   --speedup X           with --cloudtrail: trail time / wall time (default 0: each identity's events back to back)
//   --concurrency N       with --cloudtrail: transactions at once (default 8)
// Default run: 3 targets x 2 rounds x 20 s + 3 x 5 s warm-up + setup ≈ 3 min.
//
// What it starts (127.0.0.1, stopped at the end, on SIGINT and on error): ONE throwaway Postgres cluster with
// pg_stat_statements, the workload's schema and accounts loaded straight into it, and one Prescient process per target
// (pool mode transaction; domains split by action domain as in test/workload/sharded.test.ts, so a volume write does not
// move the version of the account's instance reads): `off` has no cache, `cache` has `cache: { enabled: true }`, and
// `prefetch` adds `prefetch: { enabled: true }`. Each cache proxy installs the version triggers, so writes pay for them
// on every target.
//
// Per run (the workload's clock, after it read the accounts' state): every action's latency from the workload's own
// action log (`--log`), read actions (Describe*, GetCallerIdentity) apart; SHOW CACHE hits and misses; SHOW PREFETCH
// issued/stored/used/wasted; statements Postgres executed (sum of pg_stat_statements.calls in the database, this
// benchmark's own queries excepted), per action; and SHOW STATS event_loop_p99_ms (the proxy's event-loop delay p99 over
// the run). Progress goes to stderr; the table to stdout.

import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { makeLog } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { finish, Interrupt, runMain } from './lib/main.js';
import { benchConfig, cpuProfDir, startPrescient as launchPrescient } from './lib/prescient.js';
import { fileURLToPath } from 'node:url';
import { clockTicksPerSecond, cpuTicks } from './lib/cpu.js';
import { killEverything, spawnWatchdog, stopProc, tail, type Proc } from './lib/proc.js';
import { percentile } from './lib/stats.js';
import { reachCluster } from './lib/delayRelay.js';
import { ACTIONS } from '../workload/actions.js';
import { applySchema, loadAccounts } from '../workload/load.js';
import { runWorkload } from '../workload/run.js';
import { replay } from '../workload/replay.js';
import type { ActionLogEntry } from '../workload/types.js';

const log = makeLog('bench-prefetch');

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const TARGETS = ['off', 'cache', 'prefetch'] as const;
type Target = (typeof TARGETS)[number];
const TARGET_LABEL: Record<Target, string> = { off: 'cache off', cache: 'cache only', prefetch: 'cache + prefetch' };

interface Options {
  durationS: number;
  rounds: number;
  targets: Target[];
  agents: number;
  accounts: number;
  zipf: number;
  thinkScale: number;
  seed: string;
  poolSize: number;
  warmupS: number;
  threshold?: number;
  minUsedShare?: number;
  top?: number;
  model?: string;
  rttMs: number;
  json?: string;
  keep: boolean;
  cpuProf: boolean;
  /** replay these CloudTrail logs instead of the personas */
  cloudtrail?: string;
  speedup: number;
  concurrency: number;
}

const USAGE = `usage: npm run bench:prefetch -- [--duration S] [--rounds N] [--targets off,cache,prefetch] [--agents N] [--accounts A]
       [--zipf S] [--think-scale F] [--seed S] [--pool-size N] [--warmup S] [--threshold P] [--min-used-share P] [--top N] [--model FILE]
       [--rtt-ms MS] [--cpu-prof] [--json FILE] [--keep] [--cloudtrail DIR [--speedup X] [--concurrency N]]`;

function parseArgs(argv: string[]): Options {
  const flags = new Args(argv, {
    usage: USAGE,
    values: ['duration', 'rounds', 'targets', 'agents', 'accounts', 'zipf', 'think-scale', 'seed', 'pool-size', 'warmup', 'threshold', 'min-used-share', 'top', 'model', 'rtt-ms', 'json', 'cloudtrail', 'speedup', 'concurrency'],
    booleans: ['keep', 'cpu-prof'],
  });
  return {
    durationS: flags.num('duration', 20, 1),
    rounds: flags.num('rounds', 2, 1),
    targets: flags.list('targets', TARGETS),
    agents: flags.num('agents', 8, 1),
    accounts: flags.num('accounts', 200, 1),
    zipf: flags.num('zipf', 1.1, 0, 1000, false),
    thinkScale: flags.num('think-scale', 1, 0, 1000, false),
    seed: flags.get('seed') ?? '1',
    poolSize: flags.num('pool-size', 8, 1),
    warmupS: flags.num('warmup', 5, 0),
    threshold: flags.has('threshold') ? flags.num('threshold', 0.3, 0, 1, false) : undefined,
    minUsedShare: flags.has('min-used-share') ? flags.num('min-used-share', 0.5, 0, 1, false) : undefined,
    top: flags.has('top') ? flags.num('top', 3, 1) : undefined,
    model: flags.has('model') ? path.resolve(flags.get('model')!) : undefined,
    rttMs: flags.num('rtt-ms', 0, 0, 100, false),
    json: flags.get('json'),
    keep: flags.bool('keep'),
    cpuProf: flags.bool('cpu-prof'),
    cloudtrail: flags.has('cloudtrail') ? path.resolve(flags.get('cloudtrail')!) : undefined,
    speedup: flags.num('speedup', 0, 0, 1e9, false),
    concurrency: flags.num('concurrency', 8, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

const DB = 'app';
const ADMIN = { name: 'admin', password: 'admin-secret' };
const READ_ACTIONS = new Set(ACTIONS.filter((a) => !a.write).map((a) => a.name));

/** The tables of each action domain (the rest — accounts, write_log — with the account domain). */
const DOMAIN_TABLES: Record<string, string[]> = {
  volume: ['volumes', 'volume_attachments'], snapshot: ['snapshots'], instance: ['instances'], image: ['images'],
  security_group: ['security_groups'], key_pair: ['key_pairs'], network_interface: ['network_interfaces'], account: ['accounts', 'write_log'],
  // what a CloudTrail replay reads and writes for the events the catalogue does not model
  generic: ['generic_resources'],
};

/** Domains split by action domain: an action's statements (its write_log row too) are versioned under its domain. */
function domains(): Record<string, { tables: string[]; actions: string[] }> {
  const out: Record<string, { tables: string[]; actions: string[] }> = {};
  for (const [d, tables] of Object.entries(DOMAIN_TABLES)) out[d] = { tables, actions: ACTIONS.filter((a) => a.domain === d).map((a) => a.name) };
  return out;
}

interface Endpoint {
  target: Target;
  url: string;
  proc: Proc;
  admin: { host: string; port: number };
}

async function startTarget(dir: string, target: Target, c: Cluster, pgAt: { host: string; port: number }, o: Options, profDir?: string): Promise<Endpoint> {
  const prefetch = target === 'prefetch'
    ? { enabled: true, ...(o.threshold !== undefined ? { threshold: o.threshold } : {}), ...(o.minUsedShare !== undefined ? { min_used_share: o.minUsedShare } : {}), ...(o.top !== undefined ? { top: o.top } : {}), ...(o.model ? { model: o.model } : {}) }
    : { enabled: false };
  const p = await launchPrescient({
    dir,
    name: `prescient-${target}`,
    generatedBy: 'scripts/bench-prefetch.ts',
    cpuProfDir: target === 'off' ? undefined : profDir,
    config: (port) => ({
      ...benchConfig(port, o.poolSize, 'warn'),
      database: DB,
      users: [{ name: c.user, password: c.password }],
      admin: { users: [ADMIN] },
      pool: { mode: 'transaction', size: o.poolSize, queue_timeout_ms: 20_000 },
      shards: [{ name: 's0', host: pgAt.host, port: pgAt.port, database: DB, user: c.user, password: c.password }],
      sharding: { account_column: 'account_id', domains: domains() },
      catalog: { path: path.join(dir, `prescient-${target}.db`) },
      ...(target === 'off' ? {} : { cache: { enabled: true, prefetch } }),
    }),
  });
  log(`${target}: Prescient (${TARGET_LABEL[target]}) on 127.0.0.1:${p.port} (pid ${p.proc.pid})`);
  return { target, url: `postgres://${c.user}:${c.password}@${p.host}:${p.port}/${DB}`, proc: p.proc, admin: { host: p.host, port: p.port } };
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

interface Snapshot {
  /** statements Postgres executed in the database (pg_stat_statements calls) */
  calls: number;
  hits: number;
  misses: number;
  prefetch: Record<string, number> | null;
  /** SHOW STATS event-loop delay since the previous SHOW STATS (the snapshot before a run starts the window) */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** the proxy's utime + stime, clock ticks */
  cpuTicks: number;
  /** SHOW POOLS waited: acquisitions of a server connection that had to wait (summed over pools) */
  waited: number;
}

const CLK_TCK = clockTicksPerSecond();

const simple = (text: string): pg.QueryConfig => ({ text, queryMode: 'simple' }) as pg.QueryConfig;

async function adminRows(ep: { host: string; port: number }, sql: string): Promise<Record<string, string>[]> {
  const c = new pg.Client({ host: ep.host, port: ep.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  await c.connect();
  try {
    return (await c.query(simple(sql))).rows as Record<string, string>[];
  } catch (e) {
    if ((e as { code?: string }).code === '42601') return []; // not registered (no cache, no prefetch)
    throw e;
  } finally {
    await c.end().catch(() => {});
  }
}

const STATEMENTS_SQL = `select coalesce(sum(s.calls), 0) as calls from pg_stat_statements s join pg_database d on d.oid = s.dbid
  where d.datname = $1 and s.query not ilike '%pg_stat_statements%'`;

async function snapshot(direct: pg.Client, ep: Endpoint): Promise<Snapshot> {
  const [calls, cache, pf, stats, pools] = await Promise.all([
    direct.query(STATEMENTS_SQL, [DB]),
    ep.target === 'off' ? Promise.resolve([]) : adminRows(ep.admin, 'SHOW CACHE'),
    ep.target === 'prefetch' ? adminRows(ep.admin, 'SHOW PREFETCH') : Promise.resolve([]),
    adminRows(ep.admin, 'SHOW STATS'),
    adminRows(ep.admin, 'SHOW POOLS'),
  ]);
  const total = cache.find((r) => r.domain === '*');
  const cpu = cpuTicks(ep.proc.pid);
  return {
    cpuTicks: cpu ? cpu.user + cpu.sys : NaN,
    waited: pools.reduce((n, r) => n + Number(r.waited ?? 0), 0),
    calls: Number(calls.rows[0].calls),
    hits: Number(total?.hits ?? 0),
    misses: Number(total?.misses ?? 0),
    prefetch: pf[0] ? Object.fromEntries(Object.entries(pf[0]).map(([k, v]) => [k, Number(v)])) : null,
    eventLoopP99Ms: Number(stats[0]?.event_loop_p99_ms ?? NaN),
    eventLoopMaxMs: Number(stats[0]?.event_loop_max_ms ?? NaN),
  };
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

const PREFETCH_COUNTERS = ['predictions', 'issued', 'stored', 'slices', 'used', 'wasted', 'invalidated', 'dropped', 'failed', 'tooLarge', 'bytes', 'heldBack', 'joined'] as const;

interface RunResult {
  target: Target;
  round: number;
  seconds: number;
  actions: number;
  reads: number;
  errors: number;
  /** latencies (ms) of the successful actions, and of the read actions among them */
  latMs: number[];
  readLatMs: number[];
  hits: number | null;
  misses: number | null;
  backendCalls: number;
  prefetch: Record<string, number> | null;
  /** rolling top-1 accuracy of the predictor at the end of the run */
  accuracy: number | null;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** the proxy's CPU time during the run, ms */
  proxyCpuMs: number;
  /** client requests that waited for a server connection */
  poolWaits: number;
  loadAvg1: number;
}

async function readActionLog(file: string): Promise<ActionLogEntry[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ActionLogEntry);
}

let runCounter = 0;

async function runOnce(dir: string, ep: Endpoint, direct: pg.Client, o: Options, durationS: number, round: number): Promise<RunResult> {
  const logFile = path.join(dir, `actions-${++runCounter}-${ep.target}.ndjson`);
  let before: Promise<Snapshot> | undefined;
  let r: { seconds: number; errors: number };
  if (o.cloudtrail !== undefined) {
    before = snapshot(direct, ep);
    await before;
    const s = await replay({ target: ep.url, cloudtrail: o.cloudtrail, speedup: o.speedup, concurrency: o.concurrency, tagged: true, log: logFile, warn: () => {} });
    r = { seconds: s.wallMs / 1000, errors: s.errors };
  } else {
    const w = await runWorkload({
      target: ep.url, agents: o.agents, durationMs: durationS * 1000, zipf: o.zipf, seed: o.seed, tagged: true, thinkScale: o.thinkScale,
      accounts: o.accounts, log: logFile,
      // the counters from the workload's clock on: its reading of the accounts' state before is not part of the run
      onStart: () => (before = snapshot(direct, ep)),
    });
    r = { seconds: w.seconds, errors: w.overall.errors };
  }
  const b = await before!;
  const a = await snapshot(direct, ep);
  const entries = await readActionLog(logFile);
  const ok = entries.filter((e) => e.ok);
  // a replayed event reads when its record says so; the personas' read actions are the catalogue's reads
  const reads = ok.filter((e) => (e.readOnly !== undefined ? e.readOnly : READ_ACTIONS.has(e.action)));
  const diff = (x: Record<string, number> | null, y: Record<string, number> | null): Record<string, number> | null =>
    x && y ? Object.fromEntries(PREFETCH_COUNTERS.map((k) => [k, (y[k] ?? 0) - (x[k] ?? 0)])) : null;
  return {
    target: ep.target,
    round,
    seconds: r.seconds,
    actions: ok.length,
    reads: reads.length,
    errors: r.errors,
    latMs: ok.map((e) => e.latencyMs),
    readLatMs: reads.map((e) => e.latencyMs),
    hits: ep.target === 'off' ? null : a.hits - b.hits,
    misses: ep.target === 'off' ? null : a.misses - b.misses,
    backendCalls: a.calls - b.calls,
    prefetch: diff(b.prefetch, a.prefetch),
    accuracy: a.prefetch ? a.prefetch.accuracy ?? null : null,
    eventLoopP99Ms: a.eventLoopP99Ms,
    eventLoopMaxMs: a.eventLoopMaxMs,
    proxyCpuMs: ((a.cpuTicks - b.cpuTicks) * 1000) / CLK_TCK,
    poolWaits: a.waited - b.waited,
    loadAvg1: os.loadavg()[0]!,
  };
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

interface Cell {
  target: Target;
  actions: number;
  actionsPerS: number;
  errors: number;
  meanMs: number | null;
  p99Ms: number | null;
  readMeanMs: number | null;
  readP99Ms: number | null;
  readHitRatio: number | null;
  backendCallsPerAction: number | null;
  prefetch: Record<string, number> | null;
  /** used / stored */
  prefetchUsedShare: number | null;
  accuracy: number | null;
  /** the largest of the runs' event-loop delay p99s, and their max */
  eventLoopP99Ms: number | null;
  eventLoopMaxMs: number | null;
  /** the proxy's CPU per action, µs */
  proxyCpuUsPerAction: number | null;
  /** acquisitions that waited for a server connection, per 1000 actions */
  poolWaitsPer1000: number | null;
}

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const sorted = (xs: number[]): number[] => Float64Array.from(xs).sort() as unknown as number[];

function summarize(results: RunResult[], o: Options): Cell[] {
  return o.targets.map((target) => {
    const rs = results.filter((r) => r.target === target);
    const lat = rs.flatMap((r) => r.latMs);
    const readLat = rs.flatMap((r) => r.readLatMs);
    const actions = rs.reduce((n, r) => n + r.actions, 0);
    const seconds = rs.reduce((n, r) => n + r.seconds, 0);
    const hits = rs.reduce((n, r) => n + (r.hits ?? 0), 0);
    const lookups = rs.reduce((n, r) => n + (r.hits ?? 0) + (r.misses ?? 0), 0);
    const calls = rs.reduce((n, r) => n + r.backendCalls, 0);
    const pf = rs.every((r) => r.prefetch)
      ? Object.fromEntries(PREFETCH_COUNTERS.map((k) => [k, rs.reduce((n, r) => n + r.prefetch![k]!, 0)]))
      : null;
    const s = sorted(lat);
    const sr = sorted(readLat);
    const loops = rs.map((r) => r.eventLoopP99Ms).filter((x) => Number.isFinite(x));
    const loopMax = rs.map((r) => r.eventLoopMaxMs).filter((x) => Number.isFinite(x));
    return {
      target,
      actions,
      actionsPerS: seconds > 0 ? actions / seconds : 0,
      errors: rs.reduce((n, r) => n + r.errors, 0),
      meanMs: mean(lat),
      p99Ms: percentile(Array.from(s), 99),
      readMeanMs: mean(readLat),
      readP99Ms: percentile(Array.from(sr), 99),
      readHitRatio: target !== 'off' && lookups > 0 ? hits / lookups : null,
      backendCallsPerAction: actions > 0 ? calls / actions : null,
      prefetch: pf,
      prefetchUsedShare: pf && pf.stored! > 0 ? pf.used! / pf.stored! : null,
      accuracy: rs.at(-1)?.accuracy ?? null,
      eventLoopP99Ms: loops.length ? Math.max(...loops) : null,
      eventLoopMaxMs: loopMax.length ? Math.max(...loopMax) : null,
      poolWaitsPer1000: actions > 0 ? (1000 * rs.reduce((n, r) => n + r.poolWaits, 0)) / actions : null,
      proxyCpuUsPerAction: actions > 0 ? (1000 * rs.reduce((n, r) => n + r.proxyCpuMs, 0)) / actions : null,
    };
  });
}

const fmt = (n: number | null | undefined, digits = 0): string => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits));
const pct = (n: number | null): string => (n === null ? '' : `${(100 * n).toFixed(1)}%`);
/** (b - a) / a as a signed percentage: how much `b` is above `a` */
const change = (a: number | null, b: number | null): number | null => (a === null || b === null || a === 0 ? null : (b - a) / a);

interface Goals {
  readMeanReduction: number | null;
  extraBackendQueries: number | null;
  prefetchUsedShare: number | null;
  eventLoopP99OnMs: number | null;
  eventLoopP99OffMs: number | null;
}

function goals(cells: Cell[]): Goals {
  const c = cells.find((x) => x.target === 'cache');
  const p = cells.find((x) => x.target === 'prefetch');
  const red = c && p ? change(c.readMeanMs, p.readMeanMs) : null;
  return {
    readMeanReduction: red === null ? null : -red,
    extraBackendQueries: c && p ? change(c.backendCallsPerAction, p.backendCallsPerAction) : null,
    prefetchUsedShare: p?.prefetchUsedShare ?? null,
    eventLoopP99OnMs: p?.eventLoopP99Ms ?? null,
    eventLoopP99OffMs: c?.eventLoopP99Ms ?? null,
  };
}

function report(cells: Cell[], g: Goals, o: Options, rttMeasured: number | null, loadAvg: number[]): string {
  const lines = [
    '| target | actions/s | action mean ms | action p99 ms | read mean ms | read p99 ms | read hit ratio | backend stmts/action | event-loop p99 ms (max) | proxy CPU µs/action | pool waits /1000 actions | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of cells) {
    lines.push(`| ${TARGET_LABEL[c.target]} | ${fmt(c.actionsPerS)} | ${fmt(c.meanMs, 3)} | ${fmt(c.p99Ms, 3)} | ${fmt(c.readMeanMs, 3)} | ${fmt(c.readP99Ms, 3)} | ${pct(c.readHitRatio)} | ${fmt(c.backendCallsPerAction, 3)} | ${fmt(c.eventLoopP99Ms, 2)} (${fmt(c.eventLoopMaxMs, 1)}) | ${fmt(c.proxyCpuUsPerAction)} | ${fmt(c.poolWaitsPer1000, 1)} | ${c.errors} |`);
  }
  const p = cells.find((x) => x.target === 'prefetch');
  if (p?.prefetch) {
    const f = p.prefetch;
    lines.push('', '| prefetch | predictions | issued | stored (slices) | used | wasted | invalidated | dropped | failed | held back | waited for | slices over the cap | bytes / stored | used / stored | top-1 accuracy |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    lines.push(`| cache + prefetch | ${f.predictions} | ${f.issued} | ${f.stored} (${f.slices}) | ${f.used} | ${f.wasted} | ${f.invalidated} | ${f.dropped} | ${f.failed} | ${f.heldBack} | ${f.joined} | ${f.tooLarge} | ${Math.round(f.bytes / Math.max(f.stored, 1))} | ${pct(p.prefetchUsedShare)} | ${fmt(p.accuracy, 3)} |`);
  }
  const c = cells.find((x) => x.target === 'cache');
  const off = cells.find((x) => x.target === 'off');
  const ratio = (a: number | null | undefined, b: number | null | undefined): string => (a == null || b == null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`);
  lines.push('', '| ratio | cache only / off | prefetch / cache only | prefetch / off |', '|---|---:|---:|---:|');
  const row = (name: string, k: keyof Cell): string => `| ${name} | ${ratio(c?.[k] as number | null, off?.[k] as number | null)} | ${ratio(p?.[k] as number | null, c?.[k] as number | null)} | ${ratio(p?.[k] as number | null, off?.[k] as number | null)} |`;
  lines.push(row('action mean', 'meanMs'), row('action p99', 'p99Ms'), row('read mean', 'readMeanMs'), row('read p99', 'readP99Ms'), row('backend stmts/action', 'backendCallsPerAction'), row('event-loop p99', 'eventLoopP99Ms'), row('proxy CPU/action', 'proxyCpuUsPerAction'));
  lines.push(
    '',
    `goals (prefetch vs cache only): read mean ${g.readMeanReduction === null ? 'n/a' : `${Math.abs(100 * g.readMeanReduction).toFixed(1)}% ${g.readMeanReduction >= 0 ? 'lower' : 'HIGHER'}`} (goal ≥ 40% with the delay); ` +
      `extra backend statements ${g.extraBackendQueries === null ? 'n/a' : `${(100 * g.extraBackendQueries).toFixed(1)}%`} (goal ≤ 10%); ` +
      `prefetched entries used ${g.prefetchUsedShare === null ? 'n/a' : `${(100 * g.prefetchUsedShare).toFixed(1)}%`} (goal ≥ 60%); ` +
      `event-loop p99 ${fmt(g.eventLoopP99OnMs, 2)} ms with the predictor and prefetcher, ${fmt(g.eventLoopP99OffMs, 2)} ms without.`,
    '',
    (o.cloudtrail !== undefined
      ? `workload replay of ${o.cloudtrail} (each event under its own name; reads = events whose record says readOnly), speedup ${o.speedup || 'none (back to back)'}, concurrency ${o.concurrency}, tagged; ` +
        `the whole trail x ${o.rounds} interleaved round(s) per target (${o.targets.join(', ')})${o.warmupS > 0 ? ', one replay each as warm-up' : ''}; pool.size ${o.poolSize}; `
      : `workload run: ${o.agents} agents (closed loop, think time × ${o.thinkScale}), tagged, seed ${o.seed}, Zipf ${o.zipf} over ${o.accounts} accounts; ` +
        `${o.durationS} s x ${o.rounds} interleaved round(s) per target (${o.targets.join(', ')}), ${o.warmupS} s warm-up each; pool.size ${o.poolSize}; `) +
      `prefetch: ${o.model ? `model ${path.basename(o.model)}` : 'Markov-1 learned online'}, threshold ${o.threshold ?? 0.3}, min_used_share ${o.minUsedShare ?? 0.5}, top ${o.top ?? 3}.`,
    `action/read latency = the workload's own per-action latency (its action log), pooled over rounds; read = ${o.cloudtrail !== undefined ? 'a replayed event whose record says readOnly' : 'Describe*, GetCallerIdentity, DescribeAccountAttributes'}. ` +
      'read hit ratio = SHOW CACHE hits / (hits + misses); backend stmts/action = pg_stat_statements calls in the database (BEGIN/COMMIT and prefetch reads included) / actions; ' +
      'event-loop p99 = SHOW STATS event_loop_p99_ms over each run (largest of the rounds; in parentheses the largest max; on a loaded host it includes time the proxy waited for a CPU); ' +
      'proxy CPU = the target Prescient\'s utime + stime during the runs / actions; pool waits = SHOW POOLS waited (a client\'s request found no idle server connection) per 1000 actions.',
    opts2net(o, rttMeasured),
    `One ${os.cpus().length}-core host shared with other work: the workload, Postgres and the proxies share the CPUs (load average ${loadAvg.map((x) => x.toFixed(2)).join(' ')} at the start).`,
  );
  return lines.join('\n') + '\n';
}

function opts2net(o: Options, rttMeasured: number | null): string {
  return o.rttMs > 0
    ? `Postgres across a network: every target reaches it through scripts/delay-relay.ts, ${o.rttMs} ms per round trip asked, ${rttMeasured === null ? '?' : rttMeasured.toFixed(3)} ms measured.`
    : 'Postgres on loopback (no added network latency; --rtt-ms adds some).';
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const loadAvg = os.loadavg();
  log(`node ${process.version}; ${os.cpus().length} cores; load average ${loadAvg.map((x) => x.toFixed(2)).join(' ')}`);
  log(opts.cloudtrail !== undefined
    ? `plan: ${opts.targets.length} targets x ${opts.rounds} round(s) x a replay of ${opts.cloudtrail}${opts.warmupS > 0 ? ' (+ one each as warm-up)' : ''}`
    : `plan: ${opts.targets.length} targets x ${opts.rounds} round(s) x ${opts.durationS} s + warm-up ≈ ${Math.ceil((opts.targets.length * (opts.rounds * (opts.durationS + 3) + opts.warmupS + 3)) / 60)} min (+ setup)`);
  let tmp: string | undefined;
  let clusters: Cluster[] = [];
  const endpoints: Endpoint[] = [];
  const relays: Proc[] = [];
  let direct: pg.Client | undefined;
  let rttMeasured: number | null = null;
  let watchdog: number | undefined;
  let exitCode = 0;
  const interrupt = new Interrupt(() => log('signal: stopping after the current run (again to kill everything)'), () => killEverything([]));
  const check = (): void => interrupt.check();
  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-prefetch-'));
    log('starting Postgres (testbed, pg_stat_statements)');
    clusters = await startClusters(1, { databases: [DB], settings: { max_connections: 200, shared_preload_libraries: 'pg_stat_statements' } });
    const cluster = clusters[0]!;
    direct = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: DB });
    direct.on('error', () => {});
    await direct.connect();
    await direct.query('create extension if not exists pg_stat_statements');
    await applySchema(direct);
    const loaded = await loadAccounts(direct, { accounts: opts.accounts, seed: opts.seed, alpha: 0.9, xmin: 3, maxResources: 2000, batch: 20_000 });
    await direct.query('vacuum analyze');
    log(`loaded ${opts.accounts} accounts (${Object.values(loaded.rows).reduce((a, b) => a + b, 0)} rows) in ${loaded.seconds.toFixed(1)} s`);
    check();
    const reached = await reachCluster(tmp, cluster, opts.rttMs, DB, log);
    if (reached.relay) relays.push(reached.relay);
    const pgAt = reached.at;
    rttMeasured = reached.rttMeasured;
    const profDir = opts.cpuProf ? cpuProfDir(undefined, path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')) : undefined;
    if (profDir) await mkdir(profDir, { recursive: true });
    for (const target of opts.targets) endpoints.push(await startTarget(tmp, target, cluster, pgAt, opts, profDir));
    watchdog = spawnWatchdog([...endpoints.map((p) => p.proc.pid), ...relays.map((p) => p.pid)]);

    if (opts.warmupS > 0) {
      for (const ep of endpoints) {
        log(`warm-up ${opts.warmupS} s: ${TARGET_LABEL[ep.target]}`);
        await runOnce(tmp, ep, direct, opts, opts.warmupS, 0);
        check();
      }
    }
    const results: RunResult[] = [];
    const total = opts.rounds * endpoints.length;
    for (let round = 1; round <= opts.rounds; round++) {
      for (const ep of endpoints) {
        check();
        const r = await runOnce(tmp, ep, direct, opts, opts.durationS, round);
        results.push(r);
        const s = sorted(r.readLatMs);
        log(
          `[${results.length}/${total}] round ${round} ${TARGET_LABEL[ep.target].padEnd(16)} ${r.actions} actions (${r.errors} errors), ` +
            `mean ${fmt(mean(r.latMs), 3)} ms, read mean ${fmt(mean(r.readLatMs), 3)} ms p99 ${fmt(percentile(Array.from(s), 99), 3)} ms, ` +
            `${fmt(r.backendCalls / Math.max(1, r.actions), 2)} stmts/action` +
            (r.hits !== null ? `, hit ratio ${pct(r.hits / Math.max(1, r.hits + (r.misses ?? 0)))}` : '') +
            (r.prefetch ? `, prefetch issued ${r.prefetch.issued} stored ${r.prefetch.stored} used ${r.prefetch.used} wasted ${r.prefetch.wasted}` : '') +
            `, event loop p99 ${fmt(r.eventLoopP99Ms, 2)} ms, proxy CPU ${fmt((1000 * r.proxyCpuMs) / Math.max(1, r.actions))} µs/action, ${r.poolWaits} pool waits, load ${r.loadAvg1.toFixed(2)}`,
        );
        if (ep.proc.hasExited) throw new Error(`${ep.proc.name} exited during the benchmark\n${await tail(path.join(tmp, `${ep.proc.name}.log`))}`);
      }
    }
    const summary = summarize(results, opts);
    const g = goals(summary);
    process.stdout.write('\n' + report(summary, g, opts, rttMeasured, loadAvg));
    await writeJson(opts.json, {
      meta: { date: new Date().toISOString(), node: process.version, cores: os.cpus().length, loadAvgStart: loadAvg, loadAvgEnd: os.loadavg(), ...opts, rttMeasuredMs: rttMeasured },
      goals: g,
      summary,
      runs: results.map(({ latMs, readLatMs, ...r }) => ({ ...r, meanMs: mean(latMs), readMeanMs: mean(readLatMs) })),
    }, log);
  } catch (e) {
    exitCode = interrupt.failed(e, log);
  } finally {
    await direct?.end().catch(() => {});
    for (const ep of endpoints) await stopProc(ep.proc, 'SIGTERM', 10_000);
    for (const p of relays) await stopProc(p, 'SIGTERM', 5000);
    if (opts.cpuProf) log('CPU profiles of the cache proxies (file names end with their pids): .bench/cpu-prof-* (newest)');
    await finish({ log, interrupt, clusters, watchdog, tmp, keepTmp: opts.keep || (exitCode !== 0 && !interrupt.interrupted), kept: 'configs, proxy logs, action logs' });
  }
  return exitCode;
}

runMain(import.meta.url, main, log);
