// soak-migration owns the zero-loss soak of tenant moves (issue 12): the workload's write ledger running through Prescient over four shards while at least 100 moves happen (manual MIGRATEs, the planner's own, an ADD SHARD and a DRAIN SHARD), then the ledger verified, every tenant checked to be on exactly its placement's shard, and no change-capture rows left.
//
// usage (after `npm run build`): npm run soak:migration -- [--accounts N] [--max-resources N] [--rate R] [--agents A]
//        [--manual N] [--seconds S] [--min-moves N] [--max-seconds S] [--seed X] [--json FILE] [--keep]
//   --accounts N       accounts loaded (default 300; Zipf s = 1.1 over them), up to --max-resources rows each (default 2000)
//   --rate R           workload actions per second, open loop (default 200), by --agents A clients (default 24)
//   --manual N         manual MIGRATEs that must complete (default 100): random tenants (half of them among the ten
//                      busiest) to random active shards,
//                      started evenly over --seconds S (default 180; one after another when they take longer)
//   --min-moves N      moves done in all (SHOW MIGRATIONS) before the workload stops (default 100)
//   --max-seconds S    the moving phase's limit (default 330): then the run stops and fails
//   --json FILE      also write the results as JSON; --keep: keep the temp dir (configs, logs, ledger)
// Five throwaway Postgres clusters (scripts/testbed.ts): four configured shards s0–s3 and a fifth, s4, brought in by
// ADD SHARD once a third of the manual moves are done; then s1 is drained (DRAIN SHARD). The shard manager's planner
// moves on its own throughout (sustain 3 s, cooldown 30 s); once the workload stops, it is switched off (config
// rewritten with s4 and moves: false, RELOAD) and every move settles before the checks. All on 127.0.0.1, stopped
// at the end.

import { Clients } from './lib/clients.js';
import os from 'node:os';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startClusters, stopClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { makeLog } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { runMain } from './lib/main.js';
import { benchConfig, startPrescient } from './lib/prescient.js';
import { stopProc } from './lib/proc.js';
import { percentile } from './lib/stats.js';
import { RESOURCE_TABLES } from '../workload/actions.js';
import { applySchema, loadAccounts } from '../workload/load.js';
import { makeRng } from '../workload/rng.js';
import { runWorkload, type RunReport } from '../workload/run.js';
import { verify, type VerifyReport } from '../workload/verify.js';
import { classifyMoves, strayRows, type MoveRow, type Placed } from './lib/soakCheck.js';

const log = makeLog('soak-migration');
const DB = 'app';
const CONFIGURED = 4;
const ADDED = `s${CONFIGURED}`;
const DRAINED = 's1';
const ADMIN = { name: 'admin', password: 'admin-secret' };
const TABLES = ['accounts', ...RESOURCE_TABLES, 'write_log'];
const DOMAIN = 'account';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const simple = (sql: string): pg.QueryConfig => ({ text: sql, queryMode: 'simple' }) as pg.QueryConfig;

