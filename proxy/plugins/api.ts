// api owns the public plugin API (DESIGN.md §8): the types and constants a plugin — built-in or a user's — imports.
// Nothing here does I/O, and its only runtime imports are constant tables (MessageCode, the analyzer's StatementKind),
// so a plugin can depend on it alone.
import type { Config } from '../../config/schema.js';
import type { MergeSpec, StatementKind, SystemScope } from '../analyzer/types.js';

/** The plugin API version this Prescient implements; a plugin declares the one it targets in `apiVersion`. */
export const PLUGIN_API_VERSION = 1;

/** The protocol's message type bytes, named as in the Postgres docs: a plugin reading frames uses these. */
export { BackendCode, FrontendCode } from '../protocol/MessageCode.js';

/** What a statement is (`Select`, `Insert`, `Ddl`, `Begin`, …), as the analyzer names it: StatementDescription.kind. */
export { StatementKind } from '../analyzer/types.js';
/** How a fan-out SELECT's rows merge (StatementDescription.mergeSpec), and which system catalogs a statement reads. */
export type { MergeSpec, MergeSortKey, MergeAggregate, MergeAggregateColumn, MergeAggregateFunction, SystemScope } from '../analyzer/types.js';

/**
 * Session hook names, as data: the host validates what `createSessionHooks` returns against this object,
 * so a misspelt hook (`onReqest`) stops start-up instead of being silently ignored.
 */
export const HookName = {
  /** may decide (async allowed): reject the connection */
  onStartup: 'onStartup',
  /** may decide (async allowed): answer the request with raw backend frames, or reject it */
  onRequest: 'onRequest',
  /** may decide (async allowed): replace the route */
  onRoute: 'onRoute',
  /** observer (sync): every backend message sent to the client */
  onBackendMessage: 'onBackendMessage',
  /** observer (sync): a request finished */
  onResponse: 'onResponse',
  /** observer (sync): an error was reported to the client */
  onError: 'onError',
  /** observer (sync): the session ended */
  onClose: 'onClose',
} as const;
export type HookName = (typeof HookName)[keyof typeof HookName];

/** Which requests a plugin's onResponse sees (PrescientPlugin.responses). */
export const ResponseScope = {
  /** every request's (the default) */
  Every: 'every',
  /**
   * only those of requests a plugin marked in onRequest (RequestContext.watch): a request no plugin marks costs no
   * response record, frame counting or ResponseInfo (a sampling tracer marks only what it traces)
   */
  Marked: 'marked',
} as const;
export type ResponseScope = (typeof ResponseScope)[keyof typeof ResponseScope];

/** Hooks whose result is a decision; they may return a Promise. */
export const DecidingHooks: readonly HookName[] = [HookName.onStartup, HookName.onRequest, HookName.onRoute];
/** Hooks that only observe; they are synchronous, and one that throws is disabled for that session. */
export const ObservingHooks: readonly HookName[] = [
  HookName.onBackendMessage, HookName.onResponse, HookName.onError, HookName.onClose,
];

/** The client session a plugin's hooks belong to. */
export interface SessionInfo {
  /** the process id Prescient gave the client (BackendKeyData) */
  readonly pid: number;
  readonly user: string;
  readonly database: string;
  readonly applicationName: string;
  /** `address:port` of the client */
  readonly remote: string;
  /** the startup packet's parameters (`user`, `database`, `application_name`, `options`, …) */
  readonly startupParams: ReadonlyMap<string, string>;
  /** true only for the one call the host makes at start-up to validate a plugin's hooks; no session follows it */
  readonly probe?: boolean;
}

/** What a request does, as far as routing cares (the analyzer fills it; `other` when unknown). */
export const RequestKind = {
  Read: 'read',
  Write: 'write',
  Ddl: 'ddl',
  Transaction: 'transaction',
  /** SET, SHOW, LISTEN, … */
  Session: 'session',
  Other: 'other',
} as const;
export type RequestKind = (typeof RequestKind)[keyof typeof RequestKind];

/** The shard key parts of a request (DESIGN.md §3); key-derivation plugins fill what they can. */
export interface ShardKey {
  account?: string;
  action?: string;
  domain?: string;
  /** where the account came from (`tag`, `literal`, `parameter`, or the plugin's own word), for SHOW and logs */
  source?: string;
}

/** Where a statement names its account: a literal value, or the `$n` parameter (1-based, as written) that holds it. */
export type StatementKey =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'param'; readonly index: number };

/** A `SET` / `RESET` of `prescient.account` or `prescient.action` in the statement itself. */
export interface RoutingSetting {
  /** `prescient.account` or `prescient.action` */
  readonly name: string;
  /** the value set (`$n` when it is a parameter); null for RESET / SET … TO DEFAULT */
  readonly value: string | null;
  /** SET LOCAL */
  readonly local: boolean;
}

/**
 * One statement of a request, as the analyzer describes it (RequestContext.statements: one per statement, a simple
 * Query may hold several). A statement that did not parse has `parseError` set, kind `Other` and nothing else known.
 */
