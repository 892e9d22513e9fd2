// storm owns `npm run storm`: N clients connect to Prescient at once (default 2,000 over 20 server connections), each
// logs in with SCRAM, runs one write transaction and leaves; it reports login and transaction latency percentiles, and
// checks every transaction was served (each client's row is in Postgres, read directly).
//
//   npm run storm -- [--clients 2000] [--pool 20] [--json]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { stringify } from 'yaml';
import { freePort, startClusters, stopClusters } from './testbed.js';
import { NODE_FLAGS } from '../proxy/nodeFlags.js';

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

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
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

export async function storm(clients: number, poolSize: number): Promise<StormResult> {
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const [cluster] = await startClusters(1);
  const c = cluster!;
  const direct = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: 'app' });
  await direct.connect();
  await direct.query('drop table if exists storm; create table storm (id int primary key)');
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prescient-storm-'));
  const configPath = path.join(dir, 'prescient.yaml');
  await writeFile(configPath, stringify({
    listen: { host: '127.0.0.1', port, max_client_connections: clients + 100 },
    database: 'app',
    users: [{ name: 'app', password: 'app-secret' }],
    shards: [{ name: 's0', host: c.host, port: c.port, database: 'app', user: c.user, password: c.password }],
    pool: { mode: 'transaction', size: poolSize, queue_timeout_ms: 5000 },
    log: { level: 'warn' },
  }));
  const proxy = spawn(process.execPath, [...NODE_FLAGS, path.join(root, 'dist', 'proxy', 'cli.js'), 'start', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  proxy.stderr!.on('data', (d) => (logs += d.toString()));
  try {
    // wait until it accepts
    for (let i = 0; ; i++) {
      try {
        const probe = new pg.Client({ host: '127.0.0.1', port, user: 'app', password: 'app-secret', database: 'app' });
        await probe.connect();
        await probe.end();
        break;
      } catch (e) {
        if (i > 100) throw new Error(`proxy did not start: ${(e as Error).message}\n${logs}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const logins: number[] = [];
    const txs: number[] = [];
    const errors: Record<string, number> = {};
    let served = 0;
    const cpu0 = cpuMs(proxy.pid!);
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
    const proxyCpuMs = cpuMs(proxy.pid!) - cpu0;
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
    proxy.kill('SIGTERM');
    await direct.end().catch(() => {});
    await stopClusters([c]);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const r = await storm(flag('--clients', 2000), flag('--pool', 20));
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    process.stdout.write(`storm: ${r.clients} clients at once over ${r.pool} server connections (transaction pooling)\n`);
    process.stdout.write(`  served ${r.served}, failed ${r.failed} ${JSON.stringify(r.errors)}; rows in Postgres ${r.rowsInPostgres}\n`);
    process.stdout.write(`  login ms  p50 ${r.loginMs.p50}  p99 ${r.loginMs.p99}  max ${r.loginMs.max}\n`);
    process.stdout.write(`  tx ms     p50 ${r.txMs.p50}  p99 ${r.txMs.p99}  max ${r.txMs.max}\n`);
    process.stdout.write(`  wall ${r.wallMs} ms; proxy CPU ${r.proxyCpuMs} ms (${Math.round((r.proxyCpuMs * 1000) / r.clients)} µs per client: login + BEGIN/INSERT/COMMIT)\n`);
  }
  process.exit(r.failed === 0 && r.rowsInPostgres === r.clients ? 0 : 1);
}
