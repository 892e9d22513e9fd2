#!/usr/bin/env node
// main owns `npm run fuzz`: start the target, record the corpus, run the honest client and the fuzz lanes, check and print the report.
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { recordCorpus } from './corpus.js';
import { HonestClient } from './honestClient.js';
import { explainHang } from './explainHang.js';
import { parseOptions, USAGE, type FuzzOptions } from './options.js';
import { poolCheck, proxyMemory } from './poolCheck.js';
import { ProxyMonitor } from './proxyMonitor.js';
import { failures, formatReport, HANG_DEFINITION } from './report.js';
import { runLanes } from './runLanes.js';
import { Tally } from './tally.js';
import { startTarget, type Target } from './target.js';
import type { FuzzReport } from './types.js';

function log(opts: FuzzOptions, msg: string): void {
  if (!opts.quiet) process.stderr.write(`fuzz: ${msg}\n`);
}

async function finalCheck(t: Target): Promise<string> {
  const c = new pg.Client({ ...t.proxy, ...t.login, connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const r = await c.query('select 1 as one');
    return r.rows[0]?.one === 1 ? 'ok' : 'wrong answer';
  } catch (e) {
    return `${(e as { code?: string }).code ?? ''} ${(e as Error).message}`.trim();
  } finally {
    await c.end().catch(() => {});
  }
}

/** What Postgres says its backends are doing (state, since when, wait event, query): shows what a session left behind waits for. */
async function backendsNow(t: Target): Promise<string[]> {
  const c = new pg.Client({ ...t.pg, connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    // every backend, idle ones too: a session left behind names its server's backend pid (backend=N in its detail)
    const r = await c.query(`select pid, usename, state, wait_event_type, wait_event, xact_start is not null as in_tx,
        round(extract(epoch from now() - state_change))::int as state_s, left(query, 120) as query
      from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() order by pid`);
    return r.rows.map((x: Record<string, unknown>) => `backend ${x.pid} ${x.usename} ${x.state} for ${x.state_s} s${x.in_tx ? ' (in a transaction)' : ''} wait=${x.wait_event_type ?? '-'}/${x.wait_event ?? '-'}: ${x.query}`);
  } catch (e) {
    return [`pg_stat_activity: ${(e as Error).message}`];
  } finally {
    await c.end().catch(() => {});
  }
}

/** Runs the whole fuzz campaign; returns the report (never throws for findings, only for set-up failures). */
export async function fuzz(opts: FuzzOptions): Promise<FuzzReport> {
  log(opts, 'starting Postgres and Prescient…');
  const target = await startTarget(opts);
  try {
    log(opts, `proxy on ${target.proxy.host}:${target.proxy.port} (pid ${target.pid ?? '?'}); recording psql, pgbench and node-postgres sessions…`);
    const corpus = await recordCorpus(target.pg);
    for (const s of corpus.skipped) log(opts, `not recorded: ${s}`);
    const honest = new HonestClient(target.proxy, target.honest, target.pg, opts.seed);
    await honest.prepare();
    const monitor = new ProxyMonitor(target.proxy, target.pid, target.proc);
    monitor.start();
    honest.start();
    const tally = new Tally();
    const started = Date.now();
    const lanes = runLanes(
      { seed: opts.seed, login: target.login, corpus, mix: opts.mix, maxMessageSize: target.maxMessageSize, maxStartupPacket: target.maxStartupPacket },
      {
        endpoint: target.proxy,
        login: target.login,
        concurrency: opts.only ? 1 : opts.concurrency,
        hangMs: opts.hangMs,
        inputsPerConnection: opts.only ? Number.MAX_SAFE_INTEGER : opts.inputsPerConnection,
        indices: opts.only ?? opts.inputs,
        trace: opts.trace,
        explainHang: target.admin ? (port) => explainHang(port, target.proxy, target.admin!, { ...target.pg }) : undefined,
        deadline: opts.seconds > 0 ? started + opts.seconds * 1000 : Number.POSITIVE_INFINITY,
      },
      tally,
    );
    const rssRises: FuzzReport['rssRises'] = [];
    monitor.onRssRise = (kb) => {
      const rise: FuzzReport['rssRises'][number] = { rssMb: Math.round(kb / 1024), atInput: tally.inputs, inFlight: lanes.inFlight() };
      rssRises.push(rise);
      if (rssRises.length > 40) rssRises.splice(0, rssRises.length - 40);
      // where the memory is (SHOW STATS): V8's heap, or buffers outside it
      if (target.admin) void proxyMemory(target.proxy, target.admin).then((m) => { rise.memory = m; });
    };
    const onSigint = (): void => {
      log(opts, 'SIGINT: finishing the inputs in flight, then reporting');
      lanes.stop();
    };
    process.once('SIGINT', onSigint);
    let stalled: string | null = null;
    const stallCheck = setInterval(() => {
      const quiet = (Date.now() - honest.lastSuccessAt) / 1000;
      if (opts.stallS > 0 && quiet >= opts.stallS && !stalled) {
        stalled = `the honest client had no successful operation for ${Math.round(quiet)} s: the run was stopped early after ${tally.inputs} inputs`;
        log(opts, stalled);
        lanes.stop();
      }
    }, 1000);
    const progress = setInterval(() => {
      const s = (Date.now() - started) / 1000;
      log(opts, `${tally.inputs} inputs, ${Math.round(tally.inputs / s)}/s, hangs ${tally.hangCount}, crashes ${monitor.crashes.length}, RSS max ${Math.round(monitor.maxRssKb / 1024)} MB`);
    }, 5000);
    await lanes.done;
    const seconds = (Date.now() - started) / 1000;
    clearInterval(progress);
    clearInterval(stallCheck);
    process.off('SIGINT', onSigint);
    log(opts, `${tally.inputs} inputs in ${seconds.toFixed(1)} s; stopping the honest client and checking…`);
    await honest.stop();
    const final = await finalCheck(target);
    const pools = target.admin ? await poolCheck(target.proxy, target.admin, 5000) : null;
    // sessions left behind: what their server backends are doing
    const backends = pools && pools.clients > 0 ? await backendsNow(target) : [];
    monitor.stop();
    const honestSummary = await honest.check();
    const base: Omit<FuzzReport, 'failures'> = {
      seed: opts.seed,
      inputs: tally.inputs,
      seconds,
      inputsPerSecond: tally.inputs / Math.max(seconds, 0.001),
      perCategory: Object.fromEntries(tally.perCategory),
      perKind: Object.fromEntries(tally.perKind),
      outcomes: Object.fromEntries(tally.outcomes),
      endings: Object.fromEntries([...tally.perEnding].map(([k, n]) => [k, { inputs: n, meanMs: Math.round((10 * (tally.msPerEnding.get(k) ?? 0)) / n) / 10 }])),
      sqlstates: Object.fromEntries(tally.sqlstates),
      hangs: tally.hangs,
      lockWaits: tally.lockWaits,
      loginFailures: tally.loginFailures,
      crashes: monitor.crashes,
      maxRssMb: Math.round(monitor.maxRssKb / 1024),
      rssLimitMb: opts.maxRssMb,
      rssRises,
      honest: honestSummary,
      pools: pools?.pools ?? null,
      poolError: pools?.error ?? null,
      leakedServerConnections: pools?.leaked ?? 0,
      leftoverClients: pools?.clients ?? 0,
      // each with the inputs its connection ran (found by its port): replay them with --only
      // and the inputs of the clients its server connection served before it (served=pid@port,…)
      leftoverClientRows: [...(pools?.clientRows ?? []).map((row) => {
        const onPort = (port: number): string => lanes.inputsOnPort(port).filter((r) => r.length > 0).map((r) => r.join(',')).join(' | ');
        const port = Number(/addr [^ ]*:(\d+)/.exec(row)?.[1] ?? 0);
        const lines = [row];
        const own = onPort(port);
        if (own) lines.push(`      inputs on that port: ${own}`);
        const served = /served=(\S+)/.exec(row)?.[1]?.split(',') ?? [];
        for (const client of served) {
          const p = Number(client.split('@')[1]);
          if (p && p !== port) lines.push(`      its server connection served ${client} before: ${onPort(p) || '(no input on that port)'}`);
        }
        return lines.join('\n');
      }), ...backends],
      finalCheck: final,
      corpus: { sessions: Object.fromEntries(corpus.sessions.map((s) => [s.name, s.frames.length])), hash: corpus.hash },
      hangDefinition: HANG_DEFINITION,
      stalled,
    };
    return { ...base, failures: failures(base) };
  } finally {
    await target.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const opts = parseOptions(argv);
  if (opts === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const report = await fuzz(opts);
  process.stdout.write(formatReport(report) + '\n');
  if (opts.json) await writeFile(opts.json, JSON.stringify(report, null, 2) + '\n');
  return report.failures.length ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fuzz: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
