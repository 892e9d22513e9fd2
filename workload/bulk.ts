// bulk owns fast loading with node-postgres: COPY FROM STDIN (pg-copy-streams) into a temp table, then INSERT … ON CONFLICT DO NOTHING.
import type pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';

/** One value in COPY's text format: \N for NULL; backslash, tab, newline and carriage return escaped. */
function copyText(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

/** Lines joined into pieces of about 64 KiB: one CopyData message each. */
function* chunks(lines: string[]): Generator<string> {
  let cur = '';
  for (const l of lines) {
    cur += l;
    if (cur.length >= 65536) {
      yield cur;
      cur = '';
    }
  }
  if (cur) yield cur;
}

/**
 * Per-account batches for a sharding proxy: every statement of a flush carries `prefix` (the sqlcommenter tag of
 * the batch's one account). A batch of at least `copyMin` rows is COPied into the staging table `pg_temp.<table>`
 * (so a proxy that derives the domain from a statement's first table, unqualified, sees the target table's domain
 * in CREATE TEMP TABLE and COPY too) and moved to the target qualified with `schema` (the temp table of the same
 * name shadows the unqualified one). A smaller batch is one INSERT … SELECT FROM jsonb_to_recordset($1): creating
 * and dropping the temp table costs about 10 ms, and most accounts' batches are a few rows.
 */
export interface AccountBatch {
  prefix: string;
  /** the target tables' schema, already quoted as an identifier */
  schema: string;
  copyMin: number;
}

export class BulkTable {
  private lines: string[] = [];
  /** per-account mode: the batch's rows as values (encoded for COPY or as JSON when flushed) */
  private values: unknown[][] = [];
  private perAccount: AccountBatch | null = null;
  rows = 0;
  inserted = 0;
  constructor(readonly table: string, readonly spec: [column: string, pgType: string][], readonly batch = 20000) {}
  /** Per-account mode: flush the rows queued so far (another account's), then tag the following batches with `b`. */
  async forAccount(db: pg.ClientBase, b: AccountBatch): Promise<void> {
    await this.flush(db);
    this.perAccount = b;
  }
  /** queue one row (values in spec order); flushes when the batch is full */
  async add(db: pg.ClientBase, row: unknown[]): Promise<void> {
    if (this.perAccount) this.values.push(row);
    else this.lines.push(row.map(copyText).join('\t') + '\n');
    this.rows++;
    if (this.lines.length + this.values.length >= this.batch) await this.flush(db);
  }
  /**
   * COPY the batch into a temp table and move it over with ON CONFLICT DO NOTHING, so loading the same seed
   * twice is harmless; one transaction, so it stays on one server connection behind a transaction pooler.
   */
  async flush(db: pg.ClientBase): Promise<void> {
    if (this.perAccount) return this.flushAccount(db, this.perAccount);
    if (this.lines.length === 0) return;
    const lines = this.lines;
    this.lines = [];
    await this.copy(db, lines, '', 'load_batch', this.table);
  }

  private async copy(db: pg.ClientBase, lines: string[], p: string, staging: string, target: string): Promise<void> {
    const names = this.spec.map(([c]) => c).join(', ');
    await db.query(p + 'BEGIN');
    try {
      await db.query(`${p}CREATE TEMP TABLE ${staging} (LIKE ${target} INCLUDING DEFAULTS) ON COMMIT DROP`);
      await pipeline(Readable.from(chunks(lines)), db.query(copyFrom(`${p}COPY ${staging} (${names}) FROM STDIN`)));
      const r = await db.query(`${p}INSERT INTO ${target} (${names}) SELECT ${names} FROM ${staging} ON CONFLICT DO NOTHING`);
      await db.query(p + 'COMMIT');
      this.inserted += r.rowCount ?? 0;
    } catch (e) {
      await db.query(p + 'ROLLBACK').catch(() => {});
      throw e;
    }
  }

  private async flushAccount(db: pg.ClientBase, a: AccountBatch): Promise<void> {
    if (this.values.length === 0) return;
    const rows = this.values;
    this.values = [];
    const target = `${a.schema}.${this.table}`;
    if (rows.length >= a.copyMin) {
      await this.copy(db, rows.map((row) => row.map(copyText).join('\t') + '\n'), a.prefix, `pg_temp.${this.table}`, target);
      return;
    }
    const names = this.spec.map(([c]) => c).join(', ');
    const json = rows.map((row) => Object.fromEntries(this.spec.map(([c, type], i) => {
      const v = row[i] ?? null;
      return [c, type === 'jsonb' && typeof v === 'string' ? JSON.parse(v) : v];
    })));
    const r = await db.query(
      `${a.prefix}INSERT INTO ${target} (${names}) SELECT ${names} FROM jsonb_to_recordset($1::jsonb) AS x(${this.spec.map(([c, t]) => `${c} ${t}`).join(', ')}) ON CONFLICT DO NOTHING`,
      [JSON.stringify(json)],
    );
    this.inserted += r.rowCount ?? 0;
  }
}

/** Split a schema file into statements (no function bodies in it, so `;` at line end is a statement end). */
export function statements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
