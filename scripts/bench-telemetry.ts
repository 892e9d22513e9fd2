// bench-telemetry owns the telemetry cost benchmark: a select-only pgbench load (sqlcommenter-tagged) through Prescient with tracing off, metrics on, tracing sampled and tracing always on (interleaved rounds), TPS, ratios to "off" and proxy CPU per transaction.
//
// usage (after `npm run build`):
//   npm run bench:telemetry -- [options]
//   node dist/scripts/bench-telemetry.js [options]
//
// options:
//   --duration S          seconds per pgbench run (default 15)
//   --rounds N            interleaved rounds (default 3)
//   --clients N           pgbench clients (default 16)
//   --jobs N              pgbench -j (default 2)
//   --mode M              pgbench -M: simple, extended or prepared (default simple)
//   --scale N             pgbench -i scale factor (default 10)
//   --pool-size N         Prescient pool.size (default 20)
//   --sampled R           the sampled variant's telemetry.tracing.sample_ratio (default 0.01)
//   --protocol P          the tracing variants' telemetry.tracing.protocol: http/json or http/protobuf (default http/json)
//   --batch N             the tracing variants' telemetry.tracing.max_export_batch_size (default: the config's, 512)
//   --warmup S            seconds of warm-up through each variant before measuring (default 3, 0 = none)
//   --variants LIST       which of passthrough,off,metrics,unsampled,sampled,always to run (default all)
//   --json FILE           also write the results as JSON
//   --cpu-prof            run the `off` and tracing variants under `node --cpu-prof`; print their profiles' paths
//   --keep                keep the temp dir (configs, Prescient logs)
//
// What it starts (all on 127.0.0.1, stopped by pid at the end, on SIGINT and on error):
//   - one throwaway Postgres cluster (scripts/testbed.ts), `pgbench -i -s <scale>` into database `app`
//   - a local OTLP/HTTP sink (in this process) that answers 200 to POST /v1/traces and counts the spans it receives
//   - one Prescient per variant, all running the routed request path (the sqlcommenter key plugin configured, as a
//     sharded deployment runs it), so that the variants differ only in telemetry:
//       off       tracing off, http.enabled false
//       metrics   tracing off, http.enabled true (the HTTP listener and /metrics, as far as this build has them)
//       unsampled tracing on, sample_ratio 0 (the plugin loaded, no transaction traced: what being enabled costs)
//       sampled   tracing on, sample_ratio --sampled, OTLP to the sink
//       always    tracing on, sample_ratio 1, OTLP to the sink
//     and, for reference, `passthrough`: the single-shard pass-through path (no plugin, no analysis), what a one-shard
//     deployment without tracing runs (turning tracing on there also turns on the routed path).
// The statement is pgbench's select-only one with a sqlcommenter tag (/*account='acct-7',action='GetBalance'*/).
// Progress goes to stderr; the markdown table to stdout.

