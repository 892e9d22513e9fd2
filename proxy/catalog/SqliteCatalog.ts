// SqliteCatalog owns the default catalog backend: one SQLite file (better-sqlite3, WAL), schema migrations, epoch polling.
import Database from 'better-sqlite3';
import {
  CatalogError,
  CatalogErrorCode,
  ShardStatus,
  type Catalog,
  type FenceRow,
  type MemberRow,
  type MigrationPatch,
  type MigrationRecord,
  type NewMigration,
  type PlacementHistoryRow,
  type PlacementRow,
  type ShardConfigEntry,
  type ShardRow,
} from './Catalog.js';
import { CatalogBase, SETTLED_MIGRATION_STATES, checkKey, checkShardConfig, checkStatus, migrationOfRow, migrationPatchColumns } from './CatalogBase.js';

/** Schema steps; step i brings the schema to version i + 1. Append only. */
const MIGRATIONS: string[] = [
  `
  create table catalog_epoch (id integer primary key check (id = 1), epoch integer not null);
  insert into catalog_epoch (id, epoch) values (1, 0);
  create table shards (
    id integer primary key autoincrement,
    name text not null unique,
    host text not null,
    port integer not null,
    database text not null,
    status text not null check (status in ('active', 'draining', 'inactive')),
    version integer not null default 1,
    epoch integer not null,
    updated_at integer not null
  );
  create table placements (
    shard_key text primary key,
    shard_id integer references shards(id),
    version integer not null,
    epoch integer not null,
    updated_at integer not null
  );
  create index placements_epoch on placements(epoch);
  create table placement_history (
    id integer primary key autoincrement,
    shard_key text not null,
    version integer not null,
    shard_id integer references shards(id),
    reason text not null,
    at integer not null,
    epoch integer not null,
    unique (shard_key, version)
  );
  create trigger placement_history_no_update before update on placement_history
    begin select raise(abort, 'placement_history is append-only'); end;
  create trigger placement_history_no_delete before delete on placement_history
    begin select raise(abort, 'placement_history is append-only'); end;
  create table migrations (
    id integer primary key autoincrement,
    shard_key text not null,
    from_shard integer not null references shards(id),
    to_shard integer not null references shards(id),
    state text not null,
    rows integer not null default 0,
    checksum text,
    pause_ms integer not null default 0,
    error text,
    started_at integer not null,
    updated_at integer not null
  );
  create index migrations_key on migrations(shard_key);
  `,
  // tenant moves recorded step by step (the table of step 1 was never written)
  `
  drop table migrations;
  create table migrations (
    id integer primary key autoincrement,
    shard_key text not null,
    account text not null,
    domain text not null,
    from_shard text not null,
    to_shard text not null,
    state text not null,
    rows bigint not null default 0,
    bytes bigint not null default 0,
    pause_ms bigint,
    elapsed_ms bigint,
    error text,
    detail text not null default '{}',
    owner text,
    started_at bigint not null,
    updated_at bigint not null
  );
  create index migrations_key on migrations(shard_key);
  create index migrations_state on migrations(state);
  `,
  // members, the leader's lease, fences with their acknowledgements, and published load (several proxies on one catalog)
  `
  create table members (id text primary key, serving integer not null, is_leader integer not null default 0, heartbeat_at integer not null);
  create table leader (id integer primary key check (id = 1), holder text, expires_at integer not null);
  insert into leader (id, holder, expires_at) values (1, null, 0);
  create table fences (shard_key text primary key, migration integer not null, closed_at integer not null);
  create table fence_acks (migration integer not null, member text not null, at integer not null, primary key (migration, member));
  create table load_reports (member text primary key, at integer not null, report text not null);
  `,
];
/** how long a SQLite leader's lease lasts without renewal */
const LEASE_MS = 5000;
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

export interface SqliteCatalogOptions {
  path: string;
  /** How often to look for changes made by other processes (default 250 ms; 0 disables). */
  pollMs?: number;
  /** busy_timeout for cross-process write contention (default 5000 ms). */
  busyTimeoutMs?: number;
}

type Stmt = Database.Statement;

export class SqliteCatalog extends CatalogBase implements Catalog {
  private db: Database.Database | null = null;
  private timer: NodeJS.Timeout | null = null;
  private st!: {
    epoch: Stmt;
    bump: Stmt;
    shards: Stmt;
    placementsSince: Stmt;
    shardByName: Stmt;
    insertShard: Stmt;
    updateShard: Stmt;
    setStatus: Stmt;
    placement: Stmt;
    upsertPlacement: Stmt;
    appendHistory: Stmt;
    history: Stmt;
  };

