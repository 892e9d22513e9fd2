// Tests for config/loadConfig.ts and config/schema.ts: bad configs throw ConfigError naming the field path, a minimal
// valid config gets its defaults, and the real CLI (`prescient start --config FILE`) exits non-zero naming the field.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { ConfigError, loadConfig, parseConfig } from '../../config/loadConfig.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'prescient-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const path = join(dir, `config-${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The example from the issue. */
const MINIMAL = `listen: { host: 127.0.0.1, port: 6432 }
database: app
users: [ { name: app, password: app-secret } ]
shards:
  - { name: s0, host: 127.0.0.1, port: 5432, database: app, user: postgres, password: "" }
pool: { mode: transaction, size: 20 }
`;

/** A valid config as an object, to break one field at a time. */
function base(): Record<string, any> {
  return {
    listen: { host: '127.0.0.1', port: 6432 },
    database: 'app',
    users: [{ name: 'app', password: 'app-secret' }],
    shards: [{ name: 's0', host: '127.0.0.1', port: 5432, database: 'app', user: 'postgres', password: '' }],
    pool: { mode: 'transaction', size: 20 },
  };
}

function throwsConfigError(t: Test, fn: () => unknown, paths: string[], name: string): ConfigError | undefined {
  try {
    fn();
    t.fail(`${name}: did not throw`);
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      t.fail(`${name}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
      return undefined;
    }
    t.equal(e.code, 'CONFIG_INVALID', `${name}: code`);
    for (const p of paths) t.ok(e.message.includes(p), `${name}: message names ${p}`, { message: e.message });
    return e;
  }
  return undefined;
}

const badObjects: { name: string; mutate: (c: Record<string, any>) => void; paths: string[] }[] = [
  { name: 'missing database', mutate: (c) => delete c.database, paths: ['database:'] },
  { name: 'empty database', mutate: (c) => (c.database = ''), paths: ['database:'] },
  { name: 'shards: []', mutate: (c) => (c.shards = []), paths: ['shards:'] },
  { name: 'shards missing', mutate: (c) => delete c.shards, paths: ['shards:'] },
  { name: 'a shard without host', mutate: (c) => delete c.shards[0].host, paths: ['shards[0].host:'] },
  { name: 'the second shard without database', mutate: (c) => c.shards.push({ name: 's1', host: 'h', user: 'u' }), paths: ['shards[1].database:'] },
  { name: 'shard port as a string', mutate: (c) => (c.shards[0].port = '5432'), paths: ['shards[0].port:'] },
  { name: 'shard port out of range', mutate: (c) => (c.shards[0].port = 70000), paths: ['shards[0].port:'] },
  { name: 'listen port as a string', mutate: (c) => (c.listen.port = '6432'), paths: ['listen.port:'] },
  { name: "pool.mode 'bogus'", mutate: (c) => (c.pool.mode = 'bogus'), paths: ['pool.mode:'] },
  { name: 'pool.size 0', mutate: (c) => (c.pool.size = 0), paths: ['pool.size:'] },
  { name: 'pool.size 2.5', mutate: (c) => (c.pool.size = 2.5), paths: ['pool.size:'] },
  { name: 'unknown key at top level', mutate: (c) => (c.databse = 'typo'), paths: ['databse'] },
  { name: 'unknown key inside pool', mutate: (c) => (c.pool.sise = 10), paths: ['pool.sise'] },
  { name: 'unknown key inside a shard', mutate: (c) => (c.shards[0].hostname = 'x'), paths: ['shards[0].hostname'] },
  { name: 'user missing password with the default auth (scram)', mutate: (c) => delete c.users[0].password, paths: ['users[0].password:'] },
  { name: 'user missing password with auth.method md5', mutate: (c) => { c.auth = { method: 'md5' }; delete c.users[0].password; }, paths: ['users[0].password:'] },
  { name: 'user missing password, own auth scram under global trust', mutate: (c) => { c.auth = { method: 'trust' }; c.users[0] = { name: 'x', auth: 'scram-sha-256' }; }, paths: ['users[0].password:'] },
  { name: 'users: []', mutate: (c) => (c.users = []), paths: ['users:'] },
  { name: "auth.method 'plain'", mutate: (c) => (c.auth = { method: 'plain' }), paths: ['auth.method:'] },
  { name: 'listen.max_startup_packet over 1 MiB', mutate: (c) => (c.listen.max_startup_packet = 2 << 20), paths: ['listen.max_startup_packet:'] },
  { name: 'tls without key', mutate: (c) => (c.listen.tls = { cert: 'c.pem' }), paths: ['listen.tls.key:'] },
  { name: "log.level 'verbose'", mutate: (c) => (c.log = { level: 'verbose' }), paths: ['log.level:'] },
  { name: 'two bad fields: both named', mutate: (c) => { delete c.shards[0].host; c.pool.mode = 'bogus'; }, paths: ['shards[0].host:', 'pool.mode:'] },
];

t.test('bad configs (as objects) throw ConfigError naming the field path', async (t) => {
  for (const b of badObjects) {
    const c = base();
    b.mutate(c);
    throwsConfigError(t, () => parseConfig(c), b.paths, b.name);
  }
});

t.test('bad configs (as YAML files) throw ConfigError naming the field path and the file', async (t) => {
  for (const b of badObjects) {
    const c = base();
    b.mutate(c);
    const path = file(JSON.stringify(c, null, 2)); // JSON is YAML
    throwsConfigError(t, () => loadConfig(path), [...b.paths, path], b.name);
  }
  const yamlCases: { name: string; text: string; paths: string[] }[] = [
    { name: 'shard without host (YAML)', text: MINIMAL.replace('host: 127.0.0.1, port: 5432', 'port: 5432'), paths: ['shards[0].host'] },
    { name: 'port as a quoted string (YAML)', text: MINIMAL.replace('port: 5432', 'port: "5432"'), paths: ['shards[0].port'] },
    { name: "pool.mode 'bogus' (YAML)", text: MINIMAL.replace('mode: transaction', 'mode: bogus'), paths: ['pool.mode'] },
    { name: 'pool.size 0 (YAML)', text: MINIMAL.replace('size: 20', 'size: 0'), paths: ['pool.size'] },
    { name: 'unknown key in pool (YAML)', text: MINIMAL.replace('size: 20', 'size: 20, max_size: 40'), paths: ['pool.max_size'] },
    { name: 'empty file', text: '', paths: ['(root)'] },
    { name: 'a YAML list, not a mapping', text: '- a\n- b\n', paths: ['(root)'] },
  ];
  for (const y of yamlCases) {
    const path = file(y.text);
    throwsConfigError(t, () => loadConfig(path), [...y.paths, path], y.name);
  }
});

t.test('ConfigError lists each issue', async (t) => {
  const c = base();
  delete c.database;
  c.pool.sise = 1;
  c.shards[0].port = 'x';
  const e = throwsConfigError(t, () => parseConfig(c), [], 'three issues');
  t.same(e?.issues.map((i) => i.split(':')[0]).sort(), ['database', 'pool.sise', 'shards[0].port']);
});

t.test('invalid YAML and unreadable files throw ConfigError', async (t) => {
  const bad = file('database: app\nusers: [ { name: app\n');
  throwsConfigError(t, () => loadConfig(bad), ['not valid YAML', bad], 'unclosed flow sequence');
  const tabs = file('database: app\n\tusers: []\n');
  throwsConfigError(t, () => loadConfig(tabs), ['not valid YAML', tabs], 'tab indentation');
  const dup = file(MINIMAL + 'database: other\n');
  throwsConfigError(t, () => loadConfig(dup), ['not valid YAML', dup], 'duplicate key');
  const missing = join(dir, 'does-not-exist.yaml');
  throwsConfigError(t, () => loadConfig(missing), ['cannot read config file', missing], 'missing file');
  throwsConfigError(t, () => loadConfig(dir), ['cannot read config file', dir], 'a directory');
});

t.test('the minimal config parses, with defaults filled in', async (t) => {
  const { databases, ...c } = loadConfig(file(MINIMAL));
  t.same(c, {
    listen: { host: '127.0.0.1', port: 6432, max_message_size: 64 * 1024 * 1024, max_startup_packet: 10000, max_client_connections: 1000, startup_timeout_ms: 60000, auth_timeout_ms: 60000 },
    http: { enabled: true, host: '127.0.0.1', port: 9930 },
    database: 'app',
    users: [{ name: 'app', password: 'app-secret' }],
    auth: { method: 'scram-sha-256', failure_limit: 10, failure_window_ms: 60000, failure_delay_ms: 1000 },
    shards: [{ name: 's0', host: '127.0.0.1', port: 5432, database: 'app', user: 'postgres', password: '' }],
    pool: {
      mode: 'transaction', size: 20, queue_timeout_ms: 5000, idle_timeout_ms: 60000, connect_timeout_ms: 5000,
      reset_query: 'DISCARD ALL', reset_timeout_ms: 5000, max_prepared_statements: 200, reset_on_every_client: false, pipeline: 1,
    },
    workers: 1,
    shutdown: { timeout_ms: 30000 },
    log: { level: 'info', statements: false, slow_ms: 0 },
    admin: { users: [] },
    sharding: { account_column: 'account_id', tables: {}, domains: {}, global_tables: [], no_key: { reads: 'fanout', writes: 'reject' }, strict: false, global_shard: 's0', action_rules: [], key_plugins: ['sqlcommenter', 'column-rules'] },
    catalog: { path: 'prescient.db' },
    plugins: [],
    cache: { enabled: false, max_bytes: 64_000_000, max_entry_bytes: 1_000_000, ttl_ms: 0, tables: [], actions: [], prefetch: { enabled: false, threshold: 0.3, min_used_share: 0.5, slice_max_rows: 200, top: 3, max_concurrency: 2, deadline_ms: 1000, criticality: {}, retrain_s: 10, online_model: 'markov1-account' } },
    shard_manager: { enabled: false, window: 60, recent: 10, heavy_hitters: 128, imbalance: 1.25, sustain: 10, max_concurrent_moves: 2, max_moves_per_hour: 60, cooldown: 300, fence_timeout_ms: 5000, capture_timeout_ms: 30000, catchup_rows: 100, cleanup_grace_ms: 0, moves: true },
    action_log: { enabled: false, dir: 'action-log', segment_bytes: 16777216, segments: 8, flush_ms: 200 },
    telemetry: {
      tracing: {
        enabled: false, sample_ratio: 0.01, exporter: 'otlp', file: 'spans.ndjson', service_name: 'prescient',
        max_queue_size: 65536, max_export_batch_size: 512, schedule_delay_ms: 1000, export_timeout_ms: 10000,
      },
    },
  });
  // the one-database form is `databases` with one entry: the top level's own keys
  const { shards, pool, sharding, catalog, plugins, cache, shard_manager, action_log } = c;
  t.same(databases, { app: { shards, aliases: [], pool, sharding, catalog, plugins, cache, shard_manager, action_log } });
});

t.test('defaults when sections are left out', async (t) => {
  const c = loadConfig(file('database: app\nusers: [ { name: app, password: x } ]\nshards: [ { name: s0, host: db, database: app, user: u } ]\n'));
  t.equal(c.listen.host, '127.0.0.1');
  t.equal(c.listen.port, 6432);
  t.equal(c.pool.mode, 'transaction');
  t.equal(c.pool.size, 20);
  t.equal(c.shards[0]!.port, 5432, 'shard port');
  t.equal(c.shards[0]!.password, '', 'shard password');
  t.equal(c.auth.method, 'scram-sha-256');
  t.equal(c.log.level, 'info');
  t.equal(c.listen.tls, undefined);
});

t.test('users without a password are fine when they authenticate by trust', async (t) => {
  const own = base();
  own.users = [{ name: 'app', auth: 'trust' }];
  t.same(parseConfig(own).users, [{ name: 'app', auth: 'trust' }], 'per-user trust');
  const global = base();
  global.auth = { method: 'trust' };
  global.users = [{ name: 'app' }, { name: 'other', password: 'p', auth: 'md5' }];
  t.same(parseConfig(global).users, [{ name: 'app' }, { name: 'other', password: 'p', auth: 'md5' }], 'auth.method trust applies to users without their own auth');
});

t.test('the CLI exits non-zero and names the field', async (t) => {
  const cli = join(root, 'dist/proxy/cli.js');
  if (!existsSync(cli)) {
    const built = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    if (built.status !== 0) {
      t.fail(`build failed: ${built.stdout}${built.stderr}`);
      return;
    }
  }
  const cases: { name: string; args: (p: string) => string[]; text?: string; want: string[] }[] = [
    { name: 'shard without host', text: MINIMAL.replace('host: 127.0.0.1, port: 5432', 'port: 5432'), args: (p) => ['--config', p], want: ['shards[0].host'] },
    { name: "pool.mode 'bogus', --config=FILE", text: MINIMAL.replace('mode: transaction', 'mode: bogus'), args: (p) => [`--config=${p}`], want: ['pool.mode'] },
    { name: 'invalid YAML', text: 'database: [\n', args: (p) => ['--config', p], want: ['not valid YAML'] },
    { name: 'missing file', args: () => ['--config', join(dir, 'nope.yaml')], want: ['cannot read config file', 'nope.yaml'] },
  ];
  for (const c of cases) {
    const path = c.text === undefined ? '' : file(c.text);
    const r = spawnSync(process.execPath, [cli, 'start', ...c.args(path)], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, PRESCIENT_CONFIG: '' } });
    t.not(r.status, 0, `${c.name}: exit status ${r.status}`);
    t.not(r.status, null, `${c.name}: exited (not killed by the timeout)`);
    for (const w of c.want) t.match(r.stderr, w, `${c.name}: stderr names ${w}`);
    t.notMatch(r.stderr, /\n\s+at /, `${c.name}: no stack trace`);
  }
});
