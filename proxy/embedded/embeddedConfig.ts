// embeddedConfig owns the zero-install default: an embedded Postgres (PGlite, persisted in a data dir) served over
// TCP on a private loopback port by pglite-socket, and a Prescient config in front of it on 127.0.0.1:6432.
//
// PGlite has ONE backend session for every socket connection, so the config uses one server connection (pool size 1,
// transaction mode) and resets the session when a client leaves (pool.reset_on_every_client). Each new socket
// connection also gets a fresh session (ROLLBACK + DISCARD ALL), as a new connection to a real Postgres would.
import net from 'node:net';
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { ConfigError, parseConfig } from '../../config/loadConfig.js';
import type { Config } from '../../config/schema.js';
import * as Be from '../protocol/BackendMessage.js';
import * as Fe from '../protocol/FrontendEncoder.js';
import { FrontendCode } from '../protocol/MessageCode.js';
import { SqlState } from '../protocol/SqlState.js';
import { logger } from '../logger.js';

/** where PGlite's own socket listens (always private) and the proxy's default listen address */
const LOOPBACK = '127.0.0.1';
const DEFAULT_PORT = 6432;
/** the database clients connect to; PGlite itself has only `postgres` (and accepts any name, always serving `postgres`) */
const CLIENT_DATABASE = 'app';
/**
 * further names served as `app` (a driver's test set-up connects to `postgres` or `template1`): aliases, so the same one
 * pool and its one server connection serve them. Databases of their own would each open a connection to PGlite, and
 * its connections share its one session: one client's transaction would be another's, and each new connection's reset
 * (ROLLBACK) would end another's transaction.
 */
const CLIENT_ALIASES = ['postgres', 'template1'];
const PGLITE_DATABASE = 'postgres';
/** the well-known users of the embedded default (it listens on loopback; a warning says so when it does not) */
const CLIENT_USER = { name: 'app', password: 'app' };
const ADMIN_USER = { name: 'admin', password: 'admin' };

function listenPort(): number {
  const raw = process.env.PRESCIENT_PORT;
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`PRESCIENT_PORT must be a port number (0-65535), got "${raw}"`);
  }
  return port;
}

/** Fails early (before PGlite opens the data dir) when the proxy's own port is taken. */
function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'EADDRINUSE'
          ? new ConfigError(`${host}:${port} is already in use (another prescient?); set PRESCIENT_PORT to use another port`)
          : new ConfigError(`cannot listen on ${host}:${port}: ${e.message}`),
      );
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite does not lock its data dir: two processes on one dir would corrupt it. A lock file next to the dir
 * (`<dataDir>.lock`, holding the pid) keeps a second prescient out; a stale one (dead pid) is taken over.
 * Returns the function that releases it.
 */
