// Tests for proxy/plugins/PluginHost.ts with real small plugin objects: config order and first-decision-wins (with the
// winner recorded), throwing deciders → XX000 naming the plugin, throwing observers disabled for that session only
// and counted, start-up errors (unknown hook, missing dependency, duplicate, API version), loading a user module
// from a real .mjs file by path, and close order.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Logger } from '../../proxy/logger.js';
import {
  HookName,
  PLUGIN_API_VERSION,
  ResponseScope,
  type PrescientPlugin,
  type RequestContext,
  type RouteContext,
  type SessionHooks,
  type SessionInfo,
} from '../../proxy/plugins/api.js';
import { PluginError, PluginErrorCode, PluginHost, type PluginHostOptions } from '../../proxy/plugins/PluginHost.js';
import { builtinPlugins } from '../../proxy/plugins/builtins.js';

const quiet: PluginHostOptions = { logger: new Logger('error') };

let pid = 100;
function info(over: Partial<SessionInfo> = {}): SessionInfo {
  return { pid: pid++, user: 'app', database: 'app', applicationName: 'test', remote: '127.0.0.1:5555', startupParams: new Map([['user', 'app']]), ...over };
}
function request(session: SessionInfo, sql = 'SELECT 1'): RequestContext {
  return { session, sql, protocol: 'simple', kind: 'read', settings: new Map() };
}
function plugin(name: string, hooks: (s: SessionInfo) => SessionHooks, extra: Partial<PrescientPlugin> = {}): PrescientPlugin {
  return { name, apiVersion: PLUGIN_API_VERSION, createSessionHooks: hooks, ...extra };
}

async function rejectsWith(t: Test, p: Promise<unknown>, code: string, names: string[]): Promise<void> {
  try {
    await p;
    t.fail(`expected ${code}`);
  } catch (e) {
    t.type(e, PluginError);
    t.equal((e as PluginError).code, code);
    for (const n of names) t.match((e as Error).message, n, `message names ${n}`);
  }
}

t.test('HookName is data: every hook name once', async (t) => {
  t.same(Object.values(HookName).sort(), ['onBackendMessage', 'onClose', 'onError', 'onRequest', 'onResponse', 'onRoute', 'onStartup']);
  t.equal(PLUGIN_API_VERSION, 1);
  t.same([...builtinPlugins.keys()].sort(), ['action-log', 'column-rules', 'result-cache', 'shard-load', 'sqlcommenter', 'tracing'], 'the key-derivation built-ins, the cache, the load counting of the shard manager, the action log and tracing');
});

t.test('deciders are synchronous while the hooks are: no promise on the hot path', async (t) => {
  const host = await PluginHost.start([plugin('sync', () => ({ onRequest: (ctx) => (ctx.sql === 'x' ? { reject: { code: '0A000', message: 'no' } } : undefined), onRoute: () => undefined }))], quiet);
  const s = host.createSession(info());
  const d = s.decideRequest(request(info(), 'x'));
  t.notOk(d instanceof Promise, 'a sync hook gives a sync decision');
  t.same(d, { reject: { code: '0A000', message: 'no' }, by: 'sync' });
  t.equal(s.decideRequest(request(info(), 'y')), undefined);
  const host2 = await PluginHost.start([plugin('async', () => ({ onRequest: async () => ({ reject: { code: '0A000', message: 'later' } }) }))], quiet);
  const d2 = host2.createSession(info()).decideRequest(request(info(), 'x'));
  t.ok(d2 instanceof Promise, 'an async hook makes it a promise');
  t.same(await d2, { reject: { code: '0A000', message: 'later' }, by: 'async' });
});

t.test('onRequest: config order, first answer wins and is recorded', async (t) => {
  const calls: string[] = [];
  const host = await PluginHost.start(
    [
      plugin('pass', () => ({ onRequest: () => { calls.push('pass'); return undefined; } })),
      plugin('answer', () => ({
        onRequest: async (ctx) => { calls.push('answer'); return ctx.sql === 'SELECT 1' ? { answer: [Buffer.from('frame')] } : undefined; },
      })),
      plugin('reject', () => ({ onRequest: () => { calls.push('reject'); return { reject: { code: '42501', message: 'no' } }; } })),
    ],
    quiet,
  );
  const s = host.createSession(info());
  t.ok(s.hasRequestHooks);
  t.notOk(s.hasRouteHooks);
  const d = await s.decideRequest(request(info()));
  t.same(calls, ['pass', 'answer'], 'stops at the first decision');
  t.ok(d && 'answer' in d);
  t.equal(d!.by, 'answer');
  t.same((d as { answer: Buffer[] }).answer.map(String), ['frame']);
  t.equal(s.lastRequestWinner, 'answer');
  calls.length = 0;
  const d2 = await s.decideRequest(request(info(), 'SELECT 2'));
  t.same(calls, ['pass', 'answer', 'reject']);
  t.same(d2, { reject: { code: '42501', message: 'no' }, by: 'reject' });
  t.equal(s.lastRequestWinner, 'reject');
  t.equal(host.pluginStats().answer!.decisions, 1);
  t.equal(host.pluginStats().reject!.decisions, 1);
  t.equal(host.pluginStats().pass!.decisions, 0);
  await host.close();
});

