// Router owns the route decision for a request: shard key derivation (account + action → domain → placement key) and no-key policy; a value, no I/O.
import type { Config } from '../../config/schema.js';
import { StatementKind, type StatementInfo } from '../analyzer/types.js';
import { ShardStatus, type CatalogSnapshot } from '../catalog/Catalog.js';
import { SqlState } from '../protocol/SqlState.js';
import type { ShardKey } from '../plugins/api.js';

/** Where the account id of a routed statement came from, in the order they are tried (the first three via key plugins). */
export const KeySource = {
  Tag: 'tag',
  Literal: 'literal',
  Parameter: 'parameter',
  SessionSetting: 'session-setting',
  StartupParameter: 'startup-parameter',
} as const;
export type KeySource = (typeof KeySource)[keyof typeof KeySource];

export type Route =
  /** one shard, by the statement's shard key */
  | { kind: 'shard'; shard: string; key: string; account: string; action: string | null; domain: string; source: KeySource | string; explicit: boolean }
  /** unsharded tables: the global shard */
  | { kind: 'global'; shard: string; reason: string }
  /** DDL: every active shard */
  | { kind: 'broadcast'; shards: string[]; reason: string }
  /** a read without a key: every active shard, rows merged */
  | { kind: 'fanout'; shards: string[]; reason: string }
  /** needs no particular shard (BEGIN, SET, SHOW, `select 1`): the transaction's shard, or any; `prefer`: the shard to
      use when the session is on none (a system catalog read: the global shard, so every session sees the same one) */
  | { kind: 'any'; reason: string; prefer?: string }
  | { kind: 'reject'; code: SqlState; message: string };

/** The session state the key derivation reads. */
export interface RouteSession {
  /** SET prescient.account (session or transaction) */
  account?: string;
  /** SET prescient.action */
  action?: string;
  /** the `prescient.account` startup parameter (e.g. `options=-c prescient.account=…`) */
  startupAccount?: string;
  /** the shard the open transaction is on */
  pinned?: string;
  /** temporary tables the session created (unqualified names): they live wherever the session is */
  tempTables?: ReadonlySet<string>;
}

export interface RouteInput {
  statements: readonly StatementInfo[];
  /** Bind parameter values (text format) of an extended-protocol request */
  params?: readonly (Buffer | null)[];
  session: RouteSession;
  /** the key the key plugins derived for the request (sqlcommenter tags, the account column, action rules, a user's) */
  key?: ShardKey;
}

/** Statements that touch no table data and can run wherever the session is. */
const SESSION_KINDS: ReadonlySet<StatementKind> = new Set<StatementKind>([
  StatementKind.Begin, StatementKind.Commit, StatementKind.Rollback, StatementKind.Savepoint, StatementKind.Set,
  StatementKind.Show, StatementKind.Listen, StatementKind.Notify, StatementKind.Discard, StatementKind.Deallocate,
  StatementKind.Prepare, StatementKind.Execute,
]);

export class Router {
  private readonly actionDomain = new Map<string, string>();
  private readonly tableDomain = new Map<string, string>();
  private readonly globalTables: ReadonlySet<string>;
  private readonly globalShard: string;

  constructor(private readonly config: Config) {
    const s = config.sharding;
    for (const [domain, d] of Object.entries(s.domains)) {
      for (const a of d.actions) this.actionDomain.set(a, domain);
      for (const t of d.tables) this.tableDomain.set(t, domain);
    }
    this.globalTables = new Set(s.global_tables);
    this.globalShard = s.global_shard ?? config.shards[0]!.name;
  }

  /** per table list (the analyzer shares one frozen array per shape): all global?, the tables' domain */
  private readonly byTables = new WeakMap<readonly string[], { global: boolean; domain: string | null }>();

  private tableFacts(tables: readonly string[]): { global: boolean; domain: string | null } {
    let f = this.byTables.get(tables);
    if (f === undefined) {
      const isGlobal = (t: string): boolean => this.globalTables.has(t) || this.globalTables.has(unqualified(t));
      const table = tables.find((t) => !isGlobal(t));
      f = {
        global: tables.length > 0 && tables.every(isGlobal),
        domain: table === undefined ? null : this.tableDomain.get(table) ?? this.tableDomain.get(unqualified(table)) ?? unqualified(table),
      };
      if (Object.isFrozen(tables)) this.byTables.set(tables, f);
    }
    return f;
  }

