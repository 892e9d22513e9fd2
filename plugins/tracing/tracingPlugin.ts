// tracingPlugin owns the built-in `tracing` plugin (telemetry.tracing.enabled): a span per client transaction (an autocommit request is its own), a child span per server round trip, the application's sqlcommenter traceparent continued (docs/tracing.md).
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { PLUGIN_API_VERSION, ResponseScope, StatementKind, type PrescientPlugin, type RequestContext, type StatementDescription } from '../../proxy/plugins/api.js';
import type { TracerHandle } from './createTracer.js';
import type { TracingConfig } from '../../config/schema.js';

/** The span names and attributes (OpenTelemetry's database conventions where one exists, `prescient.*` for the rest). */
export const SpanName = { Transaction: 'prescient.transaction' } as const;
export const Attr = {
  DbSystem: 'db.system.name',
  DbNamespace: 'db.namespace',
  DbOperation: 'db.operation.name',
  DbRows: 'db.response.returned_rows',
  DbStatus: 'db.response.status_code',
  ErrorType: 'error.type',
  Account: 'prescient.account',
  Action: 'prescient.action',
  Domain: 'prescient.domain',
  Shard: 'prescient.shard',
  Cache: 'prescient.cache',
  Requests: 'prescient.requests',
} as const;

// the API's enum values, as numbers: this module loads no OpenTelemetry code until tracing is on
const SPAN_KIND_SERVER = 1;
const SPAN_KIND_CLIENT = 2;
const STATUS_ERROR = 2;

/** One client transaction (or autocommit request) being traced. */
interface Tx {
  /** the sampling decision was made: at its first request that is more than BEGIN (whose traceparent it continues) */
  decided: boolean;
  /** its span once decided, when traced (null: undecided, or not traced) */
  span: Span | null;
  /** sampled: attributes and child spans are recorded; else only its boundaries are followed */
  recording: boolean;
  /** the context child spans start in (recording only) */
  ctx: Context | undefined;
  /** performance.now() of its first request */
  readonly start: number;
  /** inside BEGIN … COMMIT/ROLLBACK */
  open: boolean;
  /** the request that ends it has come: it ends at that request's response */
  closing: boolean;
  ended: boolean;
  /** performance.now() of its last event: when it ends if no response comes (a request the proxy answered itself) */
  last: number;
  requests: number;
  rows: number;
  keyed: boolean;
  shard: string | undefined;
  cache: string | undefined;
}

/** A traced request waiting for its response. */
interface Pending {
  readonly tx: Tx;
  /** its response ends the transaction */
  readonly closes: boolean;
}

/** Whether a transaction is open after `statements` ran, from `open` before them (BEGIN opens, COMMIT/ROLLBACK end). */
export function openAfter(statements: readonly StatementDescription[] | undefined, open: boolean): boolean {
  if (statements === undefined) return open;
  for (let i = 0; i < statements.length; i++) {
    const k = statements[i]!.kind;
    if (k === StatementKind.Begin) open = true;
    else if (k === StatementKind.Commit || k === StatementKind.Rollback) open = false;
  }
  return open;
}

/** A request of BEGIN (and SET) only: the statement that says where the transaction goes, and its traceparent, is still to come. */
function opensOnly(statements: readonly StatementDescription[] | undefined): boolean {
  if (statements === undefined || statements.length === 0) return false;
  for (let i = 0; i < statements.length; i++) {
    const k = statements[i]!.kind;
    if (k !== StatementKind.Begin && k !== StatementKind.Set) return false;
  }
  return true;
}

/** The operation a round trip ran: its statement's kind (`SELECT`, `INSERT`, …), `BATCH` for several. */
function operationOf(statements: readonly StatementDescription[] | undefined): string {
  if (statements === undefined || statements.length === 0) return 'OTHER';
  return statements.length === 1 ? statements[0]!.kind.toUpperCase() : 'BATCH';
}

