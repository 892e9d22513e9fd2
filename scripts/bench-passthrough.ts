// bench-passthrough owns the pass-through benchmark: pgbench -S against direct Postgres, PgBouncer, the Node floor and Prescient (interleaved; optionally its variants: another build, workers, pipelining, and the floor's experiments), proxy CPU per transaction, and optionally syscalls per transaction (--strace), RSS with 1,000 clients (--memory) and a CPU profile.
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
//   --targets LIST        which of direct,pgbouncer,floor,prescient,floor-onread,pipelined to run (default the first
//                         four; floor-onread = the Node relay reading the server with onread into a reused buffer;
//                         pipelined = scripts/pipeline-relay.ts, many clients' Queries over 2 server connections, -M
//                         simple only; floor = the Node relay,
//                         scripts/node-relay.ts: what Node's socket layer costs with no logic)
//   --strace              after the measured runs, one 5 s run per proxy and mode under `strace -c -f` (first client
//                         count): system calls per transaction, by syscall (its TPS is not a measurement)
//   --memory              after the measured runs, Prescient's RSS with 1,000 clients (--memory-clients) through a pool
//                         of 20: logged in and nearly idle (pgbench -R 50), then all active (pgbench -S), each 10 s
//   --memory-clients N    clients of the memory phase (default 1000)
//   --baseline DIR        another Prescient build (a checkout with dist/ built) as one more target, interleaved
//
// What it starts (all on 127.0.0.1, all stopped by pid at the end, on SIGINT and on error):
//   - one throwaway Postgres cluster (scripts/testbed.ts), `pgbench -i -s <scale>` into database `app`
//   - PgBouncer (pool_mode=transaction). PgBouncer 1.18 cannot do protocol-level prepared statements in
//     transaction mode (max_prepared_statements arrived in 1.21), so for `-M prepared` a SECOND PgBouncer
//     instance in pool_mode=session is started and used; the table marks those cells.
//   - the Node floor: scripts/node-relay.ts, one server connection per client, `data` → `write`
//   - Prescient (pool mode transaction) via `node dist/proxy/cli.js start --config FILE`
// Progress goes to stderr; the markdown table (and profile summary) to stdout.

import { readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPgBin, startClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { clockTicksPerSecond, cpuTicks, waitQuiet, type Own } from './lib/cpu.js';
import { log } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { finish, Interrupt, runMain } from './lib/main.js';
import { pgbench as runPgbench, pgbenchVersion as pgbenchVersionLine, pgEnv, type Endpoint } from './lib/pgbench.js';
import { pgbouncerVersion as pgbouncerVersionLine, startPgBouncers } from './lib/pgbouncer.js';
import { startNodeRelay, startPipelineRelay } from './lib/nodeRelay.js';
import { traceSyscalls } from './lib/strace.js';
import { rssMb, sampleRss } from './lib/rss.js';
import { benchConfig, cpuProfDir, latestCpuProfile, startPrescient as launchPrescient } from './lib/prescient.js';
import { isRoot, killEverything, osUser, procs, run, signalGroup, spawnWatchdog, stopAll, stopProc, tail } from './lib/proc.js';
import { maxOf, median } from './lib/stats.js';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const MODES = ['simple', 'extended', 'prepared'] as const;
type Mode = (typeof MODES)[number];
type Target = 'direct' | 'pgbouncer' | 'floor' | 'floor-onread' | 'pipelined' | 'prescient' | 'baseline' | 'workers' | 'pipeline';
/**
 * the targets of this run: 'floor' is the Node relay with no logic (scripts/node-relay.ts), what Node's socket layer
 * costs at all; 'baseline' (another build of Prescient) only with --baseline
 */
let TARGETS: readonly Target[] = ['direct', 'pgbouncer', 'floor', 'prescient'];

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
  /** a checkout of another Prescient build (dist/ built) run as a fourth target, interleaved: before/after a change */
  baseline?: string;
  targets: Target[];
  strace: boolean;
  /** `workers: N` (N > 1) as one more Prescient target, interleaved with the one-worker Prescient */
  workers?: number;
  /** CPUs the Prescient targets run on (taskset -c) */
  pin?: string;
  /** `pool.pipeline: N` (N > 1) as one more Prescient target, interleaved with Prescient without it */
  pipeline?: number;
  memory: boolean;
  memoryClients: number;
}

