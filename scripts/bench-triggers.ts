// bench-triggers owns the version-trigger benchmark: pgbench write throughput and Postgres CPU per write on one table without the prescient version triggers, with them, with them minus NOTIFY, and with an older schema version's triggers (interleaved rounds).
//
// usage (after `npm run build`):
//   npm run bench:triggers -- [options]
//   node dist/scripts/bench-triggers.js [options]
//
// options:
//   --duration S      seconds per pgbench run (default 10)
//   --rounds N        interleaved rounds per (script, mode) cell (default 3)
//   --clients N       pgbench -c (default 8)
//   --jobs N          pgbench -j (default 2)
//   --accounts N      accounts in the table (default 1000): fewer accounts = more writers on one key = more contention on key_versions
//   --rows R          rows per account loaded before the runs (default 20)
//   --scripts update,insert   which write scripts (default both)
//   --modes off,on,no-notify  off = no version triggers (the baseline, required); on = as installed;
//                     no-notify = the installed functions with their pg_notify calls removed (default all three);
//                     prev = the triggers of an older schema version (--prev-version), in a second database app_prev
//                     with the same table and its own LISTEN connection: before/after a trigger change, interleaved
//   --prev-version N  the schema version of mode prev (default the current one minus 1)
//   --durable         fsync and synchronous_commit on (the testbed default is off): shows NOTIFY's commit-time lock
//                     defeating group commit
//   --json FILE       also write the results as JSON
// Default run: 2 scripts x 3 modes x 3 rounds x 10 s ≈ 3.5 min with setup.
//
// What it does: one throwaway Postgres cluster (scripts/testbed.ts: fsync and synchronous_commit off unless --durable), table
// volumes(account_id bigint, id bigint, size_gib int, primary key (account_id, id)) with accounts × rows rows, the
// prescient schema installed (proxy/versions/ShardSchema.ts) and one LISTEN connection on the version channel (as a
// proxy would hold; it counts the notifications; mode prev: the same in database app_prev, installed with upTo N).
// Each round runs every script once per mode, the mode order rotating per round; triggers are dropped
// (installShardSchema with an empty table list) and recreated (installing again) between modes, and version_history is
// truncated before each run so every run starts from the same state.
//   update: `update volumes set size_gib = size_gib + 1 where account_id = :a and id = :i` (random existing row)
//   insert: `insert into volumes values (:a, :i, 1)` (random account, fresh random id)
// Besides tps it reports the CPU time of all Postgres processes per transaction, which a busy host distorts far less.
// Everything started is stopped by pid at the end, on SIGINT and on error. Progress goes to stderr, the table to stdout.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { clockTicksPerSecond, postgresTicks } from './lib/cpu.js';
import { log } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { finish, Interrupt, runMain } from './lib/main.js';
import { pgbench, pgbenchVersion as pgbenchVersionLine } from './lib/pgbench.js';
import { killEverything, procs, signalGroup, sleep, stopProc } from './lib/proc.js';
import { median } from './lib/stats.js';
import { installShardSchema, SHARD_SCHEMA_VERSION, VERSIONS_CHANNEL, type VersionedTable } from '../proxy/versions/ShardSchema.js';

const SCRIPTS = {
  update: `\\set a random(1, :accounts)
\\set i random(1, :rows)
update volumes set size_gib = size_gib + 1 where account_id = :a and id = :i;
`,
  insert: `\\set a random(1, :accounts)
\\set i random(1000000, 9000000000000000)
insert into volumes values (:a, :i, 1);
`,
} as const;
type Script = keyof typeof SCRIPTS;

interface Options {
  durationS: number;
  rounds: number;
  clients: number;
  jobs: number;
  accounts: number;
  rows: number;
  scripts: Script[];
  modes: Mode[];
  prevVersion: number;
  durable: boolean;
  json?: string;
}

const USAGE = `usage: node dist/scripts/bench-triggers.js [--duration S] [--rounds N] [--clients N] [--jobs N]
       [--accounts N] [--rows R] [--scripts update,insert] [--modes off,on,no-notify,prev] [--prev-version N] [--durable] [--json FILE]`;

