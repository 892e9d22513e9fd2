// PluginHost owns loading plugins (built-in by name, user modules by path), validating them, and running their
// session hooks (DESIGN.md §8): config order, first decision wins and is recorded, a throwing decider becomes an
// ErrorResponse for that request, a throwing observer is counted and disabled for that session. Nothing a plugin
// does at session time throws into the proxy.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config, PluginEntryConfig } from '../../config/schema.js';
import { logger as rootLogger, type Logger } from '../logger.js';
import {
  HookName,
  PLUGIN_API_VERSION,
  type CloseInfo,
  type ErrorInfo,
  type PluginHostApi,
  type PluginServices,
  type PluginRejection,
  type PrescientPlugin,
  ResponseScope,
  type RequestContext,
  type ResponseInfo,
  type RouteContext,
  type SessionHooks,
  type SessionInfo,
  type StatementDescription,
} from './api.js';
import { builtinPlugins, type BuiltinPluginFactory } from './builtins.js';
import { describeStatements } from './describeStatements.js';
import type { StatementInfo } from '../analyzer/types.js';

export const PluginErrorCode = {
  /** the plugin targets another plugin API version */
  ApiVersion: 'PLUGIN_API_VERSION',
  /** createSessionHooks returned a key that is not a HookName */
  UnknownHook: 'PLUGIN_UNKNOWN_HOOK',
  /** a name in `dependencies` is not a plugin listed earlier */
  MissingDependency: 'PLUGIN_MISSING_DEPENDENCY',
  /** two plugins share a name */
  Duplicate: 'PLUGIN_DUPLICATE',
  /** no built-in plugin has that name */
  UnknownBuiltin: 'PLUGIN_UNKNOWN_BUILTIN',
  /** the module could not be imported */
  LoadFailed: 'PLUGIN_LOAD_FAILED',
  /** the export is not a plugin (no name, no apiVersion, a hook that is not a function, …) */
  Invalid: 'PLUGIN_INVALID',
  /** setup() threw */
  SetupFailed: 'PLUGIN_SETUP_FAILED',
  /** createSessionHooks() threw */
  SessionHooksFailed: 'PLUGIN_SESSION_HOOKS_FAILED',
} as const;
export type PluginErrorCode = (typeof PluginErrorCode)[keyof typeof PluginErrorCode];

