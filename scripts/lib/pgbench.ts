// pgbench owns running pgbench for a benchmark: its environment, one measured run (the target's CPU, the host's other load), its summary output parsed, its failures put in one line, and its per-transaction latency logs read.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { findPgBin } from '../testbed.js';
import { cpuTicks, foreignLoad, type Own } from './cpu.js';
import { run, type Proc } from './proc.js';

/** A server pgbench is pointed at, and the process whose CPU time is charged to it (none for Postgres directly). */
export interface Endpoint {
  host: string;
  port: number;
  proc?: Proc;
  cpuPid?: number;
  label: string;
}

/** pgbench's (and psql's) environment: the password, no TLS, a connect timeout. */
export function pgEnv(password: string): NodeJS.ProcessEnv {
  return { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
}

export interface PgbenchOutput {
  tps: number | null;
  latencyAvgMs: number | null;
  latencyStddevMs: number | null;
  transactions: number | null;
  failed: number | null;
}

/** The numbers of pgbench's summary (null for those it did not print). */
export function parsePgbench(out: string): PgbenchOutput {
  const num = (re: RegExp): number | null => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  return {
    tps: num(/^tps = ([\d.]+)/m),
    latencyAvgMs: num(/^latency average = ([\d.]+) ms/m),
    latencyStddevMs: num(/^latency stddev = ([\d.]+) ms/m),
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
  };
}

export interface PgbenchRun extends PgbenchOutput {
  /** the target's utime and stime during the run, clock ticks (null without a cpuPid) */
  cpu: { user: number; sys: number } | null;
  /** CPU used on this host during the run by processes outside the benchmark, % of all cores (null when not measured) */
  foreignCpuPct: number | null;
  exitCode: number | null;
  /** why the run failed (timed out, non-zero exit, no tps line), with pgbench's own error lines */
  error?: string;
}

/**
 * Runs `pgbench args` to completion (tracked, so Ctrl-C stops it; killed after durationS + 90 s) and returns its
 * summary, the CPU time of `cpuPid` during the run and, given `own`, the load other processes put on the host.
 */
export async function pgbench(
  args: string[],
  opts: { password: string; durationS: number; cpuPid?: number; own?: Own; clkTck?: number },
): Promise<PgbenchRun> {
  const load = opts.own ? foreignLoad(opts.own, opts.clkTck ?? 100) : undefined;
  const before = opts.cpuPid ? cpuTicks(opts.cpuPid) : null;
  const r = await run('pgbench', findPgBin('pgbench'), args, pgEnv(opts.password), (opts.durationS + 90) * 1000);
  const after = opts.cpuPid ? cpuTicks(opts.cpuPid) : null;
  const foreignCpuPct = load ? load() : null;
  const parsed = parsePgbench(r.stdout);
  let error: string | undefined;
  if (r.timedOut) error = 'pgbench timed out';
  else if (r.code !== 0 || parsed.tps === null) {
    const lines = [...new Set((r.stderr + '\n' + r.stdout).split('\n').filter((l) => /error|abort|fatal|failed|could not/i.test(l)))];
    error = `pgbench exit ${r.code ?? r.signal}: ${lines.slice(0, 3).join(' | ') || r.stderr.trim().slice(0, 300)}`;
  }
  return {
    ...parsed,
    cpu: before && after ? { user: after.user - before.user, sys: after.sys - before.sys } : null,
    foreignCpuPct,
    exitCode: r.code,
    ...(error ? { error } : {}),
  };
}

/**
 * Latencies (µs) of the logged transactions in every pgbench log file starting with `prefix` (-l --log-prefix), only
 * those of script number `script` when given; the files are removed.
 */
export async function readLatencyLogs(prefix: string, script?: number): Promise<number[]> {
  const dir = path.dirname(prefix);
  const base = path.basename(prefix) + '.';
  const out: number[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(base)) continue;
    const file = path.join(dir, f);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      // client_id transaction_no time_us script_no time_epoch time_us [schedule_lag] [retries]
      const fields = line.split(' ');
      if (fields.length < 6) continue;
      if (script !== undefined && fields[3] !== String(script)) continue;
      const us = Number(fields[2]);
      if (Number.isFinite(us)) out.push(us);
    }
    await rm(file, { force: true });
  }
  return out;
}

/** pgbench's version line (`pgbench (PostgreSQL) 16.4`). */
export function pgbenchVersion(): string {
  return spawnSync(findPgBin('pgbench'), ['--version'], { encoding: 'utf8' }).stdout.trim();
}
