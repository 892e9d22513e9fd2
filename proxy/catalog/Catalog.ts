// Catalog owns the metadata-service contract: shard/placement types, the Catalog interface, CatalogError and the in-memory CatalogSnapshot.
import { ShardRing } from './ShardRing.js';

export const ShardStatus = {
  Active: 'active',
  Draining: 'draining',
  Inactive: 'inactive',
} as const;
export type ShardStatus = (typeof ShardStatus)[keyof typeof ShardStatus];

export const CatalogErrorCode = {
  UnknownShard: 'CATALOG_UNKNOWN_SHARD',
  ShardInactive: 'CATALOG_SHARD_INACTIVE',
  NoActiveShards: 'CATALOG_NO_ACTIVE_SHARDS',
  InvalidArgument: 'CATALOG_INVALID_ARGUMENT',
  NotOpen: 'CATALOG_NOT_OPEN',
  SchemaTooNew: 'CATALOG_SCHEMA_TOO_NEW',
  Config: 'CATALOG_CONFIG',
} as const;
export type CatalogErrorCode = (typeof CatalogErrorCode)[keyof typeof CatalogErrorCode];

export class CatalogError extends Error {
  constructor(
    readonly code: CatalogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CatalogError';
  }
}

export interface ShardConfigEntry {
  name: string;
  host: string;
  port: number;
  database: string;
}

export interface ShardInfo {
  readonly id: number;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly status: ShardStatus;
  /** Grows whenever this shard's row changes (address or status). */
  readonly version: number;
}

/** One explicit-placement row as the snapshot holds it; shardId null = cleared (hashing applies), version kept. */
export interface PlacementEntry {
  readonly shardId: number | null;
  readonly version: number;
}

export interface Placement {
  readonly shard: ShardInfo;
  /** true when an explicit placement row decided it, false when consistent hashing did. */
  readonly explicit: boolean;
  /** The key's placement version: 0 for a key never placed explicitly; +1 on every set/clear. */
  readonly version: number;
}

export interface PlacementHistoryRow {
  shardKey: string;
  version: number;
  /** null for a clearPlacement (back to hashing). */
  shardId: number | null;
  shardName: string | null;
  reason: string;
  at: Date;
  epoch: number;
}

/** One tenant move as the catalog keeps it: each step is written before it is taken, so a restart can resume or undo it. */
export interface MigrationRecord {
  id: number;
  key: string;
  account: string;
  domain: string;
  /** shard names */
  from: string;
  to: string;
  state: string;
  rows: number;
  bytes: number;
  pauseMs: number | null;
  elapsedMs: number | null;
  error: string | null;
  /** what resuming needs (JSON): the source tables with change capture, the capture's position */
  detail: string;
  /** the process running it (null once settled) */
  owner: string | null;
  startedAt: number;
  updatedAt: number;
}
export interface MemberRow {
  id: string;
  serving: boolean;
  /** it led at its last heartbeat */
  leading: boolean;
  heartbeatAt: number;
}

export type NewMigration = Pick<MigrationRecord, 'key' | 'account' | 'domain' | 'from' | 'to' | 'state' | 'owner'>;
export type MigrationPatch = Partial<Pick<MigrationRecord, 'state' | 'rows' | 'bytes' | 'pauseMs' | 'elapsedMs' | 'error' | 'detail' | 'owner'>>;

export interface Catalog {
  open(): Promise<void>;
  close(): Promise<void>;
  /** Upsert shards from config; shards missing from config become inactive; a listed inactive shard becomes active again. */
  syncShards(shards: ShardConfigEntry[]): Promise<void>;
  /** The in-memory copy, replaced (never mutated) on every change. */
  snapshot(): CatalogSnapshot;
  /** Returns the key's new version. The shard must exist and not be inactive. */
  setPlacement(key: string, shardName: string, reason: string): Promise<number>;
  /** Removes the explicit placement (the key goes back to hashing); a no-op for a key with none. */
  clearPlacement(key: string, reason: string): Promise<void>;
  /** Every change of the key, oldest first. */
  history(key: string): Promise<PlacementHistoryRow[]>;
  setShardStatus(name: string, status: ShardStatus): Promise<void>;
  /** Records a new tenant move; returns its id (unique across every proxy on this catalog). */
  addMigration(m: NewMigration): Promise<number>;
  updateMigration(id: number, patch: MigrationPatch): Promise<void>;
  /** The latest `limit` moves, oldest first; `unsettled`: only those not done, failed, cancelled or rolled back. */
  migrations(opts?: { limit?: number; unsettled?: boolean }): Promise<MigrationRecord[]>;
  /** ADD SHARD: inserts the shard with `status`, or sets an existing one's address and status (no effect on other shards). */
  registerShard(shard: ShardConfigEntry, status: ShardStatus): Promise<void>;
  /** A proxy (or shard-manager process) says it is alive; `serving`: it has clients, so fences need its acknowledgement. */
  heartbeat(member: string, serving: boolean, leading: boolean): Promise<void>;
  /** Members whose last heartbeat is younger than `maxAgeMs`. */
  members(maxAgeMs: number): Promise<MemberRow[]>;
  /** A member leaving cleanly (its fences need no acknowledgement from it any more). */
  leave(member: string): Promise<void>;
  /** Try to become (or stay) the one member that plans and moves; true while this member leads. */
  lead(member: string): Promise<boolean>;
  /** Every proxy holds `key`'s new requests from the epoch this makes. */
  closeFence(key: string, migration: number): Promise<void>;
  /** Releases `key` on every proxy (the placement in force when they see it is the one their held requests take). */
  openFence(key: string, migration: number): Promise<void>;
  /** This member holds the fenced key and nothing of its own uses it any more. */
  ackFence(migration: number, member: string): Promise<void>;
  /** The members that acknowledged the migration's fence. */
  fenceAcks(migration: number): Promise<string[]>;
  /** A member's summary of its window of load (JSON), for the leader's planner. */
  publishLoad(member: string, report: string): Promise<void>;
  /** The latest report of each member younger than `maxAgeMs`. */
  loadReports(maxAgeMs: number): Promise<{ member: string; at: number; report: string }[]>;
  /** Called (after the snapshot is replaced) for every new epoch seen, local or from another process. */
  onChange(cb: (epoch: number) => void): void;
  readonly epoch: number;
}

