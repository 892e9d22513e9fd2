// replay owns `prescient workload replay`: replaying CloudTrail events as SQL transactions tagged with each event's own name, per identity in order and in (scaled) time.
import { appendFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { ACTIONS, actionByName } from './actions.js';
import { accountIdFor, byEvents, byIdentity, mapEvent, mapStats, readCloudTrail, tally, type MapStats, type ServiceStats, type TrailEvent } from './cloudtrail.js';
import { genericAction } from './genericActions.js';
import { ensureAccount } from './replaySeed.js';
import { Flags } from './flags.js';
import { applySchema } from './load.js';
import { makeRng } from './rng.js';
import type { Action, ActionLogEntry, LedgerEntry } from './types.js';

export interface ReplayOptions {
  target: string;
  cloudtrail: string;
  /** trail time / wall time; 0 = as fast as possible. Default 60. */
  speedup?: number;
  /** max concurrent transactions (pool size). Default 16. */
  concurrency?: number;
  /** append acknowledged writes here as LedgerEntry NDJSON (for `workload verify`) */
  ledger?: string;
  /** sqlcommenter tags on every statement (default true) */
  tagged?: boolean;
  /** append one line per replayed event here (ActionLogEntry NDJSON, with readOnly: what the event's record says) */
  log?: string;
  warn?: (msg: string) => void;
}

export interface ReplaySummary {
  mapping: MapStats;
  filesRead: number;
  filesSkipped: number;
  accounts: number;
  replayed: number;
  /** events replayed as reads */
  reads: number;
  /** acknowledged writes (each in the ledger) */
  writes: number;
  errors: number;
  /** first few error messages, "action: message" */
  errorSamples: string[];
  /** by the event's own name (the action it is tagged and logged as), most first */
  perAction: Record<string, { count: number; errors: number }>;
  /** by what ran: a catalogue action's name, `generic read` or `generic write` */
  perTransaction: Record<string, number>;
  /** events replayed, by service: reads, writes, known (a catalogue action) and generic (generic_resources) */
  perService: Record<string, ServiceStats>;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  wallMs: number;
  speedup: number;
  concurrency: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const round = (x: number): number => Math.round(x * 100) / 100;

export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  const speedup = o.speedup ?? 60;
  const concurrency = o.concurrency ?? 16;
  const tagged = o.tagged ?? true;
  const read = readCloudTrail(o.cloudtrail, o.warn);
  const groups = byIdentity(read.events);
  const pool = new pg.Pool({ connectionString: o.target, max: concurrency });
  pool.on('error', () => {});
  const perAction: ReplaySummary['perAction'] = {};
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  const perTransaction: Record<string, number> = {};
  const perService: Record<string, ServiceStats> = {};
  let errors = 0;
  let reads = 0;
  let writes = 0;
  const accounts = new Set<string>();
  const start = Date.now();

  const one = async (identity: string, events: TrailEvent[]): Promise<void> => {
    const first = events[0]!;
    const id = accountIdFor(first.account, identity);
    accounts.add(id);
    const seedDb = await pool.connect();
    const account = await ensureAccount(seedDb, id, 'cloudtrail').finally(() => seedDb.release());
    const ctx = { account, rng: makeRng(id), tagged };
    for (const ev of events) {
      if (speedup > 0) {
        const due = start + (ev.time - first.time) / speedup; // each identity starts at replay start
        if (due > Date.now()) await sleep(due - Date.now());
      }
      const name = ev.eventName;
      const m = mapEvent(ev, ACTIONS);
      const action: Action | undefined = m.kind === 'generic'
        ? genericAction({ name, service: m.service, resource: m.resource, write: m.write, time: ev.time, requestParameters: ev.requestParameters })
        : actionByName(m.action!);
      const stat = (perAction[name] ??= { count: 0, errors: 0 });
      stat.count++;
      const ran = m.action ?? (m.write ? 'generic write' : 'generic read');
      perTransaction[ran] = (perTransaction[ran] ?? 0) + 1;
      tally(perService, m);
      if (!m.write) reads++;
      const db = await pool.connect();
      const t = performance.now();
      const logLine = (ok: boolean, error?: string): void => {
        if (!o.log) return;
        const e: ActionLogEntry = { t: Date.now(), account: id, action: name, domain: action?.domain ?? '', latencyMs: Math.round((performance.now() - t) * 1000) / 1000, rows: 0, ok, readOnly: !m.write, ...(error ? { error } : {}) };
        appendFileSync(o.log, JSON.stringify(e) + '\n');
      };
      try {
        if (!action) throw new Error(`no action named ${ran}`);
        const r = await action.run(db, { ...ctx, as: name });
        latencies.push(performance.now() - t);
        logLine(true);
        if (action.write && r.seq !== undefined) {
          writes++;
          account.nextSeq = r.seq + 1;
          if (o.ledger) {
            const e: LedgerEntry = { account: id, seq: r.seq, action: name, t: Date.now() };
            appendFileSync(o.ledger, JSON.stringify(e) + '\n');
          }
        }
        db.release();
      } catch (e) {
        latencies.push(performance.now() - t);
        logLine(false, (e as Error).message);
        errors++;
        stat.errors++;
        if (errorSamples.length < 10) errorSamples.push(`${name}: ${(e as Error).message}`);
        db.release(true);
      }
    }
  };

  try {
    await Promise.all([...groups].map(([identity, events]) => one(identity, events)));
  } finally {
    await pool.end().catch(() => {});
  }
  const sorted = latencies.sort((a, b) => a - b);
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
  return {
    mapping: mapStats(read.events, ACTIONS),
    filesRead: read.files,
    filesSkipped: read.skipped.length,
    accounts: accounts.size,
    replayed: latencies.length,
    reads,
    writes,
    errors,
    errorSamples,
    perAction: Object.fromEntries(Object.entries(perAction).sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))),
    perTransaction: Object.fromEntries(Object.entries(perTransaction).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    perService: byEvents(perService),
    latencyMs: { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? 0), mean: round(mean) },
    wallMs: Date.now() - start,
    speedup,
    concurrency,
  };
}

