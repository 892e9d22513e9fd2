// strace owns counting a process's system calls during a benchmark run (`strace -c -f -p PID`): the calls per syscall, to divide by the run's transactions.

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { sleep } from './proc.js';

/** Calls per syscall name over the attach window, errors included (strace's "calls" column). */
export type SyscallCounts = Map<string, { calls: number; errors: number }>;

/** Attaches `strace -c -f` to `pid` (all its threads); `stop()` detaches and returns the counts. */
export async function traceSyscalls(pid: number, outFile: string): Promise<{ stop: () => Promise<SyscallCounts> }> {
  const child = spawn('strace', ['-c', '-f', '-q', '-o', outFile, '-p', String(pid)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // strace attaches to every thread before it counts anything; give it a moment
  await sleep(300);
  return {
    stop: async () => {
      child.kill('SIGINT');
      await exited;
      return parseStraceSummary(await readFile(outFile, 'utf8'));
    },
  };
}

/** Parses strace -c's table: `% time  seconds  usecs/call  calls  errors  syscall`, errors column optional. */
export function parseStraceSummary(text: string): SyscallCounts {
  const out: SyscallCounts = new Map();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !/^[\d.]+$/.test(f[0]!) || f[f.length - 1] === 'total') continue;
    const name = f[f.length - 1]!;
    const calls = Number(f[3]);
    const errors = f.length >= 6 ? Number(f[4]) : 0;
    if (Number.isFinite(calls)) out.set(name, { calls, errors: Number.isFinite(errors) ? errors : 0 });
  }
  return out;
}
