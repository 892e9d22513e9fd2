// proc owns the processes a benchmark or test tool starts: spawning them in their own process group, tracking, signalling and stopping them by pid, a watchdog for when we die, and waiting for a port.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { log } from './log.js';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited: boolean;
}

/** Every child process currently alive that we started (long-lived servers and the current pgbench). */
export const procs = new Set<Proc>();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function spawnProc(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile?: string; capture?: boolean } = {},
): Proc & { stdout: () => string; stderr: () => string } {
  let fd: number | undefined;
  if (opts.logFile) fd = openSync(opts.logFile, 'a');
  // detached: own process group, so a terminal Ctrl-C reaches only us and we stop things in order
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', opts.capture ? 'pipe' : fd ?? 'ignore', opts.capture ? 'pipe' : fd ?? 'ignore'],
  });
  if (fd !== undefined) closeSync(fd);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  // a spawn failure is reported through 'error'
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    hasExited: false,
    exited: new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (proc.hasExited) return;
        proc.hasExited = true;
        procs.delete(proc);
        resolve({ code, signal });
      };
      child.on('error', (e) => {
        err += `spawn error: ${e.message}\n`;
        done(-1, null);
      });
      child.on('close', (code, signal) => done(code, signal));
    }),
  };
  procs.add(proc);
  return Object.assign(proc, { stdout: () => out, stderr: () => err });
}

export function signalGroup(p: Proc, sig: NodeJS.Signals): void {
  if (p.hasExited || p.pid <= 0) return;
  try {
    process.kill(-p.pid, sig); // the whole process group (detached children lead their own)
  } catch {
    try {
      process.kill(p.pid, sig);
    } catch {
      /* gone */
    }
  }
}

export async function stopProc(p: Proc, sig: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (p.hasExited) return;
  log(`stopping ${p.name} (pid ${p.pid}, ${sig})`);
  signalGroup(p, sig);
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([p.exited, timer])) === 'timeout') {
    log(`${p.name} (pid ${p.pid}) did not exit in ${graceMs} ms; SIGKILL`);
    signalGroup(p, 'SIGKILL');
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

/**
 * Stops what is still running at the end of a run, in order: the clients (pgbench, psql) at once, then `servers` one
 * by one (SIGTERM, each with its grace), then whatever else is left.
 */
export async function stopAll(servers: readonly { proc?: Proc; graceMs?: number }[]): Promise<void> {
  for (const p of [...procs]) if (p.name.startsWith('pgbench') || p.name === 'psql') await stopProc(p, 'SIGKILL', 5000);
  for (const s of servers) if (s.proc) await stopProc(s.proc, 'SIGTERM', s.graceMs ?? 10_000);
  for (const p of [...procs]) await stopProc(p, 'SIGTERM', 10_000);
}

/** Run a command to completion, capturing output (tracked, so SIGINT kills it). */
export async function run(
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }> {
  const p = spawnProc(name, cmd, args, { env, capture: true });
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    signalGroup(p, 'SIGKILL');
  }, timeoutMs);
  const { code, signal } = await p.exited;
  clearTimeout(t);
  return { code, signal, stdout: p.stdout(), stderr: p.stderr(), timedOut };
}

export function killPid(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Second Ctrl-C: SIGKILL every process we started, SIGQUIT the postmasters (immediate shutdown), exit 130. */
export function killEverything(clusters: readonly { pid: number }[]): never {
  for (const p of procs) signalGroup(p, 'SIGKILL');
  for (const c of clusters) killPid(c.pid, 'SIGQUIT');
  process.exit(130);
}

/** Runs `script` in a detached shell that outlives this process (for watchdogs); returns its pid. */
export function spawnDetachedShell(script: string, name: string, args: string[]): number | undefined {
  try {
    const child = spawn('sh', ['-c', script, name, ...args], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    return child.pid;
  } catch {
    return undefined;
  }
}

/** A detached shell that kills our servers if this Node process dies without cleaning up (e.g. SIGKILL). */
export function spawnWatchdog(pids: number[]): number | undefined {
  const script = 'parent="$1"; shift; while kill -0 "$parent" 2>/dev/null; do sleep 1; done; for p in "$@"; do kill -TERM "$p" 2>/dev/null; done; sleep 3; for p in "$@"; do kill -KILL "$p" 2>/dev/null; done';
  return spawnDetachedShell(script, 'prescient-bench-watchdog', [String(process.pid), ...pids.map(String)]);
}

export async function waitForPort(host: string, port: number, timeoutMs: number, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.hasExited) throw new Error(`${proc.name} exited before listening on ${host}:${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${host}:${port}${proc ? ` (${proc.name})` : ''}`);
    await sleep(100);
  }
}

/** The last `lines` lines of a (log) file, '' when it cannot be read. */
export async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function osUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  if (!line) throw new Error(`OS user ${name} not found (PgBouncer refuses to run as root)`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}
