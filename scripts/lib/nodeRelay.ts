// nodeRelay owns starting the Node floor (scripts/node-relay.ts) for a benchmark: a relay process with Prescient's Node flags, its port, and its pid for the CPU count.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../proxy/nodeFlags.js';
import { freePort } from '../testbed.js';
import type { Endpoint } from './pgbench.js';
import { spawnProc, tail, waitForPort } from './proc.js';

/** Starts the relay in front of `pg`, run with Prescient's Node flags so that the floor is measured as Prescient runs. */
export async function startNodeRelay(dir: string, pg: { host: string; port: number }): Promise<Endpoint> {
  const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node-relay.js');
  const port = await freePort();
  const logFile = path.join(dir, 'node-relay.log');
  const proc = spawnProc('node-relay', process.execPath, [...NODE_FLAGS, script, '--port', String(port), '--to', `${pg.host}:${pg.port}`], { logFile });
  try {
    await waitForPort('127.0.0.1', port, 20_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- node-relay log ---\n${await tail(logFile)}`);
  }
  return { host: '127.0.0.1', port, proc, cpuPid: proc.pid, label: 'Node relay (one server connection per client)' };
}