/** A plugin problem that stops start-up (or, from createSession, the session); the message names the plugin. */
export class PluginError extends Error {
  constructor(
    readonly code: PluginErrorCode,
    /** the plugin's name (or module path when the name is not known yet) */
    readonly plugin: string,
    message: string,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}

/** Per-plugin counters, over all sessions. */
interface PluginStats {
  /** answers, rejects and reroutes this plugin won */
  decisions: number;
  /** deciders (onStartup/onRequest/onRoute) that threw or returned something invalid */
  deciderErrors: number;
  /** observers that threw (each then disabled for its session) */
  observerErrors: number;
  /** close() threw */
  closeErrors: number;
}

/** A plugin and the options its config entry gave it. */
interface PluginWithOptions {
  plugin: PrescientPlugin;
  options?: unknown;
}

export interface PluginHostOptions {
  /** folder user module paths are relative to (the config file's folder); default: the working directory */
  configDir?: string;
  /** the validated config, handed to setup(); its shard names are used to check reroutes */
  config?: Config;
  /** built-in plugins by name; default: the registry in builtins.ts */
  builtins?: ReadonlyMap<string, BuiltinPluginFactory>;
  logger?: Logger;
  /** the running proxy's services, handed to setup() */
  services?: PluginServices;
}

/** A decision, with the plugin that made it. `pluginFailed` marks a reject the host made because the plugin failed. */
type Decided<D> = (D & { readonly by: string; readonly pluginFailed?: boolean }) | undefined;
type StartupOutcome = Decided<{ reject: PluginRejection }>;
type RequestOutcome = Decided<{ answer: Buffer[] } | { reject: PluginRejection }>;
type RouteOutcome = Decided<{ shard: string; reason: string } | { reject: PluginRejection }>;

const HOOK_NAMES: ReadonlySet<string> = new Set(Object.values(HookName));
const SQLSTATE = /^[0-9A-Z]{5}$/;
const INTERNAL_ERROR = 'XX000';

interface Entry<F> {
  readonly plugin: string;
  readonly hooks: SessionHooks;
  readonly fn: F;
  /** onResponse only for requests marked to watch (ResponseScope.Marked) */
  readonly marked: boolean;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Every key a hooks object offers: own keys, plus methods of its class (one level). */
function hookKeys(hooks: object): string[] {
  const keys = Object.getOwnPropertyNames(hooks);
  const proto = Object.getPrototypeOf(hooks) as object | null;
  if (proto !== null && proto !== Object.prototype) {
    for (const k of Object.getOwnPropertyNames(proto)) if (k !== 'constructor') keys.push(k);
  }
  return keys;
}

/** Checks what createSessionHooks returned; throws PluginError naming the plugin and the bad hook. */
function validateHooks(plugin: string, hooks: unknown): SessionHooks {
  if (hooks === undefined || hooks === null) return {};
  if (typeof hooks !== 'object') {
    throw new PluginError(PluginErrorCode.Invalid, plugin, `plugin ${plugin}: createSessionHooks must return an object of hooks`);
  }
  for (const k of hookKeys(hooks)) {
    if (!HOOK_NAMES.has(k)) {
      throw new PluginError(
        PluginErrorCode.UnknownHook,
        plugin,
        `plugin ${plugin}: unknown hook "${k}" (hooks are ${[...HOOK_NAMES].join(', ')})`,
      );
    }
    const v = (hooks as Record<string, unknown>)[k];
    if (v !== undefined && typeof v !== 'function') {
      throw new PluginError(PluginErrorCode.Invalid, plugin, `plugin ${plugin}: hook ${k} is not a function`);
    }
  }
  return hooks as SessionHooks;
}

/** The plugin hooks of one client session. Deciders never throw; observers never propagate. */
type AnyHook = (...args: unknown[]) => unknown;

export class SessionPlugins {
  /** each hook's entries, in plugin order (an observer that fails is removed from its list for this session) */
  private readonly entries: Record<HookName, Entry<AnyHook>[]>;
  // fast path: the session checks these before building a context or awaiting
  hasStartupHooks = false;
  hasRequestHooks = false;
  hasRouteHooks = false;
  hasBackendMessageHooks = false;
  /** a plugin sees every request's response (ResponseScope.Every) */
  hasResponseHooks = false;
  /** a plugin sees the responses of the requests marked to watch (ResponseScope.Marked) */
  hasMarkedResponseHooks = false;
  hasErrorHooks = false;
  hasCloseHooks = false;
  /** the plugin whose decision won the last decideRequest / decideRoute (undefined: none decided) */
  lastRequestWinner: string | undefined;
  lastRouteWinner: string | undefined;
  /** `plugin.hook` of the observers disabled in this session */
  readonly disabled: string[] = [];

  /** @internal built by PluginHost.createSession */
  constructor(
    private readonly host: PluginHost | null,
    private readonly info: SessionInfo | null,
    sessionHooks: readonly { plugin: string; hooks: SessionHooks; responses?: ResponseScope }[],
  ) {
    const entries = {} as Record<HookName, Entry<AnyHook>[]>;
    for (const name of Object.values(HookName)) entries[name] = [];
    for (const { plugin, hooks, responses } of sessionHooks) {
      for (const name of Object.values(HookName)) {
        const fn = hooks[name] as AnyHook | undefined;
        if (fn) entries[name].push({ plugin, hooks, fn, marked: name === HookName.onResponse && responses === ResponseScope.Marked });
      }
    }
    this.entries = entries;
    this.refresh();
  }

  private refresh(): void {
    const e = this.entries;
    this.hasStartupHooks = e.onStartup.length > 0;
    this.hasRequestHooks = e.onRequest.length > 0;
    this.hasRouteHooks = e.onRoute.length > 0;
    this.hasBackendMessageHooks = e.onBackendMessage.length > 0;
    this.hasResponseHooks = e.onResponse.some((x) => !x.marked);
    this.hasMarkedResponseHooks = e.onResponse.some((x) => x.marked);
    this.hasErrorHooks = e.onError.length > 0;
    this.hasCloseHooks = e.onClose.length > 0;
  }

