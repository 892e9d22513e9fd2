// bench-migration owns the tenant-move benchmark: a tenant moved back and forth between two shards while clients write to it and to other tenants at a steady rate — the cutover pause per move (p50, p99, max), the snapshot copy's rate and the catch-up's rows, and the write latency of the moving tenant and of the others during moves and between them, then a check that every acknowledged write is there once.
//
// usage (after `npm run build`): npm run bench:migration -- [--moves N] [--rows R] [--rate W] [--other-rate W] [--json FILE]
//   --moves N        moves of the tenant (default 20), one after another, 300 ms apart
//   --rows R         rows the tenant has before the first move (default 1000); every write adds one
//   --rate W         writes per second on the moving tenant (default 1000), by 4 clients
//   --other-rate W   writes per second on 100 other tenants (default 1000), by 4 clients
//   --json FILE      also write the results as JSON
// It starts two throwaway Postgres clusters (scripts/testbed.ts) and one Prescient over them (pool 8 per shard),
// all on 127.0.0.1, stopped at the end. The phases of each move (snapshot copy, catch-up rounds, the final round under
// the fence) come from Prescient's log (`migration step` lines, scripts/lib/moveSteps.ts).

import os from 'node:os';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startClusters, stopClusters, type Cluster } from './testbed.js';
import { Args } from './lib/args.js';
import { makeLog } from './lib/log.js';
import { writeJson } from './lib/json.js';
import { runMain } from './lib/main.js';
import { benchConfig, startPrescient } from './lib/prescient.js';
import { stopProc } from './lib/proc.js';
import { median, percentile } from './lib/stats.js';
import { moveSteps, phases } from './lib/moveSteps.js';
import { readFile } from 'node:fs/promises';

const log = makeLog('bench-migration');
const DB = 'app';
const ADMIN = { name: 'admin', password: 'admin-secret' };
const HOT = 'acct-hot';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample {
  at: number;
  ms: number;
}

const pct = (xs: number[], p: number): string => {
  const v = percentile([...xs].sort((a, b) => a - b), p);
  return v === null ? 'n/a' : v.toFixed(2);
};