const USAGE = `usage: node dist/scripts/bench-passthrough.js [--duration S] [--rounds N] [--clients 8,32]
       [--modes simple,extended,prepared] [--scale N] [--pool-size N] [--jobs N] [--warmup S]
       [--json FILE] [--cpu-prof] [--cpu-prof-dir DIR] [--keep] [--quiet PCT] [--quiet-wait S] [--baseline DIR]
       [--targets direct,pgbouncer,floor,prescient] [--strace] [--workers N] [--pin CPUS] [--pipeline N]
       [--memory] [--memory-clients N]`;

function parseArgs(argv: string[]): Options {
  const flags = new Args(argv, {
    usage: USAGE,
    values: ['duration', 'rounds', 'clients', 'modes', 'scale', 'pool-size', 'jobs', 'warmup', 'json', 'cpu-prof-dir', 'quiet', 'quiet-wait', 'baseline', 'targets', 'memory-clients', 'workers', 'pin', 'pipeline'],
    booleans: ['cpu-prof', 'keep', 'strace', 'memory'],
  });
  return {
    durationS: flags.int('duration', 20, 1),
    rounds: flags.int('rounds', 3, 1),
    clients: flags.intList('clients', '8,32'),
    modes: flags.list('modes', MODES),
    scale: flags.int('scale', 10, 1),
    poolSize: flags.int('pool-size', 40, 1),
    jobs: flags.int('jobs', 2, 1),
    warmupS: flags.int('warmup', 3, 0),
    json: flags.get('json'),
    cpuProf: flags.bool('cpu-prof'),
    cpuProfDir: flags.get('cpu-prof-dir'),
    keep: flags.bool('keep'),
    quietPct: flags.has('quiet') ? flags.int('quiet', 0, 1) : undefined,
    quietWaitS: flags.int('quiet-wait', 120, 0),
    baseline: flags.get('baseline'),
    targets: flags.list('targets', ['direct', 'pgbouncer', 'floor', 'prescient', 'floor-onread', 'pipelined'] as const, ['direct', 'pgbouncer', 'floor', 'prescient']),
    strace: flags.bool('strace'),
    workers: flags.has('workers') ? flags.int('workers', 2, 2) : undefined,
    pin: flags.get('pin'),
    pipeline: flags.has('pipeline') ? flags.int('pipeline', 16, 2) : undefined,
    memory: flags.bool('memory'),
    memoryClients: flags.int('memory-clients', 1000, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

const PG_DB = 'app';

async function startPrescient(
  dir: string,
  pg: Cluster,
  poolSize: number,
  profDir: string | undefined,
  baseline?: string,
  workers?: number,
  pin?: string,
  pipeline?: number,
): Promise<Endpoint> {
  const name = baseline ? 'baseline' : workers ? 'workers' : pipeline ? 'pipeline' : 'prescient';
  const p = await launchPrescient({
    dir,
    name,
    root: baseline,
    pin,
    workers,
    generatedBy: 'scripts/bench-passthrough.ts',
    cpuProfDir: profDir,
    config: (port) => ({
      ...benchConfig(port, poolSize, 'info'),
      database: PG_DB,
      users: [{ name: pg.user, password: pg.password }],
      shards: [{ name: 's0', host: pg.host, port: pg.port, database: PG_DB, user: pg.user, password: pg.password }],
      ...(workers ? { workers } : {}),
      ...(pipeline ? { pool: { mode: 'transaction', size: poolSize, pipeline } } : {}),
    }),
  });
  log(`${baseline ? `baseline (${baseline})` : name}: pool mode transaction size ${poolSize}${workers ? ` over ${workers} workers` : ''} on 127.0.0.1:${p.port} (pid ${p.proc.pid})${pin ? ` pinned to CPUs ${pin}` : ''}${profDir ? ' with --cpu-prof' : ''}`);
  return { host: p.host, port: p.port, proc: p.proc, cpuPid: p.proc.pid, label: baseline ? 'Prescient baseline (transaction)' : workers ? `Prescient, ${workers} workers (transaction)` : pipeline ? `Prescient, pool.pipeline ${pipeline} (transaction)` : 'Prescient (transaction)' };
}

// ---------------------------------------------------------------------------------------------
// pgbench
// ---------------------------------------------------------------------------------------------

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

async function pgbench(
  pg: Cluster,
  ep: Endpoint,
  mode: Mode,
  clients: number,
  durationS: number,
  jobs: number,
  clkTck: number,
  own: Own,
): Promise<Omit<RunResult, 'mode' | 'clients' | 'round' | 'target'>> {
  const args = [
    '-S', '-n', '-T', String(durationS), '-c', String(clients), '-j', String(Math.min(jobs, clients)), '-M', mode,
    '-h', ep.host, '-p', String(ep.port), '-U', pg.user, PG_DB,
  ];
  const r = await runPgbench(args, { password: pg.password, durationS, cpuPid: ep.cpuPid, own, clkTck });
  const userTicks = r.cpu ? r.cpu.user : null;
  const sysTicks = r.cpu ? r.cpu.sys : null;
  const ticks = r.cpu ? r.cpu.user + r.cpu.sys : null;
  const cpuUsPerTxn = ticks !== null && r.transactions ? (ticks / clkTck) * 1e6 / r.transactions : null;
  return {
    via: ep.label,
    tps: r.tps,
    latencyMs: r.latencyAvgMs,
    transactions: r.transactions,
    failed: r.failed,
    cpuTicks: ticks,
    cpuUserTicks: userTicks,
    cpuSysTicks: sysTicks,
    cpuUsPerTxn,
    foreignCpuPct: r.foreignCpuPct,
    exitCode: r.exitCode,
    ...(r.error ? { error: r.error } : {}),
  };
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
  /** this build against the --baseline build (TPS ratio), null without one */
  prescientVsBaseline: number | null;
  /** Prescient against the Node floor (TPS ratio) */
  prescientVsFloor: number | null;
  /** `workers: N` against one worker (TPS ratio), null without --workers */
  workersVsOne: number | null;
  cpuUsPerTxn: Record<'pgbouncer' | 'floor' | 'floor-onread' | 'pipelined' | 'prescient' | 'baseline' | 'workers' | 'pipeline', number | null>;
  /** the same split into user and kernel (sys) time */
  cpuSplitUsPerTxn: Record<'pgbouncer' | 'floor' | 'floor-onread' | 'pipelined' | 'prescient' | 'baseline' | 'workers' | 'pipeline', { user: number; sys: number } | null>;
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
        prescientVsBaseline: tps.prescient !== null && tps.baseline ? tps.prescient / tps.baseline : null,
        prescientVsFloor: tps.prescient !== null && tps.floor ? tps.prescient / tps.floor : null,
        workersVsOne: tps.workers != null && tps.prescient ? tps.workers / tps.prescient : null,
        cpuUsPerTxn: { pgbouncer: cpu('pgbouncer'), floor: cpu('floor'), 'floor-onread': cpu('floor-onread'), pipelined: cpu('pipelined'), prescient: cpu('prescient'), baseline: cpu('baseline'), workers: cpu('workers'), pipeline: cpu('pipeline') },
        cpuSplitUsPerTxn: { pgbouncer: split('pgbouncer'), floor: split('floor'), 'floor-onread': split('floor-onread'), pipelined: split('pipelined'), prescient: split('prescient'), baseline: split('baseline'), workers: split('workers'), pipeline: split('pipeline') },
        maxForeignCpuPct: maxOf(cell.map((r) => r.foreignCpuPct)),
      });
    }
  }
  return rows;
}

