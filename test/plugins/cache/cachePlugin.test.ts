// Tests for plugins/cache/cachePlugin.ts through its hooks (setup → onRequest / onBackendMessage / onResponse), with
// real analyzer output and real frames from proxy/protocol/BackendMessage.ts; no Postgres (the plugin is pure). Covers
// what is cacheable, what the cache key separates, version tokens (a write before or during a read), unusable
// responses, copies of reused buffers, pipelined fills, the TTL backstop (injected clock), SHOW CACHE and close.
import t from 'tap';
import { describeStatements } from '../../../proxy/plugins/describeStatements.js';
import { parseConfig } from '../../../config/loadConfig.js';
import { Analyzer } from '../../../proxy/analyzer/Analyzer.js';
import {
  BackendCode,
  PLUGIN_API_VERSION,
  type PluginHostApi,
  type PluginLogger,
  type PrescientPlugin,
  type RequestContext,
  type ResponseInfo,
  type SessionHooks,
  type SessionInfo,
  type VersionView,
} from '../../../proxy/plugins/api.js';
import * as Be from '../../../proxy/protocol/BackendMessage.js';
import { cachePlugin } from '../../../plugins/cache/cachePlugin.js';

/** an answer's bytes as the client gets them (the cache stores a result encoded once, not frame by frame) */
const bytes = (frames: readonly Buffer[] | null | undefined): Buffer | null => (frames ? Buffer.concat(frames) : null);

await Analyzer.init();
const analyzer = new Analyzer({ accountColumn: 'account_id' });

const DOMAINS = { volume: { tables: ['volumes', 'volume_attachments'], actions: ['DescribeVolumes', 'CreateVolume'] }, snapshot: { tables: ['snapshots'], actions: [] } };
const SQL = "select id, size from volumes where account_id = 'acct-1'";

/** Key versions the test moves by hand (the proxy's VersionTracker is tested against real shards elsewhere). */
class Tokens implements VersionView {
  private readonly m = new Map<string, number>();
  token(key: string): number { return this.m.get(key) ?? 0; }
  version(key: string): number { return this.m.get(key) ?? 0; }
  bump(key: string): void { this.m.set(key, this.token(key) + 1); }
}

type AdminRun = (args: string) => { columns: string[]; rows: (string | number | boolean | null)[][] };

interface Rig {
  plugin: PrescientPlugin;
  hooks: SessionHooks;
  tokens: Tokens;
  admin: Map<string, AdminRun>;
  warnings: string[];
  clock: { ms: number };
  session(user?: string): SessionHooks;
}

interface RigOptions {
  cache?: Record<string, unknown>;
  versions?: boolean;
}

let pid = 1;
function sessionInfo(user = 'app'): SessionInfo {
  return { pid: pid++, user, database: 'app', applicationName: 'test', remote: '127.0.0.1:40000', startupParams: new Map([['user', user]]) };
}