  constructor(private readonly opts: SqliteCatalogOptions) {
    super();
  }

  async open(): Promise<void> {
    if (this.opened) return;
    const db = new Database(this.opts.path);
    this.db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${this.opts.busyTimeoutMs ?? 5000}`);
    this.migrate(db);
    this.st = {
      epoch: db.prepare('select epoch from catalog_epoch where id = 1').pluck(),
      bump: db.prepare('update catalog_epoch set epoch = epoch + 1 where id = 1 returning epoch').pluck(),
      shards: db.prepare('select id, name, host, port, database, status, version from shards order by id'),
      placementsSince: db.prepare('select shard_key, shard_id, version from placements where epoch > ?'),
      shardByName: db.prepare('select id, name, host, port, database, status, version from shards where name = ?'),
      insertShard: db.prepare(
        `insert into shards (name, host, port, database, status, version, epoch, updated_at)
         values (@name, @host, @port, @database, 'active', 1, @epoch, @now)`,
      ),
      updateShard: db.prepare(
        `update shards set host = @host, port = @port, database = @database, status = @status,
           version = version + 1, epoch = @epoch, updated_at = @now where id = @id`,
      ),
      setStatus: db.prepare('update shards set status = ?, version = version + 1, epoch = ?, updated_at = ? where id = ?'),
      placement: db.prepare('select shard_id, version from placements where shard_key = ?'),
      upsertPlacement: db.prepare(
        `insert into placements (shard_key, shard_id, version, epoch, updated_at) values (@key, @shardId, 1, @epoch, @now)
         on conflict (shard_key) do update set shard_id = excluded.shard_id, version = placements.version + 1,
           epoch = excluded.epoch, updated_at = excluded.updated_at
         returning version`,
      ).pluck(),
      appendHistory: db.prepare(
        `insert into placement_history (shard_key, version, shard_id, reason, at, epoch)
         values (@key, @version, @shardId, @reason, @now, @epoch)`,
      ),
      history: db.prepare(
        `select h.shard_key, h.version, h.shard_id, s.name as shard_name, h.reason, h.at, h.epoch
         from placement_history h left join shards s on s.id = h.shard_id
         where h.shard_key = ? order by h.version`,
      ),
    };
    this.opened = true;
    this.refresh();
    const pollMs = this.opts.pollMs ?? 50;
    if (pollMs > 0) {
      this.timer = setInterval(() => {
        try {
          this.refresh();
        } catch {
          // transient (e.g. SQLITE_BUSY): the next poll retries
        }
      }, pollMs);
      this.timer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.opened = false;
    this.db?.close();
    this.db = null;
  }

  private migrate(db: Database.Database): void {
    db.transaction(() => {
      db.exec('create table if not exists schema_version (version integer not null)');
      let v = db.prepare('select version from schema_version').pluck().get() as number | undefined;
      if (v === undefined) {
        db.prepare('insert into schema_version (version) values (0)').run();
        v = 0;
      }
      if (v > MIGRATIONS.length) {
        throw new CatalogError(
          CatalogErrorCode.SchemaTooNew,
          `catalog schema version ${v} is newer than this proxy supports (${MIGRATIONS.length})`,
        );
      }
      for (let i = v; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]);
      db.prepare('update schema_version set version = ?').run(MIGRATIONS.length);
    }).immediate();
  }

  /** Load what changed since the snapshot's epoch, in one read transaction. Returns the current epoch. */
  refresh(): number {
    this.requireOpen();
    const db = this.db!;
    const read = db.transaction(() => {
      const epoch = this.st.epoch.get() as number;
      if (epoch <= this.snap.epoch) return null;
      const shards = this.st.shards.all() as ShardRow[];
      const changed = this.st.placementsSince.all(this.snap.epoch) as PlacementRow[];
      const fences = this.db!.prepare('select shard_key, migration from fences').all() as FenceRow[];
      return { epoch, shards, changed, fences };
    });
    const r = read.deferred();
    if (r) this.install(r.epoch, r.shards, r.changed, r.fences);
    return this.snap.epoch;
  }

  /** Run `fn` in one IMMEDIATE transaction; `bump()` hands out the (single) new epoch of this change. */
  private change<T>(fn: (bump: () => number) => T): T {
    this.requireOpen();
    let epoch = 0;
    const bump = (): number => (epoch === 0 ? (epoch = this.st.bump.get() as number) : epoch);
    const out = this.db!.transaction(() => fn(bump)).immediate();
    this.refresh();
    return out;
  }

  async syncShards(shards: ShardConfigEntry[]): Promise<void> {
    checkShardConfig(shards);
    this.change((bump) => {
      const now = Date.now();
      const existing = new Map((this.st.shards.all() as ShardRow[]).map((s) => [s.name, s]));
      for (const s of shards) {
        const row = existing.get(s.name);
        if (row === undefined) {
          this.st.insertShard.run({ name: s.name, host: s.host, port: s.port, database: s.database, epoch: bump(), now });
          continue;
        }
        existing.delete(s.name);
        const status = row.status === ShardStatus.Inactive ? ShardStatus.Active : row.status;
        if (row.host !== s.host || row.port !== s.port || row.database !== s.database || row.status !== status) {
          this.st.updateShard.run({ id: row.id, host: s.host, port: s.port, database: s.database, status, epoch: bump(), now });
        }
      }
      for (const row of existing.values()) {
        if (row.status !== ShardStatus.Inactive) this.st.setStatus.run(ShardStatus.Inactive, bump(), now, row.id);
      }
    });
  }

  async setShardStatus(name: string, status: ShardStatus): Promise<void> {
    checkStatus(status);
    this.change((bump) => {
      const row = this.st.shardByName.get(name) as ShardRow | undefined;
      if (!row) throw new CatalogError(CatalogErrorCode.UnknownShard, `unknown shard ${name}`);
      if (row.status !== status) this.st.setStatus.run(status, bump(), Date.now(), row.id);
    });
  }

  async registerShard(shard: ShardConfigEntry, status: ShardStatus): Promise<void> {
    checkShardConfig([shard]);
    checkStatus(status);
    this.change((bump) => {
      const row = this.st.shardByName.get(shard.name) as ShardRow | undefined;
      const now = Date.now();
      if (row === undefined) {
        this.db!.prepare(
          `insert into shards (name, host, port, database, status, version, epoch, updated_at)
           values (@name, @host, @port, @database, @status, 1, @epoch, @now)`,
        ).run({ name: shard.name, host: shard.host, port: shard.port, database: shard.database, status, epoch: bump(), now });
      } else if (row.host !== shard.host || row.port !== shard.port || row.database !== shard.database || row.status !== status) {
        this.st.updateShard.run({ id: row.id, host: shard.host, port: shard.port, database: shard.database, status, epoch: bump(), now });
      }
    });
  }

  async setPlacement(key: string, shardName: string, reason: string): Promise<number> {
    checkKey(key);
    return this.change((bump) => {
      const row = this.st.shardByName.get(shardName) as ShardRow | undefined;
      if (!row) throw new CatalogError(CatalogErrorCode.UnknownShard, `unknown shard ${shardName}`);
      if (row.status === ShardStatus.Inactive) {
        throw new CatalogError(CatalogErrorCode.ShardInactive, `shard ${shardName} is inactive`);
      }
      const epoch = bump();
      const now = Date.now();
      const version = this.st.upsertPlacement.get({ key, shardId: row.id, epoch, now }) as number;
      this.st.appendHistory.run({ key, version, shardId: row.id, reason: String(reason ?? ''), now, epoch });
      return version;
    });
  }

  async clearPlacement(key: string, reason: string): Promise<void> {
    checkKey(key);
    this.change((bump) => {
      const cur = this.st.placement.get(key) as { shard_id: number | null; version: number } | undefined;
      if (!cur || cur.shard_id === null) return;
      const epoch = bump();
      const now = Date.now();
      const version = this.st.upsertPlacement.get({ key, shardId: null, epoch, now }) as number;
      this.st.appendHistory.run({ key, version, shardId: null, reason: String(reason ?? ''), now, epoch });
    });
  }

  async history(key: string): Promise<PlacementHistoryRow[]> {
    this.requireOpen();
    const rows = this.st.history.all(key) as {
      shard_key: string;
      version: number;
      shard_id: number | null;
      shard_name: string | null;
      reason: string;
      at: number;
      epoch: number;
    }[];
    return rows.map((r) => ({
      shardKey: r.shard_key,
      version: r.version,
      shardId: r.shard_id,
      shardName: r.shard_name,
      reason: r.reason,
      at: new Date(r.at),
      epoch: r.epoch,
    }));
  }

  async addMigration(m: NewMigration): Promise<number> {
    this.requireOpen();
    const now = Date.now();
    const r = this.db!
      .prepare(
        `insert into migrations (shard_key, account, domain, from_shard, to_shard, state, owner, started_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?) returning id`,
      )
      .pluck()
      .get(m.key, m.account, m.domain, m.from, m.to, m.state, m.owner, now, now) as number;
    return Number(r);
  }

  async updateMigration(id: number, patch: MigrationPatch): Promise<void> {
    this.requireOpen();
    const cols = migrationPatchColumns(patch);
    this.db!
      .prepare(`update migrations set ${cols.map(([c]) => `${c} = ?`).join(', ')}${cols.length ? ', ' : ''}updated_at = ? where id = ?`)
      .run(...cols.map(([, v]) => v), Date.now(), id);
  }

  async migrations(opts: { limit?: number; unsettled?: boolean } = {}): Promise<MigrationRecord[]> {
    this.requireOpen();
    const where = opts.unsettled ? `where state not in (${SETTLED_MIGRATION_STATES.map(() => '?').join(', ')})` : '';
    const rows = this.db!
      .prepare(`select * from (select * from migrations ${where} order by id desc limit ?) order by id`)
      .all(...(opts.unsettled ? SETTLED_MIGRATION_STATES : []), opts.limit ?? 1000) as Record<string, unknown>[];
    return rows.map(migrationOfRow);
  }

  async heartbeat(member: string, serving: boolean, leading: boolean): Promise<void> {
    this.requireOpen();
    this.db!.prepare('insert into members (id, serving, is_leader, heartbeat_at) values (?, ?, ?, ?) on conflict (id) do update set serving = excluded.serving, is_leader = excluded.is_leader, heartbeat_at = excluded.heartbeat_at').run(member, serving ? 1 : 0, leading ? 1 : 0, Date.now());
  }

  async members(maxAgeMs: number): Promise<MemberRow[]> {
    this.requireOpen();
    const rows = this.db!.prepare('select id, serving, is_leader, heartbeat_at from members where heartbeat_at >= ? order by id').all(Date.now() - maxAgeMs) as { id: string; serving: number; is_leader: number; heartbeat_at: number }[];
    return rows.map((r) => ({ id: r.id, serving: r.serving === 1, leading: r.is_leader === 1, heartbeatAt: r.heartbeat_at }));
  }

  async leave(member: string): Promise<void> {
    this.requireOpen();
    this.db!.prepare('delete from members where id = ?').run(member);
    this.db!.prepare('update leader set holder = null, expires_at = 0 where holder = ?').run(member);
  }

  /** A lease in the catalog file (SQLite has no session locks across processes): renewed by its holder, taken when it expires. */
  async lead(member: string): Promise<boolean> {
    this.requireOpen();
    const now = Date.now();
    const r = this.db!.prepare('update leader set holder = ?, expires_at = ? where id = 1 and (holder = ? or holder is null or expires_at < ?)').run(member, now + LEASE_MS, member, now);
    return r.changes === 1;
  }

  async closeFence(key: string, migration: number): Promise<void> {
    this.change((bump) => {
      this.db!.prepare('insert into fences (shard_key, migration, closed_at) values (?, ?, ?) on conflict (shard_key) do update set migration = excluded.migration, closed_at = excluded.closed_at').run(key, migration, Date.now());
      bump();
    });
  }

  async openFence(key: string, migration: number): Promise<void> {
    this.change((bump) => {
      const r = this.db!.prepare('delete from fences where shard_key = ? and migration = ?').run(key, migration);
      this.db!.prepare('delete from fence_acks where migration = ?').run(migration);
      if (r.changes > 0) bump();
    });
  }

  async ackFence(migration: number, member: string): Promise<void> {
    this.requireOpen();
    this.db!.prepare('insert into fence_acks (migration, member, at) values (?, ?, ?) on conflict do nothing').run(migration, member, Date.now());
  }

  async fenceAcks(migration: number): Promise<string[]> {
    this.requireOpen();
    return this.db!.prepare('select member from fence_acks where migration = ?').pluck().all(migration) as string[];
  }

  async publishLoad(member: string, report: string): Promise<void> {
    this.requireOpen();
    this.db!.prepare('insert into load_reports (member, at, report) values (?, ?, ?) on conflict (member) do update set at = excluded.at, report = excluded.report').run(member, Date.now(), report);
  }

  async loadReports(maxAgeMs: number): Promise<{ member: string; at: number; report: string }[]> {
    this.requireOpen();
    return this.db!.prepare('select member, at, report from load_reports where at >= ? order by member').all(Date.now() - maxAgeMs) as { member: string; at: number; report: string }[];
  }
}
