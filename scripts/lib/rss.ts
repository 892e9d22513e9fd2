// rss owns sampling a process's resident set (/proc/<pid>/status VmRSS) while a benchmark phase runs: the maximum seen.

import { readFileSync } from 'node:fs';

/** The process's resident set in MB now, or null when it cannot be read (exited, not Linux). */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples `pid`'s RSS every `everyMs` until `stop()`, which returns the maximum and the last sample (MB). */
export function sampleRss(pid: number, everyMs = 100): { stop: () => { maxMb: number | null; lastMb: number | null } } {
  let max: number | null = null;
  let last: number | null = null;
  const take = (): void => {
    last = rssMb(pid);
    if (last !== null && (max === null || last > max)) max = last;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return { maxMb: max, lastMb: last };
    },
  };
}