/** Raw rows a backend hands to CatalogSnapshot.build / .apply. */
export interface ShardRow {
  id: number;
  name: string;
  host: string;
  port: number;
  database: string;
  status: ShardStatus;
  version: number;
}
export interface PlacementRow {
  shard_key: string;
  shard_id: number | null;
  version: number;
}
/** A placement key held by a move on every proxy (fences table). */
export interface FenceRow {
  shard_key: string;
  migration: number;
}

/** An immutable view of the catalog at one epoch; placementOf is pure in-memory work. */
export class CatalogSnapshot {
  readonly shards: readonly ShardInfo[];
  private readonly byId: Map<number, ShardInfo>;
  private readonly byName: Map<string, ShardInfo>;
  private readonly ring: ShardRing<ShardInfo>;

  constructor(
    readonly epoch: number,
    shards: readonly ShardRow[],
    private readonly placements: ReadonlyMap<string, PlacementEntry>,
    /** placement keys fenced by a move in progress (key → migration id): every proxy holds their requests */
    readonly fences: ReadonlyMap<string, number> = new Map(),
  ) {
    this.shards = shards.map((s) => Object.freeze({ ...s }));
    this.byId = new Map(this.shards.map((s) => [s.id, s]));
    this.byName = new Map(this.shards.map((s) => [s.name, s]));
    const active = this.shards.filter((s) => s.status === ShardStatus.Active);
    this.ring = new ShardRing(
      active.map((s) => s.name),
      active,
    );
  }

  static empty(): CatalogSnapshot {
    return new CatalogSnapshot(0, [], new Map());
  }

  /** A new snapshot at `epoch` with all shards replaced and the placement rows changed since this one applied. */
  apply(epoch: number, shards: readonly ShardRow[], changed: readonly PlacementRow[], fences: readonly FenceRow[] = []): CatalogSnapshot {
    const next = changed.length === 0 ? this.placements : new Map(this.placements);
    for (const r of changed) {
      (next as Map<string, PlacementEntry>).set(r.shard_key, { shardId: r.shard_id, version: Number(r.version) });
    }
    return new CatalogSnapshot(epoch, shards, next, new Map(fences.map((f) => [f.shard_key, Number(f.migration)])));
  }

  shard(name: string): ShardInfo | undefined {
    return this.byName.get(name);
  }

  shardById(id: number): ShardInfo | undefined {
    return this.byId.get(id);
  }

  get activeShards(): number {
    return this.ring.size;
  }

  /** Explicit placements currently in force (cleared rows excluded). */
  explicitPlacements(): [string, PlacementEntry][] {
    return [...this.placements].filter(([, p]) => p.shardId !== null);
  }

  /**
   * Explicit placement first (even on a draining or inactive shard: the caller decides what to do with
   * an inactive one; the catalog never silently relocates data), else rendezvous hashing over active shards.
   * Throws CatalogError(NoActiveShards) when hashing is needed and no shard is active.
   */
  placementOf(key: string): Placement {
    const p = this.placements.get(key);
    if (p !== undefined && p.shardId !== null) {
      const shard = this.byId.get(p.shardId);
      if (shard !== undefined) return { shard, explicit: true, version: p.version };
    }
    const version = p === undefined ? 0 : p.version;
    return { shard: this.hashed(key), explicit: false, version };
  }

  /** The consistent-hashing owner of `key`, ignoring explicit placements. */
  hashed(key: string): ShardInfo {
    const shard = this.ring.lookup(key);
    if (shard === undefined) throw new CatalogError(CatalogErrorCode.NoActiveShards, 'no active shard to place key on');
    return shard;
  }
}
