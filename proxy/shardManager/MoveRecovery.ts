// MoveRecovery owns settling the moves a dead process left unfinished: the catalog's placement decides — still on the source, the move is undone (the target's copy deleted); on the target, it is finished (the source's rows deleted) — and the capture triggers go either way.
import type { Config } from '../../config/schema.js';
import type { Catalog, MigrationRecord } from '../catalog/Catalog.js';
import { logger } from '../logger.js';
import { ChangeCapture } from './ChangeCapture.js';
import { MOVER_OWNER, MoveState, type MoveDetail } from './Mover.js';
import { connectShard, ident, literal } from './shardSql.js';

export class MoveRecovery {
  constructor(
    private readonly config: () => Config,
    private readonly catalog: Catalog,
    /** whether a move's owner still runs it (its own moves, and live proxies' ones, are left alone) */
    private readonly ownerAlive: (owner: string) => boolean | Promise<boolean> = (owner) => owner === MOVER_OWNER,
  ) {}

  /** Settles every unsettled move whose owner is gone; returns how each ended. A shard out of reach leaves its move for the next sweep. */
  async sweep(): Promise<{ id: number; state: string }[]> {
    const out: { id: number; state: string }[] = [];
    for (const r of await this.catalog.migrations({ unsettled: true })) {
      if (r.owner !== null && (await this.ownerAlive(r.owner))) continue;
      try {
        out.push({ id: r.id, state: await this.settle(r) });
      } catch (e) {
        logger.warn('migration recovery: not settled yet (retried later)', { id: r.id, key: r.key, error: (e as Error).message });
      }
    }
    return out;
  }

  private async settle(r: MigrationRecord): Promise<string> {
    const cfg = this.config();
    const detail = JSON.parse(r.detail || '{}') as Partial<MoveDetail>;
    const tables = detail.tables ?? cfg.sharding.domains[r.domain]?.tables ?? [];
    const column = (t: string): string => cfg.sharding.tables[t]?.account_column ?? cfg.sharding.account_column;
    const placed = this.catalog.snapshot().placementOf(r.key).shard.name;
    const shard = (name: string) => {
      const s = cfg.shards.find((x) => x.name === name);
      if (!s) throw new Error(`shard "${name}" is not in the config`);
      return s;
    };
    const src = await connectShard(shard(r.from), 'prescient-recovery');
    try {
      let state: string;
      let note: string;
      if (placed === r.to) {
        // flipped: the target is the key's home; the source's rows go
        await src.query(`begin; ${tables.map((t) => `delete from ${ident(t)} where ${ident(column(t))} = ${literal(r.account)}`).join('; ')}; commit`);
        state = MoveState.Done;
        note = `finished by recovery after ${r.state}`;
      } else {
        // not flipped: the source is still the key's home, complete; what reached the target goes
        if (placed === r.from) {
          const dst = await connectShard(shard(r.to), 'prescient-recovery');
          try {
            await dst.query(`begin; ${tables.map((t) => `delete from ${ident(t)} where ${ident(column(t))} = ${literal(r.account)}`).join('; ')}; commit`);
          } finally {
            await dst.end().catch(() => {});
          }
        }
        state = placed === r.from ? MoveState.RolledBack : MoveState.Failed;
        note = placed === r.from ? `rolled back by recovery at ${r.state}` : `the key is on ${placed}, neither ${r.from} nor ${r.to}: left as it is`;
      }
      await ChangeCapture.remove(src, r.id);
      // a fence the dead process left closed would hold the key on every proxy
      await this.catalog.openFence(r.key, r.id);
      await this.catalog.updateMigration(r.id, { state, owner: null, error: note });
      logger.info('migration recovered', { id: r.id, key: r.key, was: r.state, now: state });
      return state;
    } finally {
      await src.end().catch(() => {});
    }
  }
}
