// bulk owns fast batched loading with node-postgres: INSERT … SELECT FROM unnest($1::type[], …) ON CONFLICT DO NOTHING.
import type pg from 'pg';

export class BulkTable {
  private cols: unknown[][];
  rows = 0;
  inserted = 0;
  constructor(readonly table: string, readonly spec: [column: string, pgType: string][], readonly batch = 5000) {
    this.cols = spec.map(() => []);
  }
  /** queue one row (values in spec order); flushes when the batch is full */
  async add(db: pg.ClientBase, row: unknown[]): Promise<void> {
    for (let i = 0; i < row.length; i++) this.cols[i]!.push(row[i]);
    this.rows++;
    if (this.cols[0]!.length >= this.batch) await this.flush(db);
  }
  async flush(db: pg.ClientBase): Promise<void> {
    if (!this.cols[0]!.length) return;
    const names = this.spec.map(([c]) => c).join(', ');
    const unnest = this.spec.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ');
    const r = await db.query(`INSERT INTO ${this.table} (${names}) SELECT * FROM unnest(${unnest}) ON CONFLICT DO NOTHING`, this.cols);
    this.inserted += r.rowCount ?? 0;
    this.cols = this.spec.map(() => []);
  }
}

/** Split a schema file into statements (no function bodies in it, so `;` at line end is a statement end). */
export function statements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
