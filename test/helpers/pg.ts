// Owns: test helpers for real Postgres: per-test throwaway clusters (withClusters), running the psql / pgbench binaries,
// and one statement straight on a cluster (directQuery).
import pg from 'pg';
import {
  findPgBin,
  hasPostgres,
  runCommand,
  startClusters,
  stopClusters,
  type Cluster,
  type RunResult,
  type StartOptions,
} from '../../scripts/testbed.js';

export { findPgBin, hasPostgres, startClusters, stopClusters, type Cluster, type StartOptions };

/** The environment variable that lets a run without Postgres binaries skip the integration tests (see docs/testing.md). */
export const SKIP_PG_ENV = 'PRESCIENT_TEST_SKIP_PG';

/** The subset of a tap Test that requirePostgres needs. */
export interface PlanCapable {
  plan(n: number, comment?: string): void;
}

/**
 * Call at the top of every test file that needs real Postgres. When initdb/pg_ctl/psql cannot be found the file
 * FAILS (throws) — a machine without Postgres must not report a green suite. Only an explicit
 * PRESCIENT_TEST_SKIP_PG=1 turns that into a skip (plan 0 and exit 0), for local unit-only runs.
 */
export function requirePostgres(t: PlanCapable): void {
  if (hasPostgres()) return;
  if (process.env[SKIP_PG_ENV] === '1') {
    t.plan(0, `Postgres binaries not found; skipped because ${SKIP_PG_ENV}=1`);
    process.exit(0);
  }
  throw new Error(
    `Postgres binaries (initdb, pg_ctl, psql) not found, so this integration test cannot run. ` +
      `Install Postgres or set $PG_BINDIR; to skip integration tests on purpose set ${SKIP_PG_ENV}=1.`,
  );
}

/** The subset of a tap Test this module needs (keeps the helper independent of tap's generated types). */
export interface TeardownCapable {
  teardown(fn: () => unknown): void;
}

/**
 * Start `n` clusters for the duration of test `t`; they are stopped and removed in `t.teardown`.
 *   const [a, b] = await withClusters(t, 2, { users: [{ name: 'app', password: 'app' }] });
 */
export async function withClusters(t: TeardownCapable, n: number, opts: StartOptions = {}): Promise<Cluster[]> {
  const clusters = await startClusters(n, opts);
  t.teardown(() => stopClusters(clusters));
  return clusters;
}

export interface ConnOptions {
  host: string;
  port: number;
  user: string;
  password?: string;
  database?: string;
  /** Extra environment for the child (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  /** Kill the process after this many ms (default 120 000). */
  timeoutMs?: number;
}

export interface PsqlOptions extends ConnOptions {
  /** Fed to psql's stdin (use with args like ['-f', '-'] or no -c). */
  input?: string;
  /** Don't add the default `-X -v ON_ERROR_STOP=1` flags. */
  raw?: boolean;
}

export type ProcResult = RunResult;

function connEnv(conn: ConnOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10', ...conn.env };
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  // Don't let a developer's ~/.pgpass or service file interfere with the explicit connection.
  if (env.PGPASSFILE === undefined) env.PGPASSFILE = '/dev/null';
  return env;
}

/**
 * Run the real psql binary against host:port as user. Resolves with {code, stdout, stderr}
 * (never rejects for a non-zero exit; check `code`). Example:
 *   const r = await psql(['-At', '-c', 'select 1'], { host, port, user, password, database: 'app' });
 */
export function psql(args: string[], opts: PsqlOptions): Promise<ProcResult> {
  const base = opts.raw ? [] : ['-X', '-v', 'ON_ERROR_STOP=1'];
  const conn = ['-h', opts.host, '-p', String(opts.port), '-U', opts.user, '-d', opts.database ?? 'postgres'];
  return runCommand(findPgBin('psql'), [...base, ...conn, ...args], {
    env: connEnv(opts),
    input: opts.input,
    timeoutMs: opts.timeoutMs,
  });
}

/**
 * Run the real pgbench binary. Connection flags go first, then `args`, then the database name.
 *   await pgbench(['-i', '-s', '1'], conn);
 *   const r = await pgbench(['-c', '4', '-T', '5', '-S'], conn);
 */
export function pgbench(args: string[], conn: ConnOptions): Promise<ProcResult> {
  const connArgs = ['-h', conn.host, '-p', String(conn.port), '-U', conn.user];
  return runCommand(findPgBin('pgbench'), [...connArgs, ...args, conn.database ?? 'postgres'], {
    env: connEnv(conn),
    timeoutMs: conn.timeoutMs,
  });
}

/** Connection options for a cluster's superuser (or another user) — handy for psql()/pgbench(). */
export function connOf(c: Cluster, user?: { name: string; password: string }, database = 'app'): ConnOptions {
  return {
    host: c.host,
    port: c.port,
    user: user?.name ?? c.user,
    password: user?.password ?? c.password,
    database,
  };
}

/** One statement straight on a cluster (as its superuser, database `app`), on a connection of its own. */
export async function directQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(c: Cluster, sql: string): Promise<pg.QueryResult<T>> {
  const d = new pg.Client({ ...connOf(c), database: 'app' });
  await d.connect();
  try {
    return await d.query<T>(sql);
  } finally {
    await d.end();
  }
}
