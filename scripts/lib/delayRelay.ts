// delayRelay owns putting a benchmark's Postgres "across a network": starting scripts/delay-relay.ts in front of a cluster, and measuring the round-trip time it adds as a client sees it.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../testbed.js';
import { spawnProc, tail, waitForPort, type Proc } from './proc.js';
import { median } from './stats.js';

export interface DelayedServer {
  host: string;
  port: number;
  proc: Proc;
}

/** Starts the relay in front of `server`; everything pointed at the returned port sees `rttMs` more per round trip. */
export async function startDelayRelay(dir: string, name: string, server: { host: string; port: number }, rttMs: number): Promise<DelayedServer> {
  const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../delay-relay.js');
  const port = await freePort();
  const logFile = path.join(dir, `${name}.log`);
  const proc = spawnProc(name, process.execPath, [script, '--port', String(port), '--to', `${server.host}:${server.port}`, '--rtt-ms', String(rttMs)], { logFile });
  try {
    await waitForPort('127.0.0.1', port, 20_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- ${name} log ---\n${await tail(logFile)}`);
  }
  return { host: '127.0.0.1', port, proc };
}

/** Median `select 1` round trip (ms) over `n` queries on one connection. */
async function selectRtt(ep: { host: string; port: number }, login: { user: string; password: string; database: string }, n: number): Promise<number> {
  const c = new pg.Client({ host: ep.host, port: ep.port, ...login });
  await c.connect();
  try {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await c.query('select 1');
      times.push(performance.now() - t);
    }
    return median(times)!;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The round trip the relay adds as a client sees it: median `select 1` through it minus straight to Postgres (ms). */
export async function measuredRttMs(direct: { host: string; port: number }, delayed: { host: string; port: number }, login: { user: string; password: string; database: string }): Promise<number> {
  const [d, r] = [await selectRtt(direct, login, 200), await selectRtt(delayed, login, 200)];
  return r - d;
}

/**
 * A benchmark's one cluster as its targets reach it: straight, or (rttMs > 0) behind a relay started in `dir`, whose
 * added round trip is measured as a client sees it and logged. `relay` must be stopped by the caller.
 */
export async function reachCluster(
  dir: string,
  cluster: { host: string; port: number; user: string; password: string },
  rttMs: number,
  database: string,
  log: (msg: string) => void,
): Promise<{ at: { host: string; port: number }; relay: Proc | null; rttMeasured: number | null }> {
  if (rttMs <= 0) return { at: { host: cluster.host, port: cluster.port }, relay: null, rttMeasured: null };
  const relay = await startDelayRelay(dir, 'delay-relay', cluster, rttMs);
  const rttMeasured = await measuredRttMs(cluster, relay, { user: cluster.user, password: cluster.password, database });
  log(`Postgres behind the delay relay (${rttMs} ms per round trip asked): a client sees ${rttMeasured.toFixed(3)} ms more per round trip`);
  return { at: { host: relay.host, port: relay.port }, relay: relay.proc, rttMeasured };
}
