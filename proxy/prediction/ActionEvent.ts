// ActionEvent owns the action-log record and its NDJSON file format (one JSON object per line), read and written.
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * One routed action of one account: what the proxy's action log appends and `prescient log export` writes. Only
 * `t`, `account` and `action` are required; the rest is recorded when known. Field names are part of the file
 * format: add fields, never rename them.
 */
export interface ActionEvent {
  /** when the action started, ms since the epoch */
  t: number;
  account: string;
  /** the action name (sqlcommenter `action`, a workload action, a CloudTrail eventName) */
  action: string;
  /** data domain (colocation group) the action touched */
  domain?: string;
  shard?: string;
  /** backend time spent on the action, µs */
  backendUs?: number;
  /** rows returned or affected */
  rows?: number;
  /** false: the action failed (error or rollback) */
  ok?: boolean;
  /** the action only read */
  readOnly?: boolean;
}

const OPTIONAL = { domain: 'string', shard: 'string', backendUs: 'number', rows: 'number', ok: 'boolean', readOnly: 'boolean' } as const;

/** Parses one NDJSON line; throws with the reason when the line is not an ActionEvent. Unknown fields are dropped. */
export function parseActionEvent(line: string): ActionEvent {
  const o = JSON.parse(line) as Record<string, unknown>;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('not a JSON object');
  if (typeof o.t !== 'number' || !Number.isFinite(o.t)) throw new Error('t: expected a number (ms since the epoch)');
  if (typeof o.account !== 'string' || o.account === '') throw new Error('account: expected a non-empty string');
  if (typeof o.action !== 'string' || o.action === '') throw new Error('action: expected a non-empty string');
  const ev: ActionEvent = { t: o.t, account: o.account, action: o.action };
  for (const [k, type] of Object.entries(OPTIONAL)) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== type) throw new Error(`${k}: expected a ${type}`);
    (ev as unknown as Record<string, unknown>)[k] = v;
  }
  return ev;
}

/** One NDJSON line (without the newline), fields in a fixed order. */
export function formatActionEvent(ev: ActionEvent): string {
  const o: Record<string, unknown> = { t: ev.t, account: ev.account, action: ev.action };
  for (const k of Object.keys(OPTIONAL) as (keyof typeof OPTIONAL)[]) if (ev[k] !== undefined) o[k] = ev[k];
  return JSON.stringify(o);
}

/** Parses NDJSON text: blank lines are skipped, a bad line throws with its line number. */
export function parseActionLog(text: string): ActionEvent[] {
  const out: ActionEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      out.push(parseActionEvent(line));
    } catch (e) {
      throw new Error(`line ${i + 1}: ${(e as Error).message}`);
    }
  }
  return out;
}

export function formatActionLog(events: readonly ActionEvent[]): string {
  return events.map((e) => formatActionEvent(e) + '\n').join('');
}

export function readActionLog(path: string): ActionEvent[] {
  try {
    return parseActionLog(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

export function writeActionLog(path: string, events: readonly ActionEvent[]): void {
  writeFileSync(path, formatActionLog(events));
}

/** Events grouped by account, each group sorted by time (stable: input order breaks ties). */
export function byAccount(events: readonly ActionEvent[]): Map<string, ActionEvent[]> {
  const m = new Map<string, ActionEvent[]>();
  for (const e of events) {
    const g = m.get(e.account);
    if (g) g.push(e);
    else m.set(e.account, [e]);
  }
  for (const g of m.values()) g.sort((a, b) => a.t - b.t);
  return m;
}

/** The same events with each run of identical consecutive actions of an account reduced to its first event. */
export function collapseRepeats(events: readonly ActionEvent[]): ActionEvent[] {
  const last = new Map<string, string>();
  const out: ActionEvent[] = [];
  for (const e of [...events].sort((a, b) => a.t - b.t)) {
    if (last.get(e.account) === e.action) continue;
    last.set(e.account, e.action);
    out.push(e);
  }
  return out;
}