async function main(): Promise<number> {
  const flags = new Args(process.argv.slice(2), {
    usage: 'usage: npm run soak:migration -- [--accounts N] [--max-resources N] [--rate R] [--agents A] [--manual N] [--seconds S] [--min-moves N] [--max-seconds S] [--seed X] [--json FILE] [--keep]',
    values: ['accounts', 'max-resources', 'rate', 'agents', 'manual', 'seconds', 'min-moves', 'max-seconds', 'seed', 'json'],
    booleans: ['keep'],
  });
  const accounts = flags.int('accounts', 300, 10);
  const maxResources = flags.int('max-resources', 2000, 10);
  const rate = flags.int('rate', 200, 1);
  const agents = flags.int('agents', 24, 1);
  const manualWanted = flags.int('manual', 100, 0);
  const minMoves = flags.int('min-moves', 100, 0);
  const seconds = flags.int('seconds', 180, 0);
  const maxSeconds = flags.int('max-seconds', 330, 10);
  const seed = flags.get('seed') ?? '1';
  const started = Date.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prescient-soak-migration-'));
  const loadBefore = os.loadavg();
  log(`host: ${os.cpus().length} cores, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}; starting ${CONFIGURED + 1} Postgres clusters`);
  const clusters: Cluster[] = await startClusters(CONFIGURED + 1, { databases: [DB], settings: { max_connections: 100 } });
  const shardOf = (c: Cluster, i: number): { name: string; host: string; port: number; database: string; user: string; password: string } =>
    ({ name: `s${i}`, host: c.host, port: c.port, database: DB, user: c.user, password: c.password });
  let proxy: Awaited<ReturnType<typeof startPrescient>> | null = null;
  const clients = new Clients();
  const client = (cfg: pg.ClientConfig): Promise<pg.Client> => clients.open(cfg);
  let port = 0;
  // the planner's moves on or off; with the added shard listed once ADD SHARD has run (a RELOAD without it is refused)
  const config = (moves: boolean, added: boolean): object => ({
    // 2 cores shared with five Postgres: 5 server connections per shard, clients queue for them
    ...benchConfig(port, 5, 'info'),
    database: DB,
    users: [{ name: clusters[0]!.user, password: clusters[0]!.password }],
    admin: { users: [ADMIN] },
    pool: { mode: 'transaction', size: 5, queue_timeout_ms: 20_000 },
    shards: clusters.slice(0, added ? CONFIGURED + 1 : CONFIGURED).map(shardOf),
    sharding: { account_column: 'account_id', domains: { [DOMAIN]: { tables: TABLES } } },
    catalog: { path: path.join(dir, 'catalog.db') },
    shard_manager: { enabled: true, window: 60, recent: 10, sustain: 3, cooldown: 30, max_moves_per_hour: 10_000, max_concurrent_moves: 2, moves },
  });
  const direct = (c: Cluster): Promise<pg.Client> => client({ host: c.host, port: c.port, user: c.user, password: c.password, database: DB });
  try {
    proxy = await startPrescient({
      dir,
      name: 'prescient',
      generatedBy: 'scripts/soak-migration.ts',
      config: (p) => {
        port = p;
        return config(true, false);
      },
    });
    const url = `postgres://${clusters[0]!.user}:${clusters[0]!.password}@${proxy.host}:${proxy.port}/${DB}`;
    const loader = await client({ connectionString: url });
    await applySchema(loader);
    await applySchema(await direct(clusters[CONFIGURED]!)); // the shard to add: the domains' tables, empty
    const loaded = await loadAccounts(loader, { accounts, seed, alpha: 0.9, xmin: 3, maxResources, batch: 20_000, perAccount: true });
    log(`loaded ${accounts} accounts (${Object.values(loaded.rows).reduce((a, b) => a + b, 0)} rows) through Prescient in ${loaded.seconds.toFixed(1)} s`);
    const admin = await client({ host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
    const mover = await client({ host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
    const placement = async (account: string): Promise<string> =>
      (await admin.query(simple(`SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE 'accounts'`))).rows[0].shard as string;
    const doneMoves = async (): Promise<MoveRow[]> => (await admin.query(simple('SHOW MIGRATIONS'))).rows as MoveRow[];

    // the workload, with its ledger, through Prescient until the moves are over
    const stop = new AbortController();
    const ledger = path.join(dir, 'soak.ledger');
    const actionLog = path.join(dir, 'soak.log');
    log(`workload: Zipf s=1.1 over ${accounts} accounts, ${rate} actions/s by ${agents} clients, ledger ${ledger}`);
    const workload: Promise<RunReport> = runWorkload({
      target: url, agents, durationMs: (maxSeconds + 60) * 1000, zipf: 1.1, seed, tagged: true, thinkScale: 0, rate, ledger, log: actionLog, stop: stop.signal,
    });
    await sleep(5000);

    // the moves: manual MIGRATEs one after another; ADD SHARD after a third of them, DRAIN SHARD after two thirds
    const rng = makeRng(`${seed}:soak`);
    const all = Array.from({ length: accounts }, (_, i) => `acct-${i + 1}`);
    const manual: { id: number | null; account: string; from: string; to: string; ok: boolean; error?: string; ms: number }[] = [];
    let targets = clusters.slice(0, CONFIGURED).map((_, i) => `s${i}`);
    const reshards: { kind: string; shard: string; row: Record<string, string> | null; startedS: number }[] = [];
    let addOp: number | null = null;
    let drainOp: number | null = null;
    let drainFirstId = Infinity;
    const reshardRow = async (id: number): Promise<Record<string, string> | undefined> =>
      ((await admin.query(simple('SHOW RESHARDS'))).rows as Record<string, string>[]).find((r) => Number(r.id) === id);
    const reshardOver = async (id: number | null): Promise<boolean> => {
      if (id === null) return false;
      const r = await reshardRow(id);
      return r !== undefined && r.state !== 'pinning' && r.state !== 'moving';
    };
    const moveStart = Date.now();
    let timedOut = false;
    for (;;) {
      const okManual = manual.filter((m) => m.ok).length;
      if (addOp === null && okManual >= Math.floor(manualWanted / 3)) {
        const c = clusters[CONFIGURED]!;
        const r = (await admin.query(simple(`ADD SHARD ${ADDED} HOST '${c.host}' PORT ${c.port} DATABASE ${DB} USER ${c.user} PASSWORD '${c.password}'`))).rows[0];
        addOp = Number(r.id);
        reshards.push({ kind: 'add', shard: ADDED, row: null, startedS: (Date.now() - moveStart) / 1000 });
        log(`ADD SHARD ${ADDED}: ${r.keys} key(s) to move`);
      }
      if (addOp !== null && !targets.includes(ADDED) && (await reshardOver(addOp))) targets = [...targets, ADDED];
      if (drainOp === null && targets.includes(ADDED) && okManual >= Math.floor((2 * manualWanted) / 3)) {
        targets = targets.filter((s) => s !== DRAINED); // from now on nothing is moved there on purpose
        drainFirstId = Math.max(0, ...(await doneMoves()).map((m) => Number(m.id))) + 1;
        const r = (await admin.query(simple(`DRAIN SHARD ${DRAINED}`))).rows[0];
        drainOp = Number(r.id);
        reshards.push({ kind: 'drain', shard: DRAINED, row: null, startedS: (Date.now() - moveStart) / 1000 });
        log(`DRAIN SHARD ${DRAINED}: ${r.keys} key(s) to move`);
      }
      const done = (await doneMoves()).filter((m) => m.state === 'done').length;
      if (okManual >= manualWanted && done >= minMoves && (await reshardOver(addOp)) && (await reshardOver(drainOp))) break;
      if (Date.now() - moveStart > maxSeconds * 1000) {
        timedOut = true;
        log(`the moving phase passed --max-seconds ${maxSeconds}: stopping`);
        break;
      }
      if (okManual >= manualWanted) {
        await sleep(500);
        continue;
      }
      // half of them among the ten busiest tenants (the Zipf head: moved while written to most), half uniformly
      const account = rng.next() < 0.5 ? all[Math.floor(rng.next() * Math.min(10, all.length))]! : all[Math.floor(rng.next() * all.length)]!;
      const from = await placement(account);
      const choices = targets.filter((s) => s !== from);
      const to = choices[Math.floor(rng.next() * choices.length)]!;
      const t0 = Date.now();
      try {
        const r = (await mover.query(simple(`MIGRATE ACCOUNT '${account}' DOMAIN '${DOMAIN}' TO ${to}`))).rows[0];
        manual.push({ id: Number(r.id), account, from, to, ok: true, ms: Date.now() - t0 });
      } catch (e) {
        const error = (e as Error).message;
        manual.push({ id: Number(/migration (\d+) of/.exec(error)?.[1] ?? NaN) || null, account, from, to, ok: false, error, ms: Date.now() - t0 });
        log(`MIGRATE ${account} ${from} → ${to}: ${error}`);
      }
      if (manual.length % 20 === 0) log(`${manual.filter((m) => m.ok).length} manual moves done (${manual.length} tried), ${done} moves done in all`);
      // the next manual move's slot: evenly over --seconds
      await sleep(moveStart + (manual.length * seconds * 1000) / Math.max(1, manualWanted) - Date.now());
    }
    await sleep(3000);
    stop.abort();
    const run = await workload;
    const moveSeconds = (Date.now() - moveStart) / 1000;
    // the planner stopped (config rewritten, RELOAD) and every move settled before anything is checked: a move still
    // under way has its rows on both shards and its capture rows on the source
    await writeFile(path.join(dir, 'prescient.yaml'), '# generated by scripts/soak-migration.ts\n' + JSON.stringify(config(false, true), null, 2) + '\n');
    await admin.query(simple('RELOAD'));
    const settled = new Set(['done', 'failed', 'cancelled', 'rolled_back']);
    for (const end = Date.now() + 60_000; ; await sleep(200)) {
      const open = (await doneMoves()).filter((m) => !settled.has(m.state));
      if (open.length === 0) break;
      if (Date.now() > end) throw new Error(`moves still under way 60 s after the planner was stopped: ${open.map((m) => `#${m.id} ${m.key} ${m.state}`).join(', ')}`);
    }
    log(`workload stopped, the planner stopped (RELOAD), every move settled: checking`);
    log(`workload stopped: ${run.overall.count} actions, ${run.overall.tps} /s, ${run.overall.errors} errors`);
    for (const r of reshards) r.row = (await reshardRow(r.kind === 'add' ? addOp! : drainOp!)) ?? null;

    // the moves, by who started them
    const migrations = await doneMoves();
    const logLines = (await readFile(proxy.logFile, 'utf8')).split('\n').flatMap((l) => {
      if (!l.includes('shard manager: mov')) return [];
      try {
        return [JSON.parse(l) as { msg: string; key: string; from: string; to: string }];
      } catch {
        return [];
      }
    });
    const plannerLines = logLines.filter((j) => j.msg === 'shard manager: moving a key to even the load');
    const notStarted = logLines.filter((j) => j.msg === 'shard manager: move not started').map((j) => j.key);
    const kinds = classifyMoves(migrations, new Set(manual.flatMap((m) => (m.id === null ? [] : [m.id]))), plannerLines, ADDED, DRAINED, drainFirstId, notStarted);

    // the ledger, through Prescient (a merged fan-out read) and on every cluster directly (a tenant on two shards shows as duplicates)
    const viaProxy: VerifyReport = await verify([ledger], [url]);
    const directUrls = clusters.map((c) => `postgres://${c.user}:${c.password}@${c.host}:${c.port}/${DB}`);
    const viaClusters: VerifyReport = await verify([ledger], directUrls);

    // every tenant on exactly its placement's shard; no change-capture rows left
    const placed: Placed[] = [];
    for (const a of all) placed.push({ account: a, shard: await placement(a) });
    const onCluster: { shard: string; counts: Map<string, number>; moving: number; changes: number }[] = [];
    for (const [i, c] of clusters.entries()) {
      const d = await direct(c);
      const counts = new Map<string, number>();
      for (const t of TABLES) {
        for (const r of (await d.query<{ a: string; n: string }>(`select account_id as a, count(*)::text as n from ${t} group by 1`)).rows) counts.set(r.a, (counts.get(r.a) ?? 0) + Number(r.n));
      }
      const has = (await d.query<{ m: string | null; c: string | null }>(`select to_regclass('prescient.moving')::text as m, to_regclass('prescient.move_changes')::text as c`)).rows[0]!;
      const moving = has.m ? Number((await d.query<{ n: string }>('select count(*)::text as n from prescient.moving')).rows[0]!.n) : 0;
      const changes = has.c ? Number((await d.query<{ n: string }>('select count(*)::text as n from prescient.move_changes')).rows[0]!.n) : 0;
      onCluster.push({ shard: `s${i}`, counts, moving, changes });
    }
    const stray = strayRows(placed, onCluster);
    const drainedPlaced = placed.filter((p) => p.shard === DRAINED).length;
    const leftCapture = onCluster.reduce((n, c) => n + c.moving + c.changes, 0);
    const loadAfter = os.loadavg();

    const errors = run.overall.errors;
    const movedAccounts = new Set(migrations.map((m) => m.key.slice(0, m.key.lastIndexOf('_'))));
    const ok = !timedOut && viaProxy.ok && viaClusters.ok && errors === 0 && stray.length === 0 && drainedPlaced === 0 && leftCapture === 0
      && kinds.done >= minMoves && reshards.every((r) => r.row?.state === 'done');
    const failedMoves = migrations.filter((m) => m.state !== 'done');
    const doneRows = migrations.filter((m) => m.state === 'done');
    const sorted = (xs: (string | null)[]): number[] => xs.flatMap((x) => (x === null ? [] : [Number(x)])).sort((a, b) => a - b);
    const pauses = sorted(doneRows.map((m) => m.pause_ms));
    const elapsed = sorted(doneRows.map((m) => m.elapsed_ms));
    const moveFigures = {
      pauseP50: percentile(pauses, 50), pauseP99: percentile(pauses, 99), pauseMax: pauses.at(-1) ?? null,
      elapsedP50: percentile(elapsed, 50), elapsedMax: elapsed.at(-1) ?? null, rows: doneRows.reduce((n, m) => n + Number(m.rows), 0),
    };
    const lines = [
      '| moves done | manual | planner | add shard | drain shard | other | not done (failed, cancelled) |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      `| ${kinds.done} | ${kinds.manual} | ${kinds.planner} | ${kinds.add} | ${kinds.drain} | ${kinds.other} | ${failedMoves.length} |`,
      '',
      `moves done: pause p50 ${moveFigures.pauseP50} ms, p99 ${moveFigures.pauseP99} ms, max ${moveFigures.pauseMax} ms; a move's whole time p50 ${moveFigures.elapsedP50} ms, max ${moveFigures.elapsedMax} ms; ${moveFigures.rows} rows copied.`,
      '',
      '| check | result |',
      '|---|---|',
      `| acknowledged writes (ledger) | ${viaProxy.writes} for ${viaProxy.accounts} accounts |`,
      `| lost (through Prescient / on the clusters) | ${viaProxy.missing.length} / ${viaClusters.missing.length} |`,
      `| duplicated (through Prescient / on the clusters) | ${viaProxy.duplicated.length} / ${viaClusters.duplicated.length} |`,
      `| out of order (through Prescient / on the clusters) | ${viaProxy.outOfOrder.length} / ${viaClusters.outOfOrder.length} |`,
      `| client errors (all counted; ${[...Object.keys(run.errorMessages)].length} distinct) | ${errors}${errors ? ' ' + JSON.stringify(run.errorMessages) : ''} |`,
      `| tenants with rows off their placement's shard | ${stray.length}${stray.length ? ' ' + stray.slice(0, 5).map((s) => `${s.account}@${s.shard} (placed ${s.placed}, ${s.rows} rows)`).join(', ') : ''} |`,
      `| tenants placed on the drained ${DRAINED} | ${drainedPlaced} |`,
      `| prescient.moving / move_changes rows left | ${onCluster.map((c) => `${c.shard} ${c.moving}/${c.changes}`).join(', ')} |`,
      ...reshards.map((r) => `| ${r.kind.toUpperCase()} SHARD ${r.shard} (at ${r.startedS.toFixed(0)} s) | ${r.row ? `${r.row.state}: ${r.row.keys} keys, ${r.row.moved} moved, ${r.row.failed} failed, ${r.row.elapsed_ms} ms${r.row.error ? ` (${r.row.error})` : ''}` : 'n/a'} |`),
      '',
      `${ok ? 'PASS' : 'FAIL'}: ${kinds.done} moves in ${moveSeconds.toFixed(0)} s under ${rate} actions/s (${run.overall.count} actions, ${run.overall.tps} /s achieved, p50 ${run.overall.p50} ms, p99 ${run.overall.p99} ms) over ${accounts} accounts (Zipf s=1.1), ${movedAccounts.size} distinct tenants moved; manual MIGRATEs tried ${manual.length}, ${manual.filter((m) => !m.ok).length} refused or failed.`,
      ...(failedMoves.length ? [`moves not done: ${failedMoves.slice(0, 8).map((m) => `#${m.id} ${m.key} ${m.from}→${m.to} ${m.state}: ${m.error ?? ''}`).join('; ')}`] : []),
      `host: ${os.cpus().length} cores, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after; the whole run ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    ];
    process.stdout.write('\n' + lines.join('\n') + '\n');
    await writeJson(flags.get('json'), {
      ok, accounts, maxResources, rate, agents, seconds, moveSeconds, kinds, moveFigures, manual, reshards, migrations, run,
      verify: { proxy: summary(viaProxy), clusters: summary(viaClusters) }, stray, drainedPlaced,
      capture: onCluster.map((c) => ({ shard: c.shard, moving: c.moving, changes: c.changes })), loadavg: { before: loadBefore, after: loadAfter }, cores: os.cpus().length,
    }, log);
    return ok ? 0 : 1;
  } finally {
    await clients.endAll();
    if (proxy) await stopProc(proxy.proc, 'SIGTERM', 10_000);
    await stopClusters(clusters);
    if (flags.bool('keep')) log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

function summary(v: VerifyReport): object {
  return { writes: v.writes, missing: v.missing.length, duplicated: v.duplicated.length, outOfOrder: v.outOfOrder.length, firstMissing: v.missing.slice(0, 10), firstDuplicated: v.duplicated.slice(0, 10), ok: v.ok };
}

runMain(import.meta.url, main, log);
