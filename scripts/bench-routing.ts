// bench-routing owns the shard-routing benchmark: pgbench custom scripts against one direct Postgres, PgBouncer in front of it, and Prescient routing over three shards (interleaved), with proxy CPU per transaction and a routing correctness check.
//
// usage (after `npm run build`):
//   npm run bench:routing -- [options]
//   node dist/scripts/bench-routing.js [options]
//
// options:
//   --duration S          seconds per pgbench run (default 10)
//   --rounds N            interleaved rounds per (script, mode, clients) cell (default 2)
//   --clients 8,32        client counts (default 8,32)
//   --modes simple,extended,prepared   pgbench -M modes (default all three)
//   --scripts select,update-tx         pgbench scripts from scripts/bench-routing/<name>.sql (default both)
//   --accounts A          accounts 1..A (default 10000)
//   --rows R              volumes per account (default 5)
//   --pool-size N         PgBouncer default_pool_size, and Prescient pool.size (server connections PER SHARD) (default 40)
//   --jobs N              pgbench -j (default 2)
//   --warmup S            seconds of `select` warm-up through each target before measuring (default 3, 0 = none)
//   --sampling-rate F     fraction of transactions pgbench logs for the latency percentiles (default 0.1)
//   --rtt-ms MS           put Postgres "across a network": every target reaches its clusters through scripts/delay-relay.ts,
//                         which adds MS per round trip (default 0 = loopback; 1 = 0.5 ms each way, same-region)
//   --json FILE           also write the results as JSON
//   --cpu-prof            run Prescient under `node --cpu-prof` (profile written to --cpu-prof-dir, default .bench/cpu-prof-<timestamp>)
//   --cpu-prof-dir DIR
//   --keep                keep the temp dir (configs, catalog, pgbench logs, PgBouncer/Prescient logs)
//
// What it starts (all on 127.0.0.1, all stopped by pid at the end, on SIGINT and on error):
//   - FOUR throwaway Postgres clusters (scripts/testbed.ts): `direct` holds every row; s1, s2, s3 are Prescient's shards
//     and hold only the accounts the catalog places on them (placement key `${account}_volume`, computed in-process with
//     Prescient's own catalog, in the same SQLite file Prescient is then pointed at). The direct cluster serves no shard.
//   - PgBouncer (pool_mode=transaction) in front of the direct cluster; for `-M prepared` a second PgBouncer in
//     pool_mode=session (1.18 has no protocol-level prepared statements in transaction mode).
//   - Prescient (pool mode transaction) over s1..s3 via `node dist/proxy/cli.js start --config FILE`
// Latency: pgbench per-transaction logs (-l, --sampling-rate), p50/p99 over the sampled transactions of all rounds.
// Correctness (after the runs): every pgbench run exited 0 with 0 failed transactions; sum(size_gib) grew on the shards by
// exactly the transactions pgbench reported for Prescient's update-tx runs (and on the direct cluster by direct + PgBouncer's);
// every shard still holds exactly its own accounts' rows; reads through Prescient (simple and extended protocol) of sample
// accounts of every shard return what the owning shard holds.
// Progress goes to stderr; the markdown table and the check results to stdout.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createCatalog } from '../proxy/catalog/createCatalog.js';
import { startClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { clockTicksPerSecond, cpuTicks, type Own } from './lib/cpu.js';
import { log } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { finish, Interrupt, runMain } from './lib/main.js';
import { pgbench as runPgbench, pgbenchVersion as pgbenchVersionLine, readLatencyLogs, type Endpoint } from './lib/pgbench.js';
import { pgbouncerVersion as pgbouncerVersionLine, startPgBouncers } from './lib/pgbouncer.js';
import { benchConfig, cpuProfDir, latestCpuProfile, startPrescient as launchPrescient } from './lib/prescient.js';
import { isRoot, killEverything, osUser, procs, signalGroup, spawnWatchdog, stopAll, stopProc, tail, type Proc } from './lib/proc.js';
import { measuredRttMs, startDelayRelay } from './lib/delayRelay.js';
import { maxOf, median, percentile } from './lib/stats.js';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const MODES = ['simple', 'extended', 'prepared'] as const;
type Mode = (typeof MODES)[number];
const SCRIPTS = ['select', 'update-tx'] as const;
type Script = (typeof SCRIPTS)[number];
type Target = 'direct' | 'pgbouncer' | 'prescient';
const TARGETS: readonly Target[] = ['direct', 'pgbouncer', 'prescient'];
const SHARD_NAMES = ['s1', 's2', 's3'] as const;
const DB = 'app';
const APP_USER = { name: 'app', password: 'app-secret' };
const DOMAIN = 'volume';

interface Options {
  durationS: number;
  rounds: number;
  clients: number[];
  modes: Mode[];
  scripts: Script[];
  accounts: number;
  rows: number;
  poolSize: number;
  jobs: number;
  warmupS: number;
  samplingRate: number;
  rttMs: number;
  json?: string;
  cpuProf: boolean;
  cpuProfDir?: string;
  keep: boolean;
}

const USAGE = `usage: node dist/scripts/bench-routing.js [--duration S] [--rounds N] [--clients 8,32]
       [--modes simple,extended,prepared] [--scripts select,update-tx] [--accounts A] [--rows R]
       [--pool-size N] [--jobs N] [--warmup S] [--sampling-rate F] [--rtt-ms MS] [--json FILE] [--cpu-prof] [--cpu-prof-dir DIR] [--keep]`;

function parseArgs(argv: string[]): Options {
  const flags = new Args(argv, {
    usage: USAGE,
    values: ['duration', 'rounds', 'clients', 'modes', 'scripts', 'accounts', 'rows', 'pool-size', 'jobs', 'warmup', 'sampling-rate', 'rtt-ms', 'json', 'cpu-prof-dir'],
    booleans: ['cpu-prof', 'keep'],
  });
  const clients = flags.intList('clients', '8,32');
  const samplingRate = Number(flags.get('sampling-rate') ?? '0.1');
  if (!(samplingRate > 0 && samplingRate <= 1)) throw new Error(`--sampling-rate must be in (0, 1], got ${flags.get('sampling-rate')}`);
  return {
    durationS: flags.int('duration', 10, 1),
    rounds: flags.int('rounds', 2, 1),
    clients,
    modes: flags.list('modes', MODES),
    scripts: flags.list('scripts', SCRIPTS),
    accounts: flags.int('accounts', 10000, 1),
    rows: flags.int('rows', 5, 1),
    poolSize: flags.int('pool-size', 40, 1),
    jobs: flags.int('jobs', 2, 1),
    warmupS: flags.int('warmup', 3, 0),
    samplingRate,
    rttMs: flags.num('rtt-ms', 0, 0, 100, false),
    json: flags.get('json'),
    cpuProf: flags.bool('cpu-prof'),
    cpuProfDir: flags.get('cpu-prof-dir'),
    keep: flags.bool('keep'),
  };
}

// ---------------------------------------------------------------------------------------------
// Data: schema, placement, loading
// ---------------------------------------------------------------------------------------------

const SCHEMA =
  'create table volumes (account_id bigint not null, id bigint not null, state text not null, size_gib int not null, primary key (account_id, id))';

/** A pg client for one cluster as the app user. */
async function connect(c: { host: string; port: number }, user = APP_USER): Promise<pg.Client> {
  const client = new pg.Client({ host: c.host, port: c.port, user: user.name, password: user.password, database: DB, connectionTimeoutMillis: 10_000 });
  await client.connect();
  return client;
}

/** Shard name of every account 1..A, from Prescient's own catalog (SQLite file `catalogFile`, later handed to Prescient). */
async function placeAccounts(catalogFile: string, shards: { name: string; cluster: Cluster }[], accounts: number): Promise<Map<string, number[]>> {
  const cat = createCatalog({ path: catalogFile });
  await cat.open();
  try {
    await cat.syncShards(shards.map((s) => ({ name: s.name, host: s.cluster.host, port: s.cluster.port, database: DB })));
    const snap = cat.snapshot();
    const byShard = new Map<string, number[]>(shards.map((s) => [s.name, []]));
    for (let a = 1; a <= accounts; a++) {
      const shard = snap.placementOf(`${a}_${DOMAIN}`).shard.name;
      const list = byShard.get(shard);
      if (!list) throw new Error(`catalog placed ${a}_${DOMAIN} on unknown shard ${shard}`);
      list.push(a);
    }
    return byShard;
  } finally {
    await cat.close();
  }
}

/** Creates `volumes` and fills it with R rows for each of `accounts` (generate_series, server side). */
async function load(c: Cluster, accounts: number[], rows: number): Promise<void> {
  const client = await connect(c);
  try {
    await client.query(SCHEMA);
    await client.query(
      `insert into volumes (account_id, id, state, size_gib)
       select a, v, (array['available','in-use','creating'])[1 + (a + v) % 3], 8 * (1 + (a + v) % 16)
       from unnest($1::bigint[]) a, generate_series(1, $2::int) v`,
      [accounts, rows],
    );
    await client.query('vacuum analyze volumes');
  } finally {
    await client.end();
  }
}

interface TableState {
  rows: number;
  sum: number;
}

async function tableState(c: { host: string; port: number }): Promise<TableState> {
  const client = await connect(c);
  try {
    const r = await client.query<{ n: string; s: string }>('select count(*) as n, coalesce(sum(size_gib), 0) as s from volumes');
    return { rows: Number(r.rows[0]!.n), sum: Number(r.rows[0]!.s) };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Prescient
// ---------------------------------------------------------------------------------------------

async function startPrescient(
  dir: string,
  shards: { name: string; cluster: Cluster }[],
  catalogFile: string,
  poolSize: number,
  profDir: string | undefined,
): Promise<Endpoint> {
  const p = await launchPrescient({
    dir,
    name: 'prescient',
    generatedBy: 'scripts/bench-routing.ts',
    cpuProfDir: profDir,
    config: (port) => ({
      ...benchConfig(port, poolSize, 'warn'),
      database: DB,
      users: [{ name: APP_USER.name, password: APP_USER.password }],
      shards: shards.map((s) => ({ name: s.name, host: s.cluster.host, port: s.cluster.port, database: DB, user: APP_USER.name, password: APP_USER.password })),
      sharding: { account_column: 'account_id', domains: { [DOMAIN]: { tables: ['volumes'], actions: [] } } },
      catalog: { path: catalogFile },
    }),
  });
  log(`prescient: ${shards.length} shards, pool mode transaction size ${poolSize} per shard on 127.0.0.1:${p.port} (pid ${p.proc.pid})${profDir ? ' with --cpu-prof' : ''}`);
  return { host: p.host, port: p.port, proc: p.proc, cpuPid: p.proc.pid, label: 'Prescient (transaction, 3 shards)' };
}

// ---------------------------------------------------------------------------------------------
// pgbench
// ---------------------------------------------------------------------------------------------

interface RunResult {
  script: Script;
  mode: Mode;
  clients: number;
  round: number;
  target: Target;
  via: string;
  tps: number | null;
  latencyAvgMs: number | null;
  latencyStddevMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** sampled per-transaction latencies kept for pooling across rounds (not written to JSON) */
  samplesUs?: number[];
  transactions: number | null;
  failed: number | null;
  cpuTicks: number | null;
  cpuUserTicks: number | null;
  cpuSysTicks: number | null;
  cpuUsPerTxn: number | null;
  foreignCpuPct: number | null;
  exitCode: number | null;
  error?: string;
}

interface PgbenchContext {
  scriptDir: string;
  logDir: string;
  opts: Options;
  clkTck: number;
  own: Own;
  user: { name: string; password: string };
}

let runCounter = 0;

async function pgbench(
  ctx: PgbenchContext,
  ep: Endpoint,
  script: Script,
  mode: Mode,
  clients: number,
  durationS: number,
): Promise<Omit<RunResult, 'script' | 'mode' | 'clients' | 'round' | 'target'>> {
  const prefix = path.join(ctx.logDir, `run${++runCounter}`);
  const args = [
    '-n', '-f', path.join(ctx.scriptDir, `${script}.sql`),
    '-D', `accounts=${ctx.opts.accounts}`, '-D', `rows=${ctx.opts.rows}`,
    '-T', String(durationS), '-c', String(clients), '-j', String(Math.min(ctx.opts.jobs, clients)), '-M', mode,
    '-l', `--sampling-rate=${ctx.opts.samplingRate}`, `--log-prefix=${prefix}`,
    '-h', ep.host, '-p', String(ep.port), '-U', ctx.user.name, DB,
  ];
  const r = await runPgbench(args, { password: ctx.user.password, durationS, cpuPid: ep.cpuPid, own: ctx.own, clkTck: ctx.clkTck });
  const samples = (await readLatencyLogs(prefix)).sort((a, b) => a - b);
  const ticks = r.cpu ? r.cpu.user + r.cpu.sys : null;
  const cpuUsPerTxn = ticks !== null && r.transactions ? ((ticks / ctx.clkTck) * 1e6) / r.transactions : null;
  const ms = (us: number | null): number | null => (us === null ? null : us / 1000);
  return {
    via: ep.label,
    tps: r.tps,
    latencyAvgMs: r.latencyAvgMs,
    latencyStddevMs: r.latencyStddevMs,
    transactions: r.transactions,
    failed: r.failed,
    p50Ms: ms(percentile(samples, 50)),
    p99Ms: ms(percentile(samples, 99)),
    samplesUs: samples,
    cpuTicks: ticks,
    cpuUserTicks: r.cpu ? r.cpu.user : null,
    cpuSysTicks: r.cpu ? r.cpu.sys : null,
    cpuUsPerTxn,
    foreignCpuPct: r.foreignCpuPct,
    exitCode: r.exitCode,
    ...(r.error ? { error: r.error } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Correctness checks
// ---------------------------------------------------------------------------------------------

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Reads through Prescient (simple and extended protocol) of `perShard` accounts of every shard, compared with the owning shard. */
async function routingReadCheck(
  prescient: Endpoint,
  shards: { name: string; cluster: Cluster; accounts: number[] }[],
  perShard: number,
): Promise<Check> {
  const viaProxy = await connect(prescient);
  const wrong: string[] = [];
  let checked = 0;
  try {
    for (const s of shards) {
      const owner = await connect(s.cluster);
      try {
        const step = Math.max(1, Math.floor(s.accounts.length / perShard));
        for (let i = 0; i < s.accounts.length && i / step < perShard; i += step) {
          const a = s.accounts[i]!;
          const q = 'select count(*)::int as n, coalesce(sum(size_gib), 0)::bigint as s from volumes where account_id = ';
          const want = (await owner.query<{ n: number; s: string }>(q + '$1', [a])).rows[0]!;
          const simple = (await viaProxy.query<{ n: number; s: string }>(q + String(a))).rows[0]!;
          const extended = (await viaProxy.query<{ n: number; s: string }>(q + '$1', [a])).rows[0]!;
          checked++;
          for (const [proto, got] of [['simple', simple], ['extended', extended]] as const) {
            if (got.n !== want.n || got.s !== want.s) wrong.push(`account ${a} on ${s.name} (${proto}): got ${got.n} rows / sum ${got.s}, shard has ${want.n} / ${want.s}`);
          }
        }
      } finally {
        await owner.end();
      }
    }
  } finally {
    await viaProxy.end();
  }
  return {
    name: 'reads through Prescient match the owning shard',
    ok: wrong.length === 0,
    detail: wrong.length === 0 ? `${checked} accounts (${perShard} per shard), simple and extended protocol` : `${wrong.length} mismatches of ${checked * 2}; e.g. ${wrong.slice(0, 3).join('; ')}`,
  };
}

/** Every shard holds exactly the rows of the accounts the catalog places on it. */
async function placementCheck(shards: { name: string; cluster: Cluster; accounts: number[] }[], rows: number): Promise<Check> {
  const bad: string[] = [];
  for (const s of shards) {
    const client = await connect(s.cluster);
    try {
      const r = await client.query<{ extra: string; missing: string; n: string }>(
        `select (select count(*) from volumes where account_id <> all($1::bigint[])) as extra,
                (select count(*) from unnest($1::bigint[]) a where (select count(*) from volumes v where v.account_id = a) <> $2) as missing,
                (select count(*) from volumes) as n`,
        [s.accounts, rows],
      );
      const { extra, missing, n } = r.rows[0]!;
      if (Number(extra) !== 0 || Number(missing) !== 0) bad.push(`${s.name}: ${extra} rows of foreign accounts, ${missing} own accounts without ${rows} rows (${n} rows)`);
    } finally {
      await client.end();
    }
  }
  return {
    name: 'each shard holds exactly its own accounts',
    ok: bad.length === 0,
    detail: bad.length === 0 ? shards.map((s) => `${s.name}: ${s.accounts.length} accounts`).join(', ') : bad.join('; '),
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface SummaryRow {
  script: Script;
  mode: Mode;
  clients: number;
  pgbouncerPoolMode: 'transaction' | 'session';
  tps: Record<Target, number | null>;
  p50Ms: Record<Target, number | null>;
  p99Ms: Record<Target, number | null>;
  latencyAvgMs: Record<Target, number | null>;
  failed: Record<Target, number>;
  errors: Record<Target, number>;
  prescientVsDirect: number | null;
  prescientVsPgbouncer: number | null;
  cpuUsPerTxn: { pgbouncer: number | null; prescient: number | null };
  maxForeignCpuPct: number | null;
}

function summarize(results: RunResult[], opts: Options, clkTck: number): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const script of opts.scripts) {
    for (const mode of opts.modes) {
      for (const clients of opts.clients) {
        const cell = results.filter((r) => r.script === script && r.mode === mode && r.clients === clients);
        if (cell.length === 0) continue;
        const of = (t: Target): RunResult[] => cell.filter((r) => r.target === t);
        const ok = (t: Target): RunResult[] => of(t).filter((r) => r.tps !== null && !r.error);
        const rec = <T>(f: (t: Target) => T): Record<Target, T> => Object.fromEntries(TARGETS.map((t) => [t, f(t)])) as Record<Target, T>;
        const pooled = (t: Target): number[] => ok(t).flatMap((r) => r.samplesUs ?? []).sort((a, b) => a - b);
        const pct = (t: Target, p: number): number | null => {
          const v = percentile(pooled(t), p);
          return v === null ? null : v / 1000;
        };
        const tps = rec((t) => median(ok(t).map((r) => r.tps!)));
        const cpu = (t: Target): number | null => {
          const rs = ok(t).filter((r) => r.cpuTicks !== null && r.transactions);
          const txns = rs.reduce((s, r) => s + r.transactions!, 0);
          const ticks = rs.reduce((s, r) => s + r.cpuTicks!, 0);
          return txns > 0 ? ((ticks / clkTck) * 1e6) / txns : null;
        };
        rows.push({
          script,
          mode,
          clients,
          pgbouncerPoolMode: mode === 'prepared' ? 'session' : 'transaction',
          tps,
          p50Ms: rec((t) => pct(t, 50)),
          p99Ms: rec((t) => pct(t, 99)),
          latencyAvgMs: rec((t) => median(ok(t).flatMap((r) => (r.latencyAvgMs === null ? [] : [r.latencyAvgMs])))),
          failed: rec((t) => of(t).reduce((s, r) => s + (r.failed ?? 0), 0)),
          errors: rec((t) => of(t).filter((r) => r.error).length),
          prescientVsDirect: tps.prescient !== null && tps.direct ? tps.prescient / tps.direct : null,
          prescientVsPgbouncer: tps.prescient !== null && tps.pgbouncer ? tps.prescient / tps.pgbouncer : null,
          cpuUsPerTxn: { pgbouncer: cpu('pgbouncer'), prescient: cpu('prescient') },
          maxForeignCpuPct: maxOf(cell.map((r) => r.foreignCpuPct)),
        });
      }
    }
  }
  return rows;
}

function fmt(n: number | null, digits = 0): string {
  return n === null ? 'err' : n.toFixed(digits);
}

function markdownTable(rows: SummaryRow[], opts: Options, shardAccounts: Map<string, number[]>): string {
  const head = [
    'script', 'mode', 'clients', 'direct TPS', 'PgBouncer TPS', 'Prescient TPS',
    'direct p50/p99 ms', 'PgBouncer p50/p99 ms', 'Prescient p50/p99 ms',
    'Prescient/direct', 'Prescient/PgBouncer', 'PgBouncer CPU µs/txn', 'Prescient CPU µs/txn', 'failed txns d/b/p', 'other load % (max)',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const mark = r.pgbouncerPoolMode === 'session' ? ' †' : '';
    const errs = (t: Target): string => (r.errors[t] ? ` (${r.errors[t]} err)` : '');
    const lat = (t: Target): string => `${fmt(r.p50Ms[t], 2)} / ${fmt(r.p99Ms[t], 2)}`;
    lines.push(
      '| ' +
        [
          r.script,
          r.mode,
          String(r.clients),
          fmt(r.tps.direct) + errs('direct'),
          fmt(r.tps.pgbouncer) + mark + errs('pgbouncer'),
          fmt(r.tps.prescient) + errs('prescient'),
          lat('direct'),
          lat('pgbouncer') + mark,
          lat('prescient'),
          r.prescientVsDirect === null ? 'n/a' : r.prescientVsDirect.toFixed(2),
          r.prescientVsPgbouncer === null ? 'n/a' : r.prescientVsPgbouncer.toFixed(2) + mark,
          fmt(r.cpuUsPerTxn.pgbouncer, 1) + mark,
          fmt(r.cpuUsPerTxn.prescient, 1),
          `${r.failed.direct}/${r.failed.pgbouncer}/${r.failed.prescient}`,
          fmt(r.maxForeignCpuPct),
        ].join(' | ') +
        ' |',
    );
  }
  const split = [...shardAccounts].map(([s, a]) => `${s} ${a.length}`).join(', ');
  const notes = [
    '',
    `${opts.accounts} accounts x ${opts.rows} volumes; direct and PgBouncer: one Postgres with every row; Prescient: three Postgres shards ` +
      `(accounts per shard by Prescient's catalog: ${split}), four separate clusters on one ${os.cpus().length}-core host.`,
    `pgbench -f scripts/bench-routing/<script>.sql, -T ${opts.durationS} s, -j ${opts.jobs}, ${opts.rounds} interleaved round(s) per cell ` +
      `(direct, PgBouncer, Prescient); TPS = median over rounds; p50/p99 = percentiles of pgbench's per-transaction log ` +
      `(--sampling-rate ${opts.samplingRate}) pooled over the rounds; CPU µs/txn = proxy process utime+stime over all rounds / transactions.`,
    '"other load" = host CPU used during a run by processes outside this benchmark, in % of all cores (high values mean noisy numbers).',
    `Pools: PgBouncer default_pool_size=${opts.poolSize}; Prescient pool.size=${opts.poolSize} per shard; both transaction mode.`,
  ];
  if (rows.some((r) => r.pgbouncerPoolMode === 'session'))
    notes.push(
      '† -M prepared: PgBouncer 1.18 does not support protocol-level prepared statements in transaction mode, so these cells use a ' +
        'second PgBouncer instance in pool_mode=session. Prescient stays in transaction mode.',
    );
  if (opts.cpuProf) notes.push('Prescient ran under node --cpu-prof: its numbers include profiler overhead.');
  return lines.join('\n') + '\n' + notes.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const clkTck = clockTicksPerSecond();
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '../..');
  const scriptDir = path.join(root, 'scripts', 'bench-routing');
  for (const s of opts.scripts) if (!existsSync(path.join(scriptDir, `${s}.sql`))) throw new Error(`pgbench script ${path.join(scriptDir, `${s}.sql`)} not found`);
  const maxClients = Math.max(...opts.clients);
  const profDir = opts.cpuProf ? cpuProfDir(opts.cpuProfDir, root) : undefined;

  const pgbenchVersion = pgbenchVersionLine();
  const pgbouncerVersion = pgbouncerVersionLine();
  const gitHead = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout?.trim() || '?';
  log(`${pgbenchVersion}; ${pgbouncerVersion}; node ${process.version}; ${os.cpus().length} cores; CLK_TCK ${clkTck}; git ${gitHead}`);
  const runs = opts.scripts.length * opts.modes.length * opts.clients.length * opts.rounds * TARGETS.length;
  log(`plan: ${runs} runs x ${opts.durationS} s ≈ ${Math.ceil((runs * (opts.durationS + 1) + 3 * opts.warmupS) / 60)} min (+ setup)`);

  let tmp: string | undefined;
  let clusters: Cluster[] = [];
  let watchdog: number | undefined;
  let prescient: Endpoint | undefined;
  const servers: Endpoint[] = [];
  const relays: Proc[] = [];
  let rttMeasured: number | null = null;
  const results: RunResult[] = [];
  const checks: Check[] = [];
  let exitCode = 0;

  const interrupt = new Interrupt(
    () => {
      log('SIGINT: stopping the current run and cleaning up (Ctrl-C again to kill everything)');
      for (const p of procs) if (p.name === 'pgbench' || p.name === 'psql') signalGroup(p, 'SIGTERM');
    },
    () => killEverything(clusters),
  );
  const check = (): void => interrupt.check();

  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-routing-'));
    if (isRoot()) {
      const u = osUser('postgres');
      await chown(tmp, u.uid, u.gid);
    }
    const logDir = path.join(tmp, 'pgbench-logs');
    await mkdir(logDir);
    if (profDir) await mkdir(profDir, { recursive: true });

    log('starting 4 Postgres clusters (direct, s1, s2, s3)');
    clusters = await startClusters(4, {
      auth: 'scram-sha-256',
      databases: [DB],
      users: [APP_USER],
      settings: { max_connections: 300 },
    });
    const direct = clusters[0]!;
    const shardClusters = SHARD_NAMES.map((name, i) => ({ name, cluster: clusters[i + 1]! }));
    log(`direct ${direct.host}:${direct.port}; ` + shardClusters.map((s) => `${s.name} ${s.cluster.host}:${s.cluster.port}`).join('; '));
    check();

    const catalogFile = path.join(tmp, 'catalog.db');
    const placed = await placeAccounts(catalogFile, shardClusters, opts.accounts);
    const shards = shardClusters.map((s) => ({ ...s, accounts: placed.get(s.name)! }));
    log(`placement (catalog ${catalogFile}): ` + shards.map((s) => `${s.name} ${s.accounts.length} accounts`).join(', '));

    const allAccounts = Array.from({ length: opts.accounts }, (_, i) => i + 1);
    const t0 = Date.now();
    await Promise.all([load(direct, allAccounts, opts.rows), ...shards.map((s) => load(s.cluster, s.accounts, opts.rows))]);
    log(`loaded ${opts.accounts * opts.rows} rows in ${Date.now() - t0} ms`);
    check();

    // with --rtt-ms every target reaches the clusters through a delay relay (the data was loaded, and is checked, directly)
    const reach = new Map<Cluster, { host: string; port: number }>(clusters.map((c) => [c, c]));
    if (opts.rttMs > 0) {
      for (const [i, c] of clusters.entries()) {
        const relay = await startDelayRelay(tmp, `delay-relay-${i}`, c, opts.rttMs);
        relays.push(relay.proc);
        reach.set(c, relay);
      }
      rttMeasured = await measuredRttMs(direct, reach.get(direct)!, { user: APP_USER.name, password: APP_USER.password, database: DB });
      log(`clusters behind delay relays (${opts.rttMs} ms per round trip asked): a client sees ${rttMeasured.toFixed(3)} ms more per round trip`);
    }
    const directAt = reach.get(direct)!;
    // PgBouncer and the servers' login: the app user (owner of schema public on every cluster).
    const directAsApp = { host: directAt.host, port: directAt.port, user: APP_USER.name, password: APP_USER.password };
    const directEp: Endpoint = { host: directAt.host, port: directAt.port, label: 'direct' };
    const { tx: bouncerTx, session: bouncerSession } = await startPgBouncers(tmp, directAsApp, opts.poolSize, maxClients, opts.modes.includes('prepared'));
    servers.push(bouncerTx, ...(bouncerSession ? [bouncerSession] : []));
    prescient = await startPrescient(tmp, shards.map((s) => ({ ...s, cluster: { ...s.cluster, ...reach.get(s.cluster)! } })), catalogFile, opts.poolSize, profDir);
    servers.push(prescient);
    watchdog = spawnWatchdog([...servers.flatMap((s) => (s.proc ? [s.proc.pid] : [])), ...relays.map((p) => p.pid)]);
    check();

    // Smoke test: each endpoint answers a query for account 1 (Prescient's routing is checked separately below).
    for (const ep of [directEp, ...servers]) {
      const client = await connect(ep);
      try {
        const r = await client.query<{ n: number }>('select count(*)::int as n from volumes where account_id = 1');
        if (ep !== prescient && r.rows[0]!.n !== opts.rows) throw new Error(`smoke test via ${ep.label}: ${r.rows[0]!.n} rows for account 1, want ${opts.rows}`);
      } catch (e) {
        throw new Error(`smoke test via ${ep.label} failed: ${(e as Error).message}`);
      } finally {
        await client.end().catch(() => {});
      }
    }
    log('smoke test ok: direct, PgBouncer, Prescient');
    const pre = await routingReadCheck(prescient, shards, 3);
    log(`routing pre-check: ${pre.ok ? 'ok' : 'FAILED'}: ${pre.detail}`);
    check();

    const ctx: PgbenchContext = {
      scriptDir,
      logDir,
      opts,
      clkTck,
      own: { proxyPids: servers.flatMap((s) => (s.cpuPid ? [s.cpuPid] : [])), postmasterPids: clusters.map((c) => c.pid) },
      user: APP_USER,
    };
    const endpointFor = (t: Target, mode: Mode): Endpoint =>
      t === 'direct' ? directEp : t === 'prescient' ? prescient! : mode === 'prepared' ? bouncerSession! : bouncerTx;

    if (opts.warmupS > 0) {
      for (const ep of [directEp, ...servers]) {
        log(`warm-up ${opts.warmupS} s via ${ep.label} (select, -c ${maxClients} -M simple)`);
        const w = await pgbench(ctx, ep, 'select', 'simple', maxClients, opts.warmupS);
        if (w.error) log(`warm-up via ${ep.label}: ${w.error}`);
        check();
      }
    }

    // size_gib totals before the measured runs (only update-tx changes them: +1 per committed transaction)
    const before = {
      direct: await tableState(direct),
      shards: await Promise.all(shards.map((s) => tableState(s.cluster))),
    };

    let done = 0;
    for (const script of opts.scripts) {
      for (const mode of opts.modes) {
        for (const clients of opts.clients) {
          for (let round = 1; round <= opts.rounds; round++) {
            for (const target of TARGETS) {
              check();
              const ep = endpointFor(target, mode);
              const r = await pgbench(ctx, ep, script, mode, clients, opts.durationS);
              check();
              done++;
              const res: RunResult = { script, mode, clients, round, target, ...r };
              results.push(res);
              log(
                `[${done}/${runs}] ${script} ${mode} c=${clients} round ${round} ${target.padEnd(9)} ` +
                  (res.error
                    ? `ERROR ${res.error}`
                    : `tps ${fmt(res.tps)} p50 ${fmt(res.p50Ms, 2)} p99 ${fmt(res.p99Ms, 2)} ms txns ${res.transactions ?? '?'} failed ${res.failed ?? '?'}` +
                      (res.cpuUsPerTxn !== null ? ` cpu ${res.cpuUsPerTxn.toFixed(1)} µs/txn` : '')) +
                  (res.foreignCpuPct !== null ? ` (other host load ${res.foreignCpuPct.toFixed(0)}%)` : ''),
              );
              if (ep.proc?.hasExited) {
                const logName = ep.proc.name === 'prescient' ? 'prescient.log' : `${ep.proc.name}.log`;
                throw new Error(`${ep.proc.name} exited during the benchmark\n${await tail(path.join(tmp, logName))}`);
              }
            }
          }
        }
      }
    }

    const rows = summarize(results, opts, clkTck);
    process.stdout.write('\n' + markdownTable(rows, opts, placed));
    process.stdout.write(
      opts.rttMs > 0
        ? `\nClusters across a network: every target (direct too) reaches them through scripts/delay-relay.ts, ${opts.rttMs} ms per round trip asked, ${rttMeasured === null ? '?' : rttMeasured.toFixed(3)} ms measured (median select 1 through it minus direct).\n`
        : '\nClusters on loopback (no added network latency; --rtt-ms adds some).\n',
    );

    // Correctness
    const after = {
      direct: await tableState(direct),
      shards: await Promise.all(shards.map((s) => tableState(s.cluster))),
    };
    const txnsOf = (ts: Target[]): number =>
      results.filter((r) => r.script === 'update-tx' && ts.includes(r.target)).reduce((s, r) => s + (r.transactions ?? 0), 0);
    const shardGrowth = after.shards.reduce((s, x) => s + x.sum, 0) - before.shards.reduce((s, x) => s + x.sum, 0);
    const prescientTxns = txnsOf(['prescient']);
    checks.push({
      name: 'shards: sum(size_gib) growth = Prescient update-tx transactions',
      ok: shardGrowth === prescientTxns,
      detail:
        `growth ${shardGrowth} (` + shards.map((s, i) => `${s.name} +${after.shards[i]!.sum - before.shards[i]!.sum}`).join(', ') + `), pgbench reported ${prescientTxns}`,
    });
    const directGrowth = after.direct.sum - before.direct.sum;
    const directTxns = txnsOf(['direct', 'pgbouncer']);
    checks.push({
      name: 'direct: sum(size_gib) growth = direct + PgBouncer update-tx transactions',
      ok: directGrowth === directTxns,
      detail: `growth ${directGrowth}, pgbench reported ${directTxns}`,
    });
    const failedRuns = results.filter((r) => r.error || r.exitCode !== 0 || (r.failed ?? 0) > 0);
    checks.push({
      name: 'every pgbench run exited 0 with 0 failed transactions',
      ok: failedRuns.length === 0,
      detail:
        failedRuns.length === 0
          ? `${results.length} runs`
          : failedRuns.slice(0, 5).map((r) => `${r.script} ${r.mode} c=${r.clients} r${r.round} ${r.target}: ${r.error ?? `failed ${r.failed}`}`).join('; '),
    });
    checks.push(await placementCheck(shards, opts.rows));
    checks.push(await routingReadCheck(prescient, shards, 10));
    const checkLines = ['', 'Correctness:', '', ...checks.map((c) => `- ${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`)];
    process.stdout.write(checkLines.join('\n') + '\n');

    const prescientCpu = prescient.cpuPid ? cpuTicks(prescient.cpuPid) : null;
    if (prescient.proc) await stopProc(prescient.proc, 'SIGTERM', 20_000);
    if (profDir) {
      const file = latestCpuProfile(profDir);
      log(file === undefined ? `no .cpuprofile written in ${profDir}` : `CPU profile: ${file}`);
    }

    if (opts.json) {
      const out = {
        meta: {
          date: new Date().toISOString(),
          git: gitHead,
          node: process.version,
          pgbench: pgbenchVersion,
          pgbouncer: pgbouncerVersion,
          cores: os.cpus().length,
          cpuModel: os.cpus()[0]?.model,
          clockTicksPerSecond: clkTck,
          ...opts,
          shards: shards.map((s) => ({ name: s.name, accounts: s.accounts.length })),
          prescientProcessCpuTicks: prescientCpu,
          rttMeasuredMs: rttMeasured,
        },
        summary: rows,
        runs: results.map(({ samplesUs: _samples, ...r }) => ({ ...r, samples: _samples?.length ?? 0 })),
        checks,
      };
      await writeJson(opts.json, out, log);
    }
    if (results.some((r) => r.error) || checks.some((c) => !c.ok)) exitCode = 1;
  } catch (e) {
    exitCode = interrupt.failed(e, log);
  } finally {
    await stopAll([{ proc: prescient?.proc, graceMs: 20_000 }, ...servers, ...relays.map((proc) => ({ proc, graceMs: 5000 }))]);
    await finish({ log, interrupt, clusters, watchdog, tmp, keepTmp: opts.keep || (exitCode !== 0 && !interrupt.interrupted), kept: 'configs, catalog and logs' });
  }
  return exitCode;
}

runMain(import.meta.url, main, log);
