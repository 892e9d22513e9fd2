// PostgresCatalog owns the shared catalog backend: tables in a Postgres schema, pg_notify on change, LISTEN + epoch polling.
import pg from 'pg';
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

/** Schema steps for schema `S` (the placeholder); step i brings the schema to version i + 1. Append only. */
const MIGRATIONS: string[] = [
  `
  create table S.catalog_epoch (id int primary key check (id = 1), epoch bigint not null);
  insert into S.catalog_epoch (id, epoch) values (1, 0);
  create table S.shards (
    id serial primary key,
    name text not null unique,
    host text not null,
    port int not null,
    database text not null,
    status text not null check (status in ('active', 'draining', 'inactive')),
    version int not null default 1,
    epoch bigint not null,
    updated_at timestamptz not null default now()
  );
  create table S.placements (
    shard_key text primary key,
    shard_id int references S.shards(id),
    version int not null,
    epoch bigint not null,
    updated_at timestamptz not null default now()
  );
  create index placements_epoch on S.placements(epoch);
  create table S.placement_history (
    id bigserial primary key,
    shard_key text not null,
    version int not null,
    shard_id int references S.shards(id),
    reason text not null,
    at timestamptz not null default clock_timestamp(),
    epoch bigint not null,
    unique (shard_key, version)
  );
  create function S.append_only() returns trigger language plpgsql as $$
    begin raise exception 'placement_history is append-only'; end $$;
  create trigger placement_history_append_only before update or delete on S.placement_history
    for each row execute function S.append_only();
  create table S.migrations (
    id bigserial primary key,
    shard_key text not null,
    from_shard int not null references S.shards(id),
    to_shard int not null references S.shards(id),
    state text not null,
    rows bigint not null default 0,
    checksum text,
    pause_ms int not null default 0,
    error text,
    started_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  );
  create index migrations_key on S.migrations(shard_key);
  `,
  // tenant moves recorded step by step (the table of step 1 was never written)
  `
  drop table S.migrations;
  create table S.migrations (
    id bigserial primary key,
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
  create index migrations_key on S.migrations(shard_key);
  create index migrations_state on S.migrations(state);
  `,
  // members, fences with their acknowledgements, and published load (several proxies on one catalog; the leader holds an advisory lock)
  `
  create table S.members (id text primary key, serving boolean not null, is_leader boolean not null default false, heartbeat_at bigint not null);
  create table S.fences (shard_key text primary key, migration bigint not null, closed_at bigint not null);
  create table S.fence_acks (migration bigint not null, member text not null, at bigint not null, primary key (migration, member));
  create table S.load_reports (member text primary key, at bigint not null, report text not null);
  `,
];
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

export interface PostgresCatalogOptions {
  /** A libpq-style connection string for the catalog database. */
  url: string;
  /** Schema holding the tables, also the NOTIFY channel (default prescient_catalog). */
  schema?: string;
  /** Backstop epoch poll (default 1000 ms; 0 disables). */
  pollMs?: number;
  /** Delay before re-establishing a lost LISTEN connection (default 500 ms, doubling up to 10 s). */
  reconnectMs?: number;
}

type Bump = () => Promise<number>;

export class PostgresCatalog extends CatalogBase implements Catalog {
  private pool: pg.Pool | null = null;
  private listener: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay: number;
  private closing = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly s: string;
  private readonly channel: string;
  /** the connection holding the leader's advisory lock, while this process leads */
  private leaderClient: pg.Client | null = null;