t.test('key-derivation plugins fill shardKey for later ones', async (t) => {
  const host = await PluginHost.start(
    [
      plugin('keys', () => ({ onRequest: (ctx) => { ctx.shardKey = { ...ctx.shardKey, account: '123', action: 'CreateVolume' }; return undefined; } })),
      plugin('reader', () => ({ onRequest: (ctx) => (ctx.shardKey?.account === '123' ? { reject: { code: '0A000', message: 'saw 123' } } : undefined) })),
    ],
    quiet,
  );
  const s = host.createSession(info());
  const ctx = request(info());
  const d = await s.decideRequest(ctx);
  t.same(ctx.shardKey, { account: '123', action: 'CreateVolume' });
  t.equal(d?.by, 'reader');
});

t.test('no decision → undefined, no winner', async (t) => {
  const host = await PluginHost.start([plugin('quiet', () => ({ onRequest: () => undefined, onRoute: async () => undefined }))], quiet);
  const s = host.createSession(info());
  t.equal(await s.decideRequest(request(info())), undefined);
  t.equal(s.lastRequestWinner, undefined);
  const rc: RouteContext = { request: request(info()), key: 'u1_volume', shard: 's0', reason: 'placement' };
  t.equal(await s.decideRoute(rc), undefined);
  t.equal(s.lastRouteWinner, undefined);
});

t.test('a throwing decider → reject XX000 naming the plugin; the host never throws', async (t) => {
  const host = await PluginHost.start(
    [
      plugin('boom', () => ({
        onRequest: () => { throw new Error('kaput'); },
        onRoute: async () => { throw new Error('route kaput'); },
        onStartup: () => { throw new Error('startup kaput'); },
      })),
      plugin('after', () => ({ onRequest: () => ({ answer: [] }) })),
    ],
    quiet,
  );
  const s = host.createSession(info());
  const d = await s.decideRequest(request(info()));
  t.ok(d && 'reject' in d);
  const r = d as { reject: { code: string; message: string }; by: string; pluginFailed?: boolean };
  t.equal(r.reject.code, 'XX000');
  t.match(r.reject.message, 'boom');
  t.match(r.reject.message, 'kaput');
  t.equal(r.by, 'boom');
  t.equal(r.pluginFailed, true);
  const rr = await s.decideRoute({ request: request(info()), key: undefined, shard: 's0', reason: 'no-key:global' });
  t.ok(rr && 'reject' in rr && rr.reject.code === 'XX000' && rr.reject.message.includes('boom'));
  const sr = await s.decideStartup(info());
  t.ok(sr && sr.reject.code === 'XX000' && sr.reject.message.includes('boom'));
  t.equal(host.pluginStats().boom!.deciderErrors, 3);
  // a decider stays enabled: the next request runs it again
  const d2 = await s.decideRequest(request(info()));
  t.equal(d2?.by, 'boom');
});

t.test('invalid decisions are plugin failures', async (t) => {
  const host = await PluginHost.start(
    [
      plugin('bad', () => ({
        onRequest: (ctx) => (ctx.sql === 'a' ? ({ answer: 'nope' } as never) : ({ reject: { code: 'bad', message: 'x' } })),
        onRoute: () => ({ shard: 's9', reason: 'mine' }),
      })),
    ],
    {
      ...quiet,
      config: { shards: [{ name: 's0' }, { name: 's1' }] } as never,
    },
  );
  const s = host.createSession(info());
  const a = await s.decideRequest(request(info(), 'a'));
  t.ok(a && 'reject' in a && a.reject.code === 'XX000' && a.reject.message.includes('bad'));
  const b = await s.decideRequest(request(info(), 'b'));
  t.ok(b && 'reject' in b && b.reject.code === 'XX000');
  const r = await s.decideRoute({ request: request(info()), key: 'k', shard: 's0', reason: 'placement' });
  t.ok(r && 'reject' in r && r.reject.message.includes('unknown shard "s9"'));
});

