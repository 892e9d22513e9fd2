// honestClient owns the honest client: a node-postgres client through the proxy inserting a counter all run long, and the direct check of its writes.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { makeRng } from '../../workload/rng.js';
import type { PgTarget } from './target.js';
import type { HonestSummary } from './types.js';

type Mode = 'autocommit' | 'simple' | 'tx' | 'named' | 'tx-named';
const MODES: Mode[] = ['autocommit', 'simple', 'tx', 'named', 'tx-named'];

/** A connection-level failure leaves the fate of the write unknown (the commit may have happened). */
function ambiguous(code: string): boolean {
  return code === 'no-sqlstate' || code.startsWith('08') || code.startsWith('57P') || code === 'client-timeout';
}

export class HonestClient {
  /** the honest table: a random name fuzz inputs cannot know */
  readonly table = `honest_${randomBytes(6).toString('hex')}`;
  private readonly acked = new Set<number>();
  private readonly attempted = new Set<number>();
  private readonly unknown = new Set<number>();
  private readonly errors = new Map<string, number>();
  private readonly firstErrors: string[] = [];
  private refused = 0;
  private ops = 0;
  private maxLatencyMs = 0;
  private next = 1;
  /** when the last operation succeeded (the run stops early when the proxy stops serving) */
  lastSuccessAt = Date.now();
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly proxy: { host: string; port: number },
    private readonly login: { user: string; password: string; database: string },
    private readonly direct: PgTarget,
    private readonly seed: string,
  ) {}

  /** Creates the table directly in Postgres (owned by the direct user, writable by the proxy's server user). */
  async prepare(): Promise<void> {
    const c = new pg.Client({ ...this.direct });
    await c.connect();
    try {
      await c.query(`create table public.${this.table} (n bigint not null, at timestamptz not null default clock_timestamp())`);
      await c.query(`grant all on public.${this.table} to public`);
    } finally {
      await c.end();
    }
  }

  private record(code: string, what: string, values: number[]): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    if (this.firstErrors.length < 10) this.firstErrors.push(`${new Date().toISOString()} ${what}: ${code}`);
    if (ambiguous(code)) for (const v of values) this.unknown.add(v);
  }

  private newClient(): pg.Client {
    const c = new pg.Client({ ...this.proxy, ...this.login, connectionTimeoutMillis: 10_000, query_timeout: 15_000, application_name: 'prescient-fuzz-honest' });
    c.on('error', () => {});
    return c;
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const rng = makeRng(`${this.seed}/honest`);
    const insert = `insert into public.${this.table} (n) values ($1)`;
    let client: pg.Client | null = null;
    let opsOnClient = 0;
    while (!this.stopping) {
      if (!client || opsOnClient >= 100 + rng.int(100)) {
        if (client) await client.end().catch(() => {});
        client = this.newClient();
        opsOnClient = 0;
        try {
          await client.connect();
        } catch (e) {
          this.refused++;
          this.record(codeOf(e), 'connect', []);
          client = null;
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
      }
      const mode = MODES[rng.int(MODES.length)]!;
      const values = mode === 'tx' || mode === 'tx-named' ? [this.next++, this.next++] : [this.next++];
      for (const v of values) this.attempted.add(v);
      const t0 = Date.now();
      let inTx = false;
      try {
        switch (mode) {
          case 'autocommit':
            await client.query(insert, [values[0]]);
            break;
          case 'simple':
            await client.query(`insert into public.${this.table} (n) values (${values[0]})`);
            break;
          case 'named':
            await client.query({ name: 'honest_ins', text: insert, values: [values[0]] });
            break;
          case 'tx':
          case 'tx-named':
            await client.query('begin');
            inTx = true;
            for (const v of values) {
              if (mode === 'tx') await client.query(insert, [v]);
              else await client.query({ name: 'honest_ins', text: insert, values: [v] });
            }
            await client.query('commit');
            inTx = false;
            break;
        }
        for (const v of values) this.acked.add(v);
        this.lastSuccessAt = Date.now();
      } catch (e) {
        const code = codeOf(e);
        this.record(code, mode, values);
        if (inTx) await client.query('rollback').catch(() => {});
        if (ambiguous(code)) {
          await client.end().catch(() => {});
          client = null;
        }
      }
      this.ops++;
      opsOnClient++;
      this.maxLatencyMs = Math.max(this.maxLatencyMs, Date.now() - t0);
    }
    if (client) await client.end().catch(() => {});
  }

  /** Stops the loop after the operation in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** Reads the table directly from Postgres: lost = acked and missing; phantom = present, never acked and not of unknown fate. */
  async check(): Promise<HonestSummary> {
    const c = new pg.Client({ ...this.direct });
    await c.connect();
    let rows: number[];
    try {
      rows = (await c.query<{ n: string }>(`select n from public.${this.table}`)).rows.map((r) => Number(r.n));
    } finally {
      await c.end();
    }
    const seen = new Map<number, number>();
    for (const n of rows) seen.set(n, (seen.get(n) ?? 0) + 1);
    const lost = [...this.acked].filter((n) => !seen.has(n)).sort((a, b) => a - b);
    const phantom = [...seen.keys()].filter((n) => this.attempted.has(n) && !this.acked.has(n) && !this.unknown.has(n)).sort((a, b) => a - b);
    const duplicates = [...seen.entries()].filter(([, k]) => k > 1).map(([n]) => n).sort((a, b) => a - b);
    const foreign = rows.filter((n) => !this.attempted.has(n)).length;
    return {
      ops: this.ops,
      acked: this.acked.size,
      lost,
      phantom,
      duplicates,
      foreign,
      unknownOutcome: this.unknown.size,
      errors: Object.fromEntries(this.errors),
      refused: this.refused,
      maxLatencyMs: this.maxLatencyMs,
      firstErrors: this.firstErrors,
    };
  }
}

function codeOf(e: unknown): string {
  const err = e as { code?: unknown; message?: string };
  if (typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) return err.code;
  if (err.message && /timeout/i.test(err.message)) return 'client-timeout';
  return 'no-sqlstate';
}