  /** A decider failed: count it, log it, and turn it into a reject (XX000) naming the plugin. */
  private failed(plugin: string, hook: HookName, why: string): { reject: PluginRejection; by: string; pluginFailed: true } {
    const stats = this.host?.statsOf(plugin);
    if (stats) stats.deciderErrors++;
    this.host?.log.warn('plugin hook failed', { plugin, hook, pid: this.info?.pid, error: why });
    return { reject: { code: INTERNAL_ERROR, message: `plugin ${plugin} failed in ${hook}: ${why}` }, by: plugin, pluginFailed: true };
  }

  private won(plugin: string): void {
    const stats = this.host?.statsOf(plugin);
    if (stats) stats.decisions++;
  }

  /**
   * The one runner of deciding hooks: in plugin order, the first decision (not undefined/null) wins, is validated and
   * recorded (`winner`); a hook that throws or rejects decides a reject naming it. Never throws. Synchronous while the
   * hooks are (the hot path allocates no promise); a Promise only once a hook returns one.
   */
  private decide<O>(hook: HookName, arg: unknown, validate: (e: Entry<AnyHook>, d: unknown) => O, winner: (plugin: string) => void, from = 0): O | undefined | Promise<O | undefined> {
    const list = this.entries[hook];
    for (let i = from; i < list.length; i++) {
      const e = list[i]!;
      let d: unknown;
      try {
        d = e.fn.call(e.hooks, arg);
      } catch (err) {
        winner(e.plugin);
        return this.failed(e.plugin, hook, messageOf(err)) as O;
      }
      if (isThenable(d)) {
        return Promise.resolve(d).then(
          (v) => {
            if (v === undefined || v === null) return this.decide(hook, arg, validate, winner, i + 1);
            winner(e.plugin);
            return validate(e, v);
          },
          (err: unknown) => {
            winner(e.plugin);
            return this.failed(e.plugin, hook, messageOf(err)) as O;
          },
        );
      }
      if (d === undefined || d === null) continue;
      winner(e.plugin);
      return validate(e, d);
    }
    return undefined;
  }

  private readonly noWinner = (): void => {};
  private readonly requestWinner = (plugin: string): void => {
    this.lastRequestWinner = plugin;
  };
  private readonly routeWinner = (plugin: string): void => {
    this.lastRouteWinner = plugin;
  };

  /** Runs onStartup in order; the first reject wins. Never throws. */
  async decideStartup(session: SessionInfo): Promise<StartupOutcome> {
    return this.decide(HookName.onStartup, session, (e, d) => this.startupDecision(e, d), this.noWinner);
  }

  private startupDecision(e: Entry<AnyHook>, d: unknown): StartupOutcome {
    const reject = validRejection(d);
    if (!reject) return this.failed(e.plugin, HookName.onStartup, 'returned an invalid decision');
    this.won(e.plugin);
    return { reject, by: e.plugin };
  }

  /** Runs onRequest in order; the first answer or reject wins and is recorded. Never throws; synchronous while the hooks are. */
  decideRequest(ctx: RequestContext): RequestOutcome | Promise<RequestOutcome> {
    this.lastRequestWinner = undefined;
    // a context built with the raw analysis only gets its typed description here, before any plugin reads it
    if (ctx.statements === undefined && Array.isArray(ctx.analysis)) {
      (ctx as { statements?: readonly StatementDescription[] }).statements = describeStatements(ctx.analysis as StatementInfo[]);
    }
    return this.decide(HookName.onRequest, ctx, (e, d) => this.requestDecision(e, d), this.requestWinner);
  }

  private requestDecision(e: Entry<AnyHook>, d: unknown): RequestOutcome {
    if (typeof d === 'object' && d !== null && 'answer' in d) {
      const answer = (d as { answer: unknown }).answer;
      if (!Array.isArray(answer) || !answer.every((f) => Buffer.isBuffer(f))) {
        return this.failed(e.plugin, HookName.onRequest, 'answer must be an array of Buffers');
      }
      this.won(e.plugin);
      return { answer, by: e.plugin };
    }
    const reject = validRejection(d);
    if (!reject) return this.failed(e.plugin, HookName.onRequest, 'returned an invalid decision');
    this.won(e.plugin);
    return { reject, by: e.plugin };
  }

  /** Runs onRoute in order; the first reroute wins and is recorded. A failing plugin gives a reject. Never throws; synchronous while the hooks are. */
  decideRoute(ctx: RouteContext): RouteOutcome | Promise<RouteOutcome> {
    this.lastRouteWinner = undefined;
    return this.decide(HookName.onRoute, ctx, (e, d) => this.routeDecision(e, d), this.routeWinner);
  }