function parseArgs(argv: string[]): Options {
  const flags = new Args(argv, {
    usage: USAGE,
    values: ['duration', 'rounds', 'clients', 'jobs', 'accounts', 'rows', 'scripts', 'modes', 'prev-version', 'json'],
    booleans: ['durable'],
  });
  const modes = flags.list('modes', MODES, DEFAULT_MODES);
  if (!modes.includes('off')) throw new Error('--modes must include off (the baseline)');
  return {
    durationS: flags.int('duration', 10, 1),
    rounds: flags.int('rounds', 3, 1),
    clients: flags.int('clients', 8, 1),
    jobs: flags.int('jobs', 2, 1),
    accounts: flags.int('accounts', 1000, 1),
    rows: flags.int('rows', 20, 1),
    scripts: flags.list('scripts', Object.keys(SCRIPTS) as Script[]),
    modes,
    prevVersion: flags.int('prev-version', SHARD_SCHEMA_VERSION - 1, 1),
    durable: flags.bool('durable'),
    json: flags.get('json'),
  };
}

const MODES = ['off', 'on', 'no-notify', 'prev'] as const;
const DEFAULT_MODES: Mode[] = ['off', 'on', 'no-notify'];
type Mode = (typeof MODES)[number];
const MODE_LABEL: Record<Exclude<Mode, 'prev'>, string> = { off: 'off', on: 'on', 'no-notify': 'on, without NOTIFY' };
let prevVersionLabel = 'on, schema v?';
const modeLabel = (m: Mode): string => (m === 'prev' ? prevVersionLabel : MODE_LABEL[m]);

interface RunResult {
  script: Script;
  mode: Mode;
  round: number;
  tps: number | null;
  latencyMs: number | null;
  transactions: number | null;
  failed: number | null;
  /** notifications the listener received during the run */
  notifications: number;
  /** CPU time of all Postgres processes (postmaster, backends, background workers) per transaction, µs */
  pgCpuUsPerTxn: number | null;
  error?: string;
}

const TABLES: VersionedTable[] = [{ table: 'volumes', accountColumn: 'account_id', domain: 'volume' }];

