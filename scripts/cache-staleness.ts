// cache-staleness owns the result cache's staleness tester: clients writing and reading the same rows through two Prescient processes (plus writers straight to the shards), the read-your-own-writes check, cross-proxy / bypass staleness, and the `npm run cache:staleness` script around it.
//
// usage (after `npm run build`):
//   npm run cache:staleness -- [--seconds 60] [--clients 8] [--bypass 2] [--accounts 4] [--rows 4]
//                              [--write-ratio 0.05] [--tx-ratio 0.3] [--bypass-pause-ms 10] [--seed S] [--json FILE] [--keep]
//
// What the script starts (127.0.0.1, stopped by pid at the end, on SIGINT and on error): two throwaway Postgres
// clusters (scripts/testbed.ts) as shards s0/s1 (s0 also holds the shared Postgres catalog, database `catalog`) and
// two Prescient processes on the same shards and catalog, cache on for `volumes`. test/integration/cacheStaleness.test.ts
// runs the same tester (runStaleness) for ~10 s.
//
// The workload. `volumes(account_id, id, val bigint)` (the proxies need STALENESS_CONFIG's sharding and cache): accounts × rows, every row starts at val 0 and only ever
// grows: a writer takes its value from the row itself (`update … set val = val + 1 … returning val`), so a row's
// values are ordered by commit. Per proxy, --clients clients loop without pause over: a read (three shapes: the
// account's rows, one row — both extended protocol — and the account's rows by simple protocol with a literal key),
// or with probability --write-ratio a write (autocommit, or with --tx-ratio a transaction of two UPDATEs of two rows
// of one account, with a read inside it). --bypass writers update random rows straight on the shard that holds them.
//
// What is checked and measured:
//   violations   a read through a client's own proxy returned a row older than the client's own last committed write
//                of it (or, inside its transaction, not its own uncommitted value). Must be 0.
//   hit ratio    SHOW CACHE on each proxy's admin console: hits / (hits + misses) over the run.
//   staleness    per write and per proxy that reads the row: how long after the write's commit (client clock, taken
//                when COMMIT / the autocommit statement returned) that proxy still returned an older value — the end
//                of the last read that started after the commit and returned val < the written value, minus the
//                commit time; 0 when no read after the commit returned an older value. Split by where the write came
//                from: the same proxy (other clients), the other proxy (cross-proxy), straight to the shard (bypass).
//                Sampling: a proxy's staleness is only seen when one of its clients reads the row, so the report also
//                gives the median gap between reads of a row per proxy.
//   probes       per (writing proxy or shard, reading proxy) pair, an account of its own in `probes` (domain probe):
//                read it twice through the reading proxy (cached), write it, then read it through the reading proxy in a
//                tight loop until the new value shows; staleness = end of the last read returning the old value minus
//                the commit time. This is the direct measure of how long a cached entry outlives a write it does not
//                see itself (the notification's way from the shard to the proxy); the workload's numbers above are
//                limited by how often the workload happens to read a row.
//   stale reads  reads (per row returned) that returned an older value than the newest write committed before the
//                read started (by anyone, anywhere).
//   non-monotonic  a client read a row older than what it had read before (allowed: another proxy's or a bypassing
//                write is only seen after its notification; without a cache it cannot happen).
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { makeRng } from '../workload/rng.js';
import { startClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { makeLog } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { finish, Interrupt, runMain } from './lib/main.js';
import { startPrescient as launchPrescient, type Prescient } from './lib/prescient.js';
import { procs, signalGroup, spawnWatchdog, stopProc, tail } from './lib/proc.js';

export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface StalenessSetup {
  /** the accounts used, spread over the shards as evenly as placement allows */
  accounts: string[];
  /** account → shard name (from SHOW PLACEMENT) */
  placement: Record<string, string>;
  rows: number;
  /** one account (one row, id 1) per probe, away from the workload's accounts */
  probeAccounts: string[];
}

export interface StalenessOptions extends StalenessSetup {
  /** the proxies (app user) */
  proxies: PgEndpoint[];
  /** each proxy's admin console (same order) */
  admins: PgEndpoint[];
  /** each shard straight (by shard name), for the bypassing writers */
  shards: Record<string, PgEndpoint>;
  seconds: number;
  clientsPerProxy: number;
  bypassWriters: number;
  /** share of a proxy client's operations that are writes */
  writeRatio: number;
  /** share of those writes done as a two-update transaction */
  txRatio: number;
  /** pause of a bypassing writer between writes */
  bypassPauseMs: number;
  seed?: string;
  /** tag every statement with its account and an action (sqlcommenter), so that predictive prefetch runs on them */
  tagActions?: boolean;
  progress?: (msg: string) => void;
}

export interface Dist {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface StalenessCategory {
  /** (write, proxy) pairs measured */
  samples: number;
  /** pairs where the proxy returned an older value after the commit at least once */
  stale: number;
  /** over all pairs (0 when never observed stale), ms */
  all: Dist;
  /** over the stale pairs only, ms */
  staleOnly: Dist;
}

export interface Violation {
  client: string;
  proxy: number;
  account: string;
  id: number;
  got: number;
  expected: number;
  shape: string;
  atMs: number;
}

export interface CacheCounters {
  hits: number;
  misses: number;
  fills: number;
  invalidations: number;
}

export interface ProbeStats {
  /** write-then-poll rounds */
  rounds: number;
  /** rounds whose first read after the commit still returned the old value */
  stale: number;
  /** rounds where the new value did not show within 5 s */
  timeouts: number;
  /** ms from the commit to the end of the last read returning the old value (0 if the first read was new), all rounds */
  all: Dist;
  /** the same over the stale rounds only */
  staleOnly: Dist;
}

export interface StalenessReport {
  seconds: number;
  proxies: number;
  clientsPerProxy: number;
  bypassWriters: number;
  accounts: number;
  rows: number;
  reads: number;
  /** rows returned by reads (each checked) */
  rowReads: number;
  writes: { proxy: number; tx: number; bypass: number };
  errors: number;
  errorMessages: string[];
  violations: number;
  violationSamples: Violation[];
  nonMonotonicReads: number;
  staleRowReads: number;
  /** per proxy, the workload's domain (volume) */
  cache: CacheCounters[];
  /** per proxy, the probes' domain (probe) */
  probeCache: CacheCounters[];
  probes: { crossProxy: ProbeStats; bypass: ProbeStats };
  hitRatio: number;
  /** median ms between two reads of the same row through the same proxy */
  readGapMs: number;
  staleness: { sameProxy: StalenessCategory; crossProxy: StalenessCategory; bypass: StalenessCategory };
}

const TABLE_SQL = 'create table volumes (account_id text not null, id int not null, val bigint not null default 0, note text, primary key (account_id, id))';
const PROBE_TABLE_SQL = 'create table probes (account_id text not null, id int not null, val bigint not null default 0, primary key (account_id, id))';

/** The proxies' sharding and cache config the tester expects: `volumes` (domain volume) for the workload, `probes` (domain probe) for the probes. */
export const STALENESS_CONFIG = {
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] }, probe: { tables: ['probes'] } } },
  cache: { enabled: true, tables: ['volumes', 'probes'] },
};