  private routeDecision(e: Entry<AnyHook>, d: unknown): RouteOutcome {
    const { shard, reason } = d as { shard?: unknown; reason?: unknown };
    if (typeof shard !== 'string' || shard === '' || typeof reason !== 'string') {
      return this.failed(e.plugin, HookName.onRoute, 'a route decision needs a shard name and a reason');
    }
    const shards = this.host?.shardNames;
    if (shards && !shards.has(shard)) return this.failed(e.plugin, HookName.onRoute, `unknown shard "${shard}"`);
    this.won(e.plugin);
    return { shard, reason, by: e.plugin };
  }

  /** An observer failed: count it and disable it for this session. */
  private observerFailed(hook: HookName, e: Entry<AnyHook>, err: unknown): void {
    const stats = this.host?.statsOf(e.plugin);
    if (stats) stats.observerErrors++;
    this.disabled.push(`${e.plugin}.${hook}`);
    this.host?.log.warn('plugin observer failed; disabled for this session', { plugin: e.plugin, hook, pid: this.info?.pid, error: messageOf(err) });
    this.entries[hook] = this.entries[hook].filter((x) => x !== e);
    this.refresh();
  }

  /** An observer returned a promise (it should not): a rejection counts as a failure, never as an unhandled rejection. */
  private guard(hook: HookName, e: Entry<AnyHook>, r: unknown): void {
    if (isThenable(r)) {
      Promise.resolve(r).catch((err: unknown) => {
        if (!this.disabled.includes(`${e.plugin}.${hook}`)) this.observerFailed(hook, e, err);
      });
    }
  }

  /**
   * The one runner of observing hooks: each in plugin order; one that throws is disabled for this session. `marked`
   * false skips the entries that observe only marked requests.
   */
  private observe(hook: HookName, a: unknown, b?: unknown, marked = true): void {
    const list = this.entries[hook];
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.marked && !marked) continue;
      try {
        this.guard(hook, e, b === undefined ? e.fn.call(e.hooks, a) : e.fn.call(e.hooks, a, b));
      } catch (err) {
        this.observerFailed(hook, e, err);
      }
    }
  }

  observeBackendMessage(code: number, frame: Buffer): void {
    this.observe(HookName.onBackendMessage, code, frame);
  }

  /** Whether some plugin's onResponse wants this request's response: what the session records and counts only then. */
  wantsResponse(request: RequestContext | undefined): boolean {
    return this.hasResponseHooks || (this.hasMarkedResponseHooks && request?.watch === true);
  }

  observeResponse(info: ResponseInfo): void {
    this.observe(HookName.onResponse, info, undefined, info.request?.watch === true);
  }

  observeError(error: ErrorInfo): void {
    this.observe(HookName.onError, error);
  }

  observeClose(info: CloseInfo): void {
    this.observe(HookName.onClose, info);
  }
}

function validRejection(d: unknown): PluginRejection | undefined {
  if (typeof d !== 'object' || d === null || !('reject' in d)) return undefined;
  const r = (d as { reject: unknown }).reject;
  if (typeof r !== 'object' || r === null) return undefined;
  const { code, message } = r as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !SQLSTATE.test(code) || typeof message !== 'string') return undefined;
  return { code, message };
}

/** Imports a user plugin module: a path (relative to configDir) or a package name; default export or `plugin`. */
async function importModule(spec: string, configDir: string, options: unknown): Promise<PrescientPlugin> {
  const isPath = spec.startsWith('.') || isAbsolute(spec) || /\.[cm]?[jt]s$/.test(spec);
  const target = isPath ? pathToFileURL(resolve(configDir, spec)).href : spec;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(target)) as Record<string, unknown>;
  } catch (e) {
    throw new PluginError(PluginErrorCode.LoadFailed, spec, `plugin module ${spec}: cannot load ${target}: ${messageOf(e)}`);
  }
  let exp: unknown = mod.default ?? mod.plugin;
  // a CommonJS module's exports arrive as `default`; `module.exports = { plugin }` is accepted too
  if (exp && typeof exp === 'object' && !('apiVersion' in exp) && 'plugin' in exp) exp = (exp as { plugin: unknown }).plugin;
  if (typeof exp === 'function') {
    try {
      exp = await (exp as (options: unknown) => unknown)(options);
    } catch (e) {
      throw new PluginError(PluginErrorCode.LoadFailed, spec, `plugin module ${spec}: its factory threw: ${messageOf(e)}`);
    }
  }
  if (exp === undefined || exp === null || typeof exp !== 'object') {
    throw new PluginError(PluginErrorCode.Invalid, spec, `plugin module ${spec}: export a plugin object as default or as \`plugin\``);
  }
  return exp as PrescientPlugin;
}

