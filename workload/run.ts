// run owns `prescient workload run`: N agents (one pg.Client each) driving persona sessions, closed or open loop.
import { createWriteStream, writeFileSync, type WriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ACTIONS, RESOURCE_TABLES, actionByName } from './actions.js';
import { tag } from './actionTx.js';
import { Flags, parseDuration, redact } from './flags.js';
import { AgentPlan, parseHot, type HotSpec, type PlannedAccount } from './plan.js';
import { Zipf, makeRng } from './rng.js';
import { Recorder, table, type Summary } from './stats.js';
import type { AccountState, ActionLogEntry, LedgerEntry } from './types.js';

export interface RunOptions {
  target: string;
  agents: number;
  durationMs: number;
  zipf: number;
  seed: string;
  tagged: boolean;
  /** open loop: total arrivals per second (undefined = closed loop) */
  rate?: number;
  hot?: HotSpec;
  /** use only the first N accounts (by rank) */
  accounts?: number;
  thinkScale: number;
  ledger?: string;
  log?: string;
  /** called once when the run's clock starts (Date.now()): the time --hot's @TIME counts from */
  onStart?: (startedAtMs: number) => void;
  /** ends the run early: each agent stops before its next action */
  stop?: AbortSignal;
}

export interface RunReport {
  target: string; agents: number; seconds: number; mode: 'closed' | 'open'; rate?: number; zipf: number; seed: string;
  tagged: boolean; accounts: number; overall: Summary; actions: Record<string, Summary>; errorMessages: Record<string, number>;
}

/** Per-account serialization of writes, so write_log seq numbers stay 1, 2, 3, … per account across agents. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.tail.then(fn);
    this.tail = r.catch(() => {});
    return r;
  }
}

const DESCRIBE: Record<string, string> = {
  volumes: 'DescribeVolumes', volume_attachments: 'DescribeVolumes', snapshots: 'DescribeSnapshots', instances: 'DescribeInstances',
  images: 'DescribeImages', security_groups: 'DescribeSecurityGroups', key_pairs: 'DescribeKeyPairs', network_interfaces: 'DescribeNetworkInterfaces',
};

/** One action of each action domain (the first in ACTIONS): a tagged write lands its write_log row with its domain. */
const DOMAIN_ACTIONS: readonly string[] = [...new Map(ACTIONS.map((a) => [a.domain, a.name])).values()];

/**
 * An account's known resource ids and next ledger seq, read from the database (tagged like the domain's Describe).
 * Tagged, a write's write_log row goes wherever its action's domain is placed (a sharding proxy may map action
 * domains to different shards), so the highest seq is read once per action domain; untagged, write_log is routed
 * by its table, one place.
 */
export async function loadAccountState(db: pg.ClientBase, id: string, persona: string, tagged: boolean): Promise<AccountState> {
  const resources: Record<string, string[]> = {};
  for (const t of RESOURCE_TABLES) {
    const sql = `SELECT id FROM ${t} WHERE account_id = $1 AND ${t === 'instances' ? "state <> 'terminated'" : 'true'}`;
    const r = await db.query((tagged ? tag(id, DESCRIBE[t]!) : '') + sql, [id]);
    resources[t] = r.rows.map((x: { id: string }) => x.id);
  }
  let nextSeq = 1;
  for (const action of tagged ? DOMAIN_ACTIONS : ['']) {
    const s = await db.query((action ? tag(id, action) : '') + 'SELECT coalesce(max(seq), 0) + 1 AS next FROM write_log WHERE account_id = $1', [id]);
    nextSeq = Math.max(nextSeq, Number(s.rows[0].next));
  }
  return { id, persona, nextSeq, resources };
}

/**
 * The first `limit` accounts by rank (shorter id first, then id: acct-1, acct-2, …, acct-10). Sorted here, not by
 * `ORDER BY length(id)`: a sharding proxy merging a keyless read from every shard cannot order by an expression.
 */
export function rankAccounts(rows: readonly PlannedAccount[], limit?: number): PlannedAccount[] {
  const len = (s: string): number => [...s].length;
  const sorted = [...rows].sort((a, b) => len(a.id) - len(b.id) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return limit ? sorted.slice(0, Math.floor(limit)) : sorted;
}

function connect(target: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: target, connectionTimeoutMillis: 10_000 });
  c.on('error', () => {}); // a dropped connection surfaces as a query error; the agent reconnects
  return c.connect().then(() => c);
}

function writeLine(s: WriteStream | undefined, obj: LedgerEntry | ActionLogEntry): void {
  s?.write(JSON.stringify(obj) + '\n');
}

