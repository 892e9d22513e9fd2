// main owns a tool's life cycle around its work: running main() when the file is the one node started, Ctrl-C and SIGTERM while it runs, and the common end (watchdog, Postgres, temp dir).

import { rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { stopClusters, type Cluster } from '../testbed.js';
import type { Log } from './log.js';
import { killPid } from './proc.js';

/** Runs `main` and exits with its code when `moduleUrl` (import.meta.url) is the script node was started with; logs a throw as fatal (exit 1). */
export function runMain(moduleUrl: string, main: () => Promise<number>, log: Log): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      log(`fatal: ${(e as Error).stack ?? String(e)}`);
      process.exit(1);
    },
  );
}

/**
 * SIGINT and SIGTERM while a tool runs: the first calls `first` (stop the current run) and marks the run interrupted;
 * another calls `again` when given (kill everything), else `first` again.
 */
export class Interrupt {
  interrupted = false;
  private readonly handler = (): void => {
    if (this.interrupted && this.again) this.again();
    else {
      this.interrupted = true;
      this.first();
    }
  };

  constructor(
    private readonly first: () => void,
    private readonly again?: () => void,
  ) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  /** The exit code for a run that threw `e` (logged): 130 when interrupted, else 1. */
  failed(e: unknown, log: Log): number {
    log(`error: ${(e as Error).message}`);
    return this.interrupted ? 130 : 1;
  }

  /** Throws once interrupted: called between steps. */
  check(): void {
    if (this.interrupted) throw new Error('interrupted');
  }

  off(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}

/** The end of a run, after the tool stopped its own processes: the watchdog killed, Postgres stopped, the temp dir kept (logged) or removed, signal handlers off. */
export async function finish(o: {
  log: Log;
  interrupt: Interrupt;
  clusters: Cluster[];
  watchdog?: number;
  tmp?: string;
  keepTmp?: boolean;
  /** what the kept temp dir holds, for the log line */
  kept?: string;
}): Promise<void> {
  killPid(o.watchdog, 'SIGKILL');
  if (o.clusters.length > 0) {
    o.log('stopping Postgres');
    await stopClusters(o.clusters).catch((e: unknown) => o.log(`stopClusters: ${(e as Error).message}`));
  }
  if (o.tmp) {
    if (o.keepTmp) o.log(`kept ${o.tmp} (${o.kept ?? 'configs and logs'})`);
    else await rm(o.tmp, { recursive: true, force: true });
  }
  o.interrupt.off();
}