const EMPTY_SESSION = new SessionPlugins(null, null, []);

/** Loads, validates and runs plugins. Build one with PluginHost.load (config entries) or PluginHost.start (objects). */
export class PluginHost {
  /** plugin names, in config order */
  readonly names: readonly string[];
  readonly log: Logger;
  /** @internal shard names known from the config, to check reroutes */
  readonly shardNames: ReadonlySet<string> | undefined;
  private readonly stats = new Map<string, PluginStats>();
  private readonly withHooks: PrescientPlugin[];
  private closed = false;

  private constructor(private readonly plugins: readonly PrescientPlugin[], opts: PluginHostOptions) {
    this.names = plugins.map((p) => p.name);
    this.log = (opts.logger ?? rootLogger).child({ component: 'plugins' });
    this.shardNames = opts.config ? new Set(opts.config.shards.map((s) => s.name)) : undefined;
    for (const p of plugins) this.stats.set(p.name, { decisions: 0, deciderErrors: 0, observerErrors: 0, closeErrors: 0 });
    this.withHooks = plugins.filter((p) => typeof p.createSessionHooks === 'function');
  }

  /** Resolves the config's `plugins` entries (built-in by name, user module by path) and starts them in order. */
  static async load(entries: readonly PluginEntryConfig[], opts: PluginHostOptions = {}): Promise<PluginHost> {
    const builtins = opts.builtins ?? builtinPlugins;
    const configDir = opts.configDir ?? process.cwd();
    const list: PluginWithOptions[] = [];
    for (const entry of entries) {
      if (entry.module !== undefined) {
        list.push({ plugin: await importModule(entry.module, configDir, entry.options), options: entry.options });
      } else if (entry.name !== undefined) {
        const factory = builtins.get(entry.name);
        if (!factory) {
          const known = [...builtins.keys()];
          throw new PluginError(
            PluginErrorCode.UnknownBuiltin,
            entry.name,
            `plugin ${entry.name}: no built-in plugin by that name (built-ins: ${known.length ? known.join(', ') : 'none'})`,
          );
        }
        list.push({ plugin: factory(), options: entry.options });
      } else {
        throw new PluginError(PluginErrorCode.Invalid, '?', 'a plugins entry needs a name or a module');
      }
    }
    return PluginHost.start(list, opts);
  }