export async function runWorkload(o: RunOptions): Promise<RunReport> {
  const setup = await connect(o.target);
  let accounts: PlannedAccount[];
  try {
    const r = await setup.query<PlannedAccount>('SELECT id, persona FROM accounts');
    accounts = rankAccounts(r.rows, o.accounts);
  } finally {
    await setup.end();
  }
  if (!accounts.length) throw new Error('no accounts loaded (run `prescient workload load` first)');
  const zipf = new Zipf(accounts.length, o.zipf);
  const clients = await Promise.all(Array.from({ length: o.agents }, () => connect(o.target)));
  // account state, read before the clock starts (agents share it: one Node process)
  const states = new Map<string, AccountState>();
  const locks = new Map<string, Mutex>();
  for (let i = 0; i < accounts.length; i += clients.length) {
    await Promise.all(clients.map(async (c, j) => {
      const a = accounts[i + j];
      if (a) states.set(a.id, await loadAccountState(c, a.id, a.persona, o.tagged));
    }));
  }
  for (const a of accounts) locks.set(a.id, new Mutex());
  const ledger = o.ledger ? createWriteStream(o.ledger, { flags: 'a' }) : undefined;
  const log = o.log ? createWriteStream(o.log, { flags: 'a' }) : undefined;
  const rec = new Recorder();
  const t0 = performance.now();
  o.onStart?.(Date.now());
  const end = t0 + o.durationMs;
  const interval = o.rate ? (1000 * o.agents) / o.rate : 0;

  const agent = async (i: number): Promise<void> => {
    let db = clients[i]!;
    const plan = new AgentPlan(o.seed, i, accounts, zipf, o.hot);
    const rng = makeRng(`${o.seed}:action:${i}`);
    let scheduled = t0 + (interval * i) / o.agents;
    for (let k = 0; ; k++) {
      if (o.stop?.aborted) break;
      if (o.rate) {
        scheduled = t0 + (interval * i) / o.agents + k * interval;
        if (scheduled >= end) break;
        const wait = scheduled - performance.now();
        if (wait > 0) await sleep(wait);
      } else if (performance.now() >= end) break;
      const step = plan.next(performance.now() - t0);
      const action = actionByName(step.action)!;
      const account = states.get(step.account)!;
      const ctx = { account, rng, tagged: o.tagged };
      // open loop: from the scheduled start (no coordinated omission); a timer firing early must not shorten it
      const start = o.rate ? Math.min(scheduled, performance.now()) : performance.now();
      let rows = 0;
      let error: string | undefined;
      try {
        if (action.write) {
          rows = await locks.get(account.id)!.run(async () => {
            const r = await action.run(db, ctx);
            if (r.seq !== undefined) {
              account.nextSeq = r.seq + 1;
              writeLine(ledger, { account: account.id, seq: r.seq, action: action.name, t: Date.now() });
            }
            return r.rows;
          });
        } else rows = (await action.run(db, ctx)).rows;
      } catch (e) {
        error = (e as Error).message;
        if ((e as { code?: string }).code === undefined) {
          // not a server error: the connection is gone; reconnect
          await db.end().catch(() => {});
          db = await connect(o.target).catch(() => db);
        }
      }
      const latencyMs = performance.now() - start;
      rec.record(action.name, latencyMs, error);
      writeLine(log, { t: Date.now(), account: account.id, action: action.name, domain: action.domain, latencyMs: Math.round(latencyMs * 1000) / 1000, rows, ok: !error, ...(error ? { error } : {}) });
      if (!o.rate) {
        const think = plan.think(o.thinkScale);
        if (think > 0) await sleep(Math.min(think, Math.max(0, end - performance.now())));
      }
    }
    await db.end().catch(() => {});
  };
  await Promise.all(Array.from({ length: o.agents }, (_, i) => agent(i)));
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all([ledger, log].map((s) => (s ? new Promise<void>((res) => s.end(res)) : Promise.resolve())));
  const r = rec.report(seconds);
  return {
    target: redact(o.target), agents: o.agents, seconds: Math.round(seconds * 1000) / 1000, mode: o.rate ? 'open' : 'closed',
    ...(o.rate ? { rate: o.rate } : {}), zipf: o.zipf, seed: o.seed, tagged: o.tagged, accounts: accounts.length,
    ...r, errorMessages: Object.fromEntries(rec.errorMessages),
  };
}

const USAGE = `usage: prescient workload run --target postgres://… [--agents 8] [--duration 60s] [--zipf 1.1] [--seed 1]
       [--untagged] [--rate R] [--hot ACCOUNT:20%@30s] [--ledger FILE] [--log FILE] [--json FILE] [--accounts N] [--think-scale 1]\n`;

export async function main(args: string[]): Promise<number> {
  const f = new Flags(args);
  const target = f.str('target') ?? process.env.DATABASE_URL;
  if (!target || f.bool('help')) {
    process.stderr.write(USAGE);
    return 2;
  }
  const rate = f.str('rate') ? f.num('rate', 0) : undefined;
  const hot = f.str('hot');
  const o: RunOptions = {
    target, agents: f.num('agents', 8), durationMs: parseDuration(f.str('duration') ?? '60s'), zipf: f.num('zipf', 1.1),
    seed: f.str('seed') ?? '1', tagged: !f.bool('untagged'), thinkScale: f.num('think-scale', 1),
    ...(rate ? { rate } : {}), ...(hot ? { hot: parseHot(hot) } : {}),
    ...(f.str('accounts') ? { accounts: f.num('accounts', 0) } : {}),
    ...(f.str('ledger') ? { ledger: f.str('ledger') } : {}), ...(f.str('log') ? { log: f.str('log') } : {}),
  };
  const r = await runWorkload(o);
  process.stdout.write(
    `workload run: ${r.agents} agents, ${r.seconds.toFixed(1)} s, ${r.mode} loop${r.rate ? ` at ${r.rate}/s` : ''}, zipf ${r.zipf} over ${r.accounts} accounts, ` +
    `${r.tagged ? 'tagged' : 'untagged'}, seed ${r.seed}, target ${r.target}${o.hot ? `, hot ${hot}` : ''}\n`,
  );
  process.stdout.write(table(r));
  for (const [m, n] of Object.entries(r.errorMessages)) process.stdout.write(`  error ×${n}: ${m}\n`);
  const json = f.str('json');
  if (json) writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  return r.overall.errors ? 1 : 0;
}
