// failpoint owns the named pauses a test puts into the shard manager (PRESCIENT_FAILPOINT=name:hold | name:sleep=MS) to kill or disturb a move at one exact step.
import { logger } from '../logger.js';

/** Parsed once: name → milliseconds to sleep (Infinity: hold until the process dies). */
const points = new Map<string, number>();
for (const spec of (process.env.PRESCIENT_FAILPOINT ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
  const m = /^([\w.:-]+?):(hold|sleep=(\d+))$/.exec(spec);
  if (m) points.set(m[1]!, m[2] === 'hold' ? Infinity : Number(m[3]));
}

/** Resolves at once unless PRESCIENT_FAILPOINT names this point; then it logs, and sleeps or never resolves. */
export function failpoint(name: string): Promise<void> {
  const ms = points.get(name);
  if (ms === undefined) return Promise.resolve();
  logger.warn('failpoint reached', { failpoint: name, ms: Number.isFinite(ms) ? ms : 'hold' });
  return Number.isFinite(ms) ? new Promise((r) => setTimeout(r, ms)) : new Promise(() => {});
}