  /**
   * Validates the plugins (shape, apiVersion, duplicates, dependencies), runs setup() in order, and checks each
   * plugin's session hooks once (createSessionHooks with a probe SessionInfo). On failure the plugins already set
   * up are closed in reverse order and a PluginError naming the plugin is thrown.
   */
  static async start(list: readonly (PluginWithOptions | PrescientPlugin)[], opts: PluginHostOptions = {}): Promise<PluginHost> {
    const items = list.map((x) => ('plugin' in x && typeof (x as PluginWithOptions).plugin === 'object' ? (x as PluginWithOptions) : { plugin: x as PrescientPlugin }));
    const seen = new Set<string>();
    for (const { plugin: p } of items) {
      if (typeof p !== 'object' || p === null || typeof p.name !== 'string' || p.name === '') {
        throw new PluginError(PluginErrorCode.Invalid, '?', 'a plugin must be an object with a non-empty string name');
      }
      const name = p.name;
      if (typeof p.apiVersion !== 'number') {
        throw new PluginError(PluginErrorCode.Invalid, name, `plugin ${name}: apiVersion must be a number (this Prescient supports ${PLUGIN_API_VERSION})`);
      }
      if (p.apiVersion !== PLUGIN_API_VERSION) {
        throw new PluginError(
          PluginErrorCode.ApiVersion,
          name,
          `plugin ${name} targets plugin API version ${p.apiVersion}; this Prescient supports version ${PLUGIN_API_VERSION}`,
        );
      }
      if (seen.has(name)) throw new PluginError(PluginErrorCode.Duplicate, name, `plugin ${name} is listed twice`);
      for (const m of ['setup', 'close', 'createSessionHooks'] as const) {
        if (p[m] !== undefined && typeof p[m] !== 'function') {
          throw new PluginError(PluginErrorCode.Invalid, name, `plugin ${name}: ${m} must be a function`);
        }
      }
      if (p.responses !== undefined && !Object.values(ResponseScope).includes(p.responses)) {
        throw new PluginError(PluginErrorCode.Invalid, name, `plugin ${name}: responses must be ${Object.values(ResponseScope).join(' or ')}`);
      }
      if (p.dependencies !== undefined && !Array.isArray(p.dependencies)) {
        throw new PluginError(PluginErrorCode.Invalid, name, `plugin ${name}: dependencies must be an array of plugin names`);
      }
      for (const dep of p.dependencies ?? []) {
        if (!seen.has(dep)) {
          const later = items.some((x) => x.plugin?.name === dep);
          throw new PluginError(
            PluginErrorCode.MissingDependency,
            name,
            later
              ? `plugin ${name} depends on ${dep}, which is listed after it; list ${dep} first`
              : `plugin ${name} depends on ${dep}, which is not configured`,
          );
        }
      }
      seen.add(name);
    }

    const host = new PluginHost(items.map((x) => x.plugin), opts);
    const configDir = opts.configDir ?? process.cwd();
    const started: PrescientPlugin[] = [];
    try {
      for (const { plugin: p, options } of items) {
        if (p.setup) {
          const api: PluginHostApi = {
            apiVersion: PLUGIN_API_VERSION,
            config: opts.config,
            configDir,
            loaded: started.map((s) => s.name),
            log: host.log.child({ plugin: p.name }),
            services: opts.services,
          };
          try {
            await p.setup(api, options);
          } catch (e) {
            throw new PluginError(PluginErrorCode.SetupFailed, p.name, `plugin ${p.name}: setup failed: ${messageOf(e)}`);
          }
        }
        started.push(p);
      }
      const probe: SessionInfo = { pid: 0, user: '', database: '', applicationName: '', remote: '', startupParams: new Map(), probe: true };
      for (const p of host.withHooks) host.hooksOf(p, probe);
    } catch (e) {
      await PluginHost.closeAll(started, host);
      throw e;
    }
    return host;
  }

  private hooksOf(p: PrescientPlugin, info: SessionInfo): SessionHooks {
    let hooks: unknown;
    try {
      hooks = p.createSessionHooks!(info);
    } catch (e) {
      throw new PluginError(PluginErrorCode.SessionHooksFailed, p.name, `plugin ${p.name}: createSessionHooks threw: ${messageOf(e)}`);
    }
    return validateHooks(p.name, hooks);
  }

  /**
   * The hooks of one client session, in config order. Costs nothing when no plugin has session hooks. Throws a
   * PluginError (naming the plugin) only if a plugin's createSessionHooks throws or returns an unknown hook; the
   * session should then refuse the connection.
   */
  createSession(info: SessionInfo): SessionPlugins {
    if (this.withHooks.length === 0 || this.closed) return EMPTY_SESSION;
    const hooks = this.withHooks.map((p) => ({ plugin: p.name, hooks: this.hooksOf(p, info), responses: p.responses }));
    return new SessionPlugins(this, info, hooks);
  }

  /** @internal counters of one plugin */
  statsOf(name: string): PluginStats | undefined {
    return this.stats.get(name);
  }

  /** Counters per plugin (copies). */
  pluginStats(): Record<string, PluginStats> {
    const out: Record<string, PluginStats> = {};
    for (const [name, s] of this.stats) out[name] = { ...s };
    return out;
  }

  /** Calls every plugin's close() in reverse order; failures are logged and counted, never thrown. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await PluginHost.closeAll(this.plugins, this);
  }

  private static async closeAll(plugins: readonly PrescientPlugin[], host: PluginHost): Promise<void> {
    for (let i = plugins.length - 1; i >= 0; i--) {
      const p = plugins[i]!;
      if (!p.close) continue;
      try {
        await p.close();
      } catch (e) {
        const s = host.statsOf(p.name);
        if (s) s.closeErrors++;
        host.log.warn('plugin close failed', { plugin: p.name, error: messageOf(e) });
      }
    }
  }
}