/**
 * Creates `volumes` through `proxy` (a DDL broadcast: every shard, version triggers installed), chooses `accounts`
 * accounts spread over the `shardCount` shards by their placement (SHOW PLACEMENT on `admin`) and inserts `rows` rows
 * per account (val 0) through the proxy.
 */
export async function prepareStaleness(proxy: PgEndpoint, admin: PgEndpoint, accounts: number, rows: number, shardCount: number, probes = 0): Promise<StalenessSetup> {
  const c = await connect(proxy);
  const a = await connect(admin);
  try {
    await c.query(TABLE_SQL);
    await c.query(PROBE_TABLE_SQL);
    // take candidates in turn per shard, so both shards hold accounts (as evenly as the hash allows)
    const placement: Record<string, string> = {};
    const pick = async (prefix: string, n: number, table: string): Promise<string[]> => {
      const byShard = new Map<string, string[]>();
      for (let i = 1; i <= 500 && [...byShard.values()].reduce((k, l) => k + l.length, 0) < n * shardCount; i++) {
        const account = `${prefix}-${i}`;
        const r = await a.query({ text: `SHOW PLACEMENT FOR ACCOUNT '${account}' TABLE '${table}'`, queryMode: 'simple' } as pg.QueryConfig);
        const shard = String(r.rows[0].shard);
        const list = byShard.get(shard) ?? [];
        if (list.length < n) list.push(account);
        byShard.set(shard, list);
      }
      const chosen: string[] = [];
      const lists = [...byShard.entries()].sort(([x], [y]) => x.localeCompare(y));
      for (let k = 0; chosen.length < n && lists.some(([, l]) => l.length > k); k++) {
        for (const [shard, l] of lists) {
          if (chosen.length < n && l[k] !== undefined) {
            chosen.push(l[k]!);
            placement[l[k]!] = shard;
          }
        }
      }
      return chosen;
    };
    const chosen = await pick('acct', accounts, 'volumes');
    const probeAccounts = await pick('probe', probes, 'probes');
    for (const account of chosen) {
      for (let id = 1; id <= rows; id++) await c.query('insert into volumes (account_id, id, val, note) values ($1, $2, 0, $3)', [account, id, `row ${id} of ${account}`]);
    }
    for (const account of probeAccounts) await c.query('insert into probes (account_id, id, val) values ($1, 1, 0)', [account]);
    return { accounts: chosen, placement, rows, probeAccounts };
  } finally {
    await c.end().catch(() => {});
    await a.end().catch(() => {});
  }
}

