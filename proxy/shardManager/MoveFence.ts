// MoveFence owns the fence as a move sees it: hold the key's new requests, wait for the requests and transactions using it to end (or time out and abort the move), release them to the placement in force.
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import type { KeyFence } from '../router/KeyFence.js';

export interface MoveFence {
  /** Holds new requests for `key`; resolves once no request or transaction uses it, throws MOVE_FENCE_TIMEOUT after `timeoutMs` (still closed: open it). Resolves early when `cancelled` does. */
  close(key: string, migration: number, timeoutMs: number, cancelled: Promise<void>): Promise<void>;
  /** Releases the held requests; they go on with the placement the catalog has now. */
  open(key: string, migration: number): Promise<void>;
}

/** The fence of this process alone (one proxy, one worker). */
export class LocalMoveFence implements MoveFence {
  constructor(private readonly fence: KeyFence) {}

  async close(key: string, _migration: number, timeoutMs: number, cancelled: Promise<void>): Promise<void> {
    this.fence.close(key);
    await drainedWithin(this.fence, key, timeoutMs, cancelled);
  }

  async open(key: string): Promise<void> {
    this.fence.open(key);
  }
}

/** Resolves when `key` has no users on `fence`, or `cancelled` resolves; throws MOVE_FENCE_TIMEOUT after `timeoutMs`. */
export async function drainedWithin(fence: KeyFence, key: string, timeoutMs: number, cancelled: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    fence.drained(key).then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
    cancelled.then(() => false),
  ]);
  clearTimeout(timer);
  if (timedOut) throw new ProxyError('MOVE_FENCE_TIMEOUT', `${fence.users(key)} session(s) still used ${key} after fence_timeout_ms (${timeoutMs} ms): the move is aborted`, SqlState.LockNotAvailable);
}
