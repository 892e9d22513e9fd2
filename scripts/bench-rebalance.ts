// bench-rebalance owns the rebalancing benchmark (issue 12): the project's workload (Zipf s = 1.1) through Prescient over four shards, peak-to-mean shard load per 10-second window with the shard manager's moves off and then on, and after a hot-tenant step the time to detect it and to bring peak-to-mean below 1.25; then the write ledger verified.
//
// usage (after `npm run build`): npm run bench:rebalance -- [--accounts N] [--rate R] [--agents A] [--before S] [--after S]
//        [--hot-phase S] [--hot ACCOUNT:PCT%@TIME] [--window S] [--recent S] [--sustain S] [--seed X] [--json FILE]
//   --accounts N    accounts loaded (default 200; Zipf s = 1.1 over them: the hottest has ~21 % of the sessions)
//   --rate R        actions per second, open loop (default 250), by --agents A clients (default 32)
//   --before S      seconds of the Zipf run with moves off (default 40), then --after S with moves on (default 80)
//   --hot-phase S   seconds of a second run with --hot (default 90; 0 = none), moves on
//   --hot SPEC      the hot-tenant step of that run (default acct-7:20%@30s)
//   --window S      shard_manager.window (default 60); --recent S: shard_manager.recent (default 10);
//                   --sustain S: shard_manager.sustain (default 10)
//   --json FILE     also write the results as JSON
// Shard load is measured independently of Prescient, every second over a direct connection to each cluster: the
// statements it ran in the workload's database (pg_stat_statements' calls: the unit Prescient balances, requests) and
// its transactions (pg_stat_database xact_commit + xact_rollback); SHOW LOAD (the proxy's own count over its window)
// is reported beside them. Four throwaway Postgres clusters (scripts/testbed.ts), one Prescient, all on
// 127.0.0.1, stopped at the end.

import { Clients } from './lib/clients.js';
import os from 'node:os';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startClusters, stopClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { makeLog } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { runMain } from './lib/main.js';
import { benchConfig, startPrescient } from './lib/prescient.js';
import { stopProc } from './lib/proc.js';
import { RESOURCE_TABLES } from '../workload/actions.js';
import { applySchema, loadAccounts } from '../workload/load.js';
import { parseHot } from '../workload/plan.js';
import { runWorkload, type RunReport } from '../workload/run.js';
import { verify } from '../workload/verify.js';
import { hotKeyFloor, peakToMean, slidingWindows, tumblingWindows, type LoadSample } from './lib/shardLoad.js';

const series = (ticks: readonly Tick[], of: 'statements' | 'xacts'): LoadSample[] => ticks.map((x) => ({ t: x.t, counts: x[of] }));
const log = makeLog('bench-rebalance');
const DB = 'app';
const SHARDS = 4;
const ADMIN = { name: 'admin', password: 'admin-secret' };
const TABLES = ['accounts', ...RESOURCE_TABLES, 'write_log'];
const DOMAIN = 'account';
const GOAL = 1.25;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const simple = (sql: string): pg.QueryConfig => ({ text: sql, queryMode: 'simple' }) as pg.QueryConfig;
const f2 = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(2));

/** One second's look: statements and transactions per cluster (cumulative), SHOW LOAD's requests per shard, SHOW HOTSPOTS' top keys. */
interface Tick {
  t: number;
  statements: number[];
  xacts: number[];
  showLoad: number[];
  /** SHOW HOTSPOTS' first placement keys: share of the window's requests and of its last `recent` seconds' */
  top: { key: string; share: number; recent: number }[];
}

/** The action log of a run (NDJSON): when each action ended and for which account. */
async function actionLog(file: string): Promise<{ t: number; account: string }[]> {
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { t: number; account: string });
}

