// Owns: throwaway local Postgres clusters for tests and benchmarks (initdb/pg_ctl lifecycle, ports, users, databases) plus the `testbed start|stop` CLI.
//
// Library use:
//   const clusters = await startClusters(2, { auth: 'scram-sha-256', users: [{ name: 'app', password: 'app' }] });
//   ...
//   await stopClusters(clusters);
//
// CLI use (after `npm run build`):
//   node dist/scripts/testbed.js start 2 [--auth scram-sha-256] [--state .data/testbed.json] [--dir DIR]
//   node dist/scripts/testbed.js stop [--state .data/testbed.json]
//
// When running as root, initdb/pg_ctl are run as the `postgres` OS user (via runuser) and the
// cluster directories are chowned to it. Clusters started by the library are guarded by a tiny
// detached watchdog shell that kills them (and removes their directory) if this Node process dies
// without calling stopClusters (e.g. a test file killed by tap's timeout). The CLI passes
// `persist: true` so its clusters outlive the CLI process.

import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isRoot, spawnDetachedShell } from './lib/proc.js';

export type AuthMethod = 'scram-sha-256' | 'md5' | 'trust' | 'password';

export interface Cluster {
  name: string;
  host: string;
  port: number;
  dataDir: string;
  pid: number;
  user: string;
  password: string;
}

export interface StartOptions {
  /** Auth method for TCP (host) connections. Local unix-socket connections are always `trust`. Default scram-sha-256. */
  auth?: AuthMethod;
  /** Parent directory for the per-cluster temp dirs (default os.tmpdir()). Must be traversable by the `postgres` user when running as root. */
  dir?: string;
  /** Extra LOGIN roles to create; each gets ALL on the databases and CREATE on their public schema (the first one owns it). */
  users?: { name: string; password: string }[];
  /** Databases to create (default ['app']). */
  databases?: string[];
  /** Password of the `postgres` superuser (default 'postgres'). */
  superuserPassword?: string;
  /** Extra postgresql.conf settings, e.g. { log_statement: 'all' }. */
  settings?: Record<string, string | number | boolean>;
  /** Keep the clusters running after this process exits (no watchdog). Used by the CLI. Default false. */
  persist?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Milliseconds before the process (group) is killed with SIGKILL. Default 120 000. 0 = no timeout. */
  timeoutMs?: number;
}

/**
 * Spawn a command, collect stdout/stderr, never hang forever (kills the whole process group on timeout).
 * Never rejects for a non-zero exit; rejects only if the command cannot be spawned.
 */
export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group so a timeout can kill grandchildren too
    };
    const child = spawn(cmd, args, spawnOpts);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin!.on('error', () => {}); // EPIPE if the child exits without reading
    child.stdin!.end(opts.input ?? '');
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              child.kill('SIGKILL');
            }
          }, timeoutMs)
        : undefined;
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function describeFailure(what: string, r: RunResult): string {
  const status = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
  return `${what} failed (${status})\n${r.stderr.trim()}\n${r.stdout.trim()}`.trim();
}

// ---------------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------------

const binCache = new Map<string, string>();

function isExecutable(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function versionedBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  let entries: string[] = [];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^\d+(\.\d+)?$/.test(e))
    .sort((a, b) => parseFloat(b) - parseFloat(a))
    .map((v) => path.join(root, v, 'bin'));
}

/**
 * Locate a Postgres binary: $PG_BINDIR, then $PATH, then the newest /usr/lib/postgresql/<ver>/bin,
 * then a few conventional install prefixes. Throws if not found.
 */