function fmt(n: number | null | undefined, digits = 0): string {
  return n === undefined ? '–' : n === null ? 'err' : n.toFixed(digits);
}

function splitText(s: { user: number; sys: number } | null): string {
  return s ? ` (${s.user.toFixed(0)}u+${s.sys.toFixed(0)}s)` : '';
}

function markdownTable(rows: SummaryRow[], opts: Options): string {
  const head = [
    'mode', 'clients', 'direct TPS', 'PgBouncer TPS', 'Node floor TPS', 'Prescient TPS',
    'direct lat ms', 'PgBouncer lat ms', 'Prescient lat ms',
    'Prescient/PgBouncer', 'Prescient/floor', 'Prescient/direct', 'PgBouncer CPU µs/txn', 'Node floor CPU µs/txn', 'Prescient CPU µs/txn', 'failed txns d/b/f/p', 'other load % (max)',
    ...(opts.baseline ? ['baseline TPS', 'Prescient/baseline', 'baseline CPU µs/txn'] : []),
    ...(TARGETS.includes('floor-onread') ? ['floor onread TPS', 'floor onread CPU µs/txn'] : []),
    ...(TARGETS.includes('pipelined') ? ['pipelined relay TPS', 'pipelined relay CPU µs/txn'] : []),
    ...(opts.pipeline ? [`pipeline ${opts.pipeline} TPS`, 'pipeline/PgBouncer', 'pipeline/Prescient', `pipeline ${opts.pipeline} CPU µs/txn`] : []),
    ...(opts.workers ? [`${opts.workers} workers TPS`, `${opts.workers} workers/1`, `${opts.workers} workers CPU µs/txn`] : []),
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
          fmt(r.tps.floor) + errs('floor'),
          fmt(r.tps.prescient) + errs('prescient'),
          fmt(r.latencyMs.direct, 3),
          fmt(r.latencyMs.pgbouncer, 3) + mark,
          fmt(r.latencyMs.prescient, 3),
          r.prescientVsPgbouncer === null ? 'n/a' : r.prescientVsPgbouncer.toFixed(2) + mark,
          r.prescientVsFloor === null ? 'n/a' : r.prescientVsFloor.toFixed(2),
          r.prescientVsDirect === null ? 'n/a' : r.prescientVsDirect.toFixed(2),
          fmt(r.cpuUsPerTxn.pgbouncer, 1) + splitText(r.cpuSplitUsPerTxn.pgbouncer) + mark,
          fmt(r.cpuUsPerTxn.floor, 1) + splitText(r.cpuSplitUsPerTxn.floor),
          fmt(r.cpuUsPerTxn.prescient, 1) + splitText(r.cpuSplitUsPerTxn.prescient),
          [r.failed.direct, r.failed.pgbouncer, r.failed.floor, r.failed.prescient].map((n) => n ?? "–").join("/"),
          fmt(r.maxForeignCpuPct),
          ...(opts.baseline
            ? [fmt(r.tps.baseline) + errs('baseline'), r.prescientVsBaseline === null ? 'n/a' : r.prescientVsBaseline.toFixed(2), fmt(r.cpuUsPerTxn.baseline, 1) + splitText(r.cpuSplitUsPerTxn.baseline)]
            : []),
          ...(TARGETS.includes('floor-onread') ? [fmt(r.tps['floor-onread']) + errs('floor-onread'), fmt(r.cpuUsPerTxn['floor-onread'], 1) + splitText(r.cpuSplitUsPerTxn['floor-onread'])] : []),
          ...(TARGETS.includes('pipelined') ? [r.mode === 'simple' ? fmt(r.tps.pipelined) + errs('pipelined') : '–', r.mode === 'simple' ? fmt(r.cpuUsPerTxn.pipelined, 1) + splitText(r.cpuSplitUsPerTxn.pipelined) : '–'] : []),
          ...(opts.pipeline
            ? [
                fmt(r.tps.pipeline) + errs('pipeline'),
                r.tps.pipeline != null && r.tps.pgbouncer ? (r.tps.pipeline / r.tps.pgbouncer).toFixed(2) + mark : 'n/a',
                r.tps.pipeline != null && r.tps.prescient ? (r.tps.pipeline / r.tps.prescient).toFixed(2) : 'n/a',
                fmt(r.cpuUsPerTxn.pipeline, 1) + splitText(r.cpuSplitUsPerTxn.pipeline),
              ]
            : []),
          ...(opts.workers
            ? [fmt(r.tps.workers) + errs('workers'), r.workersVsOne === null ? 'n/a' : r.workersVsOne.toFixed(2), fmt(r.cpuUsPerTxn.workers, 1) + splitText(r.cpuSplitUsPerTxn.workers)]
            : []),
        ].join(' | ') +
        ' |',
    );
  }
  const notes = [
    '',
    `pgbench -S (select only), scale ${opts.scale}, -T ${opts.durationS} s, -j ${opts.jobs}, ${opts.rounds} interleaved round(s) per cell ` +
      `(direct, PgBouncer, the Node floor, Prescient${opts.baseline ? `, the baseline build in ${opts.baseline}` : ''}); TPS and latency are medians over rounds; CPU µs/txn = proxy process utime+stime over all rounds / transactions (u = user, s = kernel).`,
    'Node floor = scripts/node-relay.ts: a Node relay with no logic (one server connection per client, `data` → `write`), run with Prescient\'s Node flags: what Node\'s socket layer costs before Prescient does anything.',
    '"other load" = host CPU used during a run by processes outside this benchmark, in % of all cores (high values mean noisy numbers).',
    `Pools: PgBouncer default_pool_size=${opts.poolSize}, Prescient pool.size=${opts.poolSize}, both transaction mode; everything on one ${os.cpus().length}-core host.`,
  ];
  if (rows.some((r) => r.pgbouncerPoolMode === 'session'))
    notes.push(
      '† -M prepared: PgBouncer 1.18 does not support protocol-level prepared statements in transaction mode ' +
        '(max_prepared_statements arrived in 1.21), so these cells use a second PgBouncer instance in pool_mode=session. ' +
        'Prescient stays in transaction mode.',
    );
  if (opts.pipeline) notes.push(`pipeline ${opts.pipeline} = Prescient with \`pool.pipeline: ${opts.pipeline}\` (docs/pipelining.md): simple-protocol autocommit Queries of different clients share server connections; the extended and prepared modes take the usual path.`);
  if (opts.workers) notes.push(`${opts.workers} workers = Prescient with \`workers: ${opts.workers}\` (pool.size split between them); its CPU is the primary's and the workers' together.`);
  if (opts.pin) notes.push(`The Prescient targets ran pinned to CPUs ${opts.pin} (taskset -c); PgBouncer, the Node floor, pgbench and Postgres were not pinned.`);
  if (opts.cpuProf) notes.push('Prescient ran under node --cpu-prof: its numbers include profiler overhead.');
  return lines.join('\n') + '\n' + notes.join('\n') + '\n';
}