async function main(): Promise<number> {
  const flags = new Args(process.argv.slice(2), {
    usage: 'usage: npm run bench:rebalance -- [--accounts N] [--rate R] [--agents A] [--before S] [--after S] [--hot-phase S] [--hot ACCOUNT:PCT%@TIME] [--window S] [--recent S] [--sustain S] [--seed X] [--json FILE]',
    values: ['accounts', 'rate', 'agents', 'before', 'after', 'hot-phase', 'hot', 'window', 'recent', 'sustain', 'seed', 'json'],
  });
  const accounts = flags.int('accounts', 200, 4);
  const rate = flags.int('rate', 250, 1);
  const agents = flags.int('agents', 32, 1);
  const before = flags.int('before', 40, 10);
  const after = flags.int('after', 80, 10);
  const hotPhase = flags.int('hot-phase', 90, 0);
  const hotSpec = flags.get('hot') ?? 'acct-7:20%@30s';
  const hot = parseHot(hotSpec);
  const windowS = flags.int('window', 60, 1);
  const sustain = flags.int('sustain', 10, 0);
  const recent = flags.int('recent', 10, 1);
  const seed = flags.get('seed') ?? '1';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-rebalance-'));
  const loadBefore = os.loadavg();
  log(`host: ${os.cpus().length} cores, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}; starting ${SHARDS} Postgres clusters in ${dir}`);
  const clusters: Cluster[] = await startClusters(SHARDS, { databases: [DB], settings: { max_connections: 150, shared_preload_libraries: 'pg_stat_statements' } });
  let proxy: Awaited<ReturnType<typeof startPrescient>> | null = null;
  let port = 0;
  const config = (moves: boolean): object => ({
    ...benchConfig(port, 8, 'info'),
    database: DB,
    users: [{ name: clusters[0]!.user, password: clusters[0]!.password }],
    admin: { users: [ADMIN] },
    pool: { mode: 'transaction', size: 8, queue_timeout_ms: 20_000 },
    shards: clusters.map((c, i) => ({ name: `s${i}`, host: c.host, port: c.port, database: DB, user: c.user, password: c.password })),
    // one domain: an account's every table moves together (its transactions stay on one shard)
    sharding: { account_column: 'account_id', domains: { [DOMAIN]: { tables: TABLES } } },
    catalog: { path: path.join(dir, 'catalog.db') },
    shard_manager: { enabled: true, window: windowS, recent, sustain, imbalance: GOAL, moves },
  });
  const clients = new Clients();
  const client = (cfg: pg.ClientConfig): Promise<pg.Client> => clients.open(cfg);
  try {
    proxy = await startPrescient({
      dir,
      name: 'prescient',
      generatedBy: 'scripts/bench-rebalance.ts',
      config: (p) => {
        port = p;
        return config(false);
      },
    });
    const configFile = path.join(dir, 'prescient.yaml');
    const url = `postgres://${clusters[0]!.user}:${clusters[0]!.password}@${proxy.host}:${proxy.port}/${DB}`;
    const loader = await client({ connectionString: url });
    await applySchema(loader);
    const direct = await Promise.all(clusters.map((c) => client({ host: c.host, port: c.port, user: c.user, password: c.password, database: 'postgres' })));
    for (const d of direct) await d.query('create extension if not exists pg_stat_statements');
    const loaded = await loadAccounts(loader, { accounts, seed, alpha: 0.9, xmin: 3, maxResources: 2000, batch: 20_000, perAccount: true });
    const rows = Object.values(loaded.rows).reduce((a, b) => a + b, 0);
    log(`loaded ${accounts} accounts (${rows} rows) through Prescient in ${loaded.seconds.toFixed(1)} s`);
    const admin = await client({ host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });

    // the sampler: every second, each cluster's transactions in the workload's database, SHOW LOAD, SHOW HOTSPOTS
    const ticks: Tick[] = [];
    let sampling = true;
    const sampler = (async () => {
      let next = Date.now();
      while (sampling) {
        const t = Date.now();
        const counts = await Promise.all(direct.map(async (d) => (await d.query(
          `select (select coalesce(sum(calls), 0) from pg_stat_statements s join pg_database b on b.oid = s.dbid where b.datname = $1) as s,
                  (select xact_commit + xact_rollback from pg_stat_database where datname = $1) as x`, [DB])).rows[0] as { s: string; x: string }));
        const load = (await admin.query(simple('SHOW LOAD'))).rows as { shard: string; requests: string }[];
        const hs = (await admin.query(simple('SHOW HOTSPOTS'))).rows as { kind: string; key: string; share: string; recent_share: string }[];
        ticks.push({
          t,
          statements: counts.map((c) => Number(c.s)),
          xacts: counts.map((c) => Number(c.x)),
          showLoad: clusters.map((_, i) => Number(load.find((r) => r.shard === `s${i}`)?.requests ?? 0)),
          top: hs.filter((r) => r.kind === 'placement').slice(0, 3).map((r) => ({ key: r.key, share: Number(r.share), recent: Number(r.recent_share) })),
        });
        next += 1000;
        await sleep(Math.max(0, next - Date.now()));
      }
    })();

    const run = async (name: string, seconds: number, extra: { hot?: typeof hot; onStart: (t: number) => void }): Promise<RunReport> =>
      runWorkload({
        target: url, agents, durationMs: seconds * 1000, zipf: 1.1, seed, tagged: true, thinkScale: 0, rate,
        ledger: path.join(dir, `${name}.ledger`), log: path.join(dir, `${name}.log`), ...extra,
      });

    // run 1: Zipf, moves off for `before` seconds, then on (the config file rewritten, RELOAD)
    let t1 = 0;
    let movesOnAt = 0;
    log(`run 1: Zipf s=1.1 over ${accounts} accounts, ${rate} actions/s by ${agents} clients; moves off for ${before} s, then on for ${after} s`);
    const switchOn = (async () => {
      while (t1 === 0) await sleep(50);
      await sleep(t1 + before * 1000 - Date.now());
      await writeFile(configFile, '# generated by scripts/bench-rebalance.ts\n' + JSON.stringify(config(true), null, 2) + '\n');
      await admin.query(simple('RELOAD'));
      movesOnAt = Date.now();
      log('moves on (RELOAD)');
    })();
    const r1 = await run('zipf', before + after, { onStart: (t) => (t1 = t) });
    await switchOn;
    log(`run 1: ${r1.overall.count} actions, ${r1.overall.tps} /s, ${r1.overall.errors} errors`);

    // run 2: the hot-tenant step, moves on throughout
    let t2 = 0;
    let r2: RunReport | null = null;
    if (hotPhase > 0) {
      log(`run 2: the same with --hot ${hotSpec} for ${hotPhase} s, moves on`);
      r2 = await run('hot', hotPhase, { hot, onStart: (t) => (t2 = t) });
      log(`run 2: ${r2.overall.count} actions, ${r2.overall.tps} /s, ${r2.overall.errors} errors`);
    }
    sampling = false;
    await sampler;
    const migrations = (await admin.query(simple('SHOW MIGRATIONS'))).rows as Record<string, string>[];
    const ledgers = [path.join(dir, 'zipf.ledger'), ...(r2 ? [path.join(dir, 'hot.ledger')] : [])];
    const v = await verify(ledgers, clusters.map((c) => `postgres://${c.user}:${c.password}@${c.host}:${c.port}/${DB}`));
    const loadAfter = os.loadavg();

    // the figures: statements per shard (the unit Prescient balances) decide; transactions and SHOW LOAD beside
    const stmts = series(ticks, 'statements');
    const xacts = series(ticks, 'xacts');
    const median = (xs: number[]): number | null => (xs.length ? [...xs].sort((p, q) => p - q)[Math.floor((xs.length - 1) / 2)]! : null);
    const rowsOf = (from: number, to: number, actions: { t: number; account: string }[], movesOn: (at: number) => boolean) =>
      tumblingWindows(stmts, from, to, 10_000).map((w) => ({
        startS: Math.round((w.start - from) / 1000),
        moves: movesOn(w.start) ? 'on' : 'off',
        peak: w.peak,
        loads: w.loads,
        xactPeak: tumblingWindows(xacts, w.start, w.end, 10_000)[0]?.peak ?? null,
        floor: hotKeyFloor(actions.filter((x) => x.t >= w.start && x.t < w.end).map((x) => x.account), SHARDS),
        // the same from SHOW HOTSPOTS at the window's end: the top key's share of the requests of the last `recent` s
        hotspotFloor: Math.max(1, (ticks.filter((x) => x.t <= w.end).at(-1)?.top[0]?.recent ?? 0) * SHARDS),
        showLoad: peakToMean(ticks.filter((x) => x.t <= w.end).at(-1)?.showLoad ?? []),
      }));
    const end1 = t1 + (before + after) * 1000;
    const windows1 = rowsOf(t1, end1, await actionLog(path.join(dir, 'zipf.log')), (at) => at >= movesOnAt);
    const offW = windows1.filter((w) => w.moves === 'off');
    const settled = windows1.filter((w) => w.moves === 'on').slice(-3);
    const beforePtm = median(offW.map((w) => w.peak));
    const afterPtm = median(settled.map((w) => w.peak));
    const floor = median(windows1.map((w) => Math.max(w.floor, w.hotspotFloor)));
    const firstBalanced1 = slidingWindows(stmts, movesOnAt, end1, 10_000, 1000).find((w) => w.peak < GOAL);
    const balancedAfterMovesOnS = firstBalanced1 ? (firstBalanced1.end - movesOnAt) / 1000 : null;

    const lines: string[] = [];
    lines.push('| run | window (s) | moves | peak-to-mean: statements (measured) | transactions (measured) | floor: hottest key (actions, SHOW HOTSPOTS) | SHOW LOAD (its window) |');
    lines.push('|---|---|---|---:|---:|---:|---:|');
    const row = (name: string, w: (typeof windows1)[number]): string => `| ${name} | ${w.startS}–${w.startS + 10} | ${w.moves} | ${f2(w.peak)} | ${f2(w.xactPeak)} | ${f2(w.floor)}, ${f2(w.hotspotFloor)} | ${f2(w.showLoad)} |`;
    for (const w of windows1) lines.push(row('Zipf', w));
    let hotRun: { hotKey: string; hotShare: number; detectS: number | null; rebalancedS: number | null; firstWindowAfterStep: number | null; held: number | null; windows: typeof windows1 } | null = null;
    if (r2) {
      const actions2 = await actionLog(path.join(dir, 'hot.log'));
      const step = t2 + hot.atMs;
      const end2 = t2 + hotPhase * 1000;
      const hotKey = `${hot.account}_${DOMAIN}`;
      const detected = ticks.find((x) => x.t >= step && x.top[0]?.key === hotKey);
      const balanced = slidingWindows(stmts, step, end2, 10_000, 1000).find((w) => w.peak < GOAL);
      const windows2 = rowsOf(t2, end2, actions2, () => true);
      for (const w of windows2) lines.push(row(`hot ${hotSpec}`, w));
      const after2 = actions2.filter((x) => x.t >= step);
      hotRun = {
        hotKey,
        hotShare: after2.filter((x) => x.account === hot.account).length / Math.max(1, after2.length),
        detectS: detected ? (detected.t - step) / 1000 : null,
        rebalancedS: balanced ? (balanced.end - step) / 1000 : null,
        firstWindowAfterStep: slidingWindows(stmts, step, step + 10_000, 10_000, 1000)[0]?.peak ?? null,
        held: median(windows2.slice(-3).map((w) => w.peak)),
        windows: windows2,
      };
    }
    const moved = migrations.map((m) => `${m.key} ${m.from}→${m.to} ${m.state}${m.error ? ` (${m.error})` : ''} (${m.rows} rows, pause ${m.pause_ms} ms)`);
    const errors = r1.overall.errors + (r2?.overall.errors ?? 0);
    const ok = v.ok && errors === 0;
    const secs = (x: number | null): string => (x === null ? 'never' : `${x.toFixed(0)} s`);
    lines.push(
      '',
      `Zipf s=1.1, ${accounts} accounts, ${rate} actions/s (${agents} clients, open loop), 4 shards; shard_manager window ${windowS} s, recent ${recent} s, sustain ${sustain} s, imbalance ${GOAL}.`,
      `peak-to-mean per 10-s window (statements per shard, pg_stat_statements): before (moves off, median of ${offW.length}) ${f2(beforePtm)}; after (moves on, median of the last ${settled.length}) ${f2(afterPtm)}; floor of the hottest key (its share × 4, of actions or SHOW HOTSPOTS' requests, the higher; median) ${f2(floor)}.`,
      `moves on → end of the first 10-s window below ${GOAL}: ${secs(balancedAfterMovesOnS)}.`,
      ...(hotRun
        ? [
            `hot step ${hotSpec} (${hotRun.hotKey}'s share of actions after it: ${(hotRun.hotShare * 100).toFixed(1)} %; the first 10 s after it: peak-to-mean ${f2(hotRun.firstWindowAfterStep)}): on top of SHOW HOTSPOTS after ${secs(hotRun.detectS)} (goal ≤ 10 s); the first 10-s window below ${GOAL} ends ${secs(hotRun.rebalancedS)} after the step (goal ≤ 60 s); the run's last 30 s: median ${f2(hotRun.held)}.`,
          ]
        : []),
      `moves (SHOW MIGRATIONS): ${moved.length ? moved.join('; ') : 'none'}.`,
      `${ok ? 'PASS' : 'FAIL'}: ledger verified: ${v.writes} acknowledged writes, ${v.missing.length} missing, ${v.duplicated.length} duplicated, ${v.outOfOrder.length} out of order; ${errors} client errors${errors ? ' ' + JSON.stringify({ ...r1.errorMessages, ...(r2?.errorMessages ?? {}) }) : ''}.`,
      `host: ${os.cpus().length} cores, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after; Prescient's log: ${proxy.logFile}.`,
    );
    process.stdout.write('\n' + lines.join('\n') + '\n');
    await writeJson(flags.get('json'), {
      accounts, rate, agents, before, after, hotPhase, hot: hotSpec, window: windowS, recent, sustain,
      beforePtm, afterPtm, floor, balancedAfterMovesOnS, windows: windows1, hotRun, migrations,
      verify: { writes: v.writes, missing: v.missing.length, duplicated: v.duplicated.length, outOfOrder: v.outOfOrder.length, ok: v.ok },
      errors, runs: [r1, r2], ticks, loadavg: { before: loadBefore, after: loadAfter }, cores: os.cpus().length, dir,
    }, log);
    return ok ? 0 : 1;
  } finally {
    await clients.endAll();
    if (proxy) await stopProc(proxy.proc, 'SIGTERM', 10_000);
    await stopClusters(clusters);
  }
}

runMain(import.meta.url, main, log);
