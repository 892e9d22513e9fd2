// storm owns `npm run storm`: N clients connect to Prescient at once (default 2,000 over 20 server connections), each
// logs in with SCRAM, runs one write transaction and leaves; it reports login and transaction latency percentiles, and
// checks every transaction was served (each client's row is in Postgres, read directly).
//
//   npm run storm -- [--clients 2000] [--pool 20] [--json]
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startClusters, stopClusters } from './testbed.js';
import { Args } from './lib/args.js';
import { clockTicksPerSecond, cpuTicks } from './lib/cpu.js';
import { log } from './lib/log.js';
import { runMain } from './lib/main.js';
import { startPrescient, type Prescient } from './lib/prescient.js';
import { stopProc } from './lib/proc.js';

const USAGE = 'usage: npm run storm -- [--clients 2000] [--pool 20] [--json]';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface StormResult {
  clients: number;
  pool: number;
  served: number;
  failed: number;
  errors: Record<string, number>;
  rowsInPostgres: number;
  loginMs: { p50: number; p99: number; max: number };
  txMs: { p50: number; p99: number; max: number };
  wallMs: number;
  /** the proxy process's CPU (user + system) over the storm, in ms */
  proxyCpuMs: number;
}

/** utime + stime of a process in ms, from /proc (Linux). */
function cpuMs(pid: number): number {
  const t = cpuTicks(pid);
  return t ? ((t.user + t.sys) * 1000) / clockTicksPerSecond() : NaN;
}

export async function storm(clients: number, poolSize: number): Promise<StormResult> {
  const [cluster] = await startClusters(1);
  const c = cluster!;
  const direct = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: 'app' });
  await direct.connect();
  await direct.query('drop table if exists storm; create table storm (id int primary key)');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prescient-storm-'));
  let proxy: Prescient | undefined;
  try {
    proxy = await startPrescient({
      dir,
      name: 'prescient',
      generatedBy: 'scripts/storm.ts',
      config: (port) => ({
        listen: { host: '127.0.0.1', port, max_client_connections: clients + 100 },
        database: 'app',
        users: [{ name: 'app', password: 'app-secret' }],
        shards: [{ name: 's0', host: c.host, port: c.port, database: 'app', user: c.user, password: c.password }],
        pool: { mode: 'transaction', size: poolSize, queue_timeout_ms: 5000 },
        log: { level: 'warn' },
      }),
    });
    const { port } = proxy;
    const logins: number[] = [];
    const txs: number[] = [];
    const errors: Record<string, number> = {};
    let served = 0;
    const cpu0 = cpuMs(proxy.proc.pid);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, async (_, id) => {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'app', password: 'app-secret', database: 'app', connectionTimeoutMillis: 60000 });
      client.on('error', () => {});
      const start = performance.now();
      try {
        await client.connect();
        const loggedIn = performance.now();
        logins.push(loggedIn - start);
        await client.query('begin');
        await client.query('insert into storm values ($1)', [id]);
        await client.query('commit');
        txs.push(performance.now() - loggedIn);
        served++;
      } catch (e) {
        const code = (e as { code?: string }).code ?? (e as Error).message;
        errors[code] = (errors[code] ?? 0) + 1;
      } finally {
        await client.end().catch(() => {});
      }
    }));
    const wallMs = performance.now() - t0;
    const proxyCpuMs = cpuMs(proxy.proc.pid) - cpu0;
    const rows = Number((await direct.query('select count(*) as n from storm')).rows[0].n);
    logins.sort((a, b) => a - b);
    txs.sort((a, b) => a - b);
    const round = (x: number): number => Math.round(x * 10) / 10;
    return {
      clients, pool: poolSize, served, failed: clients - served, errors, rowsInPostgres: rows,
      loginMs: { p50: round(percentile(logins, 50)), p99: round(percentile(logins, 99)), max: round(logins.at(-1) ?? NaN) },
      txMs: { p50: round(percentile(txs, 50)), p99: round(percentile(txs, 99)), max: round(txs.at(-1) ?? NaN) },
      wallMs: Math.round(wallMs),
      proxyCpuMs: Math.round(proxyCpuMs),
    };
  } finally {
    if (proxy) await stopProc(proxy.proc, 'SIGTERM', 10_000);
    await direct.end().catch(() => {});
    await stopClusters([c]);
  }
}

async function main(): Promise<number> {
  const flags = new Args(process.argv.slice(2), { usage: USAGE, values: ['clients', 'pool'], booleans: ['json'] });
  const r = await storm(flags.int('clients', 2000, 1), flags.int('pool', 20, 1));
  if (flags.bool('json')) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    process.stdout.write(`storm: ${r.clients} clients at once over ${r.pool} server connections (transaction pooling)\n`);
    process.stdout.write(`  served ${r.served}, failed ${r.failed} ${JSON.stringify(r.errors)}; rows in Postgres ${r.rowsInPostgres}\n`);
    process.stdout.write(`  login ms  p50 ${r.loginMs.p50}  p99 ${r.loginMs.p99}  max ${r.loginMs.max}\n`);
    process.stdout.write(`  tx ms     p50 ${r.txMs.p50}  p99 ${r.txMs.p99}  max ${r.txMs.max}\n`);
    process.stdout.write(`  wall ${r.wallMs} ms; proxy CPU ${r.proxyCpuMs} ms (${Math.round((r.proxyCpuMs * 1000) / r.clients)} µs per client: login + BEGIN/INSERT/COMMIT)\n`);
  }
  return r.failed === 0 && r.rowsInPostgres === r.clients ? 0 : 1;
}

runMain(import.meta.url, main, log);
