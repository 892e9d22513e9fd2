// ChangeCapture owns keeping a moving key's copy in step with its source: per-move row triggers on the source that log the primary key of every row of the key written, a snapshot copy, and catch-up rounds that bring the changed rows over (xid-ordered, so nothing written after a snapshot is missed).
import type pg from 'pg';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { fingerprint, fingerprintWhere, ident, keyIn, literal, quoteName, type Fingerprint, type TableShape } from './shardSql.js';

/** The source's capture schema: the keys being moved, and the log of their written rows. Idempotent. */
const CAPTURE_SCHEMA = `
create schema if not exists prescient;
create table if not exists prescient.move_changes (
  id bigserial primary key,
  migration bigint not null,
  tbl text not null,
  xid xid8 not null default pg_current_xact_id(),
  pk jsonb
);
create index if not exists move_changes_migration on prescient.move_changes (migration, tbl, xid);
create table if not exists prescient.moving (
  migration bigint not null,
  tbl text not null,
  account text not null,
  primary key (migration, tbl)
);
create index if not exists moving_account on prescient.moving (tbl, account);
`;

/** One table of the moving key's domain, as a round copies it. */
export interface CaptureTable {
  table: string;
  column: string;
  shape: TableShape;
}

export interface RoundResult {
  /** the round's snapshot xmin: every transaction below it had ended, so the next round starts there */
  next: string;
  /** rows written to the target by this round */
  rows: number;
  bytes: number;
  /** distinct changed rows of the key this round found (all of the key's rows for the snapshot copy) */
  changed: number;
  /** per table, the primary keys (jsonb text) of the rows it brought over; 'all' when it copied the table's rows of the key whole */
  keys: Map<string, string[] | 'all'>;
  /** with `checkAll`: the first table whose rows of the key differ between the round's snapshot and the target */
  mismatch?: Mismatch;
}

/** A table whose rows of the key differ on the two sides (count and checksum of each). */
export interface Mismatch {
  table: string;
  source: Fingerprint;
  target: Fingerprint;
}

/** The capture trigger of every table of a domain: installed once per table, it logs nothing unless a move of the written row's account is under way. */
const TRIGGER = 'prescient_capture';

/** How long one attempt at a table's trigger change may queue for its lock (writers of the table queue behind it meanwhile). */
const LOCK_ATTEMPT_MS = 100;

/**
 * Runs `sql` under a short lock_timeout, again until `deadline` (ms, performance.now()): a table's trigger change
 * waits for the transactions that wrote to it, and must not hold its other writers up for long. `stop` ends it early.
 */
async function withLockRetry(c: pg.Client, sql: string, deadline = Infinity, stop: () => boolean = () => false): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await c.query(`begin; set local lock_timeout = '${LOCK_ATTEMPT_MS}ms'; ${sql}; commit`);
      return;
    } catch (e) {
      await c.query('rollback').catch(() => {});
      if ((e as { code?: string }).code !== '55P03') throw e;
      if (stop() || performance.now() >= deadline || (deadline === Infinity && attempt >= 100)) throw e;
      await new Promise((r) => setTimeout(r, Math.min(attempt * 20, 200)));
    }
  }
}

export class ChangeCapture {
  constructor(
    private readonly src: pg.Client,
    private readonly dst: pg.Client,
    private readonly migration: number,
    private readonly account: string,
    private readonly tables: readonly CaptureTable[],
  ) {}

  /** The schema on the source, made once (later moves only look: its DDL would queue behind the writers of its tables). */
  static async prepare(src: pg.Client): Promise<void> {
    const have = await src.query<{ n: string }>(`select count(*)::text as n from pg_class where oid in (to_regclass('prescient.move_changes'), to_regclass('prescient.moving'), to_regclass('prescient.moving_account'), to_regclass('prescient.move_changes_migration'))`);
    if (have.rows[0]!.n === '4') return;
    try {
      await withLockRetry(src, CAPTURE_SCHEMA.trim().replace(/;$/, ''));
    } catch {
      await withLockRetry(src, CAPTURE_SCHEMA.trim().replace(/;$/, '')); // a concurrent creator won the race
    }
  }