t.test('onRoute: first reroute wins, recorded', async (t) => {
  const seen: RouteContext[] = [];
  const host = await PluginHost.start(
    [
      plugin('watch', () => ({ onRoute: (ctx) => { seen.push(ctx); return undefined; } })),
      plugin('pin', () => ({ onRoute: async (ctx) => (ctx.key === 'hot_volume' ? { shard: 's1', reason: 'pinned' } : undefined) })),
      plugin('never', () => ({ onRoute: () => ({ shard: 's0', reason: 'never' }) })),
    ],
    { ...quiet, config: { shards: [{ name: 's0' }, { name: 's1' }] } as never },
  );
  const s = host.createSession(info());
  const d = await s.decideRoute({ request: request(info()), key: 'hot_volume', shard: 's0', reason: 'placement' });
  t.same(d, { shard: 's1', reason: 'pinned', by: 'pin' });
  t.equal(s.lastRouteWinner, 'pin');
  t.equal(seen.length, 1);
  t.equal(seen[0]!.shard, 's0');
});

t.test('onStartup may reject the connection', async (t) => {
  const host = await PluginHost.start(
    [plugin('gate', () => ({ onStartup: async (si) => (si.user === 'evil' ? { reject: { code: '28000', message: 'go away' } } : undefined) }))],
    quiet,
  );
  const s = host.createSession(info());
  t.ok(s.hasStartupHooks);
  t.equal(await s.decideStartup(info()), undefined);
  t.same(await s.decideStartup(info({ user: 'evil' })), { reject: { code: '28000', message: 'go away' }, by: 'gate' });
});

t.test('a throwing observer is counted and disabled for that session only', async (t) => {
  const seen: string[] = [];
  const host = await PluginHost.start(
    [
      plugin('flaky', (si) => ({
        onBackendMessage: (code) => { seen.push(`flaky:${si.pid}:${String.fromCharCode(code)}`); if (code === 0x45) throw new Error('observer boom'); },
        onResponse: () => { seen.push(`flaky-response:${si.pid}`); },
      })),
      plugin('steady', (si) => ({ onBackendMessage: (code) => { seen.push(`steady:${si.pid}:${String.fromCharCode(code)}`); } })),
    ],
    quiet,
  );
  const a = host.createSession(info({ pid: 1 }));
  const b = host.createSession(info({ pid: 2 }));
  t.ok(a.hasBackendMessageHooks);
  t.doesNotThrow(() => a.observeBackendMessage(0x45, Buffer.alloc(0)));
  a.observeBackendMessage(0x44, Buffer.alloc(0));
  b.observeBackendMessage(0x44, Buffer.alloc(0));
  a.observeResponse({ durationMs: 1, rows: 1 });
  t.same(seen, ['flaky:1:E', 'steady:1:E', 'steady:1:D', 'flaky:2:D', 'steady:2:D', 'flaky-response:1'],
    'flaky.onBackendMessage disabled in session 1 only; its other hooks and other plugins keep running');
  t.same(a.disabled, ['flaky.onBackendMessage']);
  t.same(b.disabled, []);
  t.equal(host.pluginStats().flaky!.observerErrors, 1);
  t.equal(host.pluginStats().steady!.observerErrors, 0);
});

t.test('every observer kind is guarded; a last failing observer clears the fast-path flag', async (t) => {
  const host = await PluginHost.start(
    [
      plugin('bad', () => ({
        onResponse: () => { throw new Error('r'); },
        onError: () => { throw new Error('e'); },
        onClose: () => { throw new Error('c'); },
        onBackendMessage: () => { throw new Error('b'); },
      })),
    ],
    quiet,
  );
  const s = host.createSession(info());
  t.ok(s.hasResponseHooks && s.hasErrorHooks && s.hasCloseHooks && s.hasBackendMessageHooks);
  t.doesNotThrow(() => {
    s.observeResponse({ durationMs: 3, error: { code: '42P01', message: 'no table' } });
    s.observeError({ code: '42P01', message: 'no table', source: 'backend' });
    s.observeClose({ durationMs: 10 });
    s.observeBackendMessage(0x5a, Buffer.alloc(0));
  });
  t.notOk(s.hasResponseHooks || s.hasErrorHooks || s.hasCloseHooks || s.hasBackendMessageHooks);
  t.equal(host.pluginStats().bad!.observerErrors, 4);
});

