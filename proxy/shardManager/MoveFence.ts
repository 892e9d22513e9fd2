// MoveFence owns the fence as a move sees it: the key fenced in the catalog, so that every proxy on it holds the key's new requests; the move goes on once every live serving proxy has acknowledged that nothing of its own uses the key, or is aborted when one has not in time.
import type { Catalog } from '../catalog/Catalog.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { MEMBER_TTL_MS } from './Membership.js';

export class MoveFence {
  constructor(
    private readonly catalog: Catalog,
    /** whether a member still runs (a member killed a moment ago still has a fresh heartbeat) */
    private readonly alive: (member: string) => Promise<boolean>,
  ) {}

  /** Holds `key` everywhere; resolves when every live serving member acknowledged (or `cancelled` resolved); throws MOVE_FENCE_TIMEOUT after `timeoutMs` (the fence is still closed: open it). */
  async close(key: string, migration: number, timeoutMs: number, cancelled: Promise<void>): Promise<void> {
    await this.catalog.closeFence(key, migration);
    const deadline = performance.now() + timeoutMs;
    let stop = false;
    void cancelled.then(() => (stop = true));
    for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
      const [members, acks] = await Promise.all([this.catalog.members(MEMBER_TTL_MS), this.catalog.fenceAcks(migration)]);
      const acked = new Set(acks);
      const missing: string[] = [];
      for (const m of members) if (m.serving && !acked.has(m.id) && (await this.alive(m.id))) missing.push(m.id);
      if (missing.length === 0 || stop) return;
      if (performance.now() >= deadline) {
        throw new ProxyError('MOVE_FENCE_TIMEOUT', `${missing.length} proxy(ies) still used ${key} after fence_timeout_ms (${timeoutMs} ms) (${missing.join(', ')}): the move is aborted`, SqlState.LockNotAvailable);
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Releases the key everywhere; held requests go on with the placement the catalog has now. */
  async open(key: string, migration: number): Promise<void> {
    await this.catalog.openFence(key, migration);
  }
}
