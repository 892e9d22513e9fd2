// runPrimary owns the primary process of `workers: N`: it forks the N workers (node:cluster; they share the listen port), one after another so that only one at a time migrates the catalog and installs shard schemas, restarts one that dies, relays their CancelRequests and RELOADs, and passes signals on.
import cluster, { type Worker } from 'node:cluster';
import { logger } from '../logger.js';
import { isPeerEnvelope, PeerMessage, routePeerMessage } from './WorkerPeers.js';

/** a worker that dies is started again after this long (a crash loop costs one start a second, not a busy loop) */
const RESTART_DELAY_MS = 1000;

/**
 * Runs the primary: forks `count` workers running `prescient start <args>` (with PRESCIENT_WORKER="i/count"), and
 * resolves with the exit code once they have all stopped after SIGTERM/SIGINT (or the first failed to start).
 */
export function runPrimary(count: number, args: string[]): Promise<number> {
  // round robin: the primary accepts and hands each connection to the next worker (the kernel's choice piles them on one)
  cluster.schedulingPolicy = cluster.SCHED_RR;
  cluster.setupPrimary({ exec: process.argv[1]!, args: ['start', ...args], execArgv: process.execArgv });
  const workers: (Worker | undefined)[] = new Array<Worker | undefined>(count).fill(undefined);
  let stopping = false;
  let started = 0;
  return new Promise<number>((resolve) => {
    const finishIfDone = (): void => {
      if (stopping && workers.every((w) => w === undefined)) resolve(0);
    };
    const fork = (index: number, first: boolean): void => {
      const w = cluster.fork({ PRESCIENT_WORKER: `${index}/${count}` });
      workers[index] = w;
      w.on('message', (m: unknown) => {
        if (!isPeerEnvelope(m)) return;
        if (m.t === PeerMessage.Listening) {
          logger.info('worker listening', { worker: index, pid: w.process.pid, port: m.port, workers: count, ...(first ? {} : { restarted: true }) });
          if (!first) return;
          started++;
          // the next worker starts once this one has opened everything (catalog, shard schemas)
          if (index + 1 < count) fork(index + 1, true);
          return;
        }
        routePeerMessage(w, m, workers);
      });
      w.on('exit', (code, signal) => {
        if (workers[index] === w) workers[index] = undefined;
        if (stopping) return finishIfDone();
        if (first && started <= index) {
          // a worker that could not start (a bad shard, a port in use): so would the others
          logger.error('worker failed to start; stopping', { worker: index, code, signal });
          stopping = true;
          for (const other of workers) other?.process.kill('SIGTERM');
          if (workers.every((x) => x === undefined)) resolve(code ?? 1);
          else for (const other of workers) other?.once('exit', () => workers.every((x) => x === undefined) && resolve(code ?? 1));
          return;
        }
        logger.error('worker exited; starting it again', { worker: index, code, signal, delayMs: RESTART_DELAY_MS });
        setTimeout(() => stopping || fork(index, false), RESTART_DELAY_MS).unref();
      });
    };
    const stop = (signal: NodeJS.Signals): void => {
      logger.info('signal received', { signal, workers: count });
      stopping = true;
      for (const w of workers) w?.process.kill(signal);
      finishIfDone();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      logger.info('signal received', { signal: 'SIGHUP', workers: count });
      for (const w of workers) w?.send({ t: PeerMessage.Reload });
    });
    process.on('SIGUSR2', () => {
      for (const w of workers) w?.process.kill('SIGUSR2');
    });
    fork(0, true);
  });
}