async function rig(o: RigOptions = {}): Promise<Rig> {
  const clock = { ms: 1_000_000 };
  const plugin = cachePlugin(() => clock.ms);
  const tokens = new Tokens();
  const admin = new Map<string, AdminRun>();
  const warnings: string[] = [];
  const log: PluginLogger = { debug() {}, info() {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
  const config = parseConfig({
    database: 'app',
    users: [{ name: 'app', password: 'app' }],
    shards: [{ name: 's0', host: '127.0.0.1', port: 5432, database: 'app', user: 'postgres' }],
    sharding: { domains: DOMAINS },
    cache: { enabled: true, ...o.cache },
  });
  const host: PluginHostApi = {
    apiVersion: PLUGIN_API_VERSION, config, configDir: '.', loaded: [], log,
    services: {
      versions: o.versions === false ? undefined : tokens,
      placementKey: (account, _action, tables) => `${account}_${tables.some((x) => x.endsWith('snapshots')) ? 'snapshot' : 'volume'}`,
      adminCommand: (name, run) => void admin.set(name, run),
    },
  };
  await plugin.setup?.(host, undefined);
  const session = (user?: string): SessionHooks => plugin.createSessionHooks!(sessionInfo(user));
  return { plugin, hooks: session(), tokens, admin, warnings, clock, session };
}

/** A cacheable simple-query read of acct-1 unless `over` says otherwise. */
function req(sql = SQL, over: Partial<RequestContext> = {}): RequestContext {
  const analysis = analyzer.analyze(sql);
  return {
    session: sessionInfo(), sql, protocol: 'simple', kind: 'read', statements: describeStatements(analysis), analysis,
    settings: new Map(), shardKey: { account: 'acct-1', action: 'DescribeVolumes' }, settingsKnown: true,
    transaction: { open: false, wrote: false }, replay: null, ...over,
  };
}

/** The server's answer to SQL: RowDescription, two DataRows, CommandComplete. */
function rows(): Buffer[] {
  return [Be.RowDescription(['id', 'size']), Be.DataRow(['1', '100']), Be.DataRow(['2', '200']), Be.CommandComplete('SELECT 2')];
}

/** Frames the server sends, then its ReadyForQuery, then the request ends. */
function respond(hooks: SessionHooks, ctx: RequestContext, frames: Buffer[], info: Partial<ResponseInfo> = {}): void {
  for (const f of frames) hooks.onBackendMessage!(f[0]!, f);
  hooks.onBackendMessage!(BackendCode.ReadyForQuery, Be.ReadyForQuery(0x49));
  hooks.onResponse!({ request: ctx, durationMs: 1, ...info });
}

/** One request: the plugin's answer (frames) if it answered, else null after the server's `frames` went through. */
async function run(hooks: SessionHooks, ctx: RequestContext, frames: Buffer[] = rows(), info: Partial<ResponseInfo> = {}): Promise<Buffer[] | null> {
  const d = await hooks.onRequest!(ctx);
  if (d !== undefined && 'answer' in d) return d.answer;
  if (d !== undefined) throw new Error(`the cache rejected a request: ${JSON.stringify(d)}`);
  respond(hooks, ctx, frames, info);
  return null;
}

/** SHOW CACHE's '*' row as name → value. */
function totals(r: Rig): Record<string, unknown> {
  const out = r.admin.get('SHOW CACHE')!('');
  const row = out.rows.find((x) => x[0] === '*')!;
  return Object.fromEntries(out.columns.map((c, i) => [c, row[i]]));
}

t.test('a miss fills, the same request is then answered with the stored frames', async (t) => {
  const r = await rig();
  t.equal(await run(r.hooks, req()), null, 'first: a miss, forwarded');
  const answer = await run(r.hooks, req());
  t.ok(answer, 'second: answered by the cache');
  t.same(Buffer.concat(answer!), Buffer.concat(rows()), 'with the bytes the server sent, in order');
  t.equal(answer!.length, 2, 'stored encoded once: the RowDescription, then the rows and the tag in one buffer');
  t.equal(await run(r.session(), req()) !== null, true, 'another session of the same user is answered too (the store is shared)');
  t.match(totals(r), { entries: 1, hits: 2, misses: 1, fills: 1, invalidations: 0, hit_ratio: 0.6667 });
});

t.test('what is cached and what is not', async (t) => {
  const cases: { name: string; ctx: () => RequestContext; cached: boolean; o?: RigOptions }[] = [
    { name: 'a keyed SELECT', ctx: () => req(), cached: true },
    { name: 'the account from SET prescient.account', ctx: () => req(SQL, { shardKey: undefined, settings: new Map([['prescient.account', 'acct-1']]) }), cached: true },
    { name: 'a schema-qualified listed table', ctx: () => req("select id from public.volumes where account_id = 'acct-1'"), cached: true },
    { name: 'in a transaction that has not written', ctx: () => req(SQL, { transaction: { open: true, wrote: false } }), cached: true },
    { name: 'extended, replayable', ctx: () => req(SQL, { protocol: 'extended', params: [], replay: { describePortal: true, maxRows: 0 } }), cached: true },
    { name: 'a listed action', ctx: () => req(), cached: true, o: { cache: { actions: ['DescribeVolumes'] } } },
    { name: 'a table listed in cache.tables', ctx: () => req('select * from snapshots'), cached: true, o: { cache: { tables: ['snapshots'] } } },
    { name: 'two statements in one Query', ctx: () => req(`${SQL}; ${SQL}`), cached: false },
    { name: 'an INSERT', ctx: () => req("insert into volumes (account_id, id) values ('acct-1', 1)", { kind: 'write' }), cached: false },
    { name: 'a volatile function', ctx: () => req("select now(), id from volumes where account_id = 'acct-1'"), cached: false },
    { name: 'FOR UPDATE', ctx: () => req(`${SQL} for update`), cached: false },
    { name: 'no table', ctx: () => req('select 1'), cached: false },
    { name: 'a table of no domain', ctx: () => req("select * from regions where account_id = 'acct-1'"), cached: false },
    { name: 'a join with an unlisted table', ctx: () => req('select * from volumes v join regions r on r.id = v.region'), cached: false },
    { name: 'a table not in cache.tables (domains ignored then)', ctx: () => req(), cached: false, o: { cache: { tables: ['snapshots'] } } },
    { name: 'a parse error', ctx: () => req('select from from volumes where'), cached: false },
    { name: 'a transaction that wrote', ctx: () => req(SQL, { transaction: { open: true, wrote: true } }), cached: false },
    { name: 'settings the proxy cannot follow', ctx: () => req(SQL, { settingsKnown: false }), cached: false },
    { name: 'extended, not replayable', ctx: () => req(SQL, { protocol: 'extended', params: [], replay: null }), cached: false },
    { name: 'no account', ctx: () => req(SQL, { shardKey: undefined }), cached: false },
    { name: 'an action not listed', ctx: () => req(SQL, { shardKey: { account: 'acct-1', action: 'CreateVolume' } }), cached: false, o: { cache: { actions: ['DescribeVolumes'] } } },
    { name: 'no action while actions are listed', ctx: () => req(SQL, { shardKey: { account: 'acct-1' } }), cached: false, o: { cache: { actions: ['DescribeVolumes'] } } },
    { name: 'no version tracker', ctx: () => req(), cached: false, o: { versions: false } },
  ];
  for (const k of cases) {
    const r = await rig(k.o);
    t.equal(await run(r.hooks, k.ctx()), null, `${k.name}: the first request goes to the server`);
    const second = await run(r.hooks, k.ctx());
    t.equal(second !== null, k.cached, `${k.name}: ${k.cached ? 'answered' : 'not answered'} the second time`);
    t.equal(totals(r).entries, k.cached ? 1 : 0, `${k.name}: ${k.cached ? 'one entry' : 'nothing'} stored`);
  }
});

t.test('cache.enabled false: the plugin installs no hooks; no tracker: it warns', async (t) => {
  const off = await rig({ cache: { enabled: false } });
  t.same(off.hooks, {}, 'no session hooks');
  const blind = await rig({ versions: false });
  t.match(blind.warnings, [/no version tracker/], 'a warning says nothing will be cached');
});

t.test('the cache key separates what changes a result, and only that', async (t) => {
  const base = (): RequestContext => req(SQL, { protocol: 'extended', params: [Buffer.from('acct-1'), null], paramFormats: [0], resultFormats: [0], replay: { describePortal: true, maxRows: 0 } });
  const variants: { name: string; ctx: () => RequestContext; same: boolean }[] = [
    { name: 'the same request', ctx: base, same: true },
    { name: 'a setting that does not shape results', ctx: () => ({ ...base(), settings: new Map([['statement_timeout', '5s']]) }), same: true },
    { name: 'another account', ctx: () => ({ ...base(), shardKey: { account: 'acct-2', action: 'DescribeVolumes' } }), same: false },
    { name: 'other SQL text', ctx: () => ({ ...base(), sql: `${SQL} order by id` }), same: false },
    { name: 'the simple protocol', ctx: () => ({ ...base(), protocol: 'simple', params: undefined, paramFormats: undefined, resultFormats: undefined, replay: null }), same: false },
    { name: 'another parameter value', ctx: () => ({ ...base(), params: [Buffer.from('acct-2'), null] }), same: false },
    { name: 'NULL versus an empty string', ctx: () => ({ ...base(), params: [Buffer.from('acct-1'), Buffer.alloc(0)] }), same: false },
    { name: 'parameters that would concatenate alike', ctx: () => ({ ...base(), params: [Buffer.from('acct-'), Buffer.from('1')] }), same: false },
    { name: 'binary parameters', ctx: () => ({ ...base(), paramFormats: [1] }), same: false },
    { name: 'binary results', ctx: () => ({ ...base(), resultFormats: [1] }), same: false },
    { name: 'no Describe of the portal', ctx: () => ({ ...base(), replay: { describePortal: false, maxRows: 0 } }), same: false },
    { name: 'another search_path', ctx: () => ({ ...base(), settings: new Map([['search_path', 'other']]) }), same: false },
    { name: 'another TimeZone', ctx: () => ({ ...base(), settings: new Map([['timezone', 'Asia/Tokyo']]) }), same: false },
    { name: 'another bytea_output', ctx: () => ({ ...base(), settings: new Map([['bytea_output', 'escape']]) }), same: false },
    { name: 'SET ROLE', ctx: () => ({ ...base(), settings: new Map([['role', 'reader']]) }), same: false },
  ];
  for (const v of variants) {
    const r = await rig();
    await run(r.hooks, base());
    t.ok(await run(r.hooks, base()), `${v.name}: the base request is cached`);
    t.equal((await run(r.hooks, v.ctx())) !== null, v.same, `${v.name}: ${v.same ? 'shares' : 'does not share'} its entry`);
  }
});

t.test('version tokens: nothing older than a known write is served', async (t) => {
  const r = await rig();
  await run(r.hooks, req());
  t.ok(await run(r.hooks, req()), 'cached');
  r.tokens.bump('acct-2_volume');
  t.ok(await run(r.hooks, req()), 'a write to another key changes nothing');
  r.tokens.bump('acct-1_volume');
  const fresh = [Be.RowDescription(['id', 'size']), Be.DataRow(['1', '150']), Be.CommandComplete('SELECT 1')];
  t.equal(await run(r.hooks, req(), fresh), null, 'after a write to the key: a miss, the read goes to the server');
  t.equal(totals(r).invalidations, 1, 'counted as an invalidation');
  t.same(bytes(await run(r.hooks, req())), bytes(fresh), 'the read after the write is what is served now');
});

t.test('a write while the read runs: its response is not stored', async (t) => {
  const cases: { name: string; at: 'before rows' | 'after rows' | 'after ReadyForQuery' }[] = [
    { name: 'before the first row', at: 'before rows' },
    { name: 'after the rows, before ReadyForQuery', at: 'after rows' },
    { name: 'after ReadyForQuery, before onResponse', at: 'after ReadyForQuery' },
  ];
  for (const k of cases) {
    const r = await rig();
    const ctx = req();
    t.equal(await r.hooks.onRequest!(ctx), undefined, `${k.name}: a miss`);
    if (k.at === 'before rows') r.tokens.bump('acct-1_volume');
    for (const f of rows()) r.hooks.onBackendMessage!(f[0]!, f);
    if (k.at === 'after rows') r.tokens.bump('acct-1_volume');
    r.hooks.onBackendMessage!(BackendCode.ReadyForQuery, Be.ReadyForQuery(0x49));
    if (k.at === 'after ReadyForQuery') r.tokens.bump('acct-1_volume');
    r.hooks.onResponse!({ request: ctx, durationMs: 1 });
    t.match(totals(r), { entries: 0, fills: 0, invalidations: 1 }, `${k.name}: not stored, counted as an invalidation`);
    t.equal(await run(r.hooks, req()), null, `${k.name}: the next read goes to the server`);
    t.ok(await run(r.hooks, req()), `${k.name}: and that one is stored`);
  }
});

t.test('responses that are not a whole result are not stored, and do not spoil the next one', async (t) => {
  const err = Be.ErrorResponse({ severity: 'ERROR', code: '42P01', message: 'relation "volumes" does not exist' });
  const cases: { name: string; frames: Buffer[]; info?: Partial<ResponseInfo>; o?: RigOptions }[] = [
    { name: 'an ErrorResponse', frames: [err] },
    { name: 'an ErrorResponse after rows', frames: [Be.RowDescription(['id']), Be.DataRow(['1']), err] },
    { name: 'onResponse reports an error', frames: rows(), info: { error: { code: '57014', message: 'canceled' } } },
    { name: 'PortalSuspended (a row-limited Execute)', frames: [Be.DataRow(['1']), Be.frame(BackendCode.PortalSuspended)] },
    { name: 'a COPY out', frames: [Be.frame(BackendCode.CopyOutResponse, Buffer.from([0, 0, 0])), Be.CommandComplete('COPY 0')] },
    { name: 'no CommandComplete at the end', frames: [Be.RowDescription(['id']), Be.DataRow(['1'])] },
    { name: 'no frames at all', frames: [] },
    { name: 'over max_entry_bytes', frames: [Be.RowDescription(['v']), Be.DataRow(['x'.repeat(300)]), Be.CommandComplete('SELECT 1')], o: { cache: { max_entry_bytes: 256 } } },
  ];
  for (const k of cases) {
    const r = await rig(k.o);
    await run(r.hooks, req(), k.frames, k.info);
    t.equal(totals(r).entries, 0, `${k.name}: not stored`);
    t.equal(await run(r.hooks, req()), null, `${k.name}: the next read goes to the server`);
    t.same(bytes(await run(r.hooks, req())), bytes(rows()), `${k.name}: and a whole result after it is stored as it was`);
  }
});

t.test('stored frames are copies: a buffer the proxy reuses cannot change an entry', async (t) => {
  const r = await rig();
  const ctx = req();
  await r.hooks.onRequest!(ctx);
  const sent = rows();
  respond(r.hooks, ctx, sent);
  for (const f of sent) f.fill(0x21);
  t.same(bytes(await run(r.hooks, req())), bytes(rows()), 'the answer has the bytes as they were when seen');
});

t.test('pipelined requests: each response goes to its own request', async (t) => {
  const r = await rig();
  const other = "select id from volumes where account_id = 'acct-1' and size > 150";
  const a = req();
  const b = req(other);
  const c = req('select 1'); // not cacheable, between them
  const bRows = [Be.RowDescription(['id']), Be.DataRow(['2']), Be.CommandComplete('SELECT 1')];
  const cRows = [Be.RowDescription(['?column?']), Be.DataRow(['1']), Be.CommandComplete('SELECT 1')];
  t.equal(await r.hooks.onRequest!(a), undefined);
  t.equal(await r.hooks.onRequest!(c), undefined);
  t.equal(await r.hooks.onRequest!(b), undefined);
  respond(r.hooks, a, rows());
  respond(r.hooks, c, cRows);
  respond(r.hooks, b, bRows);
  t.same(bytes(await run(r.hooks, req())), bytes(rows()), 'the first read has its own rows');
  t.same(bytes(await run(r.hooks, req(other))), bytes(bRows), 'the third has its own, not the second\'s');
  t.equal(totals(r).entries, 2);
});

t.test('TTL backstop on the injected clock', async (t) => {
  const cases: { name: string; ttl: number; later: number; hit: boolean }[] = [
    { name: 'no TTL', ttl: 0, later: 10 * 86_400_000, hit: true },
    { name: 'at the TTL', ttl: 5000, later: 5000, hit: true },
    { name: 'past the TTL', ttl: 5000, later: 5001, hit: false },
  ];
  for (const k of cases) {
    const r = await rig({ cache: { ttl_ms: k.ttl } });
    await run(r.hooks, req());
    r.clock.ms += k.later;
    t.equal((await run(r.hooks, req())) !== null, k.hit, `${k.name}: ${k.hit ? 'served' : 'expired'}`);
  }
});

t.test('SHOW CACHE: a row per domain, sorted, and a total', async (t) => {
  const r = await rig({ cache: { tables: ['volumes', 'snapshots'] } });
  const snap = "select * from snapshots where account_id = 'acct-1'";
  await run(r.hooks, req());
  await run(r.hooks, req());
  await run(r.hooks, req(snap));
  const out = r.admin.get('SHOW CACHE')!('');
  t.same(out.columns, ['domain', 'entries', 'bytes', 'hits', 'misses', 'fills', 'invalidations', 'evictions', 'hit_ratio']);
  const bytes = rows().reduce((n, f) => n + f.length, 0);
  t.same(out.rows, [
    ['snapshot', 1, bytes, 0, 1, 1, 0, 0, 0],
    ['volume', 1, bytes, 1, 1, 1, 0, 0, 0.5],
    ['*', 2, 2 * bytes, 1, 2, 2, 0, 0, 0.3333],
  ]);
});

t.test('close() empties the store', async (t) => {
  const r = await rig();
  await run(r.hooks, req());
  t.ok(await run(r.hooks, req()), 'cached');
  await r.plugin.close?.();
  t.equal(totals(r).entries, 0);
  t.equal(await run(r.hooks, req()), null, 'a miss after close');
});

t.test('one user\'s cached rows are not served to a session of another user', async (t) => {
  const r = await rig();
  await run(r.session('alice'), req(SQL, { session: sessionInfo('alice') }));
  const bob = r.session('bob');
  t.equal(await run(bob, req(SQL, { session: sessionInfo('bob') })), null, 'bob\'s read goes to the server, under bob\'s privileges');
});