export function findPgBin(name: string): string {
  const cached = binCache.get(name);
  if (cached) return cached;
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(path.join(process.env.PG_BINDIR, name));
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, name));
  for (const dir of versionedBinDirs()) candidates.push(path.join(dir, name));
  for (const dir of ['/usr/local/pgsql/bin', '/opt/homebrew/bin', '/usr/local/opt/postgresql/bin'])
    candidates.push(path.join(dir, name));
  for (const c of candidates) {
    if (isExecutable(c)) {
      binCache.set(name, c);
      return c;
    }
  }
  throw new Error(
    `Postgres binary '${name}' not found (looked in $PG_BINDIR, $PATH, /usr/lib/postgresql/*/bin). ` +
      `Install it, e.g. 'apt-get install -y postgresql postgresql-contrib'.`,
  );
}

/** True if initdb, pg_ctl and psql can all be located. */
export function hasPostgres(): boolean {
  try {
    findPgBin('initdb');
    findPgBin('pg_ctl');
    findPgBin('psql');
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Running as the postgres OS user when we are root
// ---------------------------------------------------------------------------------------------

interface OsUser {
  uid: number;
  gid: number;
}

let pgOsUser: OsUser | null | undefined;

function postgresOsUser(): OsUser {
  if (pgOsUser) return pgOsUser;
  const name = process.env.PG_OS_USER ?? 'postgres';
  let line: string | undefined;
  try {
    line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[0] === name);
  } catch {
    /* fallthrough */
  }
  if (!line) {
    throw new Error(
      `Running as root but OS user '${name}' does not exist; initdb/postgres refuse to run as root. ` +
        `Create it (e.g. 'useradd -r -m postgres') or run as a non-root user.`,
    );
  }
  const f = line.split(':');
  pgOsUser = { uid: Number(f[2]), gid: Number(f[3]) };
  return pgOsUser;
}

/** Run a server-side binary (initdb, pg_ctl): as the postgres OS user when we are root. */
function runServerBin(name: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const bin = findPgBin(name);
  if (isRoot()) {
    const user = process.env.PG_OS_USER ?? 'postgres';
    postgresOsUser();
    return runCommand('runuser', ['-u', user, '--', bin, ...args], { cwd: '/', ...opts });
  }
  return runCommand(bin, args, opts);
}

async function chownToPostgres(p: string): Promise<void> {
  if (!isRoot()) return;
  const u = postgresOsUser();
  await chown(p, u.uid, u.gid);
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

const handedOutPorts = new Set<number>();

/** Find a free TCP port on 127.0.0.1 by binding a server to port 0 (never returns the same port twice per process). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port && !handedOutPorts.has(port)) {
      handedOutPorts.add(port);
      return port;
    }
  }
  throw new Error('freePort: could not find an unused port');
}

// ---------------------------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------------------------

/** True if pid exists and is not a zombie. */
export function isPidAlive(pid: number): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
  } catch {
    /* no /proc (macOS): trust kill(0) */
  }
  return true;
}

async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isPidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isPidAlive(pid);
}

// ---------------------------------------------------------------------------------------------
// Cluster lifecycle
// ---------------------------------------------------------------------------------------------

interface Internal {
  baseDir: string;
  watchdogPid?: number;
}

/** Bookkeeping for clusters started by this process (for stop and the exit hook). Keyed by dataDir. */
const live = new Map<string, { cluster: Cluster; internal: Internal }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    // Synchronous best-effort cleanup for clusters someone forgot to stop.
    for (const { cluster, internal } of live.values()) {
      try {
        process.kill(cluster.pid, 'SIGQUIT');
      } catch {
        /* already gone */
      }
      if (internal.watchdogPid) {
        // Leave the watchdog running: it waits for our pid to vanish, then removes the directory
        // once the postmaster is gone (we cannot wait synchronously here without blocking).
        continue;
      }
      try {
        spawnSync('sh', ['-c', 'sleep 0.3; rm -rf "$1"', 'sh', internal.baseDir], { stdio: 'ignore', timeout: 5000 });
      } catch {
        /* ignore */
      }
    }
  });
}

