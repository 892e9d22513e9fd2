// Owns: starting a real Prescient process (dist/proxy/cli.js) for a test, with a config built from clusters.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import pg from 'pg';
import { freePort, type Cluster } from '../../scripts/testbed.js';
import type { TeardownCapable } from './pg.js';
import { NODE_FLAGS } from '../../proxy/nodeFlags.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(root, 'dist', 'proxy', 'cli.js');

export interface ProxyHandle {
  host: string;
  port: number;
  /** the port of its HTTP listener (metrics, health, dashboard), from its `http listening` line; null with http.enabled false */
  httpPort: number | null;
  proc: ChildProcess;
  /** everything the proxy wrote to stderr so far */
  logs(): string;
  /** sends a signal and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  configPath: string;
}

export const APP_USER = { name: 'app', password: 'app-secret' };

/** A config for `clusters` (one shard each) with overrides merged at the top level. */
export function proxyConfig(clusters: Cluster[], port: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port },
    database: 'app',
    users: [APP_USER],
    shards: clusters.map((c, i) => ({ name: `s${i}`, host: c.host, port: c.port, database: 'app', user: c.user, password: c.password })),
    pool: { mode: 'transaction', size: 10 },
    // any free port: parallel proxies must not fight over the default 9930
    http: { host: '127.0.0.1', port: 0 },
    ...overrides,
  };
}

/** Starts Prescient; stops it in t.teardown. `overrides` replace top-level config keys. */
export async function startProxy(t: TeardownCapable, clusters: Cluster[], overrides: Record<string, unknown> = {}, extraArgs: string[] = []): Promise<ProxyHandle> {
  const port = await freePort();
  const config = proxyConfig(clusters, port, overrides);
  const listen = config.listen as { port: number; host: string };
  const httpEnabled = (config.http as { enabled?: boolean }).enabled !== false;
  const dir = mkdtempSync(join(tmpdir(), 'prescient-cfg-'));
  const configPath = join(dir, 'prescient.yaml');
  writeFileSync(configPath, stringify(config));
  // the proxy runs as users run it: `env -u` (which execs node, same pid) drops the NODE_OPTIONS the test runner puts
  // into every child it spawns (tap's processinfo loader: a loader thread and ~50 MB more RSS in the proxy)
  const proc = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath, ...NODE_FLAGS, ...extraArgs, CLI, 'start', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let exited: number | null | undefined;
  const exitP = new Promise<number | null>((resolve) => proc.on('exit', (code) => { exited = code; resolve(code); }));
  proc.stderr!.on('data', (d) => (stderr += d.toString()));
  proc.stdout!.on('data', (d) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start in 20 s:\n${stderr}`)), 20000);
    const check = (): void => {
      if (stderr.includes('"msg":"listening"') && (!httpEnabled || stderr.includes('"msg":"http listening"'))) {
        clearTimeout(timer);
        resolve();
      } else if (exited !== undefined) {
        clearTimeout(timer);
        reject(new Error(`proxy exited with ${exited}:\n${stderr}`));
      } else setTimeout(check, 25);
    };
    check();
  });
  const handle: ProxyHandle = {
    host: listen.host,
    port: listen.port,
    httpPort: httpEnabled ? httpPortOf(stderr) : null,
    proc,
    configPath,
    logs: () => stderr,
    stop: (signal = 'SIGTERM') => {
      if (exited !== undefined) return Promise.resolve(exited);
      proc.kill(signal);
      return exitP;
    },
  };
  t.teardown(async () => {
    if (exited === undefined) {
      proc.kill('SIGKILL');
      await exitP;
    }
  });
  return handle;
}

/** The port in a proxy's `http listening` log line. */
export function httpPortOf(logs: string): number {
  const line = logs.split('\n').find((l) => l.includes('"msg":"http listening"'));
  const port = line === undefined ? undefined : (JSON.parse(line) as { port?: number }).port;
  if (typeof port !== 'number') throw new Error(`no "http listening" line with a port in the proxy's log:\n${logs}`);
  return port;
}

export type PgError = Error & { code?: string; severity?: string };

/** A pg client for Prescient as APP_USER (options in `extra` win); errors from a closed connection are ignored. */
export function newClient(ep: { host: string; port: number }, extra: pg.ClientConfig = {}): pg.Client {
  const c = new pg.Client({
    host: ep.host,
    port: ep.port,
    user: APP_USER.name,
    password: APP_USER.password,
    database: 'app',
    connectionTimeoutMillis: 10_000,
    ...extra,
  });
  c.on('error', () => {}); // a connection the proxy closes must not crash the test
  return c;
}

/** A connected client, ended in t.teardown. */
export async function connected(t: TeardownCapable, ep: { host: string; port: number }, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = newClient(ep, extra);
  await c.connect();
  t.teardown(() => c.end().catch(() => {}));
  return c;
}

/** The admin console of `ep` as `admin` (its own connection, ended in t.teardown): a function running one statement. */
export async function adminConsole(t: TeardownCapable, ep: { host: string; port: number }, admin: { name: string; password: string }): Promise<(sql: string) => Promise<pg.QueryResult>> {
  const c = await connected(t, ep, { user: admin.name, password: admin.password, database: 'prescient' });
  return (sql) => c.query({ text: sql, queryMode: 'simple' } as pg.QueryConfig);
}

/** The error a connect fails with (throws if the connect succeeds). */
export async function connectError(ep: { host: string; port: number }, extra: pg.ClientConfig = {}): Promise<PgError> {
  const c = newClient(ep, extra);
  try {
    await c.connect();
  } catch (e) {
    await c.end().catch(() => {});
    return e as PgError;
  }
  await c.end().catch(() => {});
  throw new Error('connect unexpectedly succeeded');
}
