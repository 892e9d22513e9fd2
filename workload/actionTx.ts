// actionTx owns how an action talks to Postgres: sqlcommenter tags, BEGIN … COMMIT, the write_log row and post-commit hooks.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { ActionContext, ActionResult, Rng } from './types.js';
import { pick } from './rng.js';

export interface Tx {
  /** run one parameterized statement; returns its result (rows counted into the action's total) */
  q(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** run `fn` only once the transaction has committed (resource-list bookkeeping) */
  onCommit(fn: () => void): void;
  ctx: ActionContext;
  /** the account id ($1 in every statement) */
  account: string;
}

/** The sqlcommenter prefix for account + action (values URL-encoded as sqlcommenter specifies). */
export function tag(account: string, action: string): string {
  return `/* account='${encodeURIComponent(account)}',action='${encodeURIComponent(action)}' */ `;
}

/** A fresh resource id (not from the seeded Rng: repeated runs with one seed must not collide). */
export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** The account's id list for a resource table (created on first use). */
export function ids(ctx: ActionContext, table: string): string[] {
  return (ctx.account.resources[table] ??= []);
}

/** An existing id of `table`, or a placeholder that matches no row (the statement then affects 0 rows, no error). */
export function existing(ctx: ActionContext, table: string, prefix: string): string {
  return pick(ctx.rng, ids(ctx, table)) ?? `${prefix}-00000000000000000`;
}

/** Up to `n` distinct-ish existing ids of `table`. */
export function some(ctx: ActionContext, table: string, n: number): string[] {
  const list = ids(ctx, table);
  const out = new Set<string>();
  for (let i = 0; i < n && list.length; i++) out.add(list[ctx.rng.int(list.length)]!);
  return [...out];
}

export function forget(ctx: ActionContext, table: string, id: string): void {
  const list = ids(ctx, table);
  const i = list.indexOf(id);
  if (i >= 0) {
    list[i] = list[list.length - 1]!;
    list.pop();
  }
}

export function oneOf<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

/**
 * Run `body` as one action. Writes: BEGIN, body, INSERT write_log (seq = nextSeq), COMMIT, then the onCommit hooks;
 * returns { rows, seq } (the caller advances nextSeq). `ctx.as`, when set, replaces `action` in the tag and write_log. Reads: BEGIN … COMMIT around several statements; a
 * single-statement read (`single`) runs as its own implicit transaction.
 */
export async function transact(
  db: pg.ClientBase, ctx: ActionContext, action: string, write: boolean, body: (tx: Tx) => Promise<void>, single = false,
): Promise<ActionResult> {
  action = ctx.as ?? action;
  const prefix = ctx.tagged ? tag(ctx.account.id, action) : '';
  let rows = 0;
  const hooks: (() => void)[] = [];
  const tx: Tx = {
    ctx,
    account: ctx.account.id,
    onCommit: (fn) => void hooks.push(fn),
    q: async (sql, params) => {
      const r = await db.query(prefix + sql, params);
      rows += r.command === 'SELECT' ? r.rows.length : (r.rowCount ?? 0);
      return r;
    },
  };
  if (!write && single) {
    await body(tx);
    return { rows };
  }
  await db.query(prefix + 'BEGIN');
  try {
    await body(tx);
    const seq = write ? ctx.account.nextSeq : undefined;
    if (write) await db.query(prefix + 'INSERT INTO write_log (account_id, seq, action) VALUES ($1, $2, $3)', [ctx.account.id, seq, action]);
    await db.query(prefix + 'COMMIT');
    for (const h of hooks) h();
    return seq === undefined ? { rows } : { rows, seq };
  } catch (e) {
    await db.query(prefix + 'ROLLBACK').catch(() => {});
    throw e;
  }
}