/** Spawn a detached shell that kills the postmaster and removes its directory if this process dies. */
function spawnWatchdog(parentPid: number, pgPid: number, baseDir: string): number | undefined {
  const script = [
    'parent="$1"; pg="$2"; dir="$3"',
    'while kill -0 "$parent" 2>/dev/null; do sleep 1; done',
    'kill -QUIT "$pg" 2>/dev/null',
    'i=0; while kill -0 "$pg" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
    'kill -KILL "$pg" 2>/dev/null',
    'rm -rf "$dir"',
  ].join('\n');
  return spawnDetachedShell(script, 'prescient-testbed-watchdog', [String(parentPid), String(pgPid), baseDir]);
}

function sqlLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function sqlIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Quote an argument of a psql meta-command (e.g. \\connect). */
function psqlQuote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function confValue(v: string | number | boolean): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return sqlLiteral(v);
}

function readPostmasterPid(dataDir: string): number {
  const text = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
  const pid = parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isFinite(pid) || pid <= 0) throw new Error(`bad postmaster.pid in ${dataDir}`);
  return pid;
}

async function tailLog(dataDir: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(path.join(dataDir, 'log'), 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Run a SQL script with psql over TCP as the given user. Throws on failure. */
async function psqlScript(
  c: { host: string; port: number; user: string; password: string },
  database: string,
  sql: string,
): Promise<string> {
  const r = await runCommand(
    findPgBin('psql'),
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', c.host, '-p', String(c.port), '-U', c.user, '-d', database, '-f', '-'],
    {
      input: sql,
      env: { ...process.env, PGPASSWORD: c.password, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'prescient-testbed' },
      timeoutMs: 60_000,
    },
  );
  if (r.code !== 0) throw new Error(describeFailure(`psql -h ${c.host} -p ${c.port} -U ${c.user} -d ${database}`, r));
  return r.stdout;
}

async function startOne(index: number, opts: StartOptions): Promise<Cluster> {
  const auth: AuthMethod = opts.auth ?? 'scram-sha-256';
  const password = opts.superuserPassword ?? 'postgres';
  const parent = opts.dir ?? os.tmpdir();
  await mkdir(parent, { recursive: true });
  const baseDir = await mkdtemp(path.join(parent, `prescient-pg${index}-`));
  const dataDir = path.join(baseDir, 'data');
  const internal: Internal = { baseDir };
  let pid = 0;
  try {
    await chownToPostgres(baseDir);
    const pwfile = path.join(baseDir, 'pwfile');
    await writeFile(pwfile, password + '\n', { mode: 0o600 });
    await chownToPostgres(pwfile);

    const init = await runServerBin(
      'initdb',
      [
        '-D', dataDir,
        '-U', 'postgres',
        `--pwfile=${pwfile}`,
        '-A', auth,
        '--auth-host', auth,
        '--auth-local', 'trust',
        '-E', 'UTF8',
        '--locale', 'C',
        '--no-sync',
      ],
      { timeoutMs: 120_000 },
    );
    await rm(pwfile, { force: true });
    if (init.code !== 0) {
      throw new Error(
        describeFailure(`initdb -D ${dataDir}`, init) +
          (isRoot() ? `\n(hint: ${parent} and its parents must be traversable by the postgres OS user)` : ''),
      );
    }

    const settings: Record<string, string | number | boolean> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: dataDir,
      fsync: false,
      synchronous_commit: false,
      full_page_writes: false,
      max_connections: 200,
      shared_buffers: '128MB',
      password_encryption: auth === 'md5' ? 'md5' : 'scram-sha-256',
      logging_collector: false,
      ...opts.settings,
    };

    // The port is picked just before starting; retry with a new one if someone grabbed it meanwhile.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const conf =
        `\n# --- prescient testbed (attempt ${attempt}) ---\nport = ${port}\n` +
        Object.entries(settings)
          .map(([k, v]) => `${k} = ${confValue(v)}`)
          .join('\n') +
        '\n';
      await appendFile(path.join(dataDir, 'postgresql.conf'), conf);
      const start = await runServerBin('pg_ctl', ['-D', dataDir, '-l', path.join(dataDir, 'log'), '-w', '-t', '60', 'start'], {
        timeoutMs: 90_000,
      });
      if (start.code === 0) break;
      const log = await tailLog(dataDir);
      if (attempt < 4 && /could not (bind|create listen socket)|Address already in use/i.test(log)) continue;
      // pg_ctl may have left a half-started postmaster behind.
      try {
        pid = readPostmasterPid(dataDir);
      } catch {
        /* none */
      }
      throw new Error(describeFailure(`pg_ctl start -D ${dataDir}`, start) + (log ? `\n--- server log ---\n${log}` : ''));
    }
    pid = readPostmasterPid(dataDir);
    if (!opts.persist) internal.watchdogPid = spawnWatchdog(process.pid, pid, baseDir);

    const cluster: Cluster = {
      name: `pg${index}`,
      host: '127.0.0.1',
      port,
      dataDir,
      pid,
      user: 'postgres',
      password,
    };
    live.set(dataDir, { cluster, internal });
    if (!opts.persist) installExitHook();

    // Roles and databases, over TCP as the superuser (this also proves TCP auth works).
    const databases = opts.databases ?? ['app'];
    const users = opts.users ?? [];
    let sql = `SET password_encryption = ${sqlLiteral(settings.password_encryption as string)};\n`;
    // Re-set the superuser password so it is stored with the configured encryption (md5 for md5 auth).
    sql += `ALTER ROLE postgres PASSWORD ${sqlLiteral(password)};\n`;
    for (const u of users) sql += `CREATE ROLE ${sqlIdent(u.name)} LOGIN PASSWORD ${sqlLiteral(u.password)};\n`;
    for (const db of databases) {
      if (db !== 'postgres') sql += `CREATE DATABASE ${sqlIdent(db)};\n`;
      for (const u of users) sql += `GRANT ALL ON DATABASE ${sqlIdent(db)} TO ${sqlIdent(u.name)};\n`;
    }
    if (users.length > 0) {
      for (const db of databases) {
        sql += `\\connect ${psqlQuote(db)}\n`;
        sql += `ALTER SCHEMA public OWNER TO ${sqlIdent(users[0]!.name)};\n`;
        for (const u of users) sql += `GRANT ALL ON SCHEMA public TO ${sqlIdent(u.name)};\n`;
      }
    }
    await psqlScript(cluster, 'postgres', sql);
    return cluster;
  } catch (err) {
    // Never leave a half-started cluster behind.
    await stopInternal(dataDir, pid, internal).catch(() => {});
    throw err;
  }
}