function lockDataDir(dir: string): () => void {
  const lockPath = `${dir}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) unlinkSync(lockPath);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(lockPath, 'utf8').trim(), 10);
      } catch {
        // vanished in between: retry
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new ConfigError(`the embedded database in ${dir} is in use by process ${pid} (lock file ${lockPath})`);
      }
      try {
        unlinkSync(lockPath); // stale
      } catch {
        // someone else removed it
      }
    }
  }
  throw new ConfigError(`cannot lock the embedded database in ${dir} (lock file ${lockPath})`);
}

/** the part of pglite-socket's (unexported, private) query queue that the COPY guard wraps */
interface QueryQueueLike {
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number>;
}

/** a statement (first, or after a `;`; comments skipped) of the form COPY ... FROM STDIN */
const COPY_FROM_STDIN = /(?:^|;)\s*(?:(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)\s*)*copy\b[^;]*?\bfrom\s+stdin\b/i;

/**
 * pglite-socket 0.2.17 sends each wire message to PGlite on its own, so COPY ... FROM STDIN loses protocol sync
 * ("unexpected EOF", then FATAL) and leaves the one PGlite backend dead: every later query hangs until restart
 * (upstream: electric-sql/pglite#1028). Such a query gets an error instead, and never reaches PGlite.
 * Only the simple-query protocol is guarded (what psql's \copy, pgbench -i, pg-copy-streams and JDBC's CopyManager send).
 */
function guardCopyFromStdin(socketServer: PGLiteSocketServer, db: PGlite): void {
  const queue = (socketServer as unknown as { queryQueue?: QueryQueueLike }).queryQueue;
  if (!queue || typeof queue.enqueue !== 'function') {
    logger.warn('embedded postgres: cannot guard COPY FROM STDIN (pglite-socket internals changed); COPY FROM STDIN will break PGlite');
    return;
  }
  const enqueue = queue.enqueue.bind(queue);
  queue.enqueue = (handlerId, message, onData) => {
    if (message[0] === FrontendCode.Query && message.length > 5) {
      const end = message.indexOf(0, 5);
      const sql = Buffer.from(message.buffer, message.byteOffset + 5, (end < 0 ? message.length : end) - 5).toString('utf8');
      if (COPY_FROM_STDIN.test(sql)) {
        const reply = Buffer.concat([
          Be.ErrorResponse({
            severity: 'ERROR',
            code: SqlState.FeatureNotSupported,
            message: 'COPY FROM STDIN is not supported by the embedded database (PGlite)',
            hint: 'Use INSERT (for pgbench -i: add -I dtGvp to generate the data server-side), or run Prescient with --config in front of a real Postgres.',
          }),
          Be.ReadyForQuery(db.isInTransaction() ? Be.TransactionStatus.InTransaction : Be.TransactionStatus.Idle),
        ]);
        onData(reply);
        return Promise.resolve(reply.length);
      }
    }
    return enqueue(handlerId, message, onData);
  };
}

/** The config in front of PGlite, validated like a config file. */
function buildConfig(host: string, port: number, pglitePort: number): Config {
  return parseConfig(
    {
      listen: { host, port },
      users: [
        CLIENT_USER,
        { name: 'postgres', password: 'postgres' },
      ],
      auth: { method: 'scram-sha-256' },
      databases: {
        [CLIENT_DATABASE]: {
          aliases: CLIENT_ALIASES,
          shards: [
            // PGlite ignores authentication: any user and password are accepted
            { name: 'pglite', host: LOOPBACK, port: pglitePort, database: PGLITE_DATABASE, user: 'postgres', password: 'postgres' },
          ],
          // the file it always had (next to the data dir)
          catalog: { path: 'prescient.db' },
        },
      },
      pool: {
        mode: 'transaction',
        size: 1,
        reset_on_every_client: true,
        // one backend serves everybody: a client may wait behind another's long statement
        queue_timeout_ms: 30000,
        // keep the one connection: reconnecting gains nothing
        idle_timeout_ms: 0,
      },
      // the admin console for the tour (SHOW POOLS …), with a well-known password like the data users
      admin: { users: [ADMIN_USER] },
      log: { level: process.env.PRESCIENT_LOG_LEVEL || 'info' },
    },
    'embedded config',
  );
}

/** The embedded default: its config, how to stop PGlite, and who may log in (`user app/app, admin admin/admin`, for the start line). */
export async function embeddedConfig(dataDir: string): Promise<{ config: Config; stop: () => Promise<void>; logins: string }> {
  const started = Date.now();
  const dir = path.resolve(dataDir);
  const port = listenPort();
  // cli applies PRESCIENT_HOST / PRESCIENT_PORT to any config; read here too, to check the port and log the right address
  const host = process.env.PRESCIENT_HOST || LOOPBACK;
  await assertPortFree(host, port);
  mkdirSync(dir, { recursive: true });
  const unlock = lockDataDir(dir);

  let db: PGlite | null = null;
  let socketServer: PGLiteSocketServer | null = null;
  try {
    db = await PGlite.create({ dataDir: dir });
    const pglite = db;
    // maxConnections > 1 only so a reconnect is not refused while pglite-socket still tears down the old connection;
    // Prescient itself opens one (pool size 1)
    socketServer = new PGLiteSocketServer({ db: pglite, host: LOOPBACK, port: 0, maxConnections: 4 });
    guardCopyFromStdin(socketServer, pglite);
    socketServer.addEventListener('connection', () => {
      // runs before the new connection's startup packet reaches PGlite (that goes through the same query lock later)
      pglite
        .runExclusive(async () => {
          if (pglite.isInTransaction()) await pglite.execProtocolRaw(Fe.Query('ROLLBACK'));
          await pglite.execProtocolRaw(Fe.Query('DISCARD ALL'));
        })
        .catch((e: unknown) => logger.warn('embedded postgres: cannot reset the session for a new connection', { error: (e as Error).message }));
    });
    socketServer.addEventListener('error', (ev) => {
      logger.warn('embedded postgres socket error', { error: ((ev as CustomEvent).detail as Error | undefined)?.message });
    });
    await socketServer.start();
  } catch (e) {
    await socketServer?.stop().catch(() => {});
    await db?.close().catch(() => {});
    unlock();
    throw e;
  }

  let stopping: Promise<void> | null = null;
  const server = socketServer;
  const database = db;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      try {
        await server.stop();
      } finally {
        try {
          await database.close();
        } finally {
          unlock();
        }
      }
      logger.info('embedded postgres stopped', { dataDir: dir });
    })();
    return stopping;
  };

  let config: Config;
  try {
    config = buildConfig(host, port, Number(socketServer.getServerConn().split(':').pop()));
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }

  const shownHost = host === '0.0.0.0' || host === '::' ? LOOPBACK : host.includes(':') ? `[${host}]` : host;
  const shownPort = port === 0 ? '<port>' : String(port);
  logger.info('embedded postgres (PGlite) ready', {
    dataDir: dir,
    startMs: Date.now() - started,
    connect: `psql postgres://app:app@${shownHost}:${shownPort}/${CLIENT_DATABASE}`,
    admin: `psql postgres://admin:admin@${shownHost}:${shownPort}/prescient`,
  });
  if (host !== LOOPBACK && host !== 'localhost' && host !== '::1') {
    logger.warn('the embedded database listens beyond loopback with the well-known users app/app, postgres/postgres and admin/admin', { host });
  }

  return { config, stop, logins: `user ${CLIENT_USER.name}/${CLIENT_USER.password}, admin ${ADMIN_USER.name}/${ADMIN_USER.password}` };
}