import { chown, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPgBin, startClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { clockTicksPerSecond, type Own } from './lib/cpu.js';
import { decodeOtlpTraces } from './lib/decodeOtlpTraces.js';
import { log } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { finish, Interrupt, runMain } from './lib/main.js';
import { pgbench, pgbenchVersion, pgEnv, type PgbenchRun } from './lib/pgbench.js';
import { benchConfig, cpuProfDir, latestCpuProfile, startPrescient, type Prescient } from './lib/prescient.js';
import { isRoot, osUser, procs, run, signalGroup, spawnWatchdog, stopAll } from './lib/proc.js';
import { median } from './lib/stats.js';

const USAGE = `usage: node dist/scripts/bench-telemetry.js [--duration S] [--rounds N] [--clients N] [--jobs N] [--mode simple|extended|prepared]
       [--scale N] [--pool-size N] [--sampled R] [--protocol P] [--batch N] [--warmup S] [--variants passthrough,off,metrics,unsampled,sampled,always] [--json FILE] [--cpu-prof] [--keep]`;

const PG_DB = 'app';
const VARIANTS = ['passthrough', 'off', 'metrics', 'unsampled', 'sampled', 'always'] as const;
/** the variants run under `node --cpu-prof` with --cpu-prof */
const PROFILED: readonly Variant[] = ['off', 'unsampled', 'sampled', 'always'];
/** the variants that export spans (their runs wait for the queue to drain) */
const TRACED: readonly Variant[] = ['unsampled', 'sampled', 'always'];
type Variant = (typeof VARIANTS)[number];
const MODES = ['simple', 'extended', 'prepared'] as const;
const PROTOCOLS = ['http/json', 'http/protobuf'] as const;

/** pgbench's select-only transaction, tagged as a sqlcommenter application tags it. */
const SCRIPT = `\\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid /*account='acct-7',action='GetBalance'*/;
`;

/** A local OTLP/HTTP sink: 200 to every POST, spans counted (OTLP/JSON: one `"spanId"` key each; protobuf: decoded). */
async function startSink(): Promise<{ server: Server; url: string; spans: () => number }> {
  let spans = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const protobuf = (req.headers['content-type'] ?? '').includes('protobuf');
      spans += protobuf ? decodeOtlpTraces(body).length : body.toString('utf8').split('"spanId":').length - 1;
      // an empty ExportTraceServiceResponse: success, nothing rejected
      if (protobuf) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/v1/traces`, spans: () => spans };
}

/** Each variant's config on top of the benchmark's base. */
function variantConfig(v: Variant, sampled: number, sink: string, exportOpts: { protocol: string; batch?: number }): object {
  // the routed path without tracing: the key plugin listed as a plugin (a config with plugins routes every request)
  const routed = { sharding: { key_plugins: [] }, plugins: [{ name: 'sqlcommenter' }] };
  const batch = exportOpts.batch === undefined ? {} : { max_export_batch_size: exportOpts.batch };
  const tracing = (ratio: number): object => ({ telemetry: { tracing: { enabled: true, sample_ratio: ratio, exporter: 'otlp', endpoint: sink, protocol: exportOpts.protocol, ...batch } } });
  switch (v) {
    case 'passthrough': return { http: { enabled: false } };
    case 'off': return { ...routed, http: { enabled: false } };
    case 'metrics': return { ...routed, http: { enabled: true, port: 0 } };
    case 'unsampled': return { ...routed, http: { enabled: false }, ...tracing(0) };
    case 'sampled': return { ...routed, http: { enabled: false }, ...tracing(sampled) };
    case 'always': return { ...routed, http: { enabled: false }, ...tracing(1) };
  }
}

interface RunResult {
  variant: Variant;
  round: number;
  tps: number | null;
  transactions: number | null;
  cpuUsPerTx: number | null;
  spansPerTx: number | null;
  foreignCpuPct: number | null;
  error?: string;
}

async function main(): Promise<number> {
  const a = new Args(process.argv.slice(2), {
    usage: USAGE,
    values: ['duration', 'rounds', 'clients', 'jobs', 'mode', 'scale', 'pool-size', 'sampled', 'protocol', 'batch', 'warmup', 'variants', 'json'],
    booleans: ['cpu-prof', 'keep'],
  });
  const opts = {
    durationS: a.int('duration', 15, 1),
    rounds: a.int('rounds', 3, 1),
    clients: a.int('clients', 16, 1),
    jobs: a.int('jobs', 2, 1),
    mode: a.list('mode', MODES, ['simple'])[0]!,
    scale: a.int('scale', 10, 1),
    poolSize: a.int('pool-size', 20, 1),
    sampled: a.num('sampled', 0.01, 0, 1, false),
    protocol: a.list('protocol', PROTOCOLS, ['http/json'])[0]!,
    batch: a.get('batch') === undefined ? undefined : a.int('batch', 512, 1),
    warmupS: a.int('warmup', 3, 0),
    variants: a.list('variants', VARIANTS),
    json: a.get('json'),
    cpuProf: a.bool('cpu-prof'),
    keep: a.bool('keep'),
  };
  const clkTck = clockTicksPerSecond();
  let clusters: Cluster[] = [];
  let tmp: string | undefined;
  let watchdog: number | undefined;
  let sink: Awaited<ReturnType<typeof startSink>> | undefined;
  const proxies = new Map<Variant, Prescient>();
  const results: RunResult[] = [];
  let exitCode = 0;
  const profDir = opts.cpuProf ? cpuProfDir(undefined, path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')) : undefined;
  const interrupt = new Interrupt(() => {
    log('SIGINT: stopping the current run and cleaning up');
    for (const p of procs) if (p.name === 'pgbench' || p.name === 'pgbench-init') signalGroup(p, 'SIGTERM');
  });
  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-telemetry-'));
    if (isRoot()) {
      const u = osUser('postgres');
      await chown(tmp, u.uid, u.gid);
    }
    if (profDir) for (const v of PROFILED) await mkdir(path.join(profDir, v), { recursive: true });
    log('starting Postgres (testbed)');
    clusters = await startClusters(1, { auth: 'scram-sha-256', databases: [PG_DB], settings: { max_connections: 300 } });
    const pg = clusters[0]!;
    log(`pgbench -i -s ${opts.scale}`);
    const init = await run('pgbench-init', findPgBin('pgbench'), ['-i', '-s', String(opts.scale), '-q', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, PG_DB], pgEnv(pg.password), 15 * 60_000);
    if (init.code !== 0) throw new Error(`pgbench -i failed (exit ${init.code})\n${init.stderr}`);
    interrupt.check();
    const script = path.join(tmp, 'select-tagged.sql');
    await writeFile(script, SCRIPT);
    sink = await startSink();
    log(`OTLP sink on ${sink.url}`);
    for (const v of opts.variants) {
      const p = await startPrescient({
        dir: tmp,
        name: v,
        generatedBy: 'scripts/bench-telemetry.ts',
        cpuProfDir: profDir !== undefined && PROFILED.includes(v) ? path.join(profDir, v) : undefined,
        config: (port) => ({
          ...benchConfig(port, opts.poolSize, 'warn'),
          database: PG_DB,
          users: [{ name: pg.user, password: pg.password }],
          shards: [{ name: 's0', host: pg.host, port: pg.port, database: PG_DB, user: pg.user, password: pg.password }],
          ...variantConfig(v, opts.sampled, sink!.url, { protocol: opts.protocol, batch: opts.batch }),
        }),
      });
      proxies.set(v, p);
      log(`${v}: Prescient on 127.0.0.1:${p.port} (pid ${p.proc.pid})`);
    }
    watchdog = spawnWatchdog([...proxies.values()].map((p) => p.proc.pid));
    const own: Own = { proxyPids: [...proxies.values()].map((p) => p.proc.pid), postmasterPids: [pg.pid] };
    const bench = (p: Prescient, seconds: number): Promise<PgbenchRun> =>
      pgbench(['-n', '-f', script, '-M', opts.mode, '-c', String(opts.clients), '-j', String(opts.jobs), '-T', String(seconds), '-s', String(opts.scale), '-h', p.host, '-p', String(p.port), '-U', pg.user, PG_DB], { password: pg.password, durationS: seconds, cpuPid: p.proc.pid, own, clkTck });
    // spans still queued in a proxy go out within its schedule delay (1 s): wait for them, or the next run would count them
    const drained = (v: Variant): Promise<void> => new Promise((res) => setTimeout(res, TRACED.includes(v) ? 2500 : 0));
    if (opts.warmupS > 0) {
      for (const v of opts.variants) {
        const w = await bench(proxies.get(v)!, opts.warmupS);
        if (w.error) throw new Error(`warm-up through ${v}: ${w.error}`);
        await drained(v);
        interrupt.check();
      }
    }
    for (let round = 1; round <= opts.rounds; round++) {
      // interleaved, and the order turned each round (no variant always runs first, or right after another)
      const order = opts.variants.map((_, i) => opts.variants[(i + round - 1) % opts.variants.length]!);
      for (const v of order) {
        interrupt.check();
        const spans0 = sink.spans();
        const r = await bench(proxies.get(v)!, opts.durationS);
        await drained(v);
        const spans = sink.spans() - spans0;
        const cpuUsPerTx = r.cpu && r.transactions ? ((r.cpu.user + r.cpu.sys) / clkTck) * 1e6 / r.transactions : null;
        results.push({ variant: v, round, tps: r.tps, transactions: r.transactions, cpuUsPerTx, spansPerTx: r.transactions ? spans / r.transactions : null, foreignCpuPct: r.foreignCpuPct, ...(r.error ? { error: r.error } : {}) });
        log(`round ${round} ${v}: ${r.tps?.toFixed(0) ?? '-'} TPS, ${cpuUsPerTx?.toFixed(1) ?? '-'} µs CPU/tx, ${spans} spans${r.error ? `, ERROR ${r.error}` : ''}`);
      }
    }
    const rows = opts.variants.map((v) => {
      const rs = results.filter((r) => r.variant === v && !r.error);
      const med = (f: (r: RunResult) => number | null): number | null => median(rs.flatMap((r) => (f(r) === null ? [] : [f(r)!])));
      return { variant: v, tps: med((r) => r.tps), cpuUsPerTx: med((r) => r.cpuUsPerTx), spansPerTx: med((r) => r.spansPerTx), foreignCpuPct: med((r) => r.foreignCpuPct), perRound: rs.map((r) => r.tps) };
    });
    const base = rows.find((r) => r.variant === 'off')?.tps ?? null;
    const label: Record<Variant, string> = {
      passthrough: 'pass-through (no routing, no telemetry; reference)',
      off: '(a) tracing off, metrics off',
      metrics: '(b) tracing off, metrics on (http.enabled)',
      unsampled: '(c0) tracing on, nothing sampled (0)',
      sampled: `(c) tracing sampled (${opts.sampled})`,
      always: '(d) tracing always on (1.0)',
    };
    const fmt = (n: number | null, d = 0): string => (n === null ? '-' : n.toFixed(d));
    const out = [
      `pgbench -M ${opts.mode} -c ${opts.clients} -j ${opts.jobs}, ${opts.durationS} s × ${opts.rounds} interleaved rounds, scale ${opts.scale}, pool ${opts.poolSize}, OTLP ${opts.protocol}${opts.batch === undefined ? '' : `, batches of ${opts.batch}`}; ${pgbenchVersion()}; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`,
      '',
      '| variant | TPS (median) | vs (a) | proxy CPU µs/tx | spans exported/tx | TPS per round | other load on host |',
      '|---|---:|---:|---:|---:|---|---:|',
      ...rows.map((r) => `| ${label[r.variant]} | ${fmt(r.tps)} | ${r.tps !== null && base !== null ? (r.tps / base).toFixed(3) : '-'} | ${fmt(r.cpuUsPerTx, 1)} | ${fmt(r.spansPerTx, 3)} | ${r.perRound.map((x) => fmt(x)).join(', ')} | ${fmt(r.foreignCpuPct, 0)} % |`),
    ];
    process.stdout.write(out.join('\n') + '\n');
    await writeJson(opts.json, { opts, summary: rows, runs: results }, log);
    if (results.some((r) => r.error)) exitCode = 1;
  } catch (e) {
    exitCode = interrupt.failed(e, log);
  } finally {
    await stopAll([...proxies.values()].map((p) => ({ proc: p.proc, graceMs: 20_000 })));
    if (profDir) {
      for (const v of PROFILED) if (opts.variants.includes(v)) log(`CPU profile of ${v}: ${latestCpuProfile(path.join(profDir, v)) ?? 'none'} (node dist/scripts/profile-top.js --file FILE summarises it)`);
    }
    await new Promise<void>((resolve) => (sink ? sink.server.close(() => resolve()) : resolve()));
    await finish({ log, interrupt, clusters, watchdog, tmp, keepTmp: opts.keep || (exitCode !== 0 && !interrupt.interrupted) });
  }
  return exitCode;
}

runMain(import.meta.url, main, log);