async function connect(ep: PgEndpoint): Promise<pg.Client> {
  const c = new pg.Client({ ...ep, connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** SHOW CACHE's counters of one domain ('*': all). */
export async function cacheCounters(admin: PgEndpoint, domain = '*'): Promise<CacheCounters> {
  const c = await connect(admin);
  try {
    const r = await c.query({ text: 'SHOW CACHE', queryMode: 'simple' } as pg.QueryConfig);
    const total = r.rows.find((x) => x.domain === domain) ?? {};
    return { hits: Number(total.hits ?? 0), misses: Number(total.misses ?? 0), fills: Number(total.fills ?? 0), invalidations: Number(total.invalidations ?? 0) };
  } finally {
    await c.end().catch(() => {});
  }
}

/** Nearest-rank percentile of an ascending array. */
function pct(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
function dist(xs: number[]): Dist {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99), max: s.length ? s[s.length - 1]! : NaN };
}

/** The reads of one row through one proxy: start, end (ms, performance.now()) and the value returned. */
class ReadLog {
  starts: number[] = [];
  ends: number[] = [];
  vals: number[] = [];
  add(start: number, end: number, val: number): void {
    this.starts.push(start);
    this.ends.push(end);
    this.vals.push(val);
  }
}

interface WriteEvent {
  row: number;
  val: number;
  /** commit time (client clock, when COMMIT or the autocommit statement returned) */
  at: number;
  /** the proxy written through, -1 for a write straight to the shard */
  via: number;
}

/** Runs the workload for opts.seconds and returns what it saw (throws only if a client cannot connect). */
export async function runStaleness(opts: StalenessOptions): Promise<StalenessReport> {
  const say = opts.progress ?? (() => {});
  const { accounts, rows } = opts;
  const nProxies = opts.proxies.length;
  const rowOf = (a: number, id: number): number => a * rows + (id - 1);
  const logs: ReadLog[][] = opts.proxies.map(() => Array.from({ length: accounts.length * rows }, () => new ReadLog()));
  const writes: WriteEvent[] = [];
  const violations: Violation[] = [];
  let violationCount = 0;
  let nonMonotonic = 0;
  let reads = 0;
  let rowReads = 0;
  const writeCounts = { proxy: 0, tx: 0, bypass: 0 };
  let errors = 0;
  const errorMessages = new Map<string, number>();
  const noteError = (e: unknown): void => {
    errors++;
    const m = (e as Error).message;
    errorMessages.set(m, (errorMessages.get(m) ?? 0) + 1);
  };

  const before = await Promise.all(opts.admins.map((a) => cacheCounters(a, 'volume')));
  const probeBefore = await Promise.all(opts.admins.map((a) => cacheCounters(a, 'probe')));
  const clients: { c: pg.Client; proxy: number; name: string }[] = [];
  for (let p = 0; p < nProxies; p++) {
    for (let i = 0; i < opts.clientsPerProxy; i++) clients.push({ c: await connect(opts.proxies[p]!), proxy: p, name: `p${p}c${i}` });
  }
  const bypass: { c: Record<string, pg.Client>; name: string }[] = [];
  for (let i = 0; i < opts.bypassWriters; i++) {
    const c: Record<string, pg.Client> = {};
    for (const [shard, ep] of Object.entries(opts.shards)) c[shard] = await connect(ep);
    bypass.push({ c, name: `bypass${i}` });
  }
  const t0 = performance.now();
  const deadline = t0 + opts.seconds * 1000;
  say(`running ${opts.seconds} s: ${nProxies} proxies × ${opts.clientsPerProxy} clients, ${opts.bypassWriters} bypassing writers, ${accounts.length} accounts × ${rows} rows`);

  /** the sqlcommenter prefix of a statement of `action` (with tagActions), else nothing */
  const tag = (account: string, action: string): string => (opts.tagActions ? `/* account='${account}',action='${action}' */ ` : '');

  async function proxyClient(k: number): Promise<void> {
    const { c, proxy, name } = clients[k]!;
    const rng = makeRng(`${opts.seed ?? 'staleness'}/${name}`);
    const committed = new Map<number, number>(); // row → own last committed val
    const seen = new Map<number, number>(); // row → highest val read
    const check = (a: number, id: number, val: number, start: number, end: number, shape: string): void => {
      const row = rowOf(a, id);
      rowReads++;
      logs[proxy]![row]!.add(start, end, val);
      const own = committed.get(row);
      if (own !== undefined && val < own) {
        violationCount++;
        if (violations.length < 20) violations.push({ client: name, proxy, account: accounts[a]!, id, got: val, expected: own, shape, atMs: Math.round(end - t0) });
      }
      const s = seen.get(row) ?? -1;
      if (val < s) nonMonotonic++;
      else seen.set(row, val);
    };
    while (performance.now() < deadline) {
      const a = rng.int(accounts.length);
      const account = accounts[a]!;
      try {
        if (rng.next() < opts.writeRatio) {
          if (rng.next() < opts.txRatio) {
            // two rows of one account in one transaction, one UPDATE each (ascending ids: two such transactions
            // cannot deadlock on the rows)
            const i1 = 1 + rng.int(rows);
            const ids = rows > 1 ? [...new Set([i1, 1 + ((i1 + rng.int(rows - 1)) % rows)])].sort((x, y) => x - y) : [i1];
            await c.query('begin');
            const got = new Map<number, number>();
            try {
              for (const id of ids) {
                const u = await c.query(tag(account, 'UpdateVolumes') + 'update volumes set val = val + 1 where account_id = $1 and id = $2 returning val', [account, id]);
                got.set(id, Number(u.rows[0].val));
              }
              // a read after a write in the transaction: its own uncommitted value, never the cache's
              const r = await c.query(tag(account, 'UpdateVolumes') + 'select val from volumes where account_id = $1 and id = $2', [account, ids[0]]);
              const v = Number(r.rows[0].val);
              reads++;
              if (v !== got.get(ids[0]!)) {
                violationCount++;
                if (violations.length < 20) violations.push({ client: name, proxy, account, id: ids[0]!, got: v, expected: got.get(ids[0]!)!, shape: 'in-transaction', atMs: Math.round(performance.now() - t0) });
              }
              await c.query('commit');
            } catch (e) {
              await c.query('rollback').catch(() => {});
              throw e;
            }
            const at = performance.now();
            for (const [id, v] of got) {
              committed.set(rowOf(a, id), v);
              writes.push({ row: rowOf(a, id), val: v, at, via: proxy });
            }
            writeCounts.tx++;
          } else {
            const id = 1 + rng.int(rows);
            const r = await c.query(tag(account, 'UpdateVolume') + 'update volumes set val = val + 1 where account_id = $1 and id = $2 returning val', [account, id]);
            const at = performance.now();
            const v = Number(r.rows[0].val);
            committed.set(rowOf(a, id), v);
            writes.push({ row: rowOf(a, id), val: v, at, via: proxy });
            writeCounts.proxy++;
          }
        } else {
          const shape = rng.int(4);
          const start = performance.now();
          if (shape === 0) {
            const r = await c.query(tag(account, 'ListVolumes') + 'select id, val from volumes where account_id = $1 order by id', [account]);
            const end = performance.now();
            for (const x of r.rows) check(a, Number(x.id), Number(x.val), start, end, 'account rows (extended)');
          } else if (shape === 1) {
            const id = 1 + rng.int(rows);
            const r = await c.query(tag(account, 'DescribeVolume') + 'select val from volumes where account_id = $1 and id = $2', [account, id]);
            const end = performance.now();
            check(a, id, Number(r.rows[0].val), start, end, 'one row (extended)');
          } else if (shape === 2) {
            const r = await c.query(tag(account, 'ListVolumesSimple') + `select id, val from volumes where account_id = '${account}' order by id`);
            const end = performance.now();
            for (const x of r.rows) check(a, Number(x.id), Number(x.val), start, end, 'account rows (simple)');
          } else {
            // every column of the account's rows: with prefetch, answered from a prefetched account slice
            const r = await c.query(tag(account, 'DescribeVolumes') + 'select * from volumes where account_id = $1 order by id', [account]);
            const end = performance.now();
            for (const x of r.rows) check(a, Number(x.id), Number(x.val), start, end, 'account rows, every column (extended; an account slice)');
          }
          reads++;
        }
      } catch (e) {
        noteError(e);
      }
    }
  }

  async function bypassWriter(k: number): Promise<void> {
    const { c, name } = bypass[k]!;
    const rng = makeRng(`${opts.seed ?? 'staleness'}/${name}`);
    while (performance.now() < deadline) {
      const a = rng.int(accounts.length);
      const id = 1 + rng.int(rows);
      try {
        const r = await c[opts.placement[accounts[a]!]!]!.query('update volumes set val = val + 1 where account_id = $1 and id = $2 returning val', [accounts[a], id]);
        const at = performance.now();
        writes.push({ row: rowOf(a, id), val: Number(r.rows[0].val), at, via: -1 });
        writeCounts.bypass++;
      } catch (e) {
        noteError(e);
      }
      if (opts.bypassPauseMs > 0) await new Promise((r) => setTimeout(r, opts.bypassPauseMs));
    }
  }

  // Probes: per (writer, reading proxy) pair an account of its own in `probes`: read it through the reading proxy
  // (twice: cached), write it (through the other proxy, or straight to its shard), then read it through the reading
  // proxy in a tight loop until the new value shows. Staleness = end of the last read returning the old value - commit.
  const probeSamples = { crossProxy: [] as number[], bypass: [] as number[] };
  const probeTimeouts = { crossProxy: 0, bypass: 0 };
  const probePairs: { reader: number; writer: number }[] = [];
  for (let r = 0; r < nProxies; r++) {
    for (let w = 0; w < nProxies; w++) if (w !== r) probePairs.push({ reader: r, writer: w });
    probePairs.push({ reader: r, writer: -1 });
  }
  const probes: { reader: pg.Client; writer: pg.Client; account: string; kind: 'crossProxy' | 'bypass' }[] = [];
  for (let i = 0; i < probePairs.length && i < opts.probeAccounts.length; i++) {
    const { reader, writer } = probePairs[i]!;
    const account = opts.probeAccounts[i]!;
    probes.push({
      reader: await connect(opts.proxies[reader]!),
      writer: await connect(writer === -1 ? opts.shards[opts.placement[account]!]! : opts.proxies[writer]!),
      account,
      kind: writer === -1 ? 'bypass' : 'crossProxy',
    });
  }
  async function probe(k: number): Promise<void> {
    const { reader, writer, account, kind } = probes[k]!;
    const read = async (): Promise<number> => Number((await reader.query('select val from probes where account_id = $1 and id = 1', [account])).rows[0].val);
    const rng = makeRng(`${opts.seed ?? 'staleness'}/probe${k}`);
    while (performance.now() < deadline) {
      try {
        await read();
        await read();
        const v = Number((await writer.query('update probes set val = val + 1 where account_id = $1 and id = 1 returning val', [account])).rows[0].val);
        const at = performance.now();
        let lastStale = -1;
        for (;;) {
          const got = await read();
          const end = performance.now();
          if (got >= v) break;
          lastStale = end;
          if (end - at > 5000) {
            probeTimeouts[kind]++;
            break;
          }
        }
        probeSamples[kind].push(lastStale < 0 ? 0 : lastStale - at);
      } catch (e) {
        noteError(e);
      }
      await new Promise((r) => setTimeout(r, 5 + rng.int(10)));
    }
  }

  const ticker = setInterval(() => say(`  ${Math.round((performance.now() - t0) / 1000)} s: ${reads} reads, ${writes.length} row writes, ${violationCount} violations, ${errors} errors`), 10_000);
  try {
    await Promise.all([...clients.map((_, k) => proxyClient(k)), ...bypass.map((_, k) => bypassWriter(k)), ...probes.map((_, k) => probe(k))]);
  } finally {
    clearInterval(ticker);
    await Promise.all([...clients.map((x) => x.c.end().catch(() => {})), ...probes.flatMap((p) => [p.reader.end().catch(() => {}), p.writer.end().catch(() => {})]), ...bypass.flatMap((b) => Object.values(b.c).map((c) => c.end().catch(() => {})))]);
  }
  const seconds = (performance.now() - t0) / 1000;
  const diff = (x: CacheCounters, y: CacheCounters): CacheCounters => ({
    hits: x.hits - y.hits, misses: x.misses - y.misses, fills: x.fills - y.fills, invalidations: x.invalidations - y.invalidations,
  });
  const cache = (await Promise.all(opts.admins.map((a) => cacheCounters(a, 'volume')))).map((x, i) => diff(x, before[i]!));
  const probeCache = (await Promise.all(opts.admins.map((a) => cacheCounters(a, 'probe')))).map((x, i) => diff(x, probeBefore[i]!));
  const probeStats = (kind: 'crossProxy' | 'bypass'): ProbeStats => {
    const xs = probeSamples[kind];
    return { rounds: xs.length, stale: xs.filter((x) => x > 0).length, timeouts: probeTimeouts[kind], all: dist(xs), staleOnly: dist(xs.filter((x) => x > 0)) };
  };
  const hits = cache.reduce((n, x) => n + x.hits, 0);
  const lookups = cache.reduce((n, x) => n + x.hits + x.misses, 0);

  // ---- staleness: per (row, proxy), for each write w the last read that started after w.at and returned < w.val
  const samples = { sameProxy: [] as number[], crossProxy: [] as number[], bypass: [] as number[] };
  let staleRowReads = 0;
  const gaps: number[] = [];
  const byRow: WriteEvent[][] = Array.from({ length: accounts.length * rows }, () => []);
  for (const w of writes) byRow[w.row]!.push(w);
  for (let row = 0; row < byRow.length; row++) {
    const ws = [...byRow[row]!].sort((x, y) => x.val - y.val);
    const byTime = [...byRow[row]!].sort((x, y) => x.at - y.at);
    for (let p = 0; p < nProxies; p++) {
      const log = logs[p]![row]!;
      const n = log.starts.length;
      // reads by start time
      const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => log.starts[x]! - log.starts[y]!);
      const starts = order.map((i) => log.starts[i]!);
      const ends = order.map((i) => log.ends[i]!);
      const vals = order.map((i) => log.vals[i]!);
      for (let i = 1; i < n; i++) gaps.push(starts[i]! - starts[i - 1]!);
      // stale reads: older than the newest write committed before the read started
      let wi = 0;
      let newest = -1;
      for (let i = 0; i < n; i++) {
        while (wi < byTime.length && byTime[wi]!.at < starts[i]!) newest = Math.max(newest, byTime[wi++]!.val);
        if (vals[i]! < newest) staleRowReads++;
      }
      // Fenwick tree over read positions (by start) holding the max end of the reads inserted so far; reads are
      // inserted in ascending val, so before answering write w it holds exactly the reads with val < w.val
      const tree = new Float64Array(n + 1).fill(-Infinity);
      const insert = (pos: number, v: number): void => {
        // suffix max: index from the end
        for (let i = n - pos; i <= n; i += i & -i) if (tree[i]! < v) tree[i] = v;
      };
      const suffixMax = (pos: number): number => {
        let m = -Infinity;
        for (let i = n - pos; i > 0; i -= i & -i) if (tree[i]! > m) m = tree[i]!;
        return m;
      };
      const byVal = Array.from({ length: n }, (_, i) => i).sort((x, y) => vals[x]! - vals[y]!);
      let ri = 0;
      for (const w of ws) {
        while (ri < n && vals[byVal[ri]!]! < w.val) {
          insert(byVal[ri]!, ends[byVal[ri]!]!);
          ri++;
        }
        // first read starting at or after the commit
        let lo = 0;
        let hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (starts[mid]! < w.at) lo = mid + 1;
          else hi = mid;
        }
        if (lo >= n) continue; // no read of the row through this proxy after the commit: nothing to measure
        const lastStaleEnd = suffixMax(lo);
        const ms = lastStaleEnd === -Infinity ? 0 : Math.max(0, lastStaleEnd - w.at);
        (w.via === -1 ? samples.bypass : w.via === p ? samples.sameProxy : samples.crossProxy).push(ms);
      }
    }
  }
  const category = (xs: number[]): StalenessCategory => ({
    samples: xs.length,
    stale: xs.filter((x) => x > 0).length,
    all: dist(xs),
    staleOnly: dist(xs.filter((x) => x > 0)),
  });
  const gapsSorted = gaps.sort((a, b) => a - b);
  return {
    seconds,
    proxies: nProxies,
    clientsPerProxy: opts.clientsPerProxy,
    bypassWriters: opts.bypassWriters,
    accounts: accounts.length,
    rows,
    reads,
    rowReads,
    writes: writeCounts,
    errors,
    errorMessages: [...errorMessages.entries()].map(([m, n]) => `${n}× ${m}`),
    violations: violationCount,
    violationSamples: violations,
    nonMonotonicReads: nonMonotonic,
    staleRowReads,
    cache,
    hitRatio: lookups > 0 ? hits / lookups : 0,
    readGapMs: pct(gapsSorted, 0.5),
    staleness: { sameProxy: category(samples.sameProxy), crossProxy: category(samples.crossProxy), bypass: category(samples.bypass) },
    probeCache,
    probes: { crossProxy: probeStats('crossProxy'), bypass: probeStats('bypass') },
  };
}