  /**
   * Logs the key's written rows from now on: the capture trigger on every table of the domain (added once per table;
   * a transaction that keeps writing to the table past `deadline` fails this with MOVE_CAPTURE_LOCK, aborting the move,
   * not it), the key marked as moving, then a wait for the transactions older than the mark (their snapshots may not
   * see it; as CREATE INDEX CONCURRENTLY waits). Done before the snapshot copy begins.
   */
  async install(deadline: number, stop: () => boolean): Promise<void> {
    for (const t of this.tables) {
      const oid = (await this.src.query<{ oid: string }>('select $1::regclass::oid::text as oid', [t.table])).rows[0]!.oid;
      const fn = `prescient.${quoteName(`capture_${oid}`)}`;
      // a write of a key not being moved costs one index probe of a small table (no insert, no lock on the log)
      const row = (side: 'NEW' | 'OLD'): string => {
        const moving = `from prescient.moving m where m.tbl = ${literal(t.table)} and m.account = ${side}.${quoteName(t.column)}::text`;
        return `if exists (select 1 ${moving}) then
            insert into prescient.move_changes (migration, tbl, pk) select m.migration, m.tbl, jsonb_build_object(${t.shape.key.map((k) => `${literal(k)}, ${side}.${quoteName(k)}`).join(', ')}) ${moving};
          end if;`;
      };
      // the function is replaced freely (no table lock); moves of several keys of a shard write it one at a time
      await this.src.query(`begin; select pg_advisory_xact_lock(hashtext('prescient.capture')); create or replace function ${fn}() returns trigger language plpgsql as $f$
        begin
          if TG_OP <> 'DELETE' then ${row('NEW')} end if;
          if TG_OP <> 'INSERT' then ${row('OLD')} end if;
          return null;
        end $f$; commit`).catch(async (e: unknown) => {
        await this.src.query('rollback').catch(() => {});
        throw e;
      });
      const has = await this.src.query(`select 1 from pg_trigger where tgrelid = $1::regclass and tgname = $2`, [t.table, TRIGGER]);
      if (has.rows.length > 0) continue;
      await withLockRetry(this.src, `create trigger ${TRIGGER} after insert or update or delete on ${ident(t.table)} for each row execute function ${fn}()`, deadline, stop).catch((e: { code?: string; message: string }) => {
        if (e.code === '42710') return; // added meanwhile by another move
        if (e.code !== '55P03' || stop()) throw e;
        throw new ProxyError('MOVE_CAPTURE_LOCK', `a transaction kept table ${t.table} locked past capture_timeout_ms: change capture could not be added to it, the move is aborted (the transaction goes on)`, SqlState.LockNotAvailable);
      });
    }
    await this.src.query(`insert into prescient.moving (migration, tbl, account) select $1, unnest($2::text[]), $3`, [this.migration, this.tables.map((t) => t.table), this.account]);
    const marked = (await this.src.query<{ at: string }>('select clock_timestamp()::text as at')).rows[0]!.at;
    for (;;) {
      const older = await this.src.query<{ n: string }>(
        `select count(*)::text as n from pg_stat_activity where xact_start < $1::timestamptz and pid <> pg_backend_pid() and datname = current_database() and backend_type = 'client backend'`,
        [marked],
      );
      if (older.rows[0]!.n === '0') return;
      if (stop()) return;
      if (performance.now() >= deadline) {
        throw new ProxyError('MOVE_CAPTURE_WAIT', `${older.rows[0]!.n} transaction(s) on the source that began before the move were still open after capture_timeout_ms: the move is aborted (they go on)`, SqlState.LockNotAvailable);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Ends the move's capture on the source: its moving mark and its log rows go. Safe to repeat, and after a crash. */
  static async remove(src: pg.Client, migration: number): Promise<void> {
    try {
      await src.query(`delete from prescient.moving where migration = $1`, [migration]);
      await src.query(`delete from prescient.move_changes where migration = $1`, [migration]);
    } catch (e) {
      if ((e as { code?: string }).code !== '42P01') throw e; // the schema was never made: nothing to remove
    }
  }

  /**
   * One round inside the target's open transaction: with `since` null, every row of the key (the snapshot copy);
   * else the rows whose change was logged by a transaction at or after `since`, brought to their state in this
   * round's snapshot of the source (deleted on the target, inserted again if they still exist). With `checkAll`, the
   * key's every row is then compared (count and checksum) between that snapshot and the target: the whole copy
   * checked before the fence, which then only has to check the final round's rows (`check`).
   */
  async round(since: string | null, checkAll = false): Promise<RoundResult> {
    const src = this.src;
    await src.query('begin isolation level repeatable read');
    try {
      const next = (await src.query<{ x: string }>('select pg_snapshot_xmin(pg_current_snapshot())::text as x')).rows[0]!.x;
      let rows = 0;
      let bytes = 0;
      let changed = 0;
      const changedKeys = new Map<string, string[] | 'all'>();
      for (const t of this.tables) {
        const owner = `${quoteName(t.column)} = ${literal(this.account)}`;
        if (since === null) {
          const r = await this.copy(t, owner);
          rows += r.rows;
          bytes += r.bytes;
          changed += r.rows;
          changedKeys.set(t.table, 'all');
          continue;
        }
        const log = await src.query<{ pk: string | null }>(`select distinct pk::text as pk from prescient.move_changes where migration = $1 and tbl = $2 and xid >= $3::xid8`, [this.migration, t.table, since]);
        if (log.rows.length === 0) continue;
        changed += log.rows.length;
        if (t.shape.key.length === 0) {
          // no primary key: the table's rows of the key are copied again whole
          await this.dst.query(`delete from ${ident(t.table)} where ${owner}`);
          const r = await this.copy(t, owner);
          rows += r.rows;
          bytes += r.bytes;
          changedKeys.set(t.table, 'all');
          continue;
        }
        const keys = log.rows.map((r) => r.pk!);
        changedKeys.set(t.table, keys);
        for (let i = 0; i < keys.length; i += 1000) {
          const batch = keys.slice(i, i + 1000);
          const match = keyIn(t.table, t.shape, t.column, this.account);
          await this.dst.query(`delete from ${ident(t.table)} t where ${match}`, [batch]);
          const r = await this.copy(t, match, [batch]);
          rows += r.rows;
          bytes += r.bytes;
        }
      }
      let mismatch: Mismatch | undefined;
      for (const t of checkAll ? this.tables : []) {
        const [source, target] = await Promise.all([fingerprint(src, t.table, t.column, this.account), fingerprint(this.dst, t.table, t.column, this.account)]);
        if (source.rows !== target.rows || source.sum !== target.sum) {
          mismatch = { table: t.table, source, target };
          break;
        }
      }
      await src.query('commit');
      return { next, rows, bytes, changed, keys: changedKeys, ...(mismatch ? { mismatch } : {}) };
    } catch (e) {
      await src.query('rollback').catch(() => {});
      throw e;
    }
  }

  /**
   * Under the fence, after the final round: its rows (`keys`, from its result) compared between the source, where
   * nothing writes the key any more, and the target's transaction; the first table that differs, else undefined.
   * The rest of the key was compared whole by the last round before the fence and has not changed since (a change
   * would have been logged, and brought over by the final round).
   */
  async check(keys: ReadonlyMap<string, string[] | 'all'>): Promise<Mismatch | undefined> {
    for (const t of this.tables) {
      const k = keys.get(t.table);
      if (k === undefined) continue;
      let source: Fingerprint = { rows: 0, sum: '0' };
      let target: Fingerprint = { rows: 0, sum: '0' };
      const add = (a: Fingerprint, b: Fingerprint): Fingerprint => ({ rows: a.rows + b.rows, sum: String(BigInt(a.sum) + BigInt(b.sum)) });
      if (k === 'all') {
        [source, target] = await Promise.all([fingerprint(this.src, t.table, t.column, this.account), fingerprint(this.dst, t.table, t.column, this.account)]);
      } else {
        for (let i = 0; i < k.length; i += 1000) {
          const batch = [k.slice(i, i + 1000)];
          const match = keyIn(t.table, t.shape, t.column, this.account);
          const [s, d] = await Promise.all([fingerprintWhere(this.src, t.table, match, batch), fingerprintWhere(this.dst, t.table, match, batch)]);
          source = add(source, s);
          target = add(target, d);
        }
      }
      if (source.rows !== target.rows || source.sum !== target.sum) return { table: t.table, source, target };
    }
    return undefined;
  }

  /** Copies the source rows matching `where` (in the source's current transaction) into the target's transaction. */
  private async copy(t: CaptureTable, where: string, params: unknown[] = []): Promise<{ rows: number; bytes: number }> {
    const list = t.shape.columns.join(', ');
    const rows = await this.src.query({ text: `select ${list} from ${ident(t.table)} t where ${where}`, values: params, rowMode: 'array' });
    let bytes = 0;
    for (let i = 0; i < rows.rows.length; i += 500) {
      const batch = rows.rows.slice(i, i + 500) as (string | null)[][];
      const values: unknown[] = [];
      const tuples = batch.map((row) => `(${row.map((v) => {
        if (v !== null) bytes += v.length;
        return `$${values.push(v)}`;
      }).join(', ')})`);
      await this.dst.query(`insert into ${ident(t.table)} (${list}) overriding system value values ${tuples.join(', ')}`, values);
    }
    return { rows: rows.rows.length, bytes };
  }

  /**
   * Ids that came with the rows: the target's sequences go past them, so that ids it makes later never collide. The
   * largest moved id is read from the key's rows only (with the account in the primary key, one index probe; the
   * whole table's max was a scan of every tenant's rows, under the fence).
   */
  async advanceSequences(): Promise<void> {
    for (const t of this.tables) {
      for (const col of t.shape.columns) {
        const name = col.replace(/^"|"$/g, '').replace(/""/g, '"');
        const seq = await this.dst.query<{ s: string | null }>('select pg_get_serial_sequence($1, $2) as s', [t.table, name]);
        const s = seq.rows[0]?.s;
        const mine = `${quoteName(t.column)} = ${literal(this.account)}`;
        if (s) await this.dst.query(`select setval($1, greatest((select coalesce(max(${col})::bigint, 1) from ${ident(t.table)} where ${mine}), (select last_value from ${s})))`, [s]);
      }
    }
  }
}
