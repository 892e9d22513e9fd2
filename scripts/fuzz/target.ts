// target owns what the fuzzer runs against: its own Postgres cluster and Prescient process, or an already-running pair.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { findPgBin, freePort, runCommand, startClusters, stopClusters, type Cluster } from '../testbed.js';
import { spawnDetachedShell } from '../lib/proc.js';
import type { FuzzOptions } from './options.js';
import { NODE_FLAGS } from '../../proxy/nodeFlags.js';

/** A direct Postgres connection (superuser or owner of the fuzz tables). */
export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface Target {
  proxy: { host: string; port: number };
  /** the proxy's pid (for RSS and crash checks); null when unknown */
  pid: number | null;
  /** the proxy process, when the fuzzer started it */
  proc: ChildProcess | null;
  pg: PgTarget;
  /** the data-path user fuzz inputs log in as */
  login: { user: string; password: string; database: string };
  /** the honest client's login: its own server identity (a pool of its own), so pinned fuzz sessions cannot starve it */
  honest: { user: string; password: string; database: string };
  admin: { user: string; password: string } | null;
  maxMessageSize: number;
  maxStartupPacket: number;
  /** the proxy's stderr so far (own proxy only) */
  logs(): string;
  stop(): Promise<void>;
}

const APP = { user: 'app', password: 'app-secret', database: 'app' };
const ADMIN = { user: 'admin', password: 'admin-secret' };
/** the honest client logs in as HONEST and runs on the server as HONEST_ROLE (users[].server_user) */
const HONEST = { user: 'honest', password: 'honest-secret', database: 'app' };
const HONEST_ROLE = 'fuzz_honest';

function pgTargetFromUrl(url: string): PgTarget {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || 'postgres'),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1) || 'postgres'),
  };
}

/** A login role for a server identity of its own (the honest client's tables are granted to public). */
async function createRole(t: PgTarget, name: string, password: string): Promise<void> {
  const c = new pg.Client({ ...t });
  await c.connect();
  try {
    await c.query(`create role ${name} login password '${password.replace(/'/g, "''")}'`);
  } finally {
    await c.end();
  }
}

/** Creates fuzz_t and the pgbench tables (pgbench -i -s 1 drops and recreates pgbench_*). */
async function prepareDatabase(t: PgTarget): Promise<void> {
  const c = new pg.Client({ ...t });
  await c.connect();
  try {
    await c.query('create table if not exists fuzz_t (id int, v text)');
    await c.query('grant all on fuzz_t to public');
  } finally {
    await c.end();
  }
  const r = await runCommand(findPgBin('pgbench'), ['-i', '-s', '1', '-q', '-h', t.host, '-p', String(t.port), '-U', t.user, t.database], {
    env: { ...process.env, PGPASSWORD: t.password, PGSSLMODE: 'disable', PGPASSFILE: '/dev/null' },
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`pgbench -i failed: ${r.stderr}`);
}

async function startOwnProxy(cluster: Cluster, opts: FuzzOptions, dir: string): Promise<{ proc: ChildProcess; port: number; logs: () => string }> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const cli = path.resolve(here, '../../proxy/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} not found; run 'npm run build' first`);
  const port = await freePort();
  const config = {
    listen: { host: '127.0.0.1', port, max_client_connections: 10_000 },
    database: APP.database,
    users: [
      { name: APP.user, password: APP.password },
      { name: HONEST.user, password: HONEST.password, server_user: HONEST_ROLE, server_password: HONEST.password },
    ],
    auth: { method: 'scram-sha-256' },
    shards: [{ name: 's0', host: cluster.host, port: cluster.port, database: 'app', user: cluster.user, password: cluster.password }],
    // a small pool so that a leaked or poisoned server connection shows; a queue timeout below the hang timeout so a starved
    // client gets an error (an answer) rather than silence
    pool: { mode: 'transaction', size: opts.poolSize, queue_timeout_ms: Math.max(1000, opts.hangMs - 2000) },
    admin: { users: [{ name: ADMIN.user, password: ADMIN.password }] },
    catalog: { path: path.join(dir, 'prescient.db') },
    shutdown: { timeout_ms: 2000 },
    log: { level: 'warn' },
    // any free port: never the default 9930 another proxy may hold
    http: { host: '127.0.0.1', port: 0 },
  };
  const configFile = path.join(dir, 'prescient.yaml');
  await writeFile(configFile, '# generated by scripts/fuzz/target.ts\n' + JSON.stringify(config, null, 2) + '\n');
  const proc = spawn(process.execPath, [...NODE_FLAGS, cli, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  // a watchdog kills this proxy if the fuzzer dies without stopping it (its stdio pipes would break anyway)
  if (proc.pid) spawnDetachedShell('while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null', 'prescient-fuzz-watchdog', [String(process.pid), String(proc.pid)]);
  let out = '';
  const append = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  proc.stdout!.on('data', append);
  proc.stderr!.on('data', append);
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 30_000;
    const check = (): void => {
      if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`prescient exited before listening:\n${out}`));
      const s = new net.Socket();
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`prescient did not listen in 30 s:\n${out}`));
        else setTimeout(check, 100);
      });
      s.connect(port, '127.0.0.1');
    };
    check();
  });
  return { proc, port, logs: () => out };
}