t.test("responses: 'marked' — onResponse only for requests a plugin marked to watch", async (t) => {
  const seen: string[] = [];
  const every = plugin('every', () => ({ onResponse: (r) => { seen.push(`every:${r.request?.sql}`); } }));
  const marked = plugin('marked', () => ({
    onRequest: (ctx) => { if (ctx.sql.includes('traced')) ctx.watch = true; return undefined; },
    onResponse: (r) => { seen.push(`marked:${r.request?.sql}`); },
  }), { responses: ResponseScope.Marked });
  const cases: { name: string; plugins: PrescientPlugin[]; has: [boolean, boolean]; want: Record<string, boolean>; seen: string[] }[] = [
    { name: 'a marked plugin alone', plugins: [marked], has: [false, true], want: { 'select traced': true, 'select plain': false }, seen: ['marked:select traced'] },
    { name: 'with a plugin that sees every response', plugins: [every, marked], has: [true, true], want: { 'select traced': true, 'select plain': true },
      seen: ['every:select traced', 'marked:select traced', 'every:select plain'] },
  ];
  for (const c of cases) {
    seen.length = 0;
    const s = (await PluginHost.start(c.plugins, quiet)).createSession(info());
    t.same([s.hasResponseHooks, s.hasMarkedResponseHooks], c.has, `${c.name}: the fast-path flags`);
    for (const sql of Object.keys(c.want)) {
      const ctx = request(info(), sql);
      await s.decideRequest(ctx);
      t.equal(s.wantsResponse(ctx), c.want[sql], `${c.name}: ${sql} wanted`);
      // the session reports only what it recorded
      if (s.wantsResponse(ctx)) s.observeResponse({ request: ctx, durationMs: 1 });
    }
    t.same(seen, c.seen, `${c.name}: who saw which response`);
  }
  await rejectsWith(t, PluginHost.start([plugin('odd', () => ({}), { responses: 'some' as never })], quiet), PluginErrorCode.Invalid, ['odd']);
});

t.test('an async observer that rejects is counted, not an unhandled rejection', async (t) => {
  const host = await PluginHost.start([plugin('async', () => ({ onResponse: (async () => { throw new Error('late'); }) as never }))], quiet);
  const s = host.createSession(info());
  s.observeResponse({ durationMs: 1 });
  await new Promise((r) => setImmediate(r));
  t.equal(host.pluginStats().async!.observerErrors, 1);
  t.notOk(s.hasResponseHooks);
});

t.test('fast path: no session hooks → one shared empty session', async (t) => {
  const host = await PluginHost.start([{ name: 'nohooks', apiVersion: 1 }], quiet);
  const a = host.createSession(info());
  const b = host.createSession(info());
  t.equal(a, b, 'no allocation per session');
  t.notOk(a.hasRequestHooks || a.hasRouteHooks || a.hasStartupHooks || a.hasBackendMessageHooks || a.hasResponseHooks || a.hasErrorHooks || a.hasCloseHooks);
  t.equal(await a.decideRequest(request(info())), undefined);
  a.observeBackendMessage(0x44, Buffer.alloc(0));
  const empty = await PluginHost.start([], quiet);
  t.equal(empty.createSession(info()), a);
});

t.test('start-up errors are coded and name the plugin', async (t) => {
  await rejectsWith(t, PluginHost.start([plugin('typo', () => ({ onReqest: () => undefined }) as never)], quiet),
    PluginErrorCode.UnknownHook, ['typo', 'onReqest']);
  await rejectsWith(t, PluginHost.start([{ name: 'cache', apiVersion: 1, dependencies: ['keys'] }], quiet),
    PluginErrorCode.MissingDependency, ['cache', 'keys', 'not configured']);
  await rejectsWith(t, PluginHost.start([{ name: 'cache', apiVersion: 1, dependencies: ['keys'] }, { name: 'keys', apiVersion: 1 }], quiet),
    PluginErrorCode.MissingDependency, ['cache', 'keys', 'after']);
  await rejectsWith(t, PluginHost.start([{ name: 'keys', apiVersion: 1 }, { name: 'keys', apiVersion: 1 }], quiet),
    PluginErrorCode.Duplicate, ['keys']);
  await rejectsWith(t, PluginHost.start([{ name: 'future', apiVersion: 2 }], quiet),
    PluginErrorCode.ApiVersion, ['future', 'version 2', 'version 1']);
  await rejectsWith(t, PluginHost.start([plugin('notfn', () => ({ onRequest: 42 }) as never)], quiet),
    PluginErrorCode.Invalid, ['notfn', 'onRequest']);
  await rejectsWith(t, PluginHost.load([{ name: 'nosuch' }], quiet), PluginErrorCode.UnknownBuiltin, ['nosuch']);
  // dependency satisfied when listed earlier
  const ok = await PluginHost.start([{ name: 'keys', apiVersion: 1 }, { name: 'cache', apiVersion: 1, dependencies: ['keys'] }], quiet);
  t.same(ok.names, ['keys', 'cache']);
});