const STRACE_SECONDS = 5;
const MEMORY_POOL = 20;
const MEMORY_SECONDS = 10;
/** the RSS limit the issue sets for 1,000 clients (idle or active) through a pool of 20 */
const MEMORY_LIMIT_MB = 150;

interface MemoryRow {
  phase: 'idle' | 'active';
  clients: number;
  pool: number;
  tps: number | null;
  startMb: number | null;
  maxMb: number | null;
  endMb: number | null;
}

function memoryTable(rows: MemoryRow[]): string {
  const lines = ['| phase | clients | pool | TPS | RSS at start MB | max RSS MB | RSS at end MB | within 150 MB |', '|---|---:|---:|---:|---:|---:|---:|---|'];
  for (const r of rows) {
    const ok = r.maxMb !== null && r.maxMb <= MEMORY_LIMIT_MB;
    lines.push(`| ${r.phase} | ${r.clients} | ${r.pool} | ${fmt(r.tps)} | ${fmt(r.startMb)} | ${fmt(r.maxMb)} | ${fmt(r.endMb)} | ${ok ? 'yes' : '**no**'} |`);
  }
  return (
    lines.join('\n') +
    `\n\nPrescient's resident set (/proc VmRSS, sampled every 100 ms) in a process of its own, pool.size ${MEMORY_POOL}, ` +
    `pgbench -S -M simple for ${MEMORY_SECONDS} s: "idle" = every client logged in, 50 transactions/s in all (-R 50); "active" = as fast as they can.\n`
  );
}

