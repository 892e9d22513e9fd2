// cpu owns CPU time as Linux's /proc reports it: a process's ticks, Postgres's (postmaster and backends), the benchmark's own, the host's, and the load other processes put on the host.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type { Log } from './log.js';
import { sleep } from './proc.js';

export function clockTicksPerSecond(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = parseInt(r.stdout ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 100;
}

/**
 * utime + stime of a process (all its threads) and of its live children (the workers of `workers: N`), in clock ticks,
 * from /proc/<pid>/stat.
 */
export function cpuTicks(pid: number): { user: number; sys: number } | null {
  const own = userSys(pid);
  if (own === null) return null;
  for (const child of childPids(pid)) {
    const c = userSys(child);
    if (c) {
      own.user += c.user;
      own.sys += c.sys;
    }
  }
  return own;
}

function userSys(pid: number): { user: number; sys: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' '); // rest[0] is field 3 (state)
    return { user: Number(rest[11]), sys: Number(rest[12]) }; // fields 14 (utime) and 15 (stime)
  } catch {
    return null;
  }
}

/** The live children of `pid` (from the children file of each of its threads in /proc). */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** Busy clock ticks of the whole host (all CPUs) from /proc/stat: user+nice+system+irq+softirq+steal. */
export function hostBusyTicks(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  } catch {
    return null;
  }
}

/** utime+stime (+ cutime+cstime when withChildren) of a pid, from /proc/<pid>/stat; also its ppid. */
export function procTimes(pid: number | 'self', withChildren: boolean): { ticks: number; ppid: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    let ticks = Number(rest[11]) + Number(rest[12]);
    if (withChildren) ticks += Number(rest[13]) + Number(rest[14]); // fields 16, 17: reaped children
    return { ticks, ppid: Number(rest[1]) };
  } catch {
    return null;
  }
}

/** CPU ticks used so far by the postmasters, their reaped children and their live children (backends, workers). */
export function postgresTicks(postmasterPids: readonly number[]): number {
  const pms = new Set(postmasterPids);
  let t = 0;
  for (const pid of pms) t += procTimes(pid, true)?.ticks ?? 0;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const p = procTimes(Number(e), false);
    if (p && pms.has(p.ppid)) t += p.ticks;
  }
  return t;
}

/** The processes a benchmark runs besides itself: its proxies and its Postgres postmasters. */
export interface Own {
  proxyPids: readonly number[];
  postmasterPids: readonly number[];
}

/** CPU ticks of this process and its reaped children (pgbench), the proxies, and every postmaster with its live and reaped backends. */
export function ownTicks(own: Own): number {
  let t = procTimes('self', true)?.ticks ?? 0;
  for (const pid of own.proxyPids) {
    const c = cpuTicks(pid);
    if (c) t += c.user + c.sys;
  }
  return t + postgresTicks(own.postmasterPids);
}

/**
 * Starts measuring the host CPU used by processes outside the benchmark; the function it returns gives that load since
 * the start, in % of all cores (null when /proc/stat cannot be read).
 */
export function foreignLoad(own: Own, clkTck: number): () => number | null {
  const host0 = hostBusyTicks();
  const own0 = ownTicks(own);
  const t0 = process.hrtime.bigint();
  return () => {
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const host1 = hostBusyTicks();
    const own1 = ownTicks(own);
    if (host0 === null || host1 === null) return null;
    return Math.min(100, Math.max(0, (100 * (host1 - host0 - (own1 - own0))) / (clkTck * wallS * os.cpus().length)));
  };
}

/** Waits until processes outside the benchmark use < pct % of the host CPU over a 1 s window (or maxWaitS passes); returns the last reading. */
export async function waitQuiet(
  pct: number,
  maxWaitS: number,
  clkTck: number,
  own: Own,
  log: Log,
  stopped: () => boolean = () => false,
): Promise<number | null> {
  const deadline = Date.now() + maxWaitS * 1000;
  let warned = false;
  for (;;) {
    const load = foreignLoad(own, clkTck);
    await sleep(1000);
    const last = load();
    if (last === null) return null;
    if (last < pct) return last;
    if (Date.now() > deadline) {
      log(`host still busy (${last.toFixed(0)}% CPU used by other processes) after ${maxWaitS} s; running anyway`);
      return last;
    }
    if (!warned) {
      log(`waiting for the host to quiet down: other processes use ${last.toFixed(0)}% CPU (threshold ${pct}%)`);
      warned = true;
    }
    if (stopped()) return last;
  }
}