export interface StatementDescription {
  readonly kind: StatementKind;
  /** relations read or written, in order of appearance, without duplicates or CTE names; `schema.table` when qualified */
  readonly tables: readonly string[];
  /** changes no data (a SELECT without FOR UPDATE/SHARE, writable CTE, INTO or nextval…; SHOW, SET, BEGIN/COMMIT, LISTEN, COPY … TO) */
  readonly readOnly: boolean;
  /** a read-only SELECT with no volatile function (now(), random(), …), no locking clause, no writable CTE */
  readonly cacheable: boolean;
  /** where it names its account (the account column compared with a literal or a `$n`); the first one with multipleKeys; null when none */
  readonly key: StatementKey | null;
  /** it names more than one account (different values, or `= ANY($1)`) */
  readonly multipleKeys: boolean;
  /** its sqlcommenter tags (`/* account='…',action='…' *\/`, URL-decoded): the account and action a client tags it with */
  readonly tags: Readonly<Record<string, string>>;
  /** the account or action it sets, when it is `SET [LOCAL] prescient.account|prescient.action …` or a RESET of one */
  readonly setting?: RoutingSetting;
  /** a SELECT: how its rows merge when it runs on every shard (`unmergeable` says why not); null for anything else */
  readonly mergeSpec: MergeSpec | null;
  /** set when every table it names is a system catalog: `catalog` (alike on every shard) or `server` (per-server state) */
  readonly system?: SystemScope;
  /** why it did not parse */
  readonly parseError?: string;
}

/** One client request, as the request hooks see it. */
export interface RequestContext {
  readonly session: SessionInfo;
  /** the statement text (all statements of a simple Query) */
  readonly sql: string;
  /** simple Query, or an extended-protocol Parse/Bind/Execute */
  readonly protocol: 'simple' | 'extended';
  readonly kind: RequestKind;
  /** the request's statements, described (one per statement); Prescient always sets it for the request hooks */
  readonly statements?: readonly StatementDescription[];
  /** @deprecated read `statements`: the analyzer's internal statement info, whose shape may change */
  analysis?: unknown;
  /** extended protocol: bound parameter values (null = SQL NULL); undefined for a simple Query */
  readonly params?: readonly (Buffer | null)[];
  /** extended protocol: the Bind's parameter format codes (none = all text, one = for all, else one each; 1 = binary) */
  readonly paramFormats?: readonly number[];
  /** filled by key-derivation plugins; the first to set a part wins by convention (check before overwriting) */
  shardKey?: ShardKey;
  /**
   * what plugins noted about the request, for the hooks that come after (onRoute, onResponse) and for other plugins
   * (tracing): a short word per name, e.g. the result cache's `cache` (`hit`, `miss`, `prefetch`, `bypass`)
   */
  notes?: Record<string, string>;
  /**
   * set true in onRequest by a plugin whose `responses` is `marked`: this request's onResponse is wanted (plugins with
   * that scope see the responses of the requests any of them marked)
   */
  watch?: boolean;
  /** the session's settings (lower-cased name → value), e.g. `prescient.account` */
  readonly settings: ReadonlyMap<string, string>;
  /** extended protocol: the Bind's result format codes (as paramFormats) */
  readonly resultFormats?: readonly number[];
  /**
   * false when the session ran a SET Prescient cannot follow (a setting the server does not report, or any SET LOCAL
   * in the open transaction): `settings` may not say everything that shapes a result
   */
  readonly settingsKnown?: boolean;
  /** the session's transaction: open (BEGIN seen), and whether it wrote */
  readonly transaction?: { readonly open: boolean; readonly wrote: boolean };
  /**
   * Whether an `answer` made only of result frames (RowDescription?, DataRow…, CommandComplete) can be replayed for
   * this request: null when it cannot (Describe of a statement, several Executes, a row-limited Execute, COPY …);
   * `describePortal` says whether the request asks for the RowDescription.
   */
  readonly replay?: { readonly describePortal: boolean; readonly maxRows: number } | null;
}

/** A SQLSTATE and message, sent to the client as an ErrorResponse. */
export interface PluginRejection {
  /** SQLSTATE, five characters */
  code: string;
  message: string;
}

/** onRequest's result: answer instead of forwarding, reject, or undefined to let the next plugin (then the proxy) decide. */
export type RequestDecision =
  | { /** raw backend frames to send instead of forwarding */ answer: Buffer[] }
  | { reject: PluginRejection }
  | undefined;

/** onStartup's result: reject the connection, or undefined to accept. */
export type StartupDecision = { reject: PluginRejection } | undefined;

/** The route the proxy chose, as onRoute sees it. */
export interface RouteContext {
  readonly request: RequestContext;
  /** the placement key (`account_domain`), undefined when no key was derived */
  readonly key: string | undefined;
  /** the shard the proxy would send the request to */
  readonly shard: string;
  /** why (e.g. `placement`, `global-table`, `no-key:global`) */
  readonly reason: string;
}

/** onRoute's result: another shard (and why), or undefined to keep the route. */
export type RouteDecision = { shard: string; reason: string } | undefined;