t.test('unknown hooks on a class instance are found too; createSession checks every session', async (t) => {
  class Hooks { onRequest(): undefined { return undefined; } onRespnse(): void {} }
  await rejectsWith(t, PluginHost.start([plugin('cls', () => new Hooks() as never)], quiet), PluginErrorCode.UnknownHook, ['cls', 'onRespnse']);
  // a plugin whose hooks go bad only for real sessions
  const host = await PluginHost.start([plugin('late', (si) => (si.probe ? {} : ({ onBogus: () => {} } as never)))], quiet);
  t.throws(() => host.createSession(info()), { code: PluginErrorCode.UnknownHook });
});

t.test('setup gets options and the host API in order; a failing setup closes the started ones in reverse', async (t) => {
  const events: string[] = [];
  const mk = (name: string, failSetup = false): PrescientPlugin => ({
    name,
    apiVersion: 1,
    setup(host, options) { events.push(`setup ${name} ${JSON.stringify(options)} after [${host.loaded.join(',')}] v${host.apiVersion}`); if (failSetup) throw new Error('nope'); },
    close() { events.push(`close ${name}`); },
  });
  await rejectsWith(t, PluginHost.start([{ plugin: mk('a'), options: { x: 1 } }, { plugin: mk('b') }, { plugin: mk('c', true) }, { plugin: mk('d') }], quiet),
    PluginErrorCode.SetupFailed, ['c', 'nope']);
  t.same(events, ['setup a {"x":1} after [] v1', 'setup b undefined after [a] v1', 'setup c undefined after [a,b] v1', 'close b', 'close a']);
});

t.test('close() runs in reverse order, once, and survives a throwing close', async (t) => {
  const events: string[] = [];
  const mk = (name: string, fail = false): PrescientPlugin => ({
    name, apiVersion: 1,
    async close() { await new Promise((r) => setImmediate(r)); events.push(name); if (fail) throw new Error('x'); },
  });
  const host = await PluginHost.start([mk('first'), mk('second', true), mk('third')], quiet);
  await host.close();
  await host.close();
  t.same(events, ['third', 'second', 'first']);
  t.equal(host.pluginStats().second!.closeErrors, 1);
});

t.test('load(): a user module by path relative to the config dir, default or `plugin` export; built-ins by name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-plugin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'greeter.mjs'), `
let greeting = '?';
export default {
  name: 'greeter',
  apiVersion: 1,
  setup(host, options) { greeting = options.greeting; },
  createSessionHooks(session) {
    return { onRequest: (ctx) => ctx.sql === 'hello' ? { reject: { code: 'P0001', message: greeting + ' ' + session.user } } : undefined };
  },
};
`);
  writeFileSync(join(dir, 'named.mjs'), `export const plugin = { name: 'named', apiVersion: 1, dependencies: ['greeter'] };\n`);
  writeFileSync(join(dir, 'factory.mjs'), `export default (options) => ({ name: 'made-' + options.suffix, apiVersion: 1 });\n`);
  writeFileSync(join(dir, 'old.mjs'), `export default { name: 'old', apiVersion: 0 };\n`);
  const builtins = new Map([['builtin', () => ({ name: 'builtin', apiVersion: 1 }) as PrescientPlugin]]);
  const host = await PluginHost.load(
    [
      { name: 'builtin' },
      { module: './greeter.mjs', options: { greeting: 'hi' } },
      { module: join(dir, 'named.mjs') },
      { module: 'factory.mjs', options: { suffix: 'x' } },
    ],
    { ...quiet, configDir: dir, builtins },
  );
  t.same(host.names, ['builtin', 'greeter', 'named', 'made-x']);
  const s = host.createSession(info({ user: 'ann' }));
  t.same(await s.decideRequest(request(info(), 'hello')), { reject: { code: 'P0001', message: 'hi ann' }, by: 'greeter' });
  await rejectsWith(t, PluginHost.load([{ module: './old.mjs' }], { ...quiet, configDir: dir }), PluginErrorCode.ApiVersion, ['old']);
  await rejectsWith(t, PluginHost.load([{ module: './missing.mjs' }], { ...quiet, configDir: dir }), PluginErrorCode.LoadFailed, ['missing.mjs']);
  await host.close();
});
