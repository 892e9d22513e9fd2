// log owns the progress lines of the benchmarks and test tools: `[name HH:MM:SS] message` on stderr.

export type Log = (msg: string) => void;

/** A progress logger with its own name in the prefix (bench-cache, staleness, ...). */
export function makeLog(name: string): Log {
  return (msg: string): void => {
    process.stderr.write(`[${name} ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  };
}

/** The shared logger (`[bench …]`), used by the library itself and by the benchmarks without a name of their own. */
export const log: Log = makeLog('bench');