const fmt = (x: number | null, digits = 0): string => (x === null ? 'n/a' : x.toFixed(digits));
async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const pgbenchVersion = pgbenchVersionLine();
  const total = opts.scripts.length * opts.modes.length * opts.rounds;
  const clkTck = clockTicksPerSecond();
  log(`${pgbenchVersion}; node ${process.version}; ${os.cpus().length} cores`);
  log(`plan: ${opts.scripts.join(',')} x modes ${opts.modes.join(',')} x ${opts.rounds} round(s) x ${opts.durationS} s ≈ ${Math.ceil((total * (opts.durationS + 2)) / 60)} min (+ setup)`);

  let clusters: Cluster[] = [];
  let tmp: string | undefined;
  let admin: pg.Client | undefined;
  let listener: pg.Client | undefined;
  let adminPrev: pg.Client | undefined;
  let listenerPrev: pg.Client | undefined;
  let exitCode = 0;
  const results: RunResult[] = [];
  const interrupt = new Interrupt(
    () => {
      log('interrupted: stopping the current run and cleaning up (again to kill everything)');
      for (const p of procs) signalGroup(p, 'SIGTERM');
    },
    () => killEverything(clusters),
  );
  const check = (): void => interrupt.check();

  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-triggers-'));
    const scriptFiles = new Map<Script, string>();
    for (const s of opts.scripts) {
      const file = path.join(tmp, `${s}.sql`);
      await writeFile(file, SCRIPTS[s]);
      scriptFiles.set(s, file);
    }
    log('starting Postgres (testbed)');
    clusters = await startClusters(1, { auth: 'scram-sha-256', databases: ['app'], settings: { max_connections: Math.max(100, opts.clients + 20), ...(opts.durable ? { fsync: true, synchronous_commit: true } : {}) } });
    const pgc = clusters[0]!;
    log(`postgres on ${pgc.host}:${pgc.port} (pid ${pgc.pid})`);
    const conn = { host: pgc.host, port: pgc.port, database: 'app', user: pgc.user, password: pgc.password };
    const load = async (client: pg.Client): Promise<void> => {
      await client.query('create table volumes (account_id bigint, id bigint, size_gib int, primary key (account_id, id))');
      await client.query('insert into volumes select a, i, 1 from generate_series(1, $1::int) a, generate_series(1, $2::int) i', [opts.accounts, opts.rows]);
      await client.query('vacuum analyze volumes');
    };
    admin = new pg.Client(conn);
    admin.on('error', () => {});
    await admin.connect();
    await load(admin);
    log(`loaded ${opts.accounts} accounts x ${opts.rows} rows`);
    const installed = await installShardSchema(admin, TABLES);
    log(`prescient schema v${installed.schemaVersion}: ${installed.triggers} triggers`);
    check();

    let notifications = 0;
    const listen = async (database: string): Promise<pg.Client> => {
      const l = new pg.Client({ ...conn, database });
      l.on('error', () => {});
      l.on('notification', (n) => {
        if (n.channel === VERSIONS_CHANNEL) notifications++;
      });
      await l.connect();
      await l.query(`listen ${VERSIONS_CHANNEL}`);
      return l;
    };
    listener = await listen('app');

    // mode prev: the same table in a second database, with the triggers of an older schema version and its own listener
    if (opts.modes.includes('prev')) {
      if (opts.prevVersion >= installed.schemaVersion) throw new Error(`--prev-version must be below the current schema version ${installed.schemaVersion}`);
      await admin.query('create database app_prev');
      adminPrev = new pg.Client({ ...conn, database: 'app_prev' });
      adminPrev.on('error', () => {});
      await adminPrev.connect();
      await load(adminPrev);
      const prev = await installShardSchema(adminPrev, TABLES, { upTo: opts.prevVersion });
      prevVersionLabel = `on, schema v${prev.schemaVersion}`;
      log(`app_prev: prescient schema v${prev.schemaVersion}: ${prev.triggers} triggers`);
      listenerPrev = await listen('app_prev');
    }

    // the installed function, and the same function without its pg_notify calls (mode no-notify: what NOTIFY itself costs)
    const notifying = (
      await admin.query(
        `select pg_get_functiondef(p.oid) as d from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'prescient' and p.prosrc like '%pg_notify%'`,
      )
    ).rows as { d: string }[];
    // pg_notify(channel, payload) → concat(channel, payload): the same arguments computed, a text instead of a NOTIFY
    const notifyCall = /\bpg_notify\('prescient_versions', /g;
    if (notifying.length !== 1 || !notifyCall.test(notifying[0]!.d)) throw new Error('cannot find the one function with pg_notify calls of the prescient schema (mode no-notify)');
    const fullDef = notifying[0]!.d;
    const noNotifyDef = fullDef.replace(notifyCall, "concat('prescient_versions', ");
    let current: Mode = 'on';
    const setMode = async (mode: Mode): Promise<void> => {
      if (mode === current || mode === 'prev') return;
      const r = await installShardSchema(admin!, mode === 'off' ? [] : TABLES);
      if (mode === 'off' ? r.removed !== 4 : r.triggers !== 4) throw new Error(`switching to mode ${mode} failed: ${JSON.stringify(r)}`);
      if (mode !== 'off') await admin!.query(mode === 'on' ? fullDef : noNotifyDef);
      current = mode;
    };

    let done = 0;
    for (let round = 1; round <= opts.rounds; round++) {
      // rotate which mode goes first, so a slow drift (table growth, autovacuum) does not favour one of them
      const order = opts.modes.map((_, i) => opts.modes[(i + round - 1) % opts.modes.length]!);
      for (const script of opts.scripts) {
        for (const mode of order) {
          check();
          await setMode(mode);
          const db = mode === 'prev' ? adminPrev! : admin;
          await db.query('truncate prescient.version_history');
          await db.query('checkpoint');
          const n0 = notifications;
          const ticks0 = postgresTicks([pgc.pid]);
          const args = [
            '-n', '-T', String(opts.durationS), '-c', String(opts.clients), '-j', String(Math.min(opts.jobs, opts.clients)),
            '-f', scriptFiles.get(script)!, '-D', `accounts=${opts.accounts}`, '-D', `rows=${opts.rows}`,
            '-h', pgc.host, '-p', String(pgc.port), '-U', pgc.user, mode === 'prev' ? 'app_prev' : 'app',
          ];
          const r = await pgbench(args, { password: pgc.password, durationS: opts.durationS });
          check();
          await (mode === 'prev' ? listenerPrev! : listener).query('select 1'); // notifications committed before this round trip are in
          await sleep(300); // pgbench's backends exit and are reaped (their CPU moves to the postmaster's children)
          const ticks = postgresTicks([pgc.pid]) - ticks0;
          const pgCpuUsPerTxn = r.transactions ? ((ticks / clkTck) * 1e6) / r.transactions : null;
          const res: RunResult = {
            script, mode, round, tps: r.tps, latencyMs: r.latencyAvgMs, transactions: r.transactions, failed: r.failed,
            notifications: notifications - n0, pgCpuUsPerTxn, ...(r.error ? { error: r.error } : {}),
          };
          results.push(res);
          done++;
          log(
            `[${done}/${total}] round ${round} ${script.padEnd(6)} ${modeLabel(mode).padEnd(22)} ` +
              (res.error
                ? `ERROR ${res.error}`
                : `tps ${fmt(res.tps)} lat ${fmt(res.latencyMs, 3)} ms failed ${res.failed ?? '?'} notifications ${res.notifications} postgres CPU ${fmt(res.pgCpuUsPerTxn)} µs/txn`),
          );
        }
      }
    }

    const rows = opts.scripts.flatMap((script) =>
      opts.modes.map((mode) => {
        const mine = results.filter((r) => r.script === script && r.mode === mode && !r.error);
        const pick = (f: (r: RunResult) => number | null): number | null => median(mine.flatMap((r) => (f(r) === null ? [] : [f(r)!])));
        const base = median(results.filter((r) => r.script === script && r.mode === 'off' && !r.error).flatMap((r) => (r.tps === null ? [] : [r.tps])));
        const tps = pick((r) => r.tps);
        const txns = mine.reduce((sum, r) => sum + (r.transactions ?? 0), 0);
        return {
          script,
          mode,
          tps,
          vsOff: base && tps !== null ? tps / base : null,
          latencyMs: pick((r) => r.latencyMs),
          pgCpuUsPerTxn: pick((r) => r.pgCpuUsPerTxn),
          notificationsPerTxn: txns > 0 ? mine.reduce((sum, r) => sum + r.notifications, 0) / txns : null,
          tpsRounds: results.filter((r) => r.script === script && r.mode === mode).map((r) => r.tps),
        };
      }),
    );
    const lines = [
      '| script | version triggers | tps | vs no triggers | latency (ms) | Postgres CPU µs/txn | notifications / txn | tps per round |',
      '|---|---|---:|---:|---:|---:|---:|---|',
      ...rows.map(
        (r) =>
          `| ${r.script} | ${modeLabel(r.mode)} | ${fmt(r.tps)} | ${r.vsOff === null ? 'n/a' : r.vsOff.toFixed(3)} | ${fmt(r.latencyMs, 3)} | ${fmt(r.pgCpuUsPerTxn)} | ${fmt(r.notificationsPerTxn, 2)} | ${r.tpsRounds.map((x) => fmt(x)).join(', ')} |`,
      ),
      '',
      `pgbench -c ${opts.clients} -j ${Math.min(opts.jobs, opts.clients)} -T ${opts.durationS} s, ${opts.rounds} interleaved round(s); table volumes with ${opts.accounts} accounts x ${opts.rows} rows; ` +
        `medians over rounds. One Postgres (${opts.durable ? 'fsync on, synchronous_commit on' : 'testbed: fsync off, synchronous_commit off'}) on a ${os.cpus().length}-core host shared with pgbench; one LISTEN connection on ${VERSIONS_CHANNEL}.`,
      `update: single-row UPDATE by (account_id, id); insert: single-row INSERT of a fresh id (autocommit). "on" = prescient schema v${installed.schemaVersion}: with triggers each write also records its key in prescient.pending_bumps, and its commit upserts prescient.key_versions and appends version_history;`,
      '"on" also sends one NOTIFY per key ("without NOTIFY" is the same function with its pg_notify calls removed: the difference is what NOTIFY costs, mostly the commit-time lock all notifying transactions take in turn).',
      ...(opts.modes.includes('prev') ? [`"${prevVersionLabel}": the triggers as schema version ${opts.prevVersion} installed them, on the same table in a second database (with its own LISTEN connection), run interleaved with the others.`] : []),
      'Postgres CPU µs/txn = utime+stime of the postmaster and all its children during the run / transactions (less sensitive to other load on the host than tps).',
    ];
    process.stdout.write('\n' + lines.join('\n') + '\n');
    await writeJson(opts.json, { meta: { date: new Date().toISOString(), pgbench: pgbenchVersion, cores: os.cpus().length, ...opts }, summary: rows, runs: results }, log);
    if (results.some((r) => r.error)) exitCode = 1;
  } catch (e) {
    exitCode = interrupt.failed(e, log);
  } finally {
    for (const p of [...procs]) await stopProc(p, 'SIGKILL', 5000);
    await listener?.end().catch(() => {});
    await admin?.end().catch(() => {});
    await listenerPrev?.end().catch(() => {});
    await adminPrev?.end().catch(() => {});
    await finish({ log, interrupt, clusters, tmp });
  }
  return exitCode;
}

runMain(import.meta.url, main, log);