/** The first `n` entries as text, then how many more there are. */
function head<T>(entries: [string, T][], n: number, fmt: (k: string, v: T) => string): string {
  const shown = entries.slice(0, n).map(([k, v]) => fmt(k, v)).join(', ');
  return entries.length > n ? `${shown}, … ${entries.length - n} more` : shown;
}

export function formatSummary(s: ReplaySummary): string {
  const m = s.mapping;
  const lines = [
    `cloudtrail: ${m.events} events from ${s.filesRead} files (${s.filesSkipped} skipped), ${m.identities} identities; ${m.reads} reads, ${m.writes} writes; ${m.direct} direct, ${m.mapped} mapped to a catalogue action, ${m.generic} generic`,
    `replayed ${s.replayed} events for ${s.accounts} accounts in ${(s.wallMs / 1000).toFixed(2)} s (speedup ${s.speedup === 0 ? 'max' : s.speedup}, concurrency ${s.concurrency}): ${s.reads} reads, ${s.writes} writes, ${s.errors} errors`,
    `latency ms: p50 ${s.latencyMs.p50}, p90 ${s.latencyMs.p90}, p99 ${s.latencyMs.p99}, max ${s.latencyMs.max}, mean ${s.latencyMs.mean}`,
    'per service (reads/writes, known/generic): ' + head(Object.entries(s.perService), 12, (k, v) => `${k} ${v.events} (${v.reads}/${v.writes}, ${v.known}/${v.generic})`),
    'per action: ' + head(Object.entries(s.perAction), 25, (k, v) => `${k} ${v.count}${v.errors ? ` (${v.errors} errors)` : ''}`),
    'ran as: ' + head(Object.entries(s.perTransaction), 25, (k, v) => `${k} ${v}`),
    ...s.errorSamples.map((e) => `error: ${e}`),
  ];
  return lines.join('\n');
}

const USAGE = 'usage: prescient workload replay --target URL --cloudtrail DIR [--speedup X] [--concurrency N] [--json FILE] [--ledger FILE] [--log FILE] [--schema] [--untagged]\n';

export async function main(args: string[]): Promise<number> {
  const f = new Flags(args);
  const target = f.str('target');
  const cloudtrail = f.str('cloudtrail');
  const speedup = f.num('speedup', 60);
  const concurrency = f.num('concurrency', 16);
  if (!target || !cloudtrail || speedup < 0 || concurrency < 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (f.bool('schema')) {
    const db = new pg.Client({ connectionString: target });
    await db.connect();
    await applySchema(db).finally(() => db.end());
  }
  const ledger = f.str('ledger');
  if (ledger) writeFileSync(ledger, '');
  const log = f.str('log');
  if (log) writeFileSync(log, '');
  const s = await replay({
    target, cloudtrail, speedup, concurrency, ledger, log, tagged: !f.bool('untagged'),
    warn: (m) => process.stderr.write(m + '\n'),
  });
  process.stdout.write(formatSummary(s) + '\n');
  const json = f.str('json');
  if (json) writeFileSync(json, JSON.stringify(s, null, 2) + '\n');
  return s.errors ? 1 : 0;
}
