// pgbouncer owns starting a PgBouncer for a benchmark to compare with: its ini and userlist, running it as the postgres OS user when we are root, and waiting until it listens.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chown, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../testbed.js';
import { log } from './log.js';
import type { Endpoint } from './pgbench.js';
import { isRoot, osUser, spawnProc, tail, waitForPort } from './proc.js';

const PG_DB = 'app';

/** PgBouncer on a free loopback port in front of `pg`'s database `app` (session mode resets server state between clients). */
export async function startPgBouncer(
  dir: string,
  name: string,
  pg: { host: string; port: number; user: string; password: string },
  poolMode: 'transaction' | 'session',
  poolSize: number,
): Promise<Endpoint> {
  const port = await freePort();
  const ini = path.join(dir, `${name}.ini`);
  const userlist = path.join(dir, `${name}-userlist.txt`);
  const logFile = path.join(dir, `${name}.log`);
  const pidFile = path.join(dir, `${name}.pid`);
  await writeFile(
    ini,
    [
      '[databases]',
      `${PG_DB} = host=${pg.host} port=${pg.port} dbname=${PG_DB}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${userlist}`,
      `pool_mode = ${poolMode}`,
      `default_pool_size = ${poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 200',
      'max_db_connections = 0',
      // session mode: a second pgbench run must not find the first one's prepared statements on a reused connection
      `server_reset_query = ${poolMode === 'session' ? 'DISCARD ALL' : ''}`,
      'ignore_startup_parameters = extra_float_digits',
      `pidfile = ${pidFile}`,
      `logfile = ${logFile}`,
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await writeFile(userlist, `"${pg.user}" "${pg.password}"\n`, { mode: 0o600 });
  const args: string[] = [];
  if (isRoot()) {
    const u = osUser('postgres');
    for (const f of [ini, userlist]) await chown(f, u.uid, u.gid);
    args.push('-u', 'postgres'); // PgBouncer refuses to run as root; -u switches user, stays in the foreground
  }
  args.push(ini);
  const proc = spawnProc(name, '/usr/sbin/pgbouncer', args, { logFile: path.join(dir, `${name}.stderr`) });
  try {
    await waitForPort('127.0.0.1', port, 15_000, proc);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- ${name} log ---\n${await tail(logFile)}\n${await tail(path.join(dir, `${name}.stderr`))}`);
  }
  // Without -d PgBouncer does not fork, so the child is PgBouncer itself; the pidfile confirms it.
  let cpuPid = proc.pid;
  try {
    const fromFile = parseInt(readFileSync(pidFile, 'utf8'), 10);
    if (Number.isFinite(fromFile) && fromFile > 0) cpuPid = fromFile;
  } catch {
    /* keep child pid */
  }
  log(`${name}: PgBouncer pool_mode=${poolMode} default_pool_size=${poolSize} on 127.0.0.1:${port} (pid ${cpuPid})`);
  return { host: '127.0.0.1', port, proc, cpuPid, label: `PgBouncer (${poolMode})` };
}

/**
 * The PgBouncers a benchmark compares with: one in pool_mode=transaction and, when `prepared` (pgbench -M prepared
 * runs), a second in pool_mode=session, since PgBouncer 1.18 has no protocol-level prepared statements in transaction mode.
 */
export async function startPgBouncers(
  dir: string,
  pg: { host: string; port: number; user: string; password: string },
  poolSize: number,
  maxClients: number,
  prepared: boolean,
): Promise<{ tx: Endpoint; session?: Endpoint }> {
  const tx = await startPgBouncer(dir, 'pgbouncer-tx', pg, 'transaction', poolSize);
  if (!prepared) return { tx };
  const session = await startPgBouncer(dir, 'pgbouncer-session', pg, 'session', Math.max(poolSize, maxClients));
  log('note: -M prepared uses the pool_mode=session PgBouncer (1.18 has no prepared statements in transaction mode)');
  return { tx, session };
}

/** PgBouncer's version line (`PgBouncer 1.18.0`), '?' when it cannot be run. */
export function pgbouncerVersion(): string {
  return (spawnSync('/usr/sbin/pgbouncer', ['--version'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0]?.trim() ?? '?';
}
