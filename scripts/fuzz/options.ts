// options owns the fuzzer's command line (`npm run fuzz -- --inputs N --seed S …`).

export interface FuzzOptions {
  inputs: number;
  seed: string;
  /** stop after this many seconds even if fewer inputs ran (0 = no limit) */
  seconds: number;
  /** concurrent fuzz connections (lanes) */
  concurrency: number;
  /** owed answer not given within this long = hang */
  hangMs: number;
  maxRssMb: number;
  poolSize: number;
  /** run only these input indices, in order, on one connection (reproduction) */
  only: number[] | null;
  /** inputs a message/session connection carries before it logs out and in again */
  inputsPerConnection: number;
  /** weights of the three categories */
  mix: { startup: number; message: number; session: number };
  json?: string;
  keep: boolean;
  quiet: boolean;
  trace: boolean;
  /** stop early when the honest client has not succeeded for this many seconds (0 = never) */
  stallS: number;
  /** control run: fuzz Postgres itself, no proxy */
  direct: boolean;
  // an already-running proxy
  host?: string;
  port?: number;
  pgUrl?: string;
  user?: string;
  password?: string;
  honestUser?: string;
  honestPassword?: string;
  database?: string;
  adminUser?: string;
  adminPassword?: string;
  proxyPid?: number;
}

export const USAGE = `usage: npm run fuzz -- [--inputs N] [--seed S] [options]
  --inputs N            inputs to run (default 20000)
  --seed S              PRNG seed (default 1); input K is a pure function of (seed, K)
  --seconds T           stop after T seconds even if fewer inputs ran (default: no limit)
  --concurrency C       concurrent fuzz connections (default 24)
  --hang-ms MS          owed answer/close not given within MS = hang (default 5000)
  --max-rss-mb MB       fail if the proxy's RSS exceeds MB (default 150)
  --pool-size N         server connections of the proxy the fuzzer starts (default 4)
  --only K[,K2,...]     run only these inputs, in order, on one connection (reproduce a finding)
  --per-connection N    inputs one logged-in connection carries at most (default 50)
  --mix a,b,c           weights of startup,message,session inputs (default 25,40,35)
  --stall-s S           stop early when the honest client has had no success for S s (default 30, 0 = never)
  --json FILE           also write the report as JSON
  --keep                keep the generated config directory
  --quiet               no progress lines on stderr
  --direct              control run: fuzz the Postgres cluster itself (no proxy); must report no hang and no lost write
  --trace               print each input's frames and the frames received (use with --only)
 against a proxy that is already running (otherwise a Postgres cluster and a Prescient process are started):
  --host H --port P     the proxy
  --pg-url URL          a direct Postgres URL (superuser or owner) for the tables and the honest-write check
  --user U --password W --database D   the data-path login (default app / app-secret / the URL's database)
  --honest-user U --honest-password W  the honest client's login (default: the data-path login); give it its own
                        server identity (users[].server_user) so that fuzz sessions pinning their server
                        connections cannot starve it
  --admin-user U --admin-password W    an admin-console user for SHOW POOLS (leak check skipped without)
  --proxy-pid PID       the proxy's pid for RSS and crash checks`;

const BOOLEAN = new Set(['keep', 'quiet', 'trace', 'direct', 'help']);

export function parseOptions(argv: string[]): FuzzOptions | 'help' {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return 'help';
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (BOOLEAN.has(name)) flags.set(name, 'true');
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}`);
      flags.set(name, v);
    }
  }
  const known = new Set(['inputs', 'seed', 'seconds', 'concurrency', 'hang-ms', 'max-rss-mb', 'pool-size', 'only', 'per-connection', 'mix', 'json', 'stall-s', 'keep', 'quiet', 'trace', 'direct',
    'host', 'port', 'pg-url', 'user', 'password', 'honest-user', 'honest-password', 'database', 'admin-user', 'admin-password', 'proxy-pid']);
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const num = (k: string, d: number): number => {
    const v = flags.get(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} must be a non-negative number, got ${v}`);
    return n;
  };
  const mix = (flags.get('mix') ?? '25,40,35').split(',').map(Number);
  if (mix.length !== 3 || mix.some((n) => !Number.isFinite(n) || n < 0) || mix.every((n) => n === 0)) throw new Error('--mix needs three non-negative weights');
  const only = flags.get('only')?.split(',').filter(Boolean).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--only: bad index ${s}`);
    return n;
  }) ?? null;
  return {
    inputs: Math.floor(num('inputs', 20000)),
    seed: flags.get('seed') ?? '1',
    seconds: num('seconds', 0),
    concurrency: Math.max(1, Math.floor(num('concurrency', 24))),
    hangMs: num('hang-ms', 5000),
    maxRssMb: num('max-rss-mb', 150),
    poolSize: Math.max(1, Math.floor(num('pool-size', 4))),
    only,
    inputsPerConnection: Math.max(1, Math.floor(num('per-connection', 50))),
    mix: { startup: mix[0]!, message: mix[1]!, session: mix[2]! },
    json: flags.get('json'),
    keep: flags.has('keep'),
    quiet: flags.has('quiet'),
    trace: flags.has('trace'),
    direct: flags.has('direct'),
    stallS: num('stall-s', 30),
    host: flags.get('host'),
    port: flags.has('port') ? num('port', 6432) : undefined,
    pgUrl: flags.get('pg-url'),
    user: flags.get('user'),
    password: flags.get('password'),
    honestUser: flags.get('honest-user'),
    honestPassword: flags.get('honest-password'),
    database: flags.get('database'),
    adminUser: flags.get('admin-user'),
    adminPassword: flags.get('admin-password'),
    proxyPid: flags.has('proxy-pid') ? num('proxy-pid', 0) : undefined,
  };
}
