// RequestPipeline owns the routed request path (more than one shard, or plugins with request hooks), in order:
// frames gathered into requests → analysed (assemble) → plugins' onRequest (decideUnits) → routed (routeRequest) →
// plugins' onRoute → acted on (act: deferred BEGIN, hold, refuse) → a server connection leased on the target shard
// (leaseOn) → forwarded (the session's forwarder), or run on every shard (FanOut). docs/architecture.md draws it.
import type { ServerConnection } from '../connection/ServerConnection.js';
import type { Pool } from '../pool/Pool.js';
import * as Be from '../protocol/BackendMessage.js';
import type { Frame } from '../protocol/FrameReader.js';
import { decodeBind, decodeBindParams, decodeParse, decodeQuery } from '../protocol/FrontendMessage.js';
import { BackendCode, FrontendCode } from '../protocol/MessageCode.js';
import { logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { StatementKind, type StatementInfo } from '../analyzer/types.js';
import type { SessionPlugins } from '../plugins/PluginHost.js';
import { RequestKind, type RequestContext, type SessionInfo } from '../plugins/api.js';
import type { Route } from '../router/Router.js';
import { FanOut, type FanOutRoute } from './FanOut.js';
import type { PreparedStatements } from './PreparedStatements.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import { ErrorSource } from '../context/RequestCounters.js';
import { TxControl, replayExtended, replayOf, synthesizedResponse, txControlOf, type RoutedRequest, type RoutingUnit } from './RoutedRequest.js';
import type { SessionPort } from './SessionPort.js';
import { SessionOp } from '../analyzer/SessionStatements.js';
import { describeStatements } from '../plugins/describeStatements.js';

/** settings Postgres reports with ParameterStatus: a SET of one is followed (TIME ZONE is timezone) */
const REPORTED_SETTINGS = new Set(['client_encoding', 'datestyle', 'timezone', 'intervalstyle', 'application_name', 'standard_conforming_strings', 'default_transaction_read_only', 'in_hot_standby', 'is_superuser', 'session_authorization', 'integer_datetimes', 'server_encoding', 'server_version']);

/** The request kind plugins see, from the analysis. */
function requestKindOf(statements: readonly StatementInfo[]): RequestKind {
  let kind: RequestKind = RequestKind.Other;
  for (const st of statements) {
    switch (st.kind) {
      case StatementKind.Ddl:
        return RequestKind.Ddl;
      case StatementKind.Insert: case StatementKind.Update: case StatementKind.Delete: case StatementKind.Copy:
        if (!st.readOnly) return RequestKind.Write;
        kind = RequestKind.Read;
        break;
      case StatementKind.Select:
        if (!st.readOnly) return RequestKind.Write;
        kind = RequestKind.Read;
        break;
      case StatementKind.Begin: case StatementKind.Commit: case StatementKind.Rollback: case StatementKind.Savepoint:
        if (kind === RequestKind.Other) kind = RequestKind.Transaction;
        break;
      default:
        if (kind === RequestKind.Other) kind = RequestKind.Session;
    }
  }
  return kind;
}

/**
 * What the pipeline asks of the session that owns it: the session's forwarder (one server connection, the responses
 * owed on it) and its reading of the client. The pipeline never reaches the session any other way.
 */
export interface PipelineHost extends SessionPort {
  readonly pid: number;
  /** the server connection the session is on, if any */
  readonly server: ServerConnection | null;
  /** responses owed by the server connection, and frames not yet written to it */
  readonly owed: number;
  readonly unsent: number;
  owesServer(): boolean;
  /** the server is in COPY IN for this client and its CopyDone/CopyFail has not been sent: frames go straight there */
  readonly inCopy: boolean;
  /** the transaction status the client was last told (a deferred BEGIN or its COMMIT changes it here) */
  txStatus: number;
  /** the session is waiting (for a server connection, a plugin, a held request): the client is not read */
  waiting: boolean;
  readonly statements: PreparedStatements;
  readonly settings: ReadonlyMap<string, string>;
  readonly settingsKey: string;
  readonly plugins: SessionPlugins | null;
  /** why the session is pinned to its server connection (LISTEN, SQL PREPARE, temporary table), or null */
  readonly pinReason: string | null;
  sessionInfo(): SessionInfo;
  /** this client's pool on a shard (its server identity there) */
  poolOn(shard: string): Pool | undefined;
  /** a made-up response, in its place among those owed */
  synthesize(bytes: Buffer): void;
  /** after a server error in an extended batch the server ignores everything until Sync */
  readonly skipping: boolean;
  /** an error the proxy raised ended an extended batch: the rest is dropped until Sync */
  dropping: boolean;
  /** one frame of a request, to the server connection the session is on */
  forward(f: Frame): void;
  /** sends a statement the client did not send (its answer hidden); `failure` is logged if it fails */
  sendHidden(sql: string, failure: string): void;
  /** writes what was gathered for the server */
  flush(): void;
  /** takes a server connection for this client */
  attach(conn: ServerConnection): void;
  /** stop reading the client, and read it again (processing what it sent meanwhile) */
  block(): void;
  resume(): void;
}

export class RequestPipeline {
  /** requests that need every shard */
  private readonly fanOut: FanOut;

  constructor(
    private readonly host: PipelineHost,
    private readonly ctx: ProxyContext,
  ) {
    this.fanOut = new FanOut(host, ctx);
  }

  /** placement keys written since the transaction began (or by the autocommit statement in flight) */
  private readonly txWrites = new Set<string>();
  /** placement keys the request in flight or the open transaction uses (KeyFence.enter), left when the session is idle */
  private readonly keysInUse = new Set<string>();
  /**
   * routed requests in flight, oldest first, one per ReadyForQuery owed: those a plugin's onResponse wants
   * (wantsResponse: `observe`), and with log.slow_ms every one (the slow-request line's account and action)
   */
  private readonly responses: {
    request: RequestContext | undefined; start: number; shard: string | undefined; observe: boolean; account: string | undefined; action: string | undefined;
    rows?: number; error?: { code: string; message: string };
  }[] = [];
  /** extended-protocol frames gathered until Sync or Flush */
  private batch: Frame[] = [];
  private batchBytes = 0;
  /** complete requests not yet dispatched (a request ahead of them waits for a server) */
  private readonly requests: Frame[][] = [];
  /** a request for another shard, waiting until this server connection has answered everything owed */
  private heldRequest: { req: RoutedRequest; route: Route } | null = null;
  /** a BEGIN answered by the proxy: sent to the transaction's shard once its first statement names one */
  private deferredBegin: string | null = null;
  /** SET statements sent after a deferred BEGIN, answered by the proxy and replayed after it */
  private deferredSets: string[] = [];
  /** temporary tables this session created: they go wherever the session is */
  private tempTables: Set<string> | null = null;
  /** SET prescient.account / prescient.action for the session */
  private routing: { account?: string; action?: string } = {};
  /** SET LOCAL prescient.* for the open transaction */
  private localRouting: { account?: string; action?: string } | null = null;
  /** the text of the unnamed statement (routing reads it at Bind) */
  private unnamedSql = '';
  private unnamedAnalysis: StatementInfo[] | null = null;
  /** the shard this session last ran on: where a request that needs no particular shard goes */
  private lastShard: string | null = null;
  /** for SHOW POOLS: the shard this session waits for */
  waitingFor: string | null = null;
  /** Gathers request frames; COPY data goes straight to the server that asked for it. */
  collect(f: Frame): void {
    const code = f.code;
    if (this.host.inCopy && this.requests.length === 0 && this.batch.length === 0 && !this.host.waiting) {
      this.host.forward(f);
      return;
    }
    if (code === FrontendCode.CopyData || code === FrontendCode.CopyDone || code === FrontendCode.CopyFail) {
      if (this.requests.length === 0 && this.batch.length === 0 && !this.host.waiting) {
        if (this.host.server) this.host.forward(f);
        return;
      }
      this.requests.push([f]);
      this.drainRequests();
      return;
    }
    if (code === FrontendCode.Query || code === FrontendCode.FunctionCall) {
      if (this.batch.length > 0) this.requests.push(this.takeBatch());
      this.requests.push([f]);
    } else {
      this.batch.push(f);
      this.batchBytes += f.frame.length;
      // a client that never syncs still gets routed in bounded memory
      if (code === FrontendCode.Sync || code === FrontendCode.Flush || this.batch.length >= 4096 || this.batchBytes >= 64 << 20) {
        this.requests.push(this.takeBatch());
      }
    }
    this.drainRequests();
  }

  private takeBatch(): Frame[] {
    const b = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    return b;
  }

  drainRequests(): void {
    while (this.requests.length > 0 && !this.host.waiting && !this.host.closed) {
      this.dispatch(this.requests.shift()!);
    }
  }

  private dispatch(frames: Frame[]): void {
    const first = frames[0]!;
    if (frames.length === 1 && (first.code === FrontendCode.CopyData || first.code === FrontendCode.CopyDone || first.code === FrontendCode.CopyFail)) {
      if (this.host.server) this.host.forward(first);
      return;
    }
    if (this.host.skipping && frames.length === 1 && (first.code === FrontendCode.Query || first.code === FrontendCode.FunctionCall)) {
      return; // a server error in an extended batch: Postgres ignores everything, simple Queries too, until Sync
    }
    if (this.host.dropping) {
      // an error the proxy raised ended this batch: skip to Sync, as Postgres does
      const at = frames.findIndex((x) => x.code === FrontendCode.Sync);
      if (at < 0) return;
      this.host.dropping = false;
      frames = frames.slice(at);
    }
    const req = this.assemble(frames);
    // SET prescient.account / prescient.action: the session's routing state, answered here
    if (req.routingSettingsOnly) {
      const tags = req.units.flatMap((u) => u.statements.map((st) => (st.setting?.value === null ? 'RESET' : 'SET')));
      this.host.synthesize(synthesizedResponse(req, tags, this.host.txStatus, this.registerStatement));
      return;
    }
    this.decideUnits(req, 0);
  }

  private readonly registerStatement = (name: string, rest: Buffer, query: string): void => {
    this.host.statements.add(name, rest, query);
  };

  /** Cuts a request into routing units and reads the routing settings it makes. */
  private assemble(frames: Frame[]): RoutedRequest {
    const analyzer = this.ctx.analyzer;
    const units: RoutingUnit[] = [];
    let prepareOnly = false;
    const first = frames[0]!;
    const simple = first.code === FrontendCode.Query || first.code === FrontendCode.FunctionCall;
    let sql = '';
    if (first.code === FrontendCode.Query) {
      sql = decodeQuery(first.payload);
      units.push({ sql, statements: analyzer.analyze(sql) });
    } else if (!simple) {
      // analysed at Parse; a Bind only picks its parameters (a named statement keeps its analysis)
      // (prepareOnly: a Parse without a Bind)
      let parsed: Map<string, { sql: string; statements: StatementInfo[] }> | null = null;
      let lone: RoutingUnit | null = null;
      for (const f of frames) {
        if (f.code === FrontendCode.Parse) {
          const p = decodeParse(f.payload);
          const a = { sql: p.query, statements: analyzer.analyze(p.query) };
          if (p.name === '') {
            this.unnamedSql = p.query;
            this.unnamedAnalysis = a.statements;
          } else (parsed ??= new Map()).set(p.name, a);
          lone ??= a;
        } else if (f.code === FrontendCode.Bind) {
          const b = decodeBind(f.payload);
          let a: { sql: string; statements: StatementInfo[] } | undefined;
          if (b.statement === '') a = { sql: this.unnamedSql, statements: this.unnamedAnalysis ?? analyzer.analyze(this.unnamedSql) };
          else {
            a = parsed?.get(b.statement);
            if (a === undefined) {
              const stmt = this.host.statements.get(b.statement);
              if (stmt) a = { sql: stmt.query, statements: (stmt.analysis ??= analyzer.analyze(stmt.query)) as StatementInfo[] };
            }
          }
          if (a === undefined) continue; // the server reports the unknown statement
          const { values, formats, resultFormats } = decodeBindParams(f.payload, b.restOffset);
          units.push({ sql: a.sql, statements: a.statements, params: values, formats, resultFormats });
        }
      }
      if (units.length === 0 && lone) {
        units.push(lone);
        prepareOnly = true;
      }
      sql = units[0]?.sql ?? '';
    }
    const last = frames[frames.length - 1]!;
    const req: RoutedRequest = {
      frames, simple, endsWithSync: last.code === FrontendCode.Sync, units, txControl: prepareOnly ? TxControl.None : txControlOf(units), routingSettingsOnly: false, sql, prepareOnly,
    };
    let settings = 0;
    let statements = 0;
    for (const u of units) {
      for (const st of u.statements) {
        statements++;
        if (st.kind === StatementKind.Ddl && st.tables.length > 0) this.noteTempTables(st);
        else if ((st.kind === StatementKind.Set || st.kind === StatementKind.Discard) && !st.setting) this.noteSetting(st);
        if (st.setting && st.setting.value?.startsWith('$') !== true) {
          settings++;
          this.applyRoutingSetting(st);
        }
      }
    }
    req.routingSettingsOnly = statements > 0 && settings === statements;
    return req;
  }

  /** a session-wide SET of a setting the server does not report (its value is unknown to Prescient) */
  private opaqueSettings = false;
  /** a SET LOCAL (or any SET) in the open transaction */
  private txOpaqueSettings = false;

  private noteSetting(st: StatementInfo): void {
    if (st.kind === StatementKind.Discard) return;
    const set = st.session?.op === SessionOp.Set ? st.session : null;
    const local = set !== null && set.local;
    if (local || this.host.txStatus !== Be.TransactionStatus.Idle || this.deferredBegin !== null) this.txOpaqueSettings = true;
    if (!local && (set === null || set.name === null || !REPORTED_SETTINGS.has(set.name))) this.opaqueSettings = true;
  }

  /** CREATE TEMP TABLE adds a session temp table (until DROP, or the transaction's end with ON COMMIT DROP). */
  private noteTempTables(st: StatementInfo): void {
    const s = st.session;
    if (s?.op === SessionOp.CreateTable) {
      if (!s.temp) return;
      (this.tempTables ??= new Set()).add(s.table.name);
      if (s.onCommitDrop) (this.txTempTables ??= []).push(s.table.name);
    } else if (this.tempTables !== null && s?.op === SessionOp.DropTable) {
      for (const t of s.tables) if (t.schema === null || t.schema === 'pg_temp') this.tempTables.delete(t.name);
    }
  }
  /** temp tables created ON COMMIT DROP in the open transaction */
  private txTempTables: string[] | null = null;

  private applyRoutingSetting(st: StatementInfo): void {
    const s = st.setting!;
    const field = s.name === 'prescient.account' ? 'account' : 'action';
    const target = s.local ? (this.localRouting ??= {}) : this.routing;
    if (s.value === null) delete target[field];
    else target[field] = s.value;
    // a session-wide SET inside a transaction also overrides a SET LOCAL made before it
    if (!s.local && this.localRouting) delete this.localRouting[field];
  }

  private routingSettings(): ReadonlyMap<string, string> {
    const account = this.localRouting?.account ?? this.routing.account;
    const action = this.localRouting?.action ?? this.routing.action;
    if (account === undefined && action === undefined) return this.host.settings;
    const m = new Map(this.host.settings);
    if (account !== undefined) m.set('prescient.account', account);
    if (action !== undefined) m.set('prescient.action', action);
    return m;
  }

  /** onRequest for each unit, in order (the key plugins fill the shard key); the first answer or reject ends it. */
  private decideUnits(req: RoutedRequest, from: number): void {
    const plugins = this.host.plugins;
    if (plugins && plugins.hasRequestHooks) {
      const settings = this.routingSettings();
      const session = this.host.sessionInfo();
      const open = this.host.txStatus !== Be.TransactionStatus.Idle;
      const transaction = { open, wrote: open && this.txWrites.size > 0 };
      const settingsKnown = !this.opaqueSettings && !(open && this.txOpaqueSettings);
      const replay = req.units.length === 1 ? replayOf(req) : null;
      for (let i = from; i < req.units.length; i++) {
        const u = req.units[i]!;
        u.ctx ??= {
          session, sql: u.sql, protocol: req.simple ? 'simple' : 'extended', kind: requestKindOf(u.statements), statements: describeStatements(u.statements), analysis: u.statements,
          params: u.params, paramFormats: u.formats, resultFormats: u.resultFormats, settings, transaction, replay, settingsKnown,
          // set here so that a plugin marking it (ResponseScope.Marked) does not change the object's shape
          watch: false,
        };
        const out = plugins.decideRequest(u.ctx);
        if (out !== undefined && typeof (out as Promise<unknown>).then === 'function') {
          this.host.block();
          (out as Promise<Awaited<typeof out>>).then((o) => {
            if (this.host.closed) return;
            this.host.waiting = false;
            if (o === undefined) this.decideUnits(req, i + 1);
            else this.requestDecided(req, o);
            if (!this.host.waiting) this.host.resume();
          }).catch((e: unknown) => this.host.fail(e));
          return;
        }
        if (out !== undefined) {
          this.requestDecided(req, out as NonNullable<Awaited<typeof out>>);
          return;
        }
      }
    }
    this.routeRequest(req);
  }

  private requestDecided(req: RoutedRequest, o: { answer: Buffer[] } | { reject: { code: string; message: string } }): void {
    if ('answer' in o) {
      if (req.simple) this.host.synthesize(Buffer.concat([...o.answer, Be.ReadyForQuery(this.host.txStatus)]));
      else this.host.synthesize(replayExtended(req, o.answer, this.host.txStatus, this.registerStatement));
      const ctx = req.units[0]?.ctx;
      if (this.host.plugins?.wantsResponse(ctx)) this.host.plugins.observeResponse({ request: ctx, durationMs: 0 });
      return;
    }
    this.refuse(req, o.reject.code as SqlState, o.reject.message, 'plugin');
  }

  /** An error for the whole request, in its place among the responses owed. */
  private refuse(req: RoutedRequest, code: SqlState, message: string, source: 'proxy' | 'plugin' = 'proxy'): void {
    const err = Be.ErrorResponse({ severity: 'ERROR', code, message });
    this.ctx.requestCounters.refused(source);
    this.ctx.requestCounters.error(ErrorSource.Proxy, code);
    if (this.host.plugins?.hasErrorHooks) this.host.plugins.observeError({ code, message, source });
    if (logger.enabled('info')) logger.info('query error', { pid: this.host.pid, sqlstate: code, message, source });
    if (req.simple || req.endsWithSync) this.host.synthesize(Buffer.concat([err, Be.ReadyForQuery(this.host.txStatus)]));
    else {
      this.host.synthesize(err);
      this.host.dropping = true;
    }
    // refused with nothing in flight and no transaction open: the keys it named are not in use
    if (this.host.owed === 0 && this.host.txStatus === Be.TransactionStatus.Idle) this.leaveKeys();
  }

  private routeRequest(req: RoutedRequest): void {
    const { catalog, router } = this.ctx;
    const server = this.host.server;
    const pinned = server !== null && this.host.owed === 0 && server.txStatus !== Be.TransactionStatus.Idle ? server.shard.name : undefined;
    const session = {
      account: this.localRouting?.account ?? this.routing.account,
      action: this.localRouting?.action ?? this.routing.action,
      startupAccount: this.host.settings.get('prescient.account'),
      pinned,
      tempTables: this.tempTables ?? undefined,
    };
    const snapshot = catalog.snapshot();
    let route: Route;
    try {
      if (req.units.length === 1) {
        const u = req.units[0]!;
        route = router.route({ statements: u.statements, params: u.params, session, key: u.ctx?.shardKey }, snapshot);
        if (this.ctx.versions !== null && route.kind === 'shard' && u.statements.some((st) => !st.readOnly)) req.writeKeys = [route.key];
      } else if (req.units.length === 0) {
        route = { kind: 'any', reason: 'no statement' };
      } else {
        const routes = req.units.map((u) => router.route({ statements: u.statements, params: u.params, session: { ...session, pinned: undefined }, key: u.ctx?.shardKey }, snapshot));
        route = router.combine(routes, pinned);
        if (this.ctx.versions !== null) {
          routes.forEach((r, i) => {
            if (r.kind === 'shard' && req.units[i]!.statements.some((st) => !st.readOnly)) (req.writeKeys ??= []).push(r.key);
          });
        }
      }
    } catch (e) {
      // the catalog has no active shard, …
      this.refuse(req, SqlState.ConnectionFailure, (e as Error).message);
      return;
    }
    if (req.prepareOnly && route.kind !== 'shard' && route.kind !== 'global') {
      // Parse (and Describe) without Bind runs nothing: it goes where the session is (each shard prepares on demand)
      route = { kind: 'any', reason: 'prepare only' };
    }
    this.ctx.requestCounters.route(route.kind, route.kind === 'shard' ? route.source : undefined);
    const plugins = this.host.plugins;
    if (plugins?.hasRouteHooks && (route.kind === 'shard' || route.kind === 'global' || route.kind === 'any')) {
      const shard = route.kind === 'any' ? (server?.shard.name ?? route.prefer ?? this.homeShard()) : route.shard;
      const u = req.units[0];
      const out = plugins.decideRoute({
        request: u?.ctx ?? { session: this.host.sessionInfo(), sql: req.sql, protocol: req.simple ? 'simple' : 'extended', kind: RequestKind.Other, settings: this.host.settings },
        key: route.kind === 'shard' ? route.key : undefined, shard, reason: route.kind === 'shard' ? 'placement' : route.reason,
      });
      const apply = (o: Awaited<typeof out>): void => {
        if (o === undefined) this.act(req, route);
        else if ('reject' in o) this.refuse(req, o.reject.code as SqlState, o.reject.message, 'plugin');
        else this.act(req, { kind: 'global', shard: o.shard, reason: `plugin ${o.by}: ${o.reason}` });
      };
      if (out !== undefined && typeof (out as Promise<unknown>).then === 'function') {
        this.host.block();
        (out as Promise<Awaited<typeof out>>).then((o) => {
          if (this.host.closed) return;
          this.host.waiting = false;
          apply(o);
          if (!this.host.waiting) this.host.resume();
        }).catch((e: unknown) => this.host.fail(e));
        return;
      }
      apply(out as Awaited<typeof out>);
      return;
    }
    this.act(req, route);
  }

  /** Where a request that needs no particular shard runs: the last shard used, else the global shard. */
  private homeShard(): string {
    return this.lastShard ?? this.ctx.config.sharding.global_shard ?? this.ctx.config.shards[0]!.name;
  }

  private act(req: RoutedRequest, route: Route): void {
    if (route.kind === 'reject') {
      this.refuse(req, route.code, route.message);
      return;
    }
    const server = this.host.server;
    if (route.kind === 'shard') {
      req.account = route.account;
      req.action = route.action ?? undefined;
      // the one place a request waits for its key: a tenant being moved is fenced (KeyFence) until its new placement
      // is live. A transaction that already uses the key goes on (the move waits for it); one that would start using
      // it now waits too, so that nothing reaches the old shard once the move has begun copying
      if (!this.keysInUse.has(route.key)) {
        const wait = this.ctx.fence.admit(route.key);
        if (wait !== null) {
          this.fenced(req, wait);
          return;
        }
        this.keysInUse.add(route.key);
        this.ctx.fence.enter(route.key);
      }
    }
    if (route.kind === 'fanout' || route.kind === 'broadcast') {
      if (server) {
        if (this.host.owesServer()) this.hold(req, route);
        else this.refuse(req, SqlState.FeatureNotSupported, `${route.kind === 'broadcast' ? 'DDL' : 'a read without a shard key'} needs every shard, but this session is on shard "${server.shard.name}" (open transaction, LISTEN or session pooling); run it outside the transaction`);
        return;
      }
      if (this.deferredBegin !== null) {
        this.refuse(req, SqlState.FeatureNotSupported, `${route.kind === 'broadcast' ? 'DDL' : 'a read without a shard key'} needs every shard and cannot run inside a transaction; ${route.kind === 'broadcast' ? 'run it outside the transaction' : 'add a shard key or run it outside the transaction'}`);
        return;
      }
      this.runOnShards(req, route);
      return;
    }
    const target = route.kind === 'any' ? (server?.shard.name ?? route.prefer ?? this.homeShard()) : route.shard;
    if (server) {
      if (server.shard.name === target) {
        this.forwardAll(req.frames, req);
        return;
      }
      if (this.host.owesServer()) {
        this.hold(req, route);
        return;
      }
      const why = this.host.pinReason !== null ? this.host.pinReason : this.ctx.config.pool.mode === 'session' ? 'session pooling keeps it there' : 'the open transaction is there';
      this.refuse(req, SqlState.FeatureNotSupported, `cross-shard request refused: this session is on shard "${server.shard.name}" (${why}), but the request goes to shard "${target}"`);
      return;
    }
    if (route.kind === 'any' && req.txControl === TxControl.Begin) {
      // the transaction's shard is known only at its first routed statement: answer BEGIN here, replay it there
      this.deferredBegin = req.simple ? req.sql : req.units[0]!.sql;
      this.host.txStatus = Be.TransactionStatus.InTransaction;
      this.host.synthesize(synthesizedResponse(req, ['BEGIN'], this.host.txStatus, this.registerStatement));
      return;
    }
    if (this.deferredBegin !== null && req.prepareOnly && route.kind === 'any' && req.frames.every((f) => (f.code === FrontendCode.Parse && f.payload[0] !== 0) || f.code === FrontendCode.Sync || f.code === FrontendCode.Flush)) {
      // PQprepare inside a transaction whose shard is not known yet: the statement is registered here and
      // prepared on the transaction's server at its first Bind (a syntax error then surfaces at Bind)
      this.host.synthesize(synthesizedResponse(req, [], this.host.txStatus, this.registerStatement));
      return;
    }
    if (this.deferredBegin !== null && req.simple && route.kind === 'any' && req.units.length === 1 && req.units[0]!.statements.every((st) => st.kind === StatementKind.Set && !st.parseError)) {
      // SET LOCAL lock_timeout … right after BEGIN: it waits with the BEGIN for the transaction's shard
      this.deferredSets.push(req.sql);
      this.host.synthesize(synthesizedResponse(req, req.units[0]!.statements.map(() => 'SET'), this.host.txStatus, this.registerStatement));
      return;
    }
    if (this.deferredBegin !== null && (req.txControl === TxControl.Commit || req.txControl === TxControl.Rollback)) {
      this.deferredSets = [];
      // a transaction that never touched a shard ends here
      this.deferredBegin = null;
      this.localRouting = null;
      this.host.txStatus = Be.TransactionStatus.Idle;
      this.host.synthesize(synthesizedResponse(req, [req.txControl === TxControl.Commit ? 'COMMIT' : 'ROLLBACK'], this.host.txStatus, this.registerStatement));
      return;
    }
    this.leaseOn(target, req);
  }

  /** The request waits until its key opens; then it is routed again (its placement may have moved meanwhile). */
  private fenced(req: RoutedRequest, wait: Promise<void>): void {
    this.host.block();
    wait.then(() => {
      if (this.host.closed) return;
      this.host.waiting = false;
      try {
        this.routeRequest(req);
      } catch (e) {
        this.host.fail(e);
        return;
      }
      if (!this.host.waiting) this.host.resume();
    }, (e: unknown) => this.host.fail(e));
  }

  /** The request waits until this server connection owes nothing; then it is routed again. */
  private hold(req: RoutedRequest, route: Route): void {
    this.heldRequest = { req, route };
    this.host.block();
    this.host.flush();
  }

  private retryHeld(): void {
    const held = this.heldRequest!;
    this.heldRequest = null;
    this.host.waiting = false;
    try {
      this.routeRequest(held.req);
    } catch (e) {
      this.host.fail(e);
      return;
    }
    if (!this.host.waiting) queueMicrotask(() => this.host.resume());
  }

  private leaseOn(target: string, req: RoutedRequest): void {
    const pool = this.host.poolOn(target);
    if (!pool) {
      this.refuse(req, SqlState.ConnectionFailure, `shard "${target}" is in the catalog but not configured in this proxy (shards: ${this.ctx.config.shards.map((s) => s.name).join(', ')})`);
      return;
    }
    const conn = pool.tryAcquire();
    if (conn) {
      this.startOn(conn, req);
      return;
    }
    this.host.block();
    this.waitingFor = target;
    pool.acquire(this.host.closing).then((c) => {
      this.waitingFor = null;
      if (this.host.closed) {
        pool.release(c);
        return;
      }
      this.host.waiting = false;
      try {
        this.startOn(c, req);
      } catch (e) {
        this.host.fail(e);
        return;
      }
      this.host.resume();
    }, (e: unknown) => {
      this.waitingFor = null;
      if (this.host.closed) return;
      this.host.waiting = false;
      const err = e instanceof ProxyError ? e : null;
      this.refuse(req, err?.sqlState ?? SqlState.ConnectionFailure, err?.message ?? 'no server connection');
      this.host.resume();
    });
  }

  private startOn(conn: ServerConnection, req: RoutedRequest): void {
    this.host.attach(conn);
    this.lastShard = conn.shard.name;
    if (this.deferredBegin !== null) {
      const sql = this.deferredBegin;
      this.deferredBegin = null;
      this.host.sendHidden(sql, 'a deferred BEGIN failed on the server');
      for (const set of this.deferredSets) this.host.sendHidden(set, 'a deferred SET failed on the server');
      this.deferredSets = [];
    }
    this.forwardAll(req.frames, req);
  }

  private forwardAll(frames: Frame[], req?: RoutedRequest): void {
    if (req?.writeKeys) {
      // a write through this proxy: cached reads of its keys are stale from now on, and again when it commits
      const versions = this.ctx.versions!;
      for (const k of req.writeKeys) {
        versions.localWrite(k);
        this.txWrites.add(k);
      }
    }
    const request = req?.units[0]?.ctx;
    const observe = req !== undefined && this.host.plugins !== null && this.host.plugins.wantsResponse(request);
    if (req && (observe || this.ctx.config.log.slow_ms > 0)) {
      // one record per ReadyForQuery the request will get
      const n = req.simple ? 1 : frames.reduce((k, f) => k + (f.code === FrontendCode.Sync ? 1 : 0), 0);
      const shard = this.host.server?.shard.name;
      const account = req.account ?? request?.shardKey?.account;
      const action = req.action ?? request?.shardKey?.action;
      for (let i = 0; i < n; i++) this.responses.push({ request, start: performance.now(), shard, observe, account, action });
    }
    for (const f of frames) {
      if (this.host.closed) return;
      this.host.forward(f);
    }
  }

  /** A fan-out read or a DDL broadcast: the request on every shard at once, replies merged (FanOut). */
  private runOnShards(req: RoutedRequest, route: FanOutRoute): void {
    const plan = this.fanOut.plan(req, route, (name) => this.host.poolOn(name));
    if ('refuse' in plan) {
      this.refuse(req, plan.refuse.code, plan.refuse.message);
      return;
    }
    this.host.block();
    this.waitingFor = route.shards.join(',');
    const start = performance.now();
    this.fanOut.run(plan).then((out) => {
      this.waitingFor = null;
      if (this.host.closed) return;
      this.host.write(out);
      // the merged answer is the request's response (nothing else is owed on this session while it runs)
      const ctx = req.units[0]?.ctx;
      if (this.host.plugins?.wantsResponse(ctx)) this.host.plugins.observeResponse({ request: ctx, durationMs: performance.now() - start });
      this.host.resume();
    }, (e: unknown) => {
      this.waitingFor = null;
      if (this.host.closed) return;
      const err = e instanceof ProxyError ? e : new ProxyError('FANOUT_FAILED', (e as Error).message, SqlState.InternalError);
      this.host.waiting = false;
      this.refuse(req, err.sqlState, err.message);
      this.host.resume();
    });
  }

  // ---------------------------------------------------------------- what the forwarder's ReadyForQuery means here

  /** A ReadyForQuery the client is about to see: the writes of a transaction that ended are reported before it. */
  beforeReady(status: number): void {
    if (status === Be.TransactionStatus.Idle) this.leaveKeys();
    if (status === Be.TransactionStatus.Idle && this.txWrites.size > 0) {
      // the writes are committed (or rolled back): bump again before the client sees ReadyForQuery
      for (const k of this.txWrites) this.ctx.versions?.localWrite(k);
      this.txWrites.clear();
    }
  }

  /** The account and action of the request whose ReadyForQuery comes next (with log.slow_ms, or for onResponse). */
  inFlightKey(): { readonly account?: string; readonly action?: string } | undefined {
    return this.responses[0];
  }

  /** After it: the onResponse owed for the request it ends. */
  afterReady(): void {
    if (this.responses.length > 0) {
      const r = this.responses.shift()!;
      if (r.observe) this.host.plugins?.observeResponse({ request: r.request, durationMs: performance.now() - r.start, rows: r.rows, error: r.error, shard: r.shard });
    }
  }

  /** The session uses no key any more (its transaction or request ended, or it is gone): a move may go on. */
  leaveKeys(): void {
    if (this.keysInUse.size === 0) return;
    for (const k of this.keysInUse) this.ctx.fence.leave(k);
    this.keysInUse.clear();
  }

  /** DISCARD ALL ran: the session's settings are its start-up settings again */
  onDiscardAll(): void {
    this.opaqueSettings = false;
  }

  /** The session is out of its transaction: SET LOCAL routing, settings made inside it and ON COMMIT DROP tables end. */
  onIdle(): void {
    if (this.localRouting !== null) this.localRouting = null;
    this.txOpaqueSettings = false;
    if (this.txTempTables !== null) {
      for (const t of this.txTempTables) this.tempTables?.delete(t);
      this.txTempTables = null;
    }
  }

  /** A request held for another shard is routed again once the server connection owes nothing (after this chunk). */
  retryHeldSoon(): void {
    if (this.heldRequest !== null && this.host.owed === 0) queueMicrotask(() => {
      if (this.heldRequest !== null && this.host.owed === 0 && !this.host.closed) this.retryHeld();
    });
  }

  get countsResponses(): boolean {
    return this.responses.length > 0;
  }

  /** onResponse counts rows and keeps the error of what the client is about to see. */
  observeResponseFrame(code: number, buf: Buffer, start: number, end: number): void {
    if (this.responses.length === 0) return;
    if (code === BackendCode.ErrorResponse) {
      const fields = Be.decodeErrorFields(buf.subarray(start + 5, end));
      this.responses[0]!.error = { code: fields.get('C') ?? SqlState.InternalError, message: fields.get('M') ?? '' };
    } else if (code === BackendCode.CommandComplete) {
      const n = Be.commandCompleteRows(buf, start, end);
      if (n !== undefined) this.responses[0]!.rows = (this.responses[0]!.rows ?? 0) + n;
    }
  }
}
