// Mover owns moving one placement key (one account's domain) from its shard to another while the proxy serves: capture the key's changes on the source, copy it in one snapshot, catch up, check the whole copy (count and checksum) at a last round's snapshot, fence the key, final catch-up, check its rows, flip the placement, open the fence, delete the old rows — each step written to the catalog first, so a restart resumes or undoes it (MoveRecovery).
import os from 'node:os';
import type pg from 'pg';
import type { Config, ShardConfig } from '../../config/schema.js';
import { ShardStatus, type Catalog } from '../catalog/Catalog.js';
import { logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { ChangeCapture, type CaptureTable, type Mismatch } from './ChangeCapture.js';
import { failpoint } from './failpoint.js';
import type { MoveFence } from './MoveFence.js';
import { connectShard, ident, literal, tableShape } from './shardSql.js';

/** The steps of a move, in order, then how it ended (SHOW MIGRATIONS shows the one it is at). */
export const MoveState = {
  Preparing: 'preparing',
  Copying: 'copying',
  CatchingUp: 'catching_up',
  Fencing: 'fencing',
  FinalCatchUp: 'final_catchup',
  Verifying: 'verifying',
  Flipping: 'flipping',
  Cleaning: 'cleaning',
  Done: 'done',
  Failed: 'failed',
  Cancelled: 'cancelled',
  RolledBack: 'rolled_back',
} as const;
export type MoveState = (typeof MoveState)[keyof typeof MoveState];

/** catch-up rounds before the fence at most (each one shorter than the one before while writes go on) */
const MAX_ROUNDS = 10;

export interface Migration {
  id: number;
  key: string;
  account: string;
  domain: string;
  from: string;
  to: string;
  state: MoveState;
  rows: number;
  bytes: number;
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
  readonly fence: MoveFence;
  /** cached reads of the key are stale from now on */
  invalidate(key: string): void;
  /** whether the member that owns a move still runs (a move of a dead one does not stop a new one) */
  alive(member: string): Promise<boolean>;
}

/** This process, as the owner of the moves it runs (catalog migrations.owner). */
export const MOVER_OWNER = `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;

/** What the catalog keeps of a move for resuming it: the tables whose capture triggers are on the source. */
export interface MoveDetail {
  tables: string[];
}

export function isSettled(s: string): boolean {
  return s === MoveState.Done || s === MoveState.Failed || s === MoveState.Cancelled || s === MoveState.RolledBack;
}

export class Mover {
  /** moves of this process, live and recent (the catalog has them all) */
  private readonly live = new Map<number, Migration>();

  constructor(private readonly ctx: MoverContext) {}

  shard(name: string): ShardConfig {
    const s = this.ctx.config.shards.find((x) => x.name === name);
    if (!s) throw new ProxyError('UNKNOWN_SHARD', `unknown shard "${name}"`, SqlState.InvalidParameterValue);
    if (s.user === undefined) throw new ProxyError('MOVE_NEEDS_USER', `moving data needs shards[].user on shard "${name}": a server user that can read and write every table of the domain`, SqlState.InvalidParameterValue);
    return s;
  }

  /** Whether moves may go to `shard`: active in the catalog (not draining, not drained, not unknown to it). */
  accepts(shard: string): boolean {
    return this.ctx.catalog.snapshot().shard(shard)?.status === ShardStatus.Active;
  }

  columnOf(table: string): string {
    const cfg = this.ctx.config;
    return cfg.sharding.tables[table]?.account_column ?? cfg.sharding.account_column;
  }

  /** CANCEL MIGRATION n: true when it was still cancellable (running here, not past the flip). */
  cancel(id: number): boolean {
    const m = this.live.get(id);
    if (m === undefined || m.cancel === undefined) return false;
    m.cancel();
    return true;
  }

  /** The moves this process runs now. */
  running(): Migration[] {
    return [...this.live.values()].filter((m) => !isSettled(m.state));
  }

  /** Moves `account`'s `domain` to shard `to`; resolves with the finished migration (state done, failed or cancelled). */
  async move(account: string, domain: string, to: string, fenceTimeoutMs: number): Promise<Migration> {
    const cfg = this.ctx.config;
    const d = cfg.sharding.domains[domain];
    if (!d) throw new ProxyError('UNKNOWN_DOMAIN', `unknown domain "${domain}" (sharding.domains)`, SqlState.InvalidParameterValue);
    const key = `${account}_${domain}`;
    const from = this.ctx.catalog.snapshot().placementOf(key).shard.name;
    if (from === to) throw new ProxyError('MOVE_SAME_SHARD', `${key} is on shard "${to}" already`, SqlState.InvalidParameterValue);
    if (this.running().some((m) => m.key === key)) throw new ProxyError('MOVE_RUNNING', `${key} is being moved already`, SqlState.ObjectInUse);
    // refused before any work: a draining shard would end its drain failed, an inactive one fail the flip after the fence
    if (!this.accepts(to)) throw new ProxyError('MOVE_TARGET_NOT_ACTIVE', `shard "${to}" is not active (${this.ctx.catalog.snapshot().shard(to)?.status ?? 'unknown to the catalog'}): moves go to active shards only`, SqlState.ObjectInUse);
    // by any member of the catalog: a key moves one move at a time
    for (const r of await this.ctx.catalog.migrations({ unsettled: true })) {
      if (r.key === key && (r.owner === null || (await this.ctx.alive(r.owner)))) throw new ProxyError('MOVE_RUNNING', `${key} is being moved already (migration ${r.id}, by ${r.owner ?? 'a process being settled'})`, SqlState.ObjectInUse);
    }
    const source = this.shard(from);
    const target = this.shard(to);
    const catalog = this.ctx.catalog;
    const id = await catalog.addMigration({ key, account, domain, from, to, state: MoveState.Preparing, owner: MOVER_OWNER });
    const m: Migration = { id, key, account, domain, from, to, state: MoveState.Preparing, rows: 0, bytes: 0, startedAt: Date.now(), pauseMs: null, elapsedMs: null };
    this.live.set(id, m);
    for (const old of this.live.keys()) if (this.live.size > 100 && isSettled(this.live.get(old)!.state)) this.live.delete(old);
    let cancelled = false;
    let wakeCancel: () => void = () => {};
    const cancelledP = new Promise<void>((r) => (wakeCancel = r));
    m.cancel = () => {
      cancelled = true;
      wakeCancel();
    };
    const checkCancel = (): void => {
      if (cancelled) throw new ProxyError('MOVE_CANCELLED', `migration ${id} of ${key} was cancelled (CANCEL MIGRATION)`, SqlState.QueryCanceled);
    };
    // each step is in the catalog before it is taken; a failpoint lets a test stop the process exactly there
    const step = async (state: MoveState): Promise<void> => {
      m.state = state;
      await catalog.updateMigration(id, { state, rows: m.rows, bytes: m.bytes });
      logger.info('migration step', { id, key, from, to, state, rows: m.rows });
      await failpoint(`move.${state}`);
    };
    let src: pg.Client | null = null;
    let dst: pg.Client | null = null;
    let capture: ChangeCapture | null = null;
    let fenced = false;
    let fencedAt = 0;
    let flipped = false;
    try {
      [src, dst] = await Promise.all([connectShard(source), connectShard(target)]);
      const tables: CaptureTable[] = [];
      for (const table of d.tables) tables.push({ table, column: this.columnOf(table), shape: await tableShape(src, table) });
      await catalog.updateMigration(id, { detail: JSON.stringify({ tables: d.tables } satisfies MoveDetail) });
      await ChangeCapture.prepare(src);
      capture = new ChangeCapture(src, dst, id, account, tables);
      await capture.install(performance.now() + cfg.shard_manager.capture_timeout_ms, () => cancelled);
      await failpoint(`move.${MoveState.Preparing}`);
      checkCancel();
      await step(MoveState.Copying);
      await dst.query('begin');
      // what a failed earlier move may have left on the target goes first
      for (const t of tables) await dst.query(`delete from ${ident(t.table)} where ${ident(t.column)} = ${literal(account)}`);
      const copied = await capture.round(null);
      m.rows += copied.rows;
      m.bytes += copied.bytes;
      let since = copied.next;
      checkCancel();
      await step(MoveState.CatchingUp);
      for (let i = 0; i < MAX_ROUNDS; i++) {
        const r = await capture.round(since);
        m.rows += r.rows;
        m.bytes += r.bytes;
        since = r.next;
        checkCancel();
        if (r.changed <= cfg.shard_manager.catchup_rows) break;
      }
      // one more round, then the whole copy checked at its snapshot (count and checksum per table), outside the fence
      const checked = await capture.round(since, true);
      m.rows += checked.rows;
      m.bytes += checked.bytes;
      since = checked.next;
      if (checked.mismatch) throw verifyFailed(key, from, checked.mismatch);
      checkCancel();
      await step(MoveState.Fencing);
      fenced = true;
      fencedAt = performance.now();
      // requests and transactions that use the key finish first; one that does not in time aborts the move, not them
      await this.ctx.fence.close(key, id, fenceTimeoutMs, cancelledP);
      checkCancel();
      await step(MoveState.FinalCatchUp);
      const last = await capture.round(since);
      m.rows += last.rows;
      m.bytes += last.bytes;
      await capture.advanceSequences();
      await step(MoveState.Verifying);
      // under the fence only the final round's rows: the rest was checked whole before it and has not changed since
      const differs = await capture.check(last.keys);
      if (differs) throw verifyFailed(key, from, differs);
      checkCancel();
      // from here on the move completes: the copy is committed and the placement flips (a restart finishes it)
      m.cancel = undefined;
      await step(MoveState.Flipping);
      await dst.query('commit');
      await failpoint('move.committed');
      await catalog.setPlacement(key, to, `migrate ${id} from ${from}`);
      flipped = true;
      this.ctx.invalidate(key);
      m.pauseMs = Math.round(performance.now() - fencedAt);
      await this.ctx.fence.open(key, id);
      fenced = false;
      logger.info('fence opened', { id, key, pauseMs: m.pauseMs });
      await step(MoveState.Cleaning);
      const grace = cfg.shard_manager.cleanup_grace_ms;
      if (grace > 0) await new Promise((r) => setTimeout(r, grace));
      for (const t of tables) await src.query(`delete from ${ident(t.table)} where ${ident(t.column)} = ${literal(account)}`);
      await ChangeCapture.remove(src, id);
      await step(MoveState.Done);
    } catch (e) {
      m.error = (e as Error).message;
      logger.warn('migration failed', { id, key, from, to, state: m.state, error: m.error });
      await dst?.query('rollback').catch(() => {});
      if (!flipped) {
        // the placement never left the source: the target keeps nothing of the key, the source no triggers
        await dst?.query(`begin; ${d.tables.map((t) => `delete from ${ident(t)} where ${ident(this.columnOf(t))} = ${literal(account)}`).join('; ')}; commit`).catch(() => {});
        if (src) await ChangeCapture.remove(src, id).catch(() => {});
      }
      // past the flip the move is kept as cleaning: the restart's recovery deletes the old rows
      m.state = flipped ? MoveState.Cleaning : cancelled && m.cancel !== undefined ? MoveState.Cancelled : MoveState.Failed;
    } finally {
      if (fenced) {
        m.pauseMs = Math.round(performance.now() - fencedAt);
        await this.ctx.fence.open(key, id).catch(() => {});
        logger.info('fence opened', { id, key, pauseMs: m.pauseMs });
      }
      m.elapsedMs = Date.now() - m.startedAt;
      m.cancel = undefined;
      await catalog.updateMigration(id, { state: m.state, rows: m.rows, bytes: m.bytes, pauseMs: m.pauseMs, elapsedMs: m.elapsedMs, error: m.error ?? null, owner: isSettled(m.state) ? null : MOVER_OWNER }).catch((e: unknown) => {
        logger.warn('migration: its end could not be recorded in the catalog (a restart settles it)', { id, error: (e as Error).message });
      });
      await Promise.all([src?.end().catch(() => {}), dst?.end().catch(() => {})]);
    }
    return m;
  }
}

function verifyFailed(key: string, from: string, d: Mismatch): ProxyError {
  return new ProxyError('MOVE_VERIFY_FAILED', `${key}: table ${d.table} differs after the copy (source ${d.source.rows} rows, checksum ${d.source.sum}; target ${d.target.rows} rows, checksum ${d.target.sum}): the placement stays on ${from}`, SqlState.DataCorrupted);
}