  /** The domain of an action, else of the statement's first table (a table outside every domain is its own). */
  domainOf(action: string | null, tables: readonly string[]): string | null {
    if (action) {
      const d = this.actionDomain.get(action);
      if (d) return d;
    }
    return this.tableFacts(tables).domain;
  }

  /** One route for a whole request (a simple Query with several statements, or one Bind of an extended batch). */
  route(input: RouteInput, snapshot: CatalogSnapshot): Route {
    let chosen: Route | null = null;
    for (const st of input.statements) {
      chosen = this.join(chosen, this.routeStatement(st, input, snapshot));
      if (chosen.kind === 'reject') return chosen;
    }
    return this.pin(chosen ?? { kind: 'any', reason: 'empty request' }, input.session.pinned);
  }

  /** The routes of the parts of one request (the Binds of one extended batch) as one route. */
  combine(routes: readonly Route[], pinned?: string): Route {
    let chosen: Route | null = null;
    for (const r of routes) {
      chosen = this.join(chosen, r);
      if (chosen.kind === 'reject') return chosen;
    }
    return this.pin(chosen ?? { kind: 'any', reason: 'empty request' }, pinned);
  }

  /** Two parts of one request must agree on where they run; `any` goes along with the other. */
  private join(chosen: Route | null, r: Route): Route {
    if (r.kind === 'reject' || !chosen || chosen.kind === 'any') {
      if (!chosen || r.kind !== 'any') return r;
      return chosen.kind === 'any' && chosen.prefer === undefined && r.prefer !== undefined ? r : chosen;
    }
    if (r.kind === 'any') return chosen;
    if (target(chosen) !== target(r)) {
      return { kind: 'reject', code: SqlState.FeatureNotSupported, message: `one request names several shards (${target(chosen)} and ${target(r)}): send the statements separately` };
    }
    return chosen;
  }

  /** A transaction stays on its shard: a route elsewhere is refused. */
  private pin(route: Route, pinned: string | undefined): Route {
    if (pinned && route.kind !== 'any' && route.kind !== 'reject' && target(route) !== pinned) {
      const what = route.kind === 'shard' ? `account "${route.account}" (key ${route.key}) lives on shard "${route.shard}"` : `the statement goes to ${target(route)}`;
      return { kind: 'reject', code: SqlState.FeatureNotSupported, message: `cross-shard transaction refused: this transaction is on shard "${pinned}", but ${what}; commit first, then run it in its own transaction` };
    }
    return route;
  }

  private routeStatement(st: StatementInfo, input: RouteInput, snapshot: CatalogSnapshot): Route {
    if (st.parseError && st.tables.length === 0) {
      // a statement Postgres will refuse anyway: send it where the session is, so the client gets the real syntax error
      return { kind: 'any', reason: 'unparsed statement' };
    }
    if (SESSION_KINDS.has(st.kind)) return { kind: 'any', reason: `${st.kind} statement` };
    if (st.system !== undefined && st.kind !== StatementKind.Ddl) {
      // only Postgres' own catalogs: every shard has the same ones. Per-server state (pg_stat_activity, pg_locks,
      // pg_backend_pid(), …) is the session's shard's; the rest goes where the session is, else to the global shard.
      if (st.system === 'server') return { kind: 'any', reason: 'server state (system view or function)' };
      if (st.readOnly) return { kind: 'any', reason: `system catalog ${st.tables.join(', ')}`, prefer: this.globalShard };
    }
    if (st.tables.length > 0 && this.tableFacts(st.tables).global) {
      return { kind: 'global', shard: this.globalShard, reason: `global table ${st.tables.join(', ')}` };
    }
    const temp = input.session.tempTables;
    if (temp !== undefined && temp.size > 0 && st.tables.length > 0) {
      // an unqualified name finds a temporary table first (pg_temp leads the search path); `public.x` never does
      const rest = st.tables.filter((t) => !(t.startsWith('pg_temp.') ? temp.has(t.slice(8)) : t.indexOf('.') < 0 && temp.has(t)));
      // only the session's temporary tables: run where the session (or its transaction) is
      if (rest.length === 0) return { kind: 'any', reason: 'temporary table' };
      if (rest.length < st.tables.length) return this.routeStatement({ ...st, tables: rest }, input, snapshot);
    }
    const found = this.accountOf(st, input);
    // a temporary object lives on the session's server connection, unless an account tag says which shard
    if (TEMP_DDL.test(st.shape) && found?.source !== KeySource.Tag) return { kind: 'any', reason: 'temporary object' };
    if (st.kind === StatementKind.Ddl && !(found && found.source === KeySource.Tag)) {
      // other DDL must reach every shard
      return { kind: 'broadcast', shards: activeShards(snapshot), reason: 'DDL reaches every shard' };
    }
    if (!found) {
      if (st.tables.length === 0) return { kind: 'any', reason: 'no table' };
      return this.noKey(st, snapshot);
    }
    const action = input.key?.action ?? input.session.action ?? null;
    const domain = this.domainOf(action, st.tables) ?? 'default';
    const key = `${found.account}_${domain}`;
    const placement = snapshot.placementOf(key);
    if (placement.shard.status === ShardStatus.Inactive) {
      return { kind: 'reject', code: SqlState.ConnectionFailure, message: `shard "${placement.shard.name}" holding key ${key} is inactive` };
    }
    return { kind: 'shard', shard: placement.shard.name, key, account: found.account, action, domain, source: found.source, explicit: placement.explicit };
  }