async function main(): Promise<number> {
  const flags = new Args(process.argv.slice(2), { usage: 'usage: npm run bench:migration -- [--moves N] [--rows R] [--rate W] [--other-rate W] [--json FILE]', values: ['moves', 'rows', 'rate', 'other-rate', 'json'], booleans: [] });
  const moves = flags.int('moves', 20, 1);
  const rows = flags.int('rows', 1000, 0);
  const rate = flags.int('rate', 1000, 1);
  const otherRate = flags.int('other-rate', 1000, 1);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prescient-bench-migration-'));
  const clusters: Cluster[] = await startClusters(2, { databases: [DB], settings: { max_connections: 100 } });
  let proxy: Awaited<ReturnType<typeof startPrescient>> | null = null;
  try {
    for (const c of clusters) {
      const d = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: DB });
      await d.connect();
      await d.query('create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))');
      await d.end();
    }
    proxy = await startPrescient({
      dir,
      name: 'prescient',
      generatedBy: 'scripts/bench-migration.ts',
      config: (port) => ({
        ...benchConfig(port, 8, 'info'),
        database: DB,
        users: [{ name: clusters[0]!.user, password: clusters[0]!.password }],
        admin: { users: [ADMIN] },
        shards: clusters.map((c, i) => ({ name: `s${i}`, host: c.host, port: c.port, database: DB, user: c.user, password: c.password })),
        sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'] } } },
        catalog: { path: path.join(dir, 'catalog.db') },
        shard_manager: { fence_timeout_ms: 5000 },
      }),
    });
    const ep = { host: proxy.host, port: proxy.port, user: clusters[0]!.user, password: clusters[0]!.password, database: DB };
    const admin = new pg.Client({ host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
    admin.on('error', () => {});
    await admin.connect();
    const loader = new pg.Client(ep);
    loader.on('error', () => {});
    await loader.connect();
    await loader.query(`insert into volumes (account_id, size) select '${HOT}', -g from generate_series(1, ${rows}) g`);
    for (let a = 0; a < 100; a++) await loader.query(`insert into volumes (account_id, size) select 'acct-${a}', -g from generate_series(1, 10) g`);
    log(`loaded ${rows} rows of ${HOT} and 100 other tenants × 10 rows; writing ${rate}/s to ${HOT} and ${otherRate}/s to the others`);

    let stop = false;
    const hot: Sample[] = [];
    const other: Sample[] = [];
    const acked: number[] = [];
    let errors = 0;
    let seq = 0;
    const writer = async (perSecond: number, onHot: boolean): Promise<void> => {
      const c = new pg.Client(ep);
      c.on('error', () => {});
      await c.connect();
      const interval = 1000 / perSecond;
      let next = performance.now();
      while (!stop) {
        const n = seq++;
        const account = onHot ? HOT : `acct-${n % 100}`;
        const t0 = performance.now();
        try {
          await c.query(`insert into volumes (account_id, size) values ('${account}', ${n})`);
          const t1 = performance.now();
          (onHot ? hot : other).push({ at: t1, ms: t1 - t0 });
          if (onHot) acked.push(n);
        } catch {
          errors++;
        }
        next += interval;
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        else next = performance.now();
      }
      await c.end();
    };
    const writers = [...Array.from({ length: 4 }, () => writer(rate / 4, true)), ...Array.from({ length: 4 }, () => writer(otherRate / 4, false))];
    await sleep(1000);
    const windows: { start: number; end: number }[] = [];
    const results: { id: number; from: string; to: string; rows: number; pauseMs: number; elapsedMs: number }[] = [];
    for (let i = 0; i < moves; i++) {
      const where = (await admin.query({ text: `SHOW PLACEMENT FOR ACCOUNT '${HOT}' TABLE 'volumes'`, queryMode: 'simple' } as pg.QueryConfig)).rows[0].shard as string;
      const to = where === 's0' ? 's1' : 's0';
      const start = performance.now();
      const r = (await admin.query({ text: `MIGRATE ACCOUNT '${HOT}' DOMAIN 'volume' TO ${to}`, queryMode: 'simple' } as pg.QueryConfig)).rows[0];
      windows.push({ start, end: performance.now() });
      results.push({ id: Number(r.id), from: r.from, to: r.to, rows: Number(r.rows), pauseMs: Number(r.pause_ms), elapsedMs: Number(r.elapsed_ms) });
      log(`move ${i + 1}/${moves} ${r.from} → ${r.to}: ${r.rows} rows, pause ${r.pause_ms} ms, ${r.elapsed_ms} ms in all`);
      await sleep(300);
    }
    await sleep(500);
    stop = true;
    await Promise.all(writers);
    const during = (s: Sample): boolean => windows.some((w) => s.at >= w.start && s.at <= w.end);
    const final = (await admin.query({ text: `SHOW PLACEMENT FOR ACCOUNT '${HOT}' TABLE 'volumes'`, queryMode: 'simple' } as pg.QueryConfig)).rows[0].shard as string;
    const count = async (c: Cluster): Promise<number> => {
      const d = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: DB });
      await d.connect();
      const r = await d.query<{ n: string; d: string }>(`select count(*) as n, count(distinct size) as d from volumes where account_id = '${HOT}'`);
      await d.end();
      return Number(r.rows[0]!.n) === Number(r.rows[0]!.d) ? Number(r.rows[0]!.n) : -1;
    };
    const onFinal = await count(clusters[Number(final.slice(1))]!);
    const onOther = await count(clusters[final === 's0' ? 1 : 0]!);
    const ok = onFinal === rows + acked.length && onOther === 0 && errors === 0;
    const pauses = results.map((r) => r.pauseMs);
    const copied = results.reduce((n, r) => n + r.rows, 0);
    const elapsed = results.reduce((n, r) => n + r.elapsedMs, 0);
    const lat = (xs: Sample[]): number[] => xs.map((s) => s.ms);
    const steps = moveSteps(await readFile(proxy.logFile, 'utf8'));
    const ph = results.flatMap((r) => {
      const p = steps.get(r.id);
      const x = p ? phases(p) : null;
      return x ? [x] : [];
    });
    const copyRate = median(ph.filter((p) => p.copyMs > 0).map((p) => p.copyRows / (p.copyMs / 1000)));
    const f0 = (n: number | null): string => (n === null ? 'n/a' : String(Math.round(n)));
    const lines = [
      '| moves | tenant rows (last move) | pause p50 ms | pause p99 ms | pause max ms | snapshot copy rows/s (median) | catch-up rows before the fence (median) | rows under the fence (median, max) | move elapsed p50 ms |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      `| ${moves} | ${ph.at(-1)?.copyRows ?? 'n/a'} | ${pct(pauses, 50)} | ${pct(pauses, 99)} | ${Math.max(...pauses)} | ${f0(copyRate)} | ${f0(median(ph.map((p) => p.catchUpRows)))} | ${f0(median(ph.map((p) => p.finalRows)))}, ${ph.length ? Math.max(...ph.map((p) => p.finalRows)) : 'n/a'} | ${pct(results.map((r) => r.elapsedMs), 50)} |`,
      '',
      '| writes | when | count | p50 ms | p99 ms | max ms |',
      '|---|---|---:|---:|---:|---:|',
      ...([['moving tenant', hot], ['other tenants', other]] as const).flatMap(([name, xs]) =>
        ([['during moves', xs.filter(during)], ['between moves', xs.filter((s) => !during(s))]] as const).map(
          ([when, ys]) => `| ${name} | ${when} | ${ys.length} | ${pct(lat([...ys]), 50)} | ${pct(lat([...ys]), 99)} | ${ys.length ? lat([...ys]).reduce((a, b) => Math.max(a, b), 0).toFixed(2) : 'n/a'} |`,
        ),
      ),
      '',
      `${ok ? 'PASS' : 'FAIL'}: ${HOT} ends on ${final} with ${onFinal} rows (${rows} loaded + ${acked.length} acknowledged writes, each once), ${onOther} on the other shard; ${errors} client errors.`,
      `${rate} writes/s on the moving tenant and ${otherRate}/s on 100 others (4 clients each), one Prescient over two Postgres clusters, ${os.cpus().length}-core host, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}. pause = how long requests for the tenant waited (fence closed to opened); elapsed = the whole move.`,
    ];
    process.stdout.write('\n' + lines.join('\n') + '\n');
    await writeJson(flags.get('json'), { moves: results, phases: ph, copyRate, pauses, copied, elapsedMs: elapsed, ok, errors, acked: acked.length, loadavg: os.loadavg() }, log);
    await admin.end();
    await loader.end();
    return ok ? 0 : 1;
  } finally {
    if (proxy) await stopProc(proxy.proc, 'SIGTERM', 10_000);
    await stopClusters(clusters);
  }
}

runMain(import.meta.url, main, log);
