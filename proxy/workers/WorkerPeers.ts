// WorkerPeers owns what one worker asks of the others (through the primary, node:cluster IPC): a CancelRequest for a client another worker serves, and a RELOAD for all.
import type { Worker } from 'node:cluster';

/** Messages between a worker and the primary. */
export const PeerMessage = { Cancel: 'prescient:cancel', Reload: 'prescient:reload', Listening: 'prescient:listening' } as const;
export type PeerMessage = (typeof PeerMessage)[keyof typeof PeerMessage];

export type PeerEnvelope =
  | { t: typeof PeerMessage.Cancel; pid: number; secret: number }
  | { t: typeof PeerMessage.Reload }
  | { t: typeof PeerMessage.Listening; port: number };

export function isPeerEnvelope(m: unknown): m is PeerEnvelope {
  const t = (m as { t?: unknown } | null)?.t;
  return t === PeerMessage.Cancel || t === PeerMessage.Reload || t === PeerMessage.Listening;
}

/** What a worker knows of its place among the workers, and how it reaches the others. */
export interface WorkerPeers {
  readonly index: number;
  readonly count: number;
  /** the client with this pid is another worker's: its CancelRequest goes there */
  sendCancel(pid: number, secret: number): void;
  /** a RELOAD ran here: the other workers read the config too */
  reloadOthers(): void;
}

/** The worker a client's pid belongs to: pids are allocated so that pid % count is the worker's index. */
export function workerOfPid(pid: number, count: number): number {
  return pid % count;
}

/** The peers of this process, a cluster worker started by runPrimary (PRESCIENT_WORKER = "index/count"); null otherwise. */
export function workerPeersFromEnv(env: NodeJS.ProcessEnv = process.env, send: ((m: PeerEnvelope) => void) | null = process.send ? process.send.bind(process) : null): WorkerPeers | null {
  const m = /^(\d+)\/(\d+)$/.exec(env.PRESCIENT_WORKER ?? '');
  if (!m || !send) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!(count > 1 && index < count)) return null;
  return {
    index,
    count,
    sendCancel: (pid, secret) => send({ t: PeerMessage.Cancel, pid, secret }),
    reloadOthers: () => send({ t: PeerMessage.Reload }),
  };
}

/** The primary's side: a worker's message to the workers it concerns. */
export function routePeerMessage(from: Worker, m: PeerEnvelope, workers: readonly (Worker | undefined)[]): void {
  switch (m.t) {
    case PeerMessage.Cancel:
      workers[workerOfPid(m.pid, workers.length)]?.send(m);
      return;
    case PeerMessage.Reload:
      for (const w of workers) if (w && w !== from) w.send(m);
      return;
    case PeerMessage.Listening:
      return;
  }
}
