// nodeRelay owns starting the Node floor relays of a benchmark (scripts/node-relay.ts, and the pipelining experiment scripts/pipeline-relay.ts): a relay process with Prescient's Node flags, its port, and its pid for the CPU count.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../proxy/nodeFlags.js';
import { freePort } from '../testbed.js';
import type { Endpoint } from './pgbench.js';
import { spawnProc, tail, waitForPort } from './proc.js';

/** Starts the relay in front of `pg`, run with Prescient's Node flags so that the floor is measured as Prescient runs. */
export async function startNodeRelay(dir: string, pg: { host: string; port: number }, onread = false): Promise<Endpoint> {
  const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node-relay.js');
  const port = await freePort();
  const name = onread ? 'node-relay-onread' : 'node-relay';
  const logFile = path.join(dir, `${name}.log`);
  const proc = spawnProc(name, process.execPath, [...NODE_FLAGS, script, '--port', String(port), '--to', `${pg.host}:${pg.port}`, ...(onread ? ['--onread'] : [])], { logFile });
  try {
    await waitForPort('127.0.0.1', port, 20_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- node-relay log ---\n${await tail(logFile)}`);
  }
  return { host: '127.0.0.1', port, proc, cpuPid: proc.pid, label: onread ? 'Node relay, onread (one server connection per client)' : 'Node relay (one server connection per client)' };
}

/** Starts the pipelining experiment (scripts/pipeline-relay.ts) in front of `pg`, logged in as its user, over `servers` connections. */
export async function startPipelineRelay(dir: string, pg: { host: string; port: number; user: string; password: string }, servers = 2, database = 'app'): Promise<Endpoint> {
  const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../pipeline-relay.js');
  const port = await freePort();
  const logFile = path.join(dir, 'pipeline-relay.log');
  const args = [...NODE_FLAGS, script, '--port', String(port), '--to', `${pg.host}:${pg.port}`, '--user', pg.user, '--password', pg.password, '--database', database, '--servers', String(servers)];
  const proc = spawnProc('pipeline-relay', process.execPath, args, { logFile });
  try {
    await waitForPort('127.0.0.1', port, 20_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- pipeline-relay log ---\n${await tail(logFile)}`);
  }
  return { host: '127.0.0.1', port, proc, cpuPid: proc.pid, label: `pipelining relay (all clients over ${servers} server connections)` };
}