async function stopInternal(dataDir: string, pid: number, internal: Internal | undefined): Promise<void> {
  live.delete(dataDir);
  if (internal?.watchdogPid) {
    try {
      process.kill(internal.watchdogPid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (existsSync(path.join(dataDir, 'postmaster.pid')) || (pid && isPidAlive(pid))) {
    let stopped = false;
    if (existsSync(dataDir)) {
      const r = await runServerBin('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'], {
        timeoutMs: 45_000,
      }).catch(() => null);
      stopped = r?.code === 0;
    }
    if (pid && isPidAlive(pid)) {
      if (!stopped) {
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          /* gone */
        }
      }
      if (!(await waitForPidExit(pid, 10_000))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        await waitForPidExit(pid, 5_000);
      }
    }
  }
  const baseDir = internal?.baseDir ?? inferBaseDir(dataDir);
  await rm(baseDir, { recursive: true, force: true, maxRetries: 3 });
}

/** Our layout is <tmp>/prescient-pgN-XXXXXX/data; only remove the parent if it matches that layout. */
function inferBaseDir(dataDir: string): string {
  const parent = path.dirname(dataDir);
  return path.basename(dataDir) === 'data' && /^prescient-pg\d+-/.test(path.basename(parent)) ? parent : dataDir;
}

/**
 * Start `n` fresh, throwaway Postgres clusters in parallel (initdb + pg_ctl start), each listening on
 * 127.0.0.1:<free port> with its unix socket in its data dir. If any cluster fails, all the others
 * are stopped and removed before the error is thrown.
 */
export async function startClusters(n: number, opts: StartOptions = {}): Promise<Cluster[]> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`startClusters: n must be a positive integer, got ${n}`);
  findPgBin('initdb');
  findPgBin('pg_ctl');
  findPgBin('psql');
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => startOne(i, opts)));
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    await stopClusters(ok).catch(() => {});
    const first = failures[0];
    if (first instanceof Error) {
      if (failures.length > 1) first.message += `\n(${failures.length - 1} more cluster(s) also failed to start)`;
      throw first;
    }
    throw new Error(String(first));
  }
  return ok;
}