/** A request finished (onResponse). */
export interface ResponseInfo {
  readonly request?: RequestContext;
  readonly durationMs: number;
  /** rows returned or affected, when known */
  readonly rows?: number;
  /** the error the request ended with, if any */
  readonly error?: PluginRejection;
  /** the shard whose server answered it (undefined when the proxy or a plugin answered, or every shard did) */
  readonly shard?: string;
}

/** An error reported to the client (onError). */
export interface ErrorInfo {
  /** SQLSTATE */
  readonly code: string;
  readonly message: string;
  /** who raised it: a server, the proxy itself, or a plugin */
  readonly source: 'backend' | 'proxy' | 'plugin';
}

/** The session ended (onClose). */
export interface CloseInfo {
  readonly durationMs: number;
  /** why, when it did not end with a normal Terminate */
  readonly reason?: string;
}

type MaybePromise<T> = T | Promise<T>;

/** The hooks a plugin returns for one session. Every key must be a HookName. */
export interface SessionHooks {
  onStartup?(session: SessionInfo): MaybePromise<StartupDecision>;
  onRequest?(ctx: RequestContext): MaybePromise<RequestDecision>;
  onRoute?(ctx: RouteContext): MaybePromise<RouteDecision>;
  onBackendMessage?(code: number, frame: Buffer): void;
  onResponse?(info: ResponseInfo): void;
  onError?(error: ErrorInfo): void;
  onClose?(info: CloseInfo): void;
}

/** Log lines a plugin writes go to Prescient's structured log, tagged with the plugin's name. */
export interface PluginLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** What `setup` gets from the host. */
export interface PluginHostApi {
  readonly apiVersion: number;
  /** the validated configuration (read-only), when the host was given one */
  readonly config: Readonly<Config> | undefined;
  /** the folder of the config file (user module paths are relative to it) */
  readonly configDir: string;
  /** names of the plugins loaded before this one, in order */
  readonly loaded: readonly string[];
  readonly log: PluginLogger;
  /** services of the running proxy (absent when the host runs without one, e.g. in a unit test) */
  readonly services?: PluginServices;
}

/** What the proxy offers plugins beyond hooks. */
export interface PluginServices {
  /** key versions: a token per placement key that changes whenever the key's data may have changed */
  readonly versions?: VersionView;
  /** the shard manager's rolling window of load (with shard_manager.enabled): what the planner reads */
  readonly load?: LoadView;
  /** the placement key (`account_domain`) the router would use for this account, action and tables */
  placementKey(account: string, action: string | undefined, tables: readonly string[]): string;
  /**
   * Background work (prefetch): runs `request` (a Query, or Parse … Sync) on an idle server connection of the key's
   * shard no client waits for, as `user`'s server identity, when that connection's reported settings equal `settings`
   * (name → value); resolves with the result frames, 'busy' (no idle connection now, or the key being moved: try
   * later), or null (settings that differ, or the read failed). Never opens a connection or queues.
   */
  backgroundRead?(placementKey: string, user: string, request: Buffer, settings: ReadonlyMap<string, string | null>): Promise<Buffer[] | null | 'busy'>;
  /**
   * adds a statement to the admin console (e.g. `SHOW CACHE`): a result of columns and rows; `about` is what SHOW HELP
   * lists for it (its syntax with arguments, and one line on what it answers)
   */
  adminCommand(name: string, run: (args: string) => { columns: string[]; rows: (string | number | boolean | null)[][] }, about?: { syntax?: string; description?: string }): void;
}

/** The shard manager's window of load as plugins see it (proxy/shardManager/LoadWindow.ts). */
export interface LoadView {
  readonly seconds: number;
  record(sample: { shard: string; placementKey?: string; actionKey?: string; rows: number; backendUs: number; error: boolean }): void;
  /** over the window, or its last `seconds` */
  shardLoad(seconds?: number): { shard: string; requests: number; rows: number; backendUs: number; errors: number }[];
  hotspots(kind: 'placement' | 'action', n: number, seconds?: number): { key: string; requests: number; error: number; rows: number; backendUs: number; share: number; shard?: string; byShard?: Record<string, number> }[];
}

/** The proxy's version tracker as plugins see it. */
export interface VersionView {
  /** grows on every known change of the key (a shard's version notification, a write through this proxy) */
  token(key: string): number;
  /** the newest database version seen for the key */
  version(key: string): number;
}

/** A plugin (DESIGN.md §8). Export it as the module's default export, or as `plugin`. */
export interface PrescientPlugin {
  readonly name: string;
  /** the plugin API version it targets: PLUGIN_API_VERSION */
  readonly apiVersion: number;
  /** names of plugins that must appear earlier in the config's `plugins` list */
  readonly dependencies?: readonly string[];
  /** which requests its onResponse sees: `every` (the default) or only the `marked` ones (RequestContext.watch) */
  readonly responses?: ResponseScope;
  setup?(host: PluginHostApi, options: unknown): void | Promise<void>;
  close?(): void | Promise<void>;
  createSessionHooks?(session: SessionInfo): SessionHooks;
}

// compile-time check: SessionHooks' keys are exactly the HookName values
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const hooksMatchNames: Exact<keyof SessionHooks, HookName> = true;
void hooksMatchNames;
