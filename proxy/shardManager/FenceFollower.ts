// FenceFollower owns a proxy's side of the fences a move puts in the catalog: hold the fenced key's new requests here, acknowledge once nothing of this proxy uses it, release them (to the placement now in force) when the fence goes.
import type { Catalog } from '../catalog/Catalog.js';
import { logger } from '../logger.js';
import type { KeyFence } from '../router/KeyFence.js';

export class FenceFollower {
  /** fenced keys held here → their migration */
  private readonly held = new Map<string, number>();

  constructor(
    private readonly catalog: Catalog,
    private readonly fence: KeyFence,
    private readonly member: string,
    /** cached reads of a key whose fence opened are not trusted (it may have moved) */
    private readonly invalidate: (key: string) => void,
  ) {}

  /** Follows the catalog from now on (its current fences first). */
  start(): void {
    this.catalog.onChange(() => this.sync());
    this.sync();
  }

  /** Brings this proxy's holds in line with the catalog's fences. */
  sync(): void {
    const fences = this.catalog.snapshot().fences;
    for (const [key, migration] of this.held) {
      if (fences.get(key) === migration) continue;
      this.held.delete(key);
      this.invalidate(key);
      const released = this.fence.open(key);
      logger.debug('fence released', { key, migration, released });
    }
    for (const [key, migration] of fences) {
      if (this.held.has(key)) continue;
      this.held.set(key, migration);
      this.fence.close(key);
      void this.fence.drained(key).then(async () => {
        if (this.held.get(key) !== migration) return;
        await this.catalog.ackFence(migration, this.member).catch((e: unknown) => logger.warn('fence: acknowledgement not written', { key, migration, error: (e as Error).message }));
      });
    }
  }

  /** Releases every hold (shutdown). */
  stop(): void {
    for (const key of this.held.keys()) this.fence.open(key);
    this.held.clear();
  }
}