const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

/** The report as text (a few lines and a markdown table). */
export function formatStaleness(r: StalenessReport): string {
  const totalWrites = r.writes.proxy + r.writes.tx + r.writes.bypass;
  const lines = [
    `${r.seconds.toFixed(1)} s, ${r.proxies} proxies × ${r.clientsPerProxy} clients + ${r.bypassWriters} bypassing writers, ${r.accounts} accounts × ${r.rows} rows`,
    `reads ${r.reads} (${(r.reads / r.seconds).toFixed(0)}/s, ${r.rowReads} rows checked); writes ${totalWrites} (through a proxy ${r.writes.proxy}, as 2-row transactions ${r.writes.tx}, bypassing ${r.writes.bypass}); errors ${r.errors}`,
    `violations (read older than the client's own last committed write): ${r.violations}`,
    `cache: hit ratio ${(100 * r.hitRatio).toFixed(1)}% (` + r.cache.map((c, i) => `proxy ${i}: ${c.hits} hits / ${c.misses} misses, ${c.fills} fills, ${c.invalidations} invalidations (stale entries dropped, fills discarded)`).join('; ') + ')',
    `stale row reads (older than the newest write committed before the read began): ${r.staleRowReads} of ${r.rowReads} (${((100 * r.staleRowReads) / Math.max(1, r.rowReads)).toFixed(3)}%); non-monotonic reads by a client: ${r.nonMonotonicReads}`,
    `median gap between two reads of a row through one proxy: ${f(r.readGapMs, 3)} ms`,
    '',
    '| writes from | (write, proxy) pairs | pairs seen stale | staleness p50 ms | p99 ms | max ms | among stale pairs: p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [label, c] of [['same proxy (other clients)', r.staleness.sameProxy], ['other proxy (cross-proxy)', r.staleness.crossProxy], ['straight to the shard (bypass)', r.staleness.bypass]] as const) {
    lines.push(`| ${label} | ${c.samples} | ${c.stale} | ${f(c.all.p50, 3)} | ${f(c.all.p99, 3)} | ${f(c.all.max, 3)} | ${f(c.staleOnly.p50, 3)} | ${f(c.staleOnly.p99, 3)} |`);
  }
  lines.push('', 'staleness = end of the last read through that proxy that began after the commit and returned an older value, minus the commit time (0 if none).');
  lines.push(
    '',
    `probes (a cached row written, then read in a tight loop through the other proxy until the new value shows; probe domain: ` +
      r.probeCache.map((c, i) => `proxy ${i} ${c.hits} hits / ${c.misses} misses`).join(', ') + '):',
    '',
    '| writes from | rounds | first read stale | staleness p50 ms | p99 ms | max ms | among stale rounds: p50 ms | p99 ms | > 5 s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const [label, c] of [['other proxy (cross-proxy)', r.probes.crossProxy], ['straight to the shard (bypass)', r.probes.bypass]] as const) {
    lines.push(`| ${label} | ${c.rounds} | ${c.stale} | ${f(c.all.p50, 3)} | ${f(c.all.p99, 3)} | ${f(c.all.max, 3)} | ${f(c.staleOnly.p50, 3)} | ${f(c.staleOnly.p99, 3)} | ${c.timeouts} |`);
  }
  if (r.violationSamples.length) lines.push('', 'violations (first 20):', ...r.violationSamples.map((v) => `  ${JSON.stringify(v)}`));
  if (r.errorMessages.length) lines.push('', 'errors:', ...r.errorMessages.map((m) => `  ${m}`));
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// The script: clusters, two proxies, the run
// ---------------------------------------------------------------------------------------------

interface ScriptOptions {
  seconds: number;
  clients: number;
  bypass: number;
  accounts: number;
  rows: number;
  writeRatio: number;
  txRatio: number;
  bypassPauseMs: number;
  seed: string;
  json?: string;
  keep: boolean;
}

const USAGE = `usage: npm run cache:staleness -- [--seconds 60] [--clients 8] [--bypass 2] [--accounts 4] [--rows 4]
       [--write-ratio 0.05] [--tx-ratio 0.3] [--bypass-pause-ms 10] [--seed S] [--json FILE] [--keep]`;

function parseArgs(argv: string[]): ScriptOptions {
  const flags = new Args(argv, {
    usage: USAGE,
    values: ['seconds', 'clients', 'bypass', 'accounts', 'rows', 'write-ratio', 'tx-ratio', 'bypass-pause-ms', 'seed', 'json'],
    booleans: ['keep'],
  });
  return {
    seconds: flags.num('seconds', 60, 1),
    clients: flags.num('clients', 8, 1),
    bypass: flags.num('bypass', 2, 0),
    accounts: flags.num('accounts', 4, 1),
    rows: flags.num('rows', 4, 1),
    writeRatio: flags.num('write-ratio', 0.05, 0, 1, false),
    txRatio: flags.num('tx-ratio', 0.3, 0, 1, false),
    bypassPauseMs: flags.num('bypass-pause-ms', 10, 0),
    seed: flags.get('seed') ?? 'staleness',
    json: flags.get('json'),
    keep: flags.bool('keep'),
  };
}

const log = makeLog('staleness');

const APP = { name: 'app', password: 'app-secret' };
const ADMIN = { name: 'admin', password: 'admin-secret' };

async function startPrescient(dir: string, name: string, clusters: Cluster[], catalogUrl: string): Promise<Prescient> {
  const p = await launchPrescient({
    dir,
    name,
    generatedBy: 'scripts/cache-staleness.ts',
    config: (port) => ({
      listen: { host: '127.0.0.1', port },
      database: 'app',
      users: [APP],
      admin: { users: [ADMIN] },
      shards: clusters.map((c, i) => ({ name: `s${i}`, host: c.host, port: c.port, database: 'app', user: c.user, password: c.password })),
      pool: { mode: 'transaction', size: 10 },
      ...STALENESS_CONFIG,
      catalog: { url: catalogUrl },
      shutdown: { timeout_ms: 5000 },
      log: { level: 'info' },
    }),
  });
  log(`${name}: Prescient on 127.0.0.1:${p.port} (pid ${p.proc.pid})`);
  return p;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  let clusters: Cluster[] = [];
  const started: Prescient[] = [];
  let watchdog: number | undefined;
  let tmp: string | undefined;
  let exitCode = 0;
  const interrupt = new Interrupt(() => {
    log('signal: stopping');
    for (const p of procs) signalGroup(p, 'SIGTERM');
  });
  try {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'prescient-staleness-'));
    log('starting two Postgres clusters (testbed)');
    clusters = await startClusters(2, { databases: ['app', 'catalog'], settings: { max_connections: 200 } });
    const c0 = clusters[0]!;
    const catalogUrl = `postgres://${encodeURIComponent(c0.user)}:${encodeURIComponent(c0.password)}@${c0.host}:${c0.port}/catalog`;
    // one after the other: each installs the version schema at start
    for (let i = 0; i < 2; i++) started.push(await startPrescient(tmp, `prescient${i}`, clusters, catalogUrl));
    watchdog = spawnWatchdog(started.map((p) => p.proc.pid));
    const ports = started.map((p) => p.port);
    const app = (port: number): PgEndpoint => ({ host: '127.0.0.1', port, user: APP.name, password: APP.password, database: 'app' });
    const adm = (port: number): PgEndpoint => ({ host: '127.0.0.1', port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
    const setup = await prepareStaleness(app(ports[0]!), adm(ports[0]!), opts.accounts, opts.rows, clusters.length, 4);
    log(`accounts: ${setup.accounts.map((a) => `${a}→${setup.placement[a]}`).join(', ')}`);
    const report = await runStaleness({
      ...setup,
      proxies: ports.map(app),
      admins: ports.map(adm),
      shards: Object.fromEntries(clusters.map((c, i) => [`s${i}`, { host: c.host, port: c.port, user: c.user, password: c.password, database: 'app' }])),
      seconds: opts.seconds,
      clientsPerProxy: opts.clients,
      bypassWriters: opts.bypass,
      writeRatio: opts.writeRatio,
      txRatio: opts.txRatio,
      bypassPauseMs: opts.bypassPauseMs,
      seed: opts.seed,
      progress: log,
    });
    process.stdout.write('\n' + formatStaleness(report));
    await writeJson(opts.json, { options: opts, report }, log);
    if (report.violations > 0 || report.errors > 0) exitCode = 1;
    for (const { proc } of started) if (proc.hasExited) throw new Error(`${proc.name} exited during the run\n${await tail(path.join(tmp, `${proc.name}.log`))}`);
  } catch (e) {
    log(`error: ${(e as Error).stack ?? String(e)}`);
    exitCode = 1;
  } finally {
    for (const { proc } of started) await stopProc(proc, 'SIGTERM', 10_000);
    await finish({ log, interrupt, clusters, watchdog, tmp, keepTmp: opts.keep || exitCode !== 0, kept: 'configs and proxy logs' });
  }
  return exitCode;
}

runMain(import.meta.url, main, log);