  constructor(private readonly opts: PostgresCatalogOptions) {
    super();
    const schema = opts.schema ?? 'prescient_catalog';
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new CatalogError(CatalogErrorCode.InvalidArgument, `invalid catalog schema name ${schema}`);
    }
    this.s = schema;
    this.channel = schema;
    this.reconnectDelay = opts.reconnectMs ?? 500;
  }

  /** True while the LISTEN connection is up (for health checks and tests). */
  get listening(): boolean {
    return this.listener !== null;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.closing = false;
    const pool = new pg.Pool({ connectionString: this.opts.url, max: 3, idleTimeoutMillis: 30000 });
    pool.on('error', () => {});
    this.pool = pool;
    try {
      await this.migrate();
      this.opened = true;
      await this.refresh();
      await this.listen();
    } catch (err) {
      this.opened = false;
      await pool.end().catch(() => {});
      this.pool = null;
      throw err;
    }
    const pollMs = this.opts.pollMs ?? 1000;
    if (pollMs > 0) {
      this.timer = setInterval(() => void this.refresh().catch(() => {}), pollMs);
      this.timer.unref();
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.timer = this.reconnectTimer = null;
    this.opened = false;
    await this.leaderClient?.end().catch(() => {});
    this.leaderClient = null;
    const l = this.listener;
    this.listener = null;
    await this.chain.catch(() => {});
    await l?.end().catch(() => {});
    await this.pool?.end().catch(() => {});
    this.pool = null;
  }

  private sql(text: string): string {
    return text.replace(/\bS\./g, `${this.s}.`);
  }

  private async migrate(): Promise<void> {
    await this.transaction('begin', async (c) => {
      await c.query('select pg_advisory_xact_lock(hashtext($1))', [`${this.s}.migrate`]);
      await c.query(`create schema if not exists ${this.s}`);
      await c.query(this.sql('create table if not exists S.schema_version (version int not null)'));
      const r = await c.query(this.sql('select version from S.schema_version'));
      let v = r.rows.length ? Number(r.rows[0].version) : 0;
      if (!r.rows.length) await c.query(this.sql('insert into S.schema_version (version) values (0)'));
      if (v > MIGRATIONS.length) {
        throw new CatalogError(
          CatalogErrorCode.SchemaTooNew,
          `catalog schema version ${v} is newer than this proxy supports (${MIGRATIONS.length})`,
        );
      }
      for (; v < MIGRATIONS.length; v++) await c.query(this.sql(MIGRATIONS[v]));
      await c.query(this.sql('update S.schema_version set version = $1'), [MIGRATIONS.length]);
    });
  }

  /** Runs `fn` in one transaction on a pooled connection: committed when it returns, rolled back when it throws. */
  private async transaction<T>(begin: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool!.connect();
    try {
      await c.query(begin);
      const out = await fn(c);
      await c.query('commit');
      return out;
    } catch (err) {
      await c.query('rollback').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private async listen(): Promise<void> {
    if (this.closing) return;
    const client = new pg.Client({ connectionString: this.opts.url });
    let lost = false;
    const onLost = (): void => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = null;
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (n) => {
      if (n.channel === this.channel) void this.refresh().catch(() => {});
    });
    try {
      await client.connect();
      await client.query(`listen ${this.channel}`);
    } catch (err) {
      onLost();
      if (!this.opened) throw err;
      return;
    }
    if (this.closing) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    this.reconnectDelay = this.opts.reconnectMs ?? 500;
    // anything notified while we were not listening
    void this.refresh().catch(() => {});
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, 10000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listen().catch(() => {});
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Load what changed since the snapshot's epoch (one REPEATABLE READ snapshot); serialized. Returns the epoch. */
  refresh(): Promise<number> {
    const next = this.chain.catch(() => {}).then(() => this.doRefresh());
    this.chain = next;
    return next;
  }

  private async doRefresh(): Promise<number> {
    if (!this.opened || !this.pool) return this.snap.epoch;
    const read = await this.transaction('begin isolation level repeatable read read only', async (c) => {
      const e = await c.query(this.sql('select epoch from S.catalog_epoch where id = 1'));
      const epoch = Number(e.rows[0].epoch);
      if (epoch <= this.snap.epoch) return null;
      const shards = (
        await c.query(this.sql('select id, name, host, port, database, status, version from S.shards order by id'))
      ).rows as ShardRow[];
      const changed = (
        await c.query(this.sql('select shard_key, shard_id, version from S.placements where epoch > $1'), [this.snap.epoch])
      ).rows as PlacementRow[];
      const fences = (await c.query(this.sql('select shard_key, migration from S.fences'))).rows as FenceRow[];
      return { epoch, shards, changed, fences };
    });
    if (read) this.install(read.epoch, read.shards, read.changed, read.fences);
    return this.snap.epoch;
  }

  /**
   * One transaction per change: the epoch row is locked first (serializing writers across proxies), `bump()`
   * hands out the single new epoch, and pg_notify is sent (delivered at commit) when something changed.
   */
  private async change<T>(fn: (c: pg.PoolClient, bump: Bump) => Promise<T>): Promise<T> {
    this.requireOpen();
    const out = await this.transaction('begin', async (c) => {
      const locked = await c.query(this.sql('select epoch from S.catalog_epoch where id = 1 for update'));
      let epoch = 0;
      const base = Number(locked.rows[0].epoch);
      const bump: Bump = async () => {
        if (epoch === 0) {
          await c.query(this.sql('update S.catalog_epoch set epoch = $1 where id = 1'), [base + 1]);
          epoch = base + 1;
        }
        return epoch;
      };
      const result = await fn(c, bump);
      if (epoch !== 0) await c.query('select pg_notify($1, $2)', [this.channel, String(epoch)]);
      return result;
    });
    await this.refresh();
    return out;
  }

  async syncShards(shards: ShardConfigEntry[]): Promise<void> {
    checkShardConfig(shards);
    await this.change(async (c, bump) => {
      const rows = (await c.query(this.sql('select id, name, host, port, database, status, version from S.shards')))
        .rows as ShardRow[];
      const existing = new Map(rows.map((s) => [s.name, s]));
      for (const s of shards) {
        const row = existing.get(s.name);
        if (row === undefined) {
          await c.query(
            this.sql(
              `insert into S.shards (name, host, port, database, status, version, epoch) values ($1, $2, $3, $4, 'active', 1, $5)`,
            ),
            [s.name, s.host, s.port, s.database, await bump()],
          );
          continue;
        }
        existing.delete(s.name);
        const status = row.status === ShardStatus.Inactive ? ShardStatus.Active : row.status;
        if (row.host !== s.host || row.port !== s.port || row.database !== s.database || row.status !== status) {
          await c.query(
            this.sql(
              `update S.shards set host = $2, port = $3, database = $4, status = $5, version = version + 1,
                 epoch = $6, updated_at = now() where id = $1`,
            ),
            [row.id, s.host, s.port, s.database, status, await bump()],
          );
        }
      }
      for (const row of existing.values()) {
        if (row.status !== ShardStatus.Inactive) await this.updateStatus(c, row.id, ShardStatus.Inactive, await bump());
      }
    });
  }

  private async updateStatus(c: pg.PoolClient, id: number, status: ShardStatus, epoch: number): Promise<void> {
    await c.query(
      this.sql('update S.shards set status = $2, version = version + 1, epoch = $3, updated_at = now() where id = $1'),
      [id, status, epoch],
    );
  }

  private async shardByName(c: pg.PoolClient, name: string): Promise<ShardRow> {
    const r = await c.query(this.sql('select id, name, status from S.shards where name = $1'), [name]);
    if (!r.rows.length) throw new CatalogError(CatalogErrorCode.UnknownShard, `unknown shard ${name}`);
    return r.rows[0] as ShardRow;
  }

  async setShardStatus(name: string, status: ShardStatus): Promise<void> {
    checkStatus(status);
    await this.change(async (c, bump) => {
      const row = await this.shardByName(c, name);
      if (row.status !== status) await this.updateStatus(c, row.id, status, await bump());
    });
  }

  async registerShard(shard: ShardConfigEntry, status: ShardStatus): Promise<void> {
    checkShardConfig([shard]);
    checkStatus(status);
    await this.change(async (c, bump) => {
      const r = await c.query(this.sql('select id, name, host, port, database, status from S.shards where name = $1'), [shard.name]);
      const row = r.rows[0] as ShardRow | undefined;
      if (row === undefined) {
        await c.query(
          this.sql(`insert into S.shards (name, host, port, database, status, version, epoch) values ($1, $2, $3, $4, $5, 1, $6)`),
          [shard.name, shard.host, shard.port, shard.database, status, await bump()],
        );
      } else if (row.host !== shard.host || row.port !== shard.port || row.database !== shard.database || row.status !== status) {
        await c.query(
          this.sql(
            `update S.shards set host = $2, port = $3, database = $4, status = $5, version = version + 1,
               epoch = $6, updated_at = now() where id = $1`,
          ),
          [row.id, shard.host, shard.port, shard.database, status, await bump()],
        );
      }
    });
  }

  private async writePlacement(c: pg.PoolClient, key: string, shardId: number | null, reason: string, epoch: number) {
    const r = await c.query(
      this.sql(
        `insert into S.placements (shard_key, shard_id, version, epoch) values ($1, $2, 1, $3)
         on conflict (shard_key) do update set shard_id = excluded.shard_id, version = S.placements.version + 1,
           epoch = excluded.epoch, updated_at = now()
         returning version`,
      ),
      [key, shardId, epoch],
    );
    const version = Number(r.rows[0].version);
    await c.query(
      this.sql('insert into S.placement_history (shard_key, version, shard_id, reason, epoch) values ($1, $2, $3, $4, $5)'),
      [key, version, shardId, String(reason ?? ''), epoch],
    );
    return version;
  }

  async setPlacement(key: string, shardName: string, reason: string): Promise<number> {
    checkKey(key);
    return this.change(async (c, bump) => {
      const row = await this.shardByName(c, shardName);
      if (row.status === ShardStatus.Inactive) {
        throw new CatalogError(CatalogErrorCode.ShardInactive, `shard ${shardName} is inactive`);
      }
      return this.writePlacement(c, key, row.id, reason, await bump());
    });
  }

  async clearPlacement(key: string, reason: string): Promise<void> {
    checkKey(key);
    await this.change(async (c, bump) => {
      const r = await c.query(this.sql('select shard_id from S.placements where shard_key = $1'), [key]);
      if (!r.rows.length || r.rows[0].shard_id === null) return;
      await this.writePlacement(c, key, null, reason, await bump());
    });
  }

  async history(key: string): Promise<PlacementHistoryRow[]> {
    this.requireOpen();
    const r = await this.pool!.query(
      this.sql(
        `select h.shard_key, h.version, h.shard_id, s.name as shard_name, h.reason, h.at, h.epoch
         from S.placement_history h left join S.shards s on s.id = h.shard_id
         where h.shard_key = $1 order by h.version`,
      ),
      [key],
    );
    return r.rows.map((x) => ({
      shardKey: x.shard_key,
      version: Number(x.version),
      shardId: x.shard_id === null ? null : Number(x.shard_id),
      shardName: x.shard_name,
      reason: x.reason,
      at: new Date(x.at),
      epoch: Number(x.epoch),
    }));
  }

  async addMigration(m: NewMigration): Promise<number> {
    this.requireOpen();
    const now = Date.now();
    const r = await this.pool!.query(
      this.sql(
        `insert into S.migrations (shard_key, account, domain, from_shard, to_shard, state, owner, started_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning id`,
      ),
      [m.key, m.account, m.domain, m.from, m.to, m.state, m.owner, now],
    );
    return Number(r.rows[0].id);
  }

  async updateMigration(id: number, patch: MigrationPatch): Promise<void> {
    this.requireOpen();
    const cols = migrationPatchColumns(patch);
    const sets = cols.map(([c], i) => `${c} = $${i + 3}`);
    await this.pool!.query(this.sql(`update S.migrations set ${[...sets, 'updated_at = $2'].join(', ')} where id = $1`), [id, Date.now(), ...cols.map(([, v]) => v)]);
  }

  async migrations(opts: { limit?: number; unsettled?: boolean } = {}): Promise<MigrationRecord[]> {
    this.requireOpen();
    const where = opts.unsettled ? 'where not (state = any($2))' : '';
    const r = await this.pool!.query(
      this.sql(`select * from (select * from S.migrations ${where} order by id desc limit $1) m order by id`),
      opts.unsettled ? [opts.limit ?? 1000, [...SETTLED_MIGRATION_STATES]] : [opts.limit ?? 1000],
    );
    return r.rows.map(migrationOfRow);
  }

  async heartbeat(member: string, serving: boolean, leading: boolean): Promise<void> {
    this.requireOpen();
    await this.pool!.query(this.sql('insert into S.members (id, serving, is_leader, heartbeat_at) values ($1, $2, $3, $4) on conflict (id) do update set serving = excluded.serving, is_leader = excluded.is_leader, heartbeat_at = excluded.heartbeat_at'), [member, serving, leading, Date.now()]);
  }

  async members(maxAgeMs: number): Promise<MemberRow[]> {
    this.requireOpen();
    const r = await this.pool!.query(this.sql('select id, serving, is_leader, heartbeat_at from S.members where heartbeat_at >= $1 order by id'), [Date.now() - maxAgeMs]);
    return r.rows.map((x) => ({ id: x.id, serving: x.serving, leading: x.is_leader, heartbeatAt: Number(x.heartbeat_at) }));
  }

  async leave(member: string): Promise<void> {
    this.requireOpen();
    await this.pool!.query(this.sql('delete from S.members where id = $1'), [member]);
    if (this.leaderClient !== null) {
      const c = this.leaderClient;
      this.leaderClient = null;
      await c.end().catch(() => {});
    }
  }

  /** A session advisory lock on a connection of its own: held while the connection lives, so it passes on when its holder dies. */
  async lead(member: string): Promise<boolean> {
    this.requireOpen();
    void member;
    if (this.leaderClient !== null) return true;
    const c = new pg.Client({ connectionString: this.opts.url, application_name: 'prescient-leader' });
    c.on('error', () => {
      if (this.leaderClient === c) this.leaderClient = null;
    });
    c.on('end', () => {
      if (this.leaderClient === c) this.leaderClient = null;
    });
    try {
      await c.connect();
      const r = await c.query('select pg_try_advisory_lock(hashtext($1)) as ok', [`${this.s}.leader`]);
      if (r.rows[0].ok === true) {
        this.leaderClient = c;
        return true;
      }
    } catch {
      // the catalog is out of reach: not the leader now
    }
    await c.end().catch(() => {});
    return false;
  }

  async closeFence(key: string, migration: number): Promise<void> {
    await this.change(async (c, bump) => {
      await c.query(this.sql('insert into S.fences (shard_key, migration, closed_at) values ($1, $2, $3) on conflict (shard_key) do update set migration = excluded.migration, closed_at = excluded.closed_at'), [key, migration, Date.now()]);
      await bump();
    });
  }

  async openFence(key: string, migration: number): Promise<void> {
    await this.change(async (c, bump) => {
      const r = await c.query(this.sql('delete from S.fences where shard_key = $1 and migration = $2'), [key, migration]);
      await c.query(this.sql('delete from S.fence_acks where migration = $1'), [migration]);
      if ((r.rowCount ?? 0) > 0) await bump();
    });
  }

  async ackFence(migration: number, member: string): Promise<void> {
    this.requireOpen();
    await this.pool!.query(this.sql('insert into S.fence_acks (migration, member, at) values ($1, $2, $3) on conflict do nothing'), [migration, member, Date.now()]);
  }

  async fenceAcks(migration: number): Promise<string[]> {
    this.requireOpen();
    const r = await this.pool!.query(this.sql('select member from S.fence_acks where migration = $1'), [migration]);
    return r.rows.map((x) => x.member as string);
  }

  async publishLoad(member: string, report: string): Promise<void> {
    this.requireOpen();
    await this.pool!.query(this.sql('insert into S.load_reports (member, at, report) values ($1, $2, $3) on conflict (member) do update set at = excluded.at, report = excluded.report'), [member, Date.now(), report]);
  }

  async loadReports(maxAgeMs: number): Promise<{ member: string; at: number; report: string }[]> {
    this.requireOpen();
    const r = await this.pool!.query(this.sql('select member, at, report from S.load_reports where at >= $1 order by member'), [Date.now() - maxAgeMs]);
    return r.rows.map((x) => ({ member: x.member, at: Number(x.at), report: x.report }));
  }
}