/** The first statement's traceparent/tracestate tags (sqlcommenter), if any. */
function traceTags(statements: readonly StatementDescription[] | undefined): { traceparent: string; tracestate?: string } | undefined {
  if (statements === undefined) return undefined;
  for (let i = 0; i < statements.length; i++) {
    const tags = statements[i]!.tags;
    const traceparent = tags.traceparent;
    if (traceparent !== undefined) return { traceparent, tracestate: tags.tracestate };
  }
  return undefined;
}

/**
 * The `tracing` plugin. `open` builds the SDK (createTracer, loaded only here); tests pass their own. Unsampled
 * transactions cost a sampling decision and a look at their statements' kinds: no attribute, no map, no child span;
 * their requests are not marked to watch (ResponseScope.Marked), so the session keeps no response record for them.
 */
export function tracingPlugin(open?: (cfg: TracingConfig) => Promise<TracerHandle>): PrescientPlugin {
  let handle: TracerHandle | null = null;
  let domainOf: ((account: string, action: string | undefined, tables: readonly string[]) => string) | null = null;
  return {
    name: 'tracing',
    apiVersion: PLUGIN_API_VERSION,
    dependencies: [],
    responses: ResponseScope.Marked,
    async setup(host) {
      const cfg = host.config?.telemetry.tracing;
      if (cfg === undefined) return;
      const make = open ?? (async (c) => (await import('./createTracer.js')).createTracer(c));
      handle = await make(cfg);
      const services = host.services;
      if (services) domainOf = (account, action, tables) => services.placementKey(account, action, tables).slice(account.length + 1);
      host.log.info('tracing ready', { exporter: cfg.exporter, sampleRatio: cfg.sample_ratio, ...(cfg.exporter === 'file' ? { file: cfg.file } : {}) });
    },
    async close() {
      const h = handle;
      handle = null;
      await h?.shutdown();
    },
    createSessionHooks(session) {
      const h = handle;
      if (h === null) return {};
      const tracer: Tracer = h.tracer;
      const pending = new WeakMap<RequestContext, Pending>();
      let current: Tx | null = null;

      /** The sampling decision: the transaction's span, a child of the application's traceparent when `ctx` carries one. */
      /** `rootSampled`: the coin was flipped already (true: it said yes), for a request that carries no traceparent */
      const decide = (tx: Tx, ctx: RequestContext | undefined, rootSampled?: boolean): void => {
        tx.decided = true;
        const tags = ctx === undefined ? undefined : traceTags(ctx.statements);
        const parent = tags === undefined ? undefined : h.remoteParent(tags.traceparent, tags.tracestate);
        // without the application's traceparent, the ratio decides before any span (or trace id) is made
        if (parent === undefined && !(rootSampled ?? h.sampleRoot())) return;
        const span = (tx.span = tracer.startSpan(SpanName.Transaction, { kind: SPAN_KIND_SERVER, startTime: tx.start }, parent));
        if (span.isRecording()) {
          tx.recording = true;
          span.setAttribute(Attr.DbSystem, 'postgresql');
          span.setAttribute(Attr.DbNamespace, session.database);
          tx.ctx = h.withSpan(span, parent);
        }
      };

      const end = (tx: Tx, at: number): void => {
        if (tx.ended) return;
        tx.ended = true;
        if (current === tx) current = null;
        if (!tx.decided) decide(tx, undefined);
        const span = tx.span;
        if (span === null) return;
        if (tx.recording) {
          span.setAttribute(Attr.Requests, tx.requests);
          if (tx.rows > 0) span.setAttribute(Attr.DbRows, tx.rows);
        }
        span.end(at);
      };

      return {
        onRequest(ctx) {
          // the transaction before ended with a request whose response this plugin did not watch (not traced, or
          // answered by the proxy): end it there
          if (current !== null && current.closing) end(current, current.last);
          // the common case, made to cost nothing kept: a request that is its own transaction, no traceparent, not
          // sampled — no Tx, no pending entry; its response finds nothing to do
          let rootSampled: boolean | undefined;
          if (current === null && !opensOnly(ctx.statements) && !openAfter(ctx.statements, ctx.transaction?.open === true) && traceTags(ctx.statements) === undefined) {
            rootSampled = h.sampleRoot();
            if (!rootSampled) return undefined;
          }
          const now = performance.now();
          const tx = (current ??= { decided: false, span: null, recording: false, ctx: undefined, start: now, open: false, closing: false, ended: false, last: now, requests: 0, rows: 0, keyed: false, shard: undefined, cache: undefined });
          if (!tx.decided && !opensOnly(ctx.statements)) decide(tx, ctx, rootSampled);
          tx.open = openAfter(ctx.statements, tx.open || ctx.transaction?.open === true);
          if (!tx.open) tx.closing = true;
          tx.last = now;
          if (!tx.decided || tx.recording) {
            pending.set(ctx, { tx, closes: tx.closing });
            ctx.watch = true;
          }
          return undefined;
        },
        onResponse(info) {
          const req = info.request;
          if (req === undefined) return;
          const p = pending.get(req);
          // a request another plugin marked
          if (p === undefined) return;
          pending.delete(req);
          const now = performance.now();
          const tx = p.tx;
          tx.last = now;
          // a BEGIN answered before the decision, or a transaction not sampled after all
          if (!tx.decided || !tx.recording) {
            if (p.closes) end(tx, now);
            return;
          }
          const span = tx.span!;
          tx.requests++;
          const rows = info.rows;
          if (rows !== undefined) tx.rows += rows;
          const key = req.shardKey;
          if (!tx.keyed && key?.account !== undefined) {
            tx.keyed = true;
            const tables = req.statements?.flatMap((s) => s.tables) ?? [];
            span.setAttribute(Attr.Account, key.account);
            if (key.action !== undefined) span.setAttribute(Attr.Action, key.action);
            if (domainOf !== null) span.setAttribute(Attr.Domain, domainOf(key.account, key.action, tables));
          }
          const cache = req.notes?.cache;
          if (cache !== undefined && cache !== tx.cache) {
            tx.cache = tx.cache === undefined ? cache : 'mixed';
            span.setAttribute(Attr.Cache, tx.cache);
          }
          const err = info.error;
          if (err !== undefined) failed(span, err.code, err.message);
          const shard = info.shard;
          if (shard !== undefined) {
            if (tx.shard === undefined) {
              tx.shard = shard;
              span.setAttribute(Attr.Shard, shard);
            }
            // the server round trip: from the request's first frame sent to the server until its ReadyForQuery
            const op = operationOf(req.statements);
            const attributes: Attributes = { [Attr.DbSystem]: 'postgresql', [Attr.DbNamespace]: session.database, [Attr.DbOperation]: op, [Attr.Shard]: shard };
            if (rows !== undefined) attributes[Attr.DbRows] = rows;
            if (cache !== undefined) attributes[Attr.Cache] = cache;
            const child = tracer.startSpan(op, { kind: SPAN_KIND_CLIENT, startTime: now - info.durationMs, attributes }, tx.ctx);
            if (err !== undefined) failed(child, err.code, err.message);
            child.end(now);
          }
          if (p.closes) end(tx, now);
        },
        onError(e) {
          // a request the proxy or a plugin refused gets no response: its transaction ends here when the request ended it
          if (e.source === 'backend' || current === null) return;
          if (current.recording) failed(current.span!, e.code, e.message);
          if (current.closing) end(current, performance.now());
        },
        onClose() {
          if (current !== null) end(current, current.last);
        },
      };
    },
  };
}

/** A span that ended in an error: its SQLSTATE and error status. */
function failed(span: Span, code: string, message: string): void {
  span.setAttribute(Attr.DbStatus, code);
  span.setAttribute(Attr.ErrorType, code);
  span.setStatus({ code: STATUS_ERROR, message });
}