/** Starts (or attaches to) the proxy and Postgres the run needs; fuzz_t and the pgbench tables are created directly in Postgres. */
export async function startTarget(opts: FuzzOptions): Promise<Target> {
  if (opts.host !== undefined) {
    if (!opts.pgUrl) throw new Error('--host/--port need --pg-url (a direct Postgres URL to check the honest writes against)');
    const pgT = pgTargetFromUrl(opts.pgUrl);
    await prepareDatabase(pgT);
    return {
      proxy: { host: opts.host, port: opts.port ?? 6432 },
      pid: opts.proxyPid ?? null,
      proc: null,
      pg: pgT,
      login: { user: opts.user ?? APP.user, password: opts.password ?? APP.password, database: opts.database ?? pgT.database },
      honest: {
        user: opts.honestUser ?? opts.user ?? APP.user,
        password: opts.honestPassword ?? opts.password ?? APP.password,
        database: opts.database ?? pgT.database,
      },
      admin: opts.adminUser ? { user: opts.adminUser, password: opts.adminPassword ?? '' } : null,
      maxMessageSize: 64 * 1024 * 1024,
      maxStartupPacket: 10000,
      logs: () => '',
      stop: async () => {},
    };
  }
  const clusters = await startClusters(1, { settings: { max_connections: 200 }, users: opts.direct ? [{ name: APP.user, password: APP.password }] : [] });
  const cluster = clusters[0]!;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prescient-fuzz-'));
  const pgT: PgTarget = { host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'app' };
  try {
    await prepareDatabase(pgT);
    if (opts.direct) {
      // the control run: the fuzz lanes and the honest client talk to Postgres itself (no proxy, no pool check)
      return {
        proxy: { host: cluster.host, port: cluster.port },
        pid: null,
        proc: null,
        pg: pgT,
        login: APP,
        honest: APP,
        admin: null,
        maxMessageSize: 0x3fffffff,
        maxStartupPacket: 10000,
        logs: () => '',
        stop: async () => {
          await stopClusters(clusters);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await createRole(pgT, HONEST_ROLE, HONEST.password);
    const p = await startOwnProxy(cluster, opts, dir);
    return {
      proxy: { host: '127.0.0.1', port: p.port },
      pid: p.proc.pid ?? null,
      proc: p.proc,
      pg: pgT,
      login: APP,
      honest: HONEST,
      admin: ADMIN,
      maxMessageSize: 64 * 1024 * 1024,
      maxStartupPacket: 10000,
      logs: p.logs,
      stop: async () => {
        if (p.proc.exitCode === null && p.proc.signalCode === null) {
          const exited = new Promise((r) => p.proc.once('exit', r));
          p.proc.kill('SIGKILL');
          await exited;
        }
        await stopClusters(clusters);
        if (!opts.keep) await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopClusters(clusters).catch(() => {});
    throw e;
  }
}
