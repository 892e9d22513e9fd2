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

export class BulkTable {
  private lines: string[] = [];
  rows = 0;
  inserted = 0;
  constructor(readonly table: string, readonly spec: [column: string, pgType: string][], readonly batch = 20000) {}
  /** queue one row (values in spec order); flushes when the batch is full */
  async add(db: pg.ClientBase, row: unknown[]): Promise<void> {
    this.lines.push(row.map(copyText).join('\t') + '\n');
    this.rows++;
    if (this.lines.length >= this.batch) await this.flush(db);
  }
  /**
   * COPY the batch into a temp table and move it over with ON CONFLICT DO NOTHING, so loading the same seed
   * twice is harmless; one transaction, so it stays on one server connection behind a transaction pooler.
   */
  async flush(db: pg.ClientBase): Promise<void> {
    if (this.lines.length === 0) return;
    const names = this.spec.map(([c]) => c).join(', ');
    const lines = this.lines;
    this.lines = [];
    await db.query('BEGIN');
    try {
      await db.query(`CREATE TEMP TABLE load_batch (LIKE ${this.table} INCLUDING DEFAULTS) ON COMMIT DROP`);
      await pipeline(Readable.from(chunks(lines)), db.query(copyFrom(`COPY load_batch (${names}) FROM STDIN`)));
      const r = await db.query(`INSERT INTO ${this.table} (${names}) SELECT ${names} FROM load_batch ON CONFLICT DO NOTHING`);
      await db.query('COMMIT');
      this.inserted += r.rowCount ?? 0;
    } catch (e) {
      await db.query('ROLLBACK').catch(() => {});
      throw e;
    }
  }
}

/** Split a schema file into statements (no function bodies in it, so `;` at line end is a statement end). */
export function statements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
