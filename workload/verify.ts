// verify owns `prescient workload verify`: checking ledger NDJSON files against write_log on every target (missing, duplicated, out of order).
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { LedgerEntry } from './types.js';

export interface WriteRow {
  account: string;
  seq: number;
  /** which target (index into the target list) the row came from */
  target: number;
}

export interface AccountSeq {
  account: string;
  seq: number;
}

export interface VerifyReport {
  /** acknowledged writes in the ledger(s) (distinct account+seq) */
  writes: number;
  accounts: number;
  missing: AccountSeq[];
  /** account+seq present more than once across all targets, with the count */
  duplicated: (AccountSeq & { count: number })[];
  /** within one target, ordered by (at, id): a row whose seq is lower than the row before it */
  outOfOrder: (AccountSeq & { after: number; target: number })[];
  /** rows in the DB whose account+seq is not in the ledger (unacknowledged writes; not an error) */
  unacknowledged: number;
  ok: boolean;
}

const key = (account: string, seq: number): string => `${account}\u0000${seq}`;

/** Parses ledger NDJSON text (blank lines ignored; a torn last line is ignored). */
export function parseLedger(text: string): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const e = JSON.parse(line) as LedgerEntry;
      if (typeof e.account === 'string' && Number.isInteger(e.seq)) out.push(e);
    } catch (err) {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim())) throw new Error(`bad ledger line ${i + 1}: ${(err as Error).message}`);
    }
  });
  return out;
}

/** Pure check: `rows` must be in (at, id) order per target. */
export function check(ledger: LedgerEntry[], rows: WriteRow[]): VerifyReport {
  const acked = new Map<string, AccountSeq>();
  for (const e of ledger) acked.set(key(e.account, e.seq), { account: e.account, seq: e.seq });
  const counts = new Map<string, AccountSeq & { count: number }>();
  const last = new Map<string, number>(); // target+account → last seq
  const outOfOrder: VerifyReport['outOfOrder'] = [];
  for (const r of rows) {
    const k = key(r.account, r.seq);
    const c = counts.get(k);
    if (c) c.count++;
    else counts.set(k, { account: r.account, seq: r.seq, count: 1 });
    const lk = `${r.target}\u0000${r.account}`;
    const prev = last.get(lk);
    if (prev !== undefined && r.seq < prev) outOfOrder.push({ account: r.account, seq: r.seq, after: prev, target: r.target });
    last.set(lk, prev === undefined ? r.seq : Math.max(prev, r.seq));
  }
  const missing = [...acked.entries()].filter(([k]) => !counts.has(k)).map(([, v]) => v);
  const duplicated = [...counts.values()].filter((c) => c.count > 1);
  let unacknowledged = 0;
  for (const k of counts.keys()) if (!acked.has(k)) unacknowledged++;
  const accounts = new Set([...acked.values()].map((v) => v.account)).size;
  return {
    writes: acked.size,
    accounts,
    missing,
    duplicated,
    outOfOrder,
    unacknowledged,
    ok: missing.length === 0 && duplicated.length === 0 && outOfOrder.length === 0,
  };
}

/**
 * Reads write_log from one target, in (account, at, id) order. The sort columns are selected too, so a sharding
 * proxy can merge the keyless read from every shard in that order (it sorts by output columns only).
 */
export async function readWriteLog(url: string, target: number): Promise<WriteRow[]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    const r = await c.query<{ account_id: string; seq: string }>(
      'select account_id::text as account_id, seq::text as seq, at, id from write_log order by account_id, at, id',
    );
    return r.rows.map((x) => ({ account: x.account_id, seq: Number(x.seq), target }));
  } finally {
    await c.end().catch(() => {});
  }
}

const few = (xs: AccountSeq[]): string => xs.slice(0, 5).map((x) => `${x.account}/${x.seq}`).join(', ') + (xs.length > 5 ? ', …' : '');

export function formatReport(r: VerifyReport): string {
  const head = `verified ${r.writes} writes for ${r.accounts} accounts: ${r.missing.length} missing, ${r.duplicated.length} duplicated, ${r.outOfOrder.length} out of order`;
  const lines = [head];
  if (r.missing.length) lines.push(`missing (account/seq): ${few(r.missing)}`);
  if (r.duplicated.length) lines.push(`duplicated (account/seq): ${r.duplicated.slice(0, 5).map((d) => `${d.account}/${d.seq} ×${d.count}`).join(', ')}${r.duplicated.length > 5 ? ', …' : ''}`);
  if (r.outOfOrder.length) lines.push(`out of order (account/seq after seq, target): ${r.outOfOrder.slice(0, 5).map((o) => `${o.account}/${o.seq} after ${o.after} on target ${o.target + 1}`).join(', ')}${r.outOfOrder.length > 5 ? ', …' : ''}`);
  if (r.unacknowledged) lines.push(`${r.unacknowledged} unacknowledged writes in the DB (not in the ledger; not an error)`);
  return lines.join('\n');
}

function multi(args: string[], name: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === name && args[i + 1] !== undefined) out.push(args[i + 1]!);
    else if (a.startsWith(name + '=')) out.push(a.slice(name.length + 1));
  });
  return out;
}

export async function verify(ledgerFiles: string[], targets: string[]): Promise<VerifyReport> {
  const ledger = ledgerFiles.flatMap((f) => parseLedger(readFileSync(f, 'utf8')));
  const rows = (await Promise.all(targets.map((u, i) => readWriteLog(u, i)))).flat();
  return check(ledger, rows);
}

export async function main(args: string[]): Promise<number> {
  const ledgers = multi(args, '--ledger');
  const targets = multi(args, '--target');
  if (!ledgers.length || !targets.length) {
    process.stderr.write('usage: prescient workload verify --ledger FILE [--ledger FILE2 …] --target URL [--target URL2 …]\n');
    return 2;
  }
  const report = await verify(ledgers, targets);
  process.stdout.write(formatReport(report) + '\n');
  return report.ok ? 0 : 1;
}