/** Stop clusters (`pg_ctl -m immediate stop`, falling back to SIGQUIT/SIGKILL by pid) and remove their directories. */
export async function stopClusters(clusters: Cluster[]): Promise<void> {
  const results = await Promise.allSettled(
    clusters.map((c) => stopInternal(c.dataDir, c.pid, live.get(c.dataDir)?.internal)),
  );
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

function parseCliArgs(argv: string[]): { positional: string[]; flags: Map<string, string> } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) throw new Error(`missing value for ${a}`);
        flags.set(a.slice(2), next);
        i++;
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

const USAGE = `usage:
  testbed start N [--auth scram-sha-256|md5|trust|password] [--state FILE] [--dir DIR]
                  [--user NAME:PASSWORD] [--databases a,b]
  testbed stop [--state FILE]
state FILE defaults to .data/testbed.json`;

async function cli(argv: string[]): Promise<number> {
  const { positional, flags } = parseCliArgs(argv);
  const cmd = positional[0];
  const stateFile = path.resolve(flags.get('state') ?? '.data/testbed.json');
  if (cmd === 'start') {
    const n = parseInt(positional[1] ?? '1', 10);
    const auth = (flags.get('auth') ?? 'scram-sha-256') as AuthMethod;
    if (!['scram-sha-256', 'md5', 'trust', 'password'].includes(auth)) throw new Error(`bad --auth ${auth}`);
    if (existsSync(stateFile)) {
      const prev = JSON.parse(readFileSync(stateFile, 'utf8')) as Cluster[];
      const alive = prev.filter((c) => isPidAlive(c.pid));
      if (alive.length > 0) {
        process.stderr.write(
          `testbed: ${stateFile} lists ${alive.length} running cluster(s) (pids ${alive.map((c) => c.pid).join(', ')}); run 'stop' first\n`,
        );
        return 1;
      }
    }
    const userFlag = flags.get('user');
    const users = userFlag
      ? userFlag.split(',').map((s) => {
          const i = s.indexOf(':');
          return i > 0 ? { name: s.slice(0, i), password: s.slice(i + 1) } : { name: s, password: s };
        })
      : undefined;
    const databases = flags.get('databases')?.split(',').filter(Boolean);
    const clusters = await startClusters(n, { auth, dir: flags.get('dir'), users, databases, persist: true });
    await mkdir(path.dirname(stateFile), { recursive: true });
    await writeFile(stateFile, JSON.stringify(clusters, null, 2) + '\n');
    process.stdout.write(JSON.stringify(clusters, null, 2) + '\n');
    return 0;
  }
  if (cmd === 'stop') {
    if (!existsSync(stateFile)) {
      process.stderr.write(`testbed: no state file ${stateFile}; nothing to stop\n`);
      return 0;
    }
    const clusters = JSON.parse(readFileSync(stateFile, 'utf8')) as Cluster[];
    await stopClusters(clusters);
    rmSync(stateFile, { force: true });
    process.stdout.write(`stopped ${clusters.length} cluster(s): pids ${clusters.map((c) => c.pid).join(', ')}\n`);
    return 0;
  }
  process.stderr.write(USAGE + '\n');
  return cmd ? 2 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`testbed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