  /**
   * First match wins: the key plugins' account (sqlcommenter tag, then the account column, literal or $n),
   * SET prescient.account, the startup parameter.
   */
  private accountOf(st: StatementInfo, input: RouteInput): { account: string; source: KeySource | string } | null {
    const k = input.key;
    if (k !== undefined && k.account !== undefined && (!st.multipleKeys || k.source === KeySource.Tag)) {
      return { account: k.account, source: k.source ?? 'plugin' };
    }
    if (st.multipleKeys) return null; // several accounts in one statement: no single shard
    if (input.session.account) return { account: input.session.account, source: KeySource.SessionSetting };
    if (input.session.startupAccount) return { account: input.session.startupAccount, source: KeySource.StartupParameter };
    return null;
  }

  private noKey(st: StatementInfo, snapshot: CatalogSnapshot): Route {
    const s = this.config.sharding;
    const tables = st.tables.join(', ');
    const how = st.kind === StatementKind.Insert
      ? `name the columns so that ${s.account_column} is one of them (INSERT INTO ${st.tables[0]} (…, ${s.account_column}, …) VALUES …), or add a /* account='…' */ comment, or SET prescient.account`
      : `add ${s.account_column} = … to the statement, a /* account='…' */ comment, or SET prescient.account`;
    if (s.strict) {
      return { kind: 'reject', code: SqlState.FeatureNotSupported, message: `no shard key for ${st.kind} on ${tables} (strict mode): ${how}` };
    }
    if (st.readOnly) {
      if (s.no_key.reads === 'fanout') return { kind: 'fanout', shards: activeShards(snapshot), reason: `read without a key on ${tables}` };
      if (s.no_key.reads === 'global') return { kind: 'global', shard: this.globalShard, reason: `read without a key on ${tables}` };
      return { kind: 'reject', code: SqlState.FeatureNotSupported, message: `read without a shard key on ${tables}: ${how}` };
    }
    if (s.no_key.writes === 'global') return { kind: 'global', shard: this.globalShard, reason: `write without a key on ${tables}` };
    return {
      kind: 'reject',
      code: SqlState.FeatureNotSupported,
      message: st.multipleKeys
        ? `write to ${tables} names several accounts: send one statement per account`
        : `write to ${tables} without a shard key: ${how}`,
    };
  }
}

const TEMP_DDL = /^\s*create\s+(?:(?:global|local)\s+)?temp(?:orary)?\s/i;

function unqualified(table: string): string {
  const dot = table.lastIndexOf('.');
  return dot < 0 ? table : table.slice(dot + 1);
}

function activeShards(snapshot: CatalogSnapshot): string[] {
  return snapshot.shards.filter((s) => s.status === ShardStatus.Active).map((s) => s.name);
}

/** What two routes must agree on to run as one request. */
function target(r: Route): string {
  switch (r.kind) {
    case 'shard':
    case 'global':
      return r.shard;
    case 'broadcast':
      return `every shard (${r.shards.join(', ')})`;
    case 'fanout':
      return `all shards (${r.shards.join(', ')})`;
    default:
      return '';
  }
}
