// Mover owns moving one placement key (one account's domain) from its shard to another while the proxy serves: fence the key, let the requests and transactions using it finish, copy its rows of every table of the domain, verify count and checksum on both sides, flip the placement, delete the old rows, open the fence.
import pg from 'pg';
import type { Config, ShardConfig } from '../../config/schema.js';
import type { Catalog } from '../catalog/Catalog.js';
import type { KeyFence } from '../router/KeyFence.js';
import { logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';

/** The steps of a move, in order (SHOW MIGRATIONS shows the one it is at). */
export const MoveState = {
  Fencing: 'fencing',
  Copying: 'copying',
  Verifying: 'verifying',
  Flipping: 'flipping',
  Cleaning: 'cleaning',
  Done: 'done',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;
export type MoveState = (typeof MoveState)[keyof typeof MoveState];

export interface Migration {
  id: number;
  key: string;
  account: string;
  domain: string;
  from: string;
  to: string;
  state: MoveState;
  rows: number;
  startedAt: number;
  /** from the fence closing to its opening: how long requests for the key waited */
  pauseMs: number | null;
  elapsedMs: number | null;
  error?: string;
  /** CANCEL MIGRATION: honoured until the placement flips */
  cancel?: () => void;
}

/** What a move needs of the running proxy. */
export interface MoverContext {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly fence: KeyFence;
  /** cached reads of the key are stale from now on */
  invalidate(key: string): void;
}

const ident = (name: string): string => name.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
const literal = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/** Per table: the row count and an order-independent checksum of the key's rows (sum of each row's hash). */
async function fingerprint(c: pg.Client, table: string, column: string, account: string): Promise<{ rows: number; sum: string }> {
  const r = await c.query<{ n: string; s: string }>(
    `select count(*)::text as n, coalesce(sum(hashtextextended(t::text, 0)), 0)::text as s from ${ident(table)} t where ${ident(column)} = ${literal(account)}`,
  );
  return { rows: Number(r.rows[0]!.n), sum: r.rows[0]!.s };
}

export class Mover {
  private nextId = 1;
  readonly migrations: Migration[] = [];

  constructor(private readonly ctx: MoverContext) {}

  private shard(name: string): ShardConfig {
    const s = this.ctx.config.shards.find((x) => x.name === name);
    if (!s) throw new ProxyError('UNKNOWN_SHARD', `unknown shard "${name}"`, SqlState.InvalidParameterValue);
    if (s.user === undefined) throw new ProxyError('MOVE_NEEDS_USER', `moving data needs shards[].user on shard "${name}": a server user that can read and write every table of the domain`, SqlState.InvalidParameterValue);
    return s;
  }

  /** A client of the shard; values come back as the text Postgres prints (they go back in as that text, unchanged). */
  private async connect(s: ShardConfig): Promise<pg.Client> {
    const c = new pg.Client({
      host: s.host, port: s.port, database: s.database, user: s.user, password: s.password, application_name: 'prescient-mover',
      types: { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig,
    });
    c.on('error', () => {});
    await c.connect();
    return c;
  }

  /** CANCEL MIGRATION n: true when it was still cancellable (not finished, not flipped yet). */
  cancel(id: number): boolean {
    const m = this.migrations.find((x) => x.id === id);
    if (m === undefined || m.cancel === undefined) return false;
    m.cancel();
    return true;
  }

  /** Moves `account`'s `domain` to shard `to`; resolves with the finished migration (state done, failed or cancelled). */
  async move(account: string, domain: string, to: string, fenceTimeoutMs: number): Promise<Migration> {
    const cfg = this.ctx.config;
    const d = cfg.sharding.domains[domain];
    if (!d) throw new ProxyError('UNKNOWN_DOMAIN', `unknown domain "${domain}" (sharding.domains)`, SqlState.InvalidParameterValue);
    const key = `${account}_${domain}`;
    const from = this.ctx.catalog.snapshot().placementOf(key).shard.name;
    if (from === to) throw new ProxyError('MOVE_SAME_SHARD', `${key} is on shard "${to}" already`, SqlState.InvalidParameterValue);
    if (this.migrations.some((m) => m.key === key && !isFinished(m.state))) throw new ProxyError('MOVE_RUNNING', `${key} is being moved already`, SqlState.ObjectInUse);
    const source = this.shard(from);
    const target = this.shard(to);
    const m: Migration = { id: this.nextId++, key, account, domain, from, to, state: MoveState.Fencing, rows: 0, startedAt: Date.now(), pauseMs: null, elapsedMs: null };
    let cancelled = false;
    let wakeCancel: () => void = () => {};
    const cancelledP = new Promise<void>((r) => (wakeCancel = r));
    m.cancel = () => {
      cancelled = true;
      wakeCancel();
    };
    const checkCancel = (): void => {
      if (cancelled) throw new ProxyError('MOVE_CANCELLED', `migration ${m.id} of ${key} was cancelled (CANCEL MIGRATION)`, SqlState.QueryCanceled);
    };
    this.migrations.push(m);
    if (this.migrations.length > 1000) this.migrations.shift();
    const step = (state: MoveState): void => {
      m.state = state;
      logger.info('migration step', { id: m.id, key, from, to, state, rows: m.rows });
    };
    const columnOf = (table: string): string => cfg.sharding.tables[table]?.account_column ?? cfg.sharding.account_column;
    let src: pg.Client | null = null;
    let dst: pg.Client | null = null;
    const fence = this.ctx.fence;
    let fencedAt = 0;
    try {
      [src, dst] = await Promise.all([this.connect(source), this.connect(target)]);
      step(MoveState.Fencing);
      fence.close(key);
      fencedAt = performance.now();
      // requests and transactions that use the key finish first; one that does not in time aborts the move, not them
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        fence.drained(key).then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), fenceTimeoutMs))),
        cancelledP.then(() => false),
      ]);
      clearTimeout(timer);
      checkCancel();
      if (timedOut) throw new ProxyError('MOVE_FENCE_TIMEOUT', `${fence.users(key)} session(s) still used ${key} after fence_timeout_ms (${fenceTimeoutMs} ms): the move is aborted`, SqlState.LockNotAvailable);
      step(MoveState.Copying);
      await dst.query('begin');
      const expected = new Map<string, { rows: number; sum: string }>();
      for (const table of d.tables) {
        const col = columnOf(table);
        // what a failed earlier move may have left on the target goes first
        await dst.query(`delete from ${ident(table)} where ${ident(col)} = ${literal(account)}`);
        const cols = await src.query<{ c: string }>(
          `select quote_ident(attname) as c from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' order by attnum`,
          [table],
        );
        const list = cols.rows.map((r) => r.c).join(', ');
        const rows = await src.query(`select ${list} from ${ident(table)} where ${ident(col)} = ${literal(account)}`);
        if (rows.rows.length > 0) {
          const names = cols.rows.map((r) => r.c);
          // one INSERT per batch of rows, values as parameters (text in, as Postgres prints them out)
          for (let i = 0; i < rows.rows.length; i += 500) {
            const batch = rows.rows.slice(i, i + 500);
            const params: unknown[] = [];
            const tuples = batch.map((row: Record<string, unknown>) => `(${names.map((_, j) => `$${params.push(row[rows.fields[j]!.name]) }`).join(', ')})`);
            await dst.query(`insert into ${ident(table)} (${list}) overriding system value values ${tuples.join(', ')}`, params);
          }
        }
        m.rows += rows.rows.length;
        // ids that came with the rows: the target's sequences go past them, so that ids it makes later never collide
        for (const r of cols.rows) {
          const seq = await dst.query<{ s: string | null }>('select pg_get_serial_sequence($1, $2) as s', [table, r.c.replace(/^"|"$/g, '')]);
          const name = seq.rows[0]?.s;
          if (name) await dst.query(`select setval($1, greatest((select coalesce(max(${r.c})::bigint, 1) from ${ident(table)}), (select last_value from ${name})))`, [name]);
        }
        expected.set(table, await fingerprint(src, table, col, account));
      }
      checkCancel();
      step(MoveState.Verifying);
      for (const table of d.tables) {
        const got = await fingerprint(dst, table, columnOf(table), account);
        const want = expected.get(table)!;
        if (got.rows !== want.rows || got.sum !== want.sum) {
          throw new ProxyError('MOVE_VERIFY_FAILED', `${key}: table ${table} differs after the copy (source ${want.rows} rows, checksum ${want.sum}; target ${got.rows} rows, checksum ${got.sum})`, SqlState.DataCorrupted);
        }
      }
      checkCancel();
      await dst.query('commit');
      // from here on the move completes: the copy is committed and the placement flips
      m.cancel = undefined;
      step(MoveState.Flipping);
      await this.ctx.catalog.setPlacement(key, to, `migrate ${m.id} from ${from}`);
      this.ctx.invalidate(key);
      step(MoveState.Cleaning);
      for (const table of d.tables) await src.query(`delete from ${ident(table)} where ${ident(columnOf(table))} = ${literal(account)}`);
      step(MoveState.Done);
    } catch (e) {
      m.error = (e as Error).message;
      m.state = cancelled && m.cancel !== undefined ? MoveState.Cancelled : MoveState.Failed;
      logger.warn('migration failed', { id: m.id, key, from, to, error: m.error });
      await dst?.query('rollback').catch(() => {});
    } finally {
      if (fencedAt > 0) {
        const waited = fence.open(key);
        m.pauseMs = Math.round(performance.now() - fencedAt);
        logger.info('fence opened', { id: m.id, key, pauseMs: m.pauseMs, released: waited });
      }
      m.elapsedMs = Date.now() - m.startedAt;
      m.cancel = undefined;
      await Promise.all([src?.end().catch(() => {}), dst?.end().catch(() => {})]);
    }
    return m;
  }
}

function isFinished(s: MoveState): boolean {
  return s === MoveState.Done || s === MoveState.Failed || s === MoveState.Cancelled;
}