interface SyscallRow {
  mode: Mode;
  target: Target;
  transactions: number;
  counts: Record<string, { calls: number; errors: number }>;
}

/** System calls per transaction for each proxy: the total and the calls that make up most of it. */
function syscallTable(rows: SyscallRow[], opts: Options): string {
  const total = new Map<string, number>();
  for (const r of rows) for (const [name, c] of Object.entries(r.counts)) total.set(name, (total.get(name) ?? 0) + c.calls / r.transactions);
  const names = [...total.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n]) => n);
  const head = ['mode', 'proxy', 'syscalls/txn', ...names.map((n) => `${n}/txn`), 'other/txn'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const per = (n: string): number => (r.counts[n]?.calls ?? 0) / r.transactions;
    const all = Object.values(r.counts).reduce((n, c) => n + c.calls, 0) / r.transactions;
    const shown = names.reduce((n, name) => n + per(name), 0);
    lines.push(`| ${r.mode} | ${r.target} | ${all.toFixed(2)} | ${names.map((n) => per(n).toFixed(2)).join(' | ')} | ${(all - shown).toFixed(2)} |`);
  }
  return (
    lines.join('\n') +
    `\n\nstrace -c -f on each proxy process (all threads) during one ${STRACE_SECONDS} s pgbench -S run per mode and proxy, ` +
    `-c ${opts.clients[0]}, after the measured runs; syscalls divided by that run's transactions (errors, e.g. EAGAIN, included).\n`
  );
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
  TARGETS = [...opts.targets, ...(opts.baseline ? ['baseline' as const] : []), ...(opts.workers ? ['workers' as const] : []), ...(opts.pipeline ? ['pipeline' as const] : [])];
  clockTicks = clockTicksPerSecond();
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '../..');
  const maxClients = Math.max(...opts.clients);
  const profDir = opts.cpuProf ? cpuProfDir(opts.cpuProfDir, root) : undefined;

  const pgbenchVersion = pgbenchVersionLine();
  const pgbouncerVersion = pgbouncerVersionLine();
  log(`${pgbenchVersion}; ${pgbouncerVersion}; node ${process.version}; ${os.cpus().length} cores; CLK_TCK ${clockTicks}`);
  log(
    `plan: modes ${opts.modes.join(',')} x clients ${opts.clients.join(',')} x ${opts.rounds} round(s) x ${TARGETS.length} targets x ${opts.durationS} s ` +
      `≈ ${Math.ceil((opts.modes.length * opts.clients.length * opts.rounds * TARGETS.length * (opts.durationS + 1)) / 60)} min (+ setup)`,
  );

  let tmp: string | undefined;
  let clusters: Cluster[] = [];
  let watchdog: number | undefined;
  let prescient: Endpoint | undefined;
  let baseline: Endpoint | undefined;
  let workersEp: Endpoint | undefined;
  let pipelineEp: Endpoint | undefined;
  const servers: Endpoint[] = [];
  const results: RunResult[] = [];
  let exitCode = 0;

  const interrupt = new Interrupt(
    () => {
      log('SIGINT: stopping the current run and cleaning up (Ctrl-C again to kill everything)');
      for (const p of procs) if (p.name === 'pgbench' || p.name === 'pgbench-init' || p.name === 'psql') signalGroup(p, 'SIGTERM');
    },
    () => killEverything(clusters), // second Ctrl-C: kill everything now
  );
  const check = (): void => interrupt.check();

  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-'));
    if (isRoot()) {
      const u = osUser('postgres');
      await chown(tmp, u.uid, u.gid);
    }
    if (profDir) await mkdir(profDir, { recursive: true });

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
      pgEnv(pg.password),
      15 * 60_000,
    );
    check();
    if (init.code !== 0) throw new Error(`pgbench -i failed (exit ${init.code})\n${init.stderr}`);

    const direct: Endpoint = { host: pg.host, port: pg.port, label: 'direct' };
    const { tx: bouncerTx, session: bouncerSession } = await startPgBouncers(tmp, pg, opts.poolSize, maxClients, opts.modes.includes('prepared'));
    servers.push(bouncerTx, ...(bouncerSession ? [bouncerSession] : []));
    const floor = await startNodeRelay(tmp, pg);
    servers.push(floor);
    log(`node relay (the Node floor) on 127.0.0.1:${floor.port} (pid ${floor.cpuPid})`);
    let floorOnread: Endpoint | undefined;
    let pipelined: Endpoint | undefined;
    if (TARGETS.includes('pipelined')) {
      pipelined = await startPipelineRelay(tmp, pg);
      servers.push(pipelined);
    }
    if (TARGETS.includes('floor-onread')) {
      floorOnread = await startNodeRelay(tmp, pg, true);
      servers.push(floorOnread);
    }
    prescient = await startPrescient(tmp, pg, opts.poolSize, profDir, undefined, undefined, opts.pin);
    servers.push(prescient);
    if (opts.baseline) {
      baseline = await startPrescient(tmp, pg, opts.poolSize, undefined, path.resolve(opts.baseline), undefined, opts.pin);
      servers.push(baseline);
    }
    if (opts.workers) {
      workersEp = await startPrescient(tmp, pg, opts.poolSize, undefined, undefined, opts.workers, opts.pin);
      servers.push(workersEp);
    }
    if (opts.pipeline) {
      pipelineEp = await startPrescient(tmp, pg, opts.poolSize, undefined, undefined, undefined, opts.pin, opts.pipeline);
      servers.push(pipelineEp);
    }
    watchdog = spawnWatchdog(servers.flatMap((s) => (s.proc ? [s.proc.pid] : [])));
    check();

    // Smoke test each endpoint (auth, routing) before spending minutes on runs.
    for (const ep of [direct, ...servers]) {
      const r = await run(
        'psql',
        findPgBin('psql'),
        ['-X', '-At', '-h', ep.host, '-p', String(ep.port), '-U', pg.user, '-d', PG_DB, '-c', 'select count(*) from pgbench_branches'],
        pgEnv(pg.password),
        30_000,
      );
      check();
      if (r.code !== 0 || r.stdout.trim() !== String(opts.scale)) throw new Error(`smoke test via ${ep.label} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    }
    log('smoke test ok: direct, PgBouncer, the Node floor, Prescient');

    const own: Own = { proxyPids: servers.flatMap((s) => (s.cpuPid ? [s.cpuPid] : [])), postmasterPids: [pg.pid] };
    const endpointFor = (t: Target, mode: Mode): Endpoint =>
      t === 'direct' ? direct : t === 'floor' ? floor : t === 'floor-onread' ? floorOnread! : t === 'pipelined' ? pipelined! : t === 'prescient' ? prescient! : t === 'baseline' ? baseline! : t === 'workers' ? workersEp! : t === 'pipeline' ? pipelineEp! : mode === 'prepared' ? bouncerSession! : bouncerTx;

    if (opts.warmupS > 0) {
      for (const ep of [direct, ...servers]) {
        log(`warm-up ${opts.warmupS} s via ${ep.label} (-c ${maxClients} -M simple)`);
        await pgbench(pg, ep, 'simple', maxClients, opts.warmupS, opts.jobs, clockTicks, own);
        check();
      }
    }

    const total = opts.modes.reduce((n, mode) => n + opts.clients.length * opts.rounds * TARGETS.filter((t) => t !== 'pipelined' || mode === 'simple').length, 0);
    let done = 0;
    for (const mode of opts.modes) {
      for (const clients of opts.clients) {
        for (let round = 1; round <= opts.rounds; round++) {
          for (const target of TARGETS) {
            // the pipelining experiment relays simple Queries only
            if (target === 'pipelined' && mode !== 'simple') continue;
            check();
            const ep = endpointFor(target, mode);
            if (opts.quietPct !== undefined) await waitQuiet(opts.quietPct, opts.quietWaitS, clockTicks, own, log, () => interrupt.interrupted);
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
            if (ep.proc?.hasExited) throw new Error(`${ep.proc.name} exited during the benchmark\n${await tail(path.join(tmp, `${ep.proc.name}.log`))}`);
          }
        }
      }
    }

    const rows = summarize(results, opts);
    const table = markdownTable(rows, opts);
    process.stdout.write('\n' + table);
    const syscalls: SyscallRow[] = [];
    if (opts.strace) {
      for (const mode of opts.modes) {
        for (const target of TARGETS.filter((t) => t !== 'direct' && (t !== 'pipelined' || mode === 'simple'))) {
          check();
          const ep = endpointFor(target, mode);
          const tracer = await traceSyscalls(ep.cpuPid!, path.join(tmp, `strace-${target}-${mode}.txt`));
          const r = await pgbench(pg, ep, mode, opts.clients[0]!, STRACE_SECONDS, opts.jobs, clockTicks, own);
          const counts = await tracer.stop();
          check();
          if (r.error || !r.transactions) throw new Error(`pgbench under strace via ${ep.label} failed: ${r.error ?? 'no transactions'}`);
          syscalls.push({ mode, target, transactions: r.transactions, counts: Object.fromEntries(counts) });
          log(`strace ${mode} ${target}: ${r.transactions} transactions, ${[...counts.values()].reduce((n, c) => n + c.calls, 0)} syscalls`);
        }
      }
      process.stdout.write('\n' + syscallTable(syscalls, opts));
    }
    const memory: MemoryRow[] = [];
    if (opts.memory) {
      // a Prescient of its own (pool of 20, room for the clients), so its RSS starts from a fresh process
      const m = await launchPrescient({
        dir: tmp,
        name: 'prescient-memory',
        generatedBy: 'scripts/bench-passthrough.ts',
        config: (port) => {
          const base = benchConfig(port, MEMORY_POOL, 'warn') as { listen: object };
          return {
            ...base,
            listen: { ...base.listen, max_client_connections: opts.memoryClients + 100 },
            database: PG_DB,
            users: [{ name: pg.user, password: pg.password }],
            shards: [{ name: 's0', host: pg.host, port: pg.port, database: PG_DB, user: pg.user, password: pg.password }],
          };
        },
      });
      servers.push({ host: m.host, port: m.port, proc: m.proc, label: 'Prescient (memory phase)' });
      const ep: Endpoint = { host: m.host, port: m.port, proc: m.proc, cpuPid: m.proc.pid, label: 'Prescient (memory phase)' };
      const startMb = rssMb(m.proc.pid);
      for (const phase of ['idle', 'active'] as const) {
        check();
        const sampler = sampleRss(m.proc.pid);
        const args = [
          '-S', '-n', '-T', String(MEMORY_SECONDS), '-c', String(opts.memoryClients), '-j', String(opts.jobs), '-M', 'simple',
          ...(phase === 'idle' ? ['-R', '50'] : []), '-h', ep.host, '-p', String(ep.port), '-U', pg.user, PG_DB,
        ];
        const r = await runPgbench(args, { password: pg.password, durationS: MEMORY_SECONDS + 60 });
        const rss = sampler.stop();
        if (r.error) throw new Error(`memory phase (${phase}) failed: ${r.error}`);
        memory.push({ phase, clients: opts.memoryClients, pool: MEMORY_POOL, tps: r.tps, startMb, maxMb: rss.maxMb, endMb: rss.lastMb });
        log(`memory ${phase}: ${opts.memoryClients} clients, pool ${MEMORY_POOL}: tps ${fmt(r.tps)}, max RSS ${fmt(rss.maxMb)} MB`);
      }
      process.stdout.write('\n' + memoryTable(memory));
    }

    // Stop Prescient now so the profile is written (on exit) and can be summarized.
    let profile: { file: string; summary: ReturnType<typeof summarizeProfile> } | undefined;
    const prescientCpu = prescient.cpuPid ? cpuTicks(prescient.cpuPid) : null;
    if (prescient.proc) await stopProc(prescient.proc, 'SIGTERM', 20_000);
    if (profDir) {
      const file = latestCpuProfile(profDir);
      if (!file) log(`no .cpuprofile written in ${profDir}`);
      else {
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
        ...(syscalls.length > 0 ? { syscalls } : {}),
        ...(memory.length > 0 ? { memory } : {}),
        ...(profile ? { profile: { file: profile.file, processCpuTicks: prescientCpu, ...profile.summary } } : {}),
      };
      await writeJson(opts.json, out, log);
    }
    if (results.some((r) => r.error)) exitCode = 1;
  } catch (e) {
    exitCode = interrupt.failed(e, log);
  } finally {
    // Stop everything we started, by pid: pgbench (if any), Prescient, PgBouncers, then Postgres.
    await stopAll([{ proc: prescient?.proc, graceMs: 20_000 }, ...servers]);
    await finish({ log, interrupt, clusters, watchdog, tmp, keepTmp: opts.keep || (exitCode !== 0 && !interrupt.interrupted) });
    if (profDir) log(`CPU profile dir: ${profDir}`);
  }
  return exitCode;
}

runMain(import.meta.url, main, log);
