// CatalogBase owns what every catalog backend shares: the current snapshot, change listeners and argument checks.
import {
  CatalogError,
  CatalogErrorCode,
  CatalogSnapshot,
  ShardStatus,
  type FenceRow,
  type MigrationPatch,
  type MigrationRecord,
  type PlacementRow,
  type ShardConfigEntry,
  type ShardRow,
} from './Catalog.js';

export abstract class CatalogBase {
  protected snap: CatalogSnapshot = CatalogSnapshot.empty();
  private readonly listeners: ((epoch: number) => void)[] = [];
  protected opened = false;

  get epoch(): number {
    return this.snap.epoch;
  }

  snapshot(): CatalogSnapshot {
    return this.snap;
  }

  onChange(cb: (epoch: number) => void): void {
    this.listeners.push(cb);
  }

  /** Replace the snapshot if `epoch` is newer, then tell the listeners. */
  protected install(epoch: number, shards: ShardRow[], changed: PlacementRow[], fences: FenceRow[] = []): void {
    if (epoch <= this.snap.epoch) return;
    this.snap = this.snap.apply(epoch, shards, changed, fences);
    for (const cb of this.listeners) {
      try {
        cb(epoch);
      } catch {
        // a listener's failure must not break the catalog
      }
    }
  }

  protected requireOpen(): void {
    if (!this.opened) throw new CatalogError(CatalogErrorCode.NotOpen, 'catalog is not open');
  }
}

/** States a move can end in (Mover's MoveState); the rest are steps a restart resumes or undoes. */
export const SETTLED_MIGRATION_STATES = ['done', 'failed', 'cancelled', 'rolled_back'] as const;

/** The patch's columns as snake_case names with their values, in a fixed order (both backends build their UPDATE from it). */
export function migrationPatchColumns(patch: MigrationPatch): [string, string | number | null][] {
  const names: Record<keyof MigrationPatch, string> = {
    state: 'state', rows: 'rows', bytes: 'bytes', pauseMs: 'pause_ms', elapsedMs: 'elapsed_ms', error: 'error', detail: 'detail', owner: 'owner',
  };
  return (Object.keys(names) as (keyof MigrationPatch)[]).filter((k) => patch[k] !== undefined).map((k) => [names[k], patch[k] as string | number | null]);
}

/** A row of either backend's migrations table as the Catalog hands it out. */
export function migrationOfRow(r: Record<string, unknown>): MigrationRecord {
  const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return {
    id: Number(r.id), key: String(r.shard_key), account: String(r.account), domain: String(r.domain), from: String(r.from_shard), to: String(r.to_shard),
    state: String(r.state), rows: Number(r.rows), bytes: Number(r.bytes), pauseMs: n(r.pause_ms), elapsedMs: n(r.elapsed_ms),
    error: (r.error as string | null) ?? null, detail: String(r.detail ?? '{}'), owner: (r.owner as string | null) ?? null,
    startedAt: Number(r.started_at), updatedAt: Number(r.updated_at),
  };
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CatalogError(CatalogErrorCode.InvalidArgument, 'placement key must be a non-empty string');
  }
}

export function checkStatus(status: string): asserts status is ShardStatus {
  if (!Object.values(ShardStatus).includes(status as ShardStatus)) {
    throw new CatalogError(CatalogErrorCode.InvalidArgument, `invalid shard status ${JSON.stringify(status)}`);
  }
}

export function checkShardConfig(shards: ShardConfigEntry[]): void {
  const seen = new Set<string>();
  for (const s of shards) {
    if (!s || typeof s.name !== 'string' || s.name === '') {
      throw new CatalogError(CatalogErrorCode.InvalidArgument, 'shard name must be a non-empty string');
    }
    if (seen.has(s.name)) throw new CatalogError(CatalogErrorCode.InvalidArgument, `duplicate shard name ${s.name}`);
    seen.add(s.name);
    if (!Number.isInteger(s.port) || s.port <= 0 || s.port > 65535) {
      throw new CatalogError(CatalogErrorCode.InvalidArgument, `shard ${s.name}: invalid port ${s.port}`);
    }
  }
}
