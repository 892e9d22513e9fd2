// cachePlugin owns the built-in `result-cache` plugin: version-checked caching of cacheable reads on the onRequest /
// onBackendMessage / onResponse hooks (DESIGN.md §5). A hit replays the stored frames; a miss records the key's version
// token, collects the response and stores it only if the token did not move while the read ran.
import { BackendCode, PLUGIN_API_VERSION, StatementKind, type PrescientPlugin, type RequestContext, type RequestDecision, type VersionView } from '../../proxy/plugins/api.js';
import type { CacheConfig } from '../../config/schema.js';
import { ResultCache } from './ResultCache.js';
import { Prefetcher, type RecordedRead } from './Prefetcher.js';
import { loadModel } from '../../proxy/prediction/ModelFile.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { answerFromSlice, readShape, sliceName, sliceRead, sliceRequest, type SliceRead } from './AccountSlice.js';

/** result columns kept per action for parameter mapping, from the first rows of each result (a long list is not decoded) */
const RESULT_COLUMN_LIMIT = 32;
const RESULT_ROW_LIMIT = 4;

/** What the cache did with a request: the `cache` note it leaves on the request (RequestContext.notes). */
export const CacheOutcome = { Hit: 'hit', Miss: 'miss', Prefetch: 'prefetch', Bypass: 'bypass' } as const;
export type CacheOutcome = (typeof CacheOutcome)[keyof typeof CacheOutcome];

/** Session settings that change a result's bytes: part of the cache key. */
const RESULT_SETTINGS = [
  'search_path', 'timezone', 'datestyle', 'intervalstyle', 'client_encoding', 'extra_float_digits', 'bytea_output',
  'lc_monetary', 'lc_numeric', 'lc_time', 'standard_conforming_strings', 'role', 'session_authorization',
];

interface Fill {
  cacheKey: string;
  placementKey: string;
  domain: string;
  token: number;
  /** with prefetch: the account_action the read belongs to, and how to send it again */
  recorded?: { account: string; action: string; user: string; request: Buffer; settings: Map<string, string | null>; params?: (Buffer | null)[]; rebuild?: RecordedRead['rebuild']; slice?: RecordedRead['slice'] };
}

/** What a request's cache key and its replay depend on: the request itself, or what a recorded read keeps of it. */
type ReadTemplate = Pick<RequestContext, 'protocol' | 'sql' | 'params' | 'paramFormats' | 'resultFormats' | 'replay' | 'settings'> & { session: { user: string } };

/**
 * What a recorded read keeps of its request to run it again with other parameters — not the request's context, which
 * holds much more (read sets keep thousands of reads).
 */
function templateOf(ctx: RequestContext): ReadTemplate {
  const settings = new Map<string, string>();
  for (const name of RESULT_SETTINGS) {
    const v = ctx.settings.get(name);
    if (v !== undefined) settings.set(name, v);
  }
  return {
    session: { user: ctx.session.user }, protocol: ctx.protocol, sql: ctx.sql, params: undefined, paramFormats: ctx.paramFormats, resultFormats: ctx.resultFormats,
    replay: ctx.replay ? { describePortal: ctx.replay.describePortal, maxRows: ctx.replay.maxRows } : ctx.replay, settings,
  };
}

/** The request a prefetch sends to run `ctx` again: a Query, or Parse/Bind/(Describe)/Execute/Sync with its parameters. */
function requestOf(ctx: ReadTemplate, params = ctx.params): Buffer | null {
  if (ctx.protocol === 'simple') return Fe.Query(ctx.sql);
  if (!ctx.replay) return null;
  return Buffer.concat([
    Fe.Parse('', ctx.sql, []),
    Fe.Bind({ params: params ?? [], paramFormats: ctx.paramFormats ?? [], resultFormats: ctx.resultFormats ?? [] }),
    ...(ctx.replay.describePortal ? [Fe.targetFrame(0x44 /* D */, 'P', '')] : []),
    Fe.Execute('', 0),
    Fe.Sync,
  ]);
}

/** The cache key of `ctx` (its key `pk`) with `params` as its parameters: the same request, other values (parameter mapping). */
function cacheKeyOf(ctx: ReadTemplate, pk: string, params: readonly (Buffer | null)[] | undefined): string {
  let k = `${pk}\u0000${ctx.session.user}\u0000${ctx.protocol}\u0000${ctx.sql}`;
  if (params) {
    for (const p of params) k += p === null ? '\u0000N' : `\u0000${p.length}:${p.toString('latin1')}`;
    k += `\u0000f${(ctx.paramFormats ?? []).join(',')}\u0000r${(ctx.resultFormats ?? []).join(',')}`;
  }
  if (ctx.replay) k += `\u0000d${ctx.replay.describePortal ? 1 : 0}`;
  return k + settingsKeyOf(ctx);
}

/** The session settings that shape a result, as part of a cache key. */
function settingsKeyOf(ctx: ReadTemplate): string {
  let k = '';
  for (const name of RESULT_SETTINGS) {
    const v = ctx.settings.get(name);
    if (v !== undefined) k += `\u0000${name}=${v}`;
  }
  return k;
}

/** The cache key of a slice (its table, account column, columns) of the account whose key is `pk`, for this session's user and settings. */
function sliceKeyOf(user: string, pk: string, read: SliceRead, settingsKey: string): string {
  return `\u0001slice\u0000${pk}\u0000${user}\u0000${sliceName(read)}${settingsKey}`;
}

/**
 * The shape of `ctx`'s read when a slice of its account can answer it: a text-parameter extended read of the shape
 * AccountSlice knows, whose account parameter is the request's account, in a UTF-8 session (the slice compares text).
 */
function sliceShapeOf(ctx: RequestContext, account: string): SliceRead | null {
  if (ctx.protocol !== 'extended' || ctx.params === undefined || !(ctx.paramFormats ?? []).every((f) => f === 0)) return null;
  const shape = readShape(ctx.sql);
  if (shape === null) return null;
  const encoding = (ctx.settings.get('client_encoding') ?? '').toLowerCase().replace(/[-_]/g, '');
  return encoding === 'utf8' || encoding === 'unicode' ? sliceRead(shape, ctx.params, account) : null;
}

/** A RowDescription's column names, or null when a column is in binary format (its values are not text). */
function columnNames(frame: Buffer): string[] | null {
  const n = frame.readInt16BE(5);
  const names: string[] = [];
  let at = 7;
  for (let i = 0; i < n; i++) {
    const end = frame.indexOf(0, at);
    names.push(frame.toString('utf8', at, end));
    at = end + 1 + 18;
    if (frame.readInt16BE(at - 2) !== 0) return null;
  }
  return names;
}

/** A DataRow's values as text (null for SQL NULL). */
function rowValues(frame: Buffer): (string | null)[] {
  const n = frame.readInt16BE(5);
  const out: (string | null)[] = [];
  let at = 7;
  for (let i = 0; i < n; i++) {
    const len = frame.readInt32BE(at);
    at += 4;
    if (len < 0) out.push(null);
    else {
      out.push(frame.toString('utf8', at, at + len));
      at += len;
    }
  }
  return out;
}

/**
 * The built-in `result-cache` plugin. Needs the proxy's version tracker (services.versions); without it, it caches nothing.
 * `now` is the clock of the TTL backstop (tests inject one).
 */
export function cachePlugin(now: () => number = Date.now): PrescientPlugin {
  let cfg: CacheConfig | undefined;
  let cache: ResultCache | null = null;
  let versions: VersionView | undefined;
  let placementKey: ((account: string, action: string | undefined, tables: readonly string[]) => string) | undefined;
  let tables: Set<string> | null = null;
  let actions: Set<string> | null = null;
  let prefetcher: Prefetcher | null = null;

  /** The cache key of a cacheable request, or null. */
  function keyOf(ctx: RequestContext): { cacheKey: string; placementKey: string; domain: string; account: string; action: string | undefined; tables: readonly string[] } | null {
    if (!cache || !versions || !placementKey) return null;
    const statements = ctx.statements;
    if (!statements || statements.length !== 1) return null;
    const st = statements[0]!;
    if (st.kind !== StatementKind.Select || !st.cacheable || st.parseError !== undefined || st.tables.length === 0) return null;
    if (tables && !st.tables.every((t) => tables!.has(t) || tables!.has(t.slice(t.lastIndexOf('.') + 1)))) return null;
    if (ctx.transaction?.wrote) return null;
    // a SET the proxy cannot see (search_path, bytea_output, a SET LOCAL …) could shape the result: not cached
    if (ctx.settingsKnown === false) return null;
    if (ctx.protocol === 'extended' && !ctx.replay) return null;
    const account = ctx.shardKey?.account ?? ctx.settings.get('prescient.account');
    if (account === undefined) return null;
    const action = ctx.shardKey?.action ?? ctx.settings.get('prescient.action');
    if (actions && (action === undefined || !actions.has(action))) return null;
    const pk = placementKey(account, action, st.tables);
    const domain = pk.slice(account.length + 1);
    // per client user: users map to server identities with their own privileges (row-level security, grants)
    const k = cacheKeyOf(ctx, pk, ctx.params);
    return { cacheKey: k, placementKey: pk, domain, account, action, tables: st.tables };
  }

  return {
    name: 'result-cache',
    apiVersion: PLUGIN_API_VERSION,
    dependencies: [],
    setup(host) {
      cfg = host.config?.cache;
      if (!cfg) return;
      versions = host.services?.versions;
      placementKey = host.services?.placementKey.bind(host.services);
      if (!versions) host.log.warn('result-cache: no version tracker; nothing will be cached');
      cache = new ResultCache(cfg.max_bytes, cfg.max_entry_bytes, cfg.ttl_ms, now);
      const listed = cfg.tables.length > 0 ? cfg.tables : Object.values(host.config?.sharding.domains ?? {}).flatMap((d) => d.tables);
      tables = new Set(listed);
      actions = cfg.actions.length > 0 ? new Set(cfg.actions) : null;
      const c = cache;
      host.services?.adminCommand('SHOW CACHE', () => {
        const rows: (string | number | null)[][] = [];
        let total = { hits: 0, misses: 0, fills: 0, invalidations: 0, evictions: 0, bytes: 0, entries: 0 };
        for (const [domain, s] of [...c.byDomain].sort(([a], [b]) => a.localeCompare(b))) {
          rows.push([domain, s.entries, s.bytes, s.hits, s.misses, s.fills, s.invalidations, s.evictions, s.hits + s.misses ? +(s.hits / (s.hits + s.misses)).toFixed(4) : null]);
          total = { hits: total.hits + s.hits, misses: total.misses + s.misses, fills: total.fills + s.fills, invalidations: total.invalidations + s.invalidations, evictions: total.evictions + s.evictions, bytes: total.bytes + s.bytes, entries: total.entries + s.entries };
        }
        rows.push(['*', total.entries, total.bytes, total.hits, total.misses, total.fills, total.invalidations, total.evictions, total.hits + total.misses ? +(total.hits / (total.hits + total.misses)).toFixed(4) : null]);
        return { columns: ['domain', 'entries', 'bytes', 'hits', 'misses', 'fills', 'invalidations', 'evictions', 'hit_ratio'], rows };
      }, { syntax: 'SHOW CACHE', description: 'with cache.enabled: per domain entries, bytes, hits, misses, fills, invalidations, evictions, hit ratio' });
      const pf = cfg.prefetch;
      const read = host.services?.backgroundRead?.bind(host.services);
      if (pf?.enabled && versions && read) {
        const model = pf.model ? loadModel(pf.model) : null;
        // the settings a read's rows depend on travel with it: a prefetch runs only where the server reports the same
        prefetcher = new Prefetcher(pf, c, versions, { read }, model, now);
        const p = prefetcher;
        host.services?.adminCommand('SHOW PREFETCH', () => {
          const s = p.summary();
          return { columns: Object.keys(s), rows: [Object.values(s).map((v) => +v.toFixed(4))] };
        }, { syntax: 'SHOW PREFETCH', description: 'with cache.prefetch.enabled: predictions, accuracy, prefetch reads issued, used, wasted' });
        host.services?.adminCommand('SHOW PREDICTIONS', (args) => {
          const m = /^FOR\s+ACCOUNT\s+'((?:[^']|'')*)'$/i.exec(args.trim());
          if (!m) throw new Error(`usage: SHOW PREDICTIONS FOR ACCOUNT 'account-id'`);
          const got = p.predictionsFor(m[1]!.replace(/''/g, "'"));
          return {
            columns: ['action', 'probability', 'prefetched', 'at'],
            rows: (got?.predictions ?? []).map((x) => [x.action, +x.p.toFixed(4), got!.queued.includes(x.action), new Date(got!.at).toISOString()]),
          };
        }, { syntax: "SHOW PREDICTIONS FOR ACCOUNT 'a'", description: "the account's latest predicted next actions, and which were prefetched" });
        host.log.info('prefetch ready', { model: pf.model ?? `${pf.online_model}, learned online`, threshold: pf.threshold });
      }
      host.log.info('result cache ready', { maxBytes: cfg.max_bytes, tables: [...tables] });
    },
    close() {
      cache?.clear();
    },
    createSessionHooks() {
      if (!cache || !cfg?.enabled) return {};
      const store = cache;
      const fills = new Map<RequestContext, Fill>();
      // the frames of the response being received (between two ReadyForQuery)
      let frames: Buffer[] = [];
      let bytes = 0;
      let unusable = false;
      const pf = prefetcher;
      /** the action this session runs (account + action), null once a request came outside a transaction */
      let current: string | null = null;
      let currentAccount: string | undefined;
      let currentAction: string | undefined;
      /** column → value of the current action's results; the columns of the result being read */
      let results = new Map<string, string>();
      let columns: string[] | null = null;
      let rowsTaken = 0;
      return {
        onRequest(ctx) {
          if (pf !== null) {
            if (!ctx.transaction?.open) current = null;
            const account = ctx.shardKey?.account;
            const action = ctx.shardKey?.action;
            if (account !== undefined && action !== undefined && (current === null || account !== currentAccount || action !== currentAction)) {
              current = `${account}\u0000${action}`;
              currentAccount = account;
              currentAction = action;
              results = new Map();
              pf.observeAction(account, action);
            }
          }
          const k = keyOf(ctx);
          // the outcome, for the plugins after this one (tracing): not cacheable, a hit (of a prefetched entry), a miss
          const notes = (ctx.notes ??= {});
          if (k === null) {
            notes.cache = CacheOutcome.Bypass;
            return undefined;
          }
          // a prefetched slice of the account's rows of the table may answer it (filtered here as Postgres would): its
          // shape and key are worked out only once the request's own entry is not there
          let sliced: { shape: SliceRead; settingsKey: string; key: string } | null | undefined;
          const slicing = (): { shape: SliceRead; settingsKey: string; key: string } | null => {
            if (sliced !== undefined) return sliced;
            const shape = pf !== null ? sliceShapeOf(ctx, k.account) : null;
            if (shape === null) return (sliced = null);
            const settingsKey = settingsKeyOf(ctx);
            return (sliced = { shape, settingsKey, key: sliceKeyOf(ctx.session.user, k.placementKey, shape, settingsKey) });
          };
          /** the answer from the cache under the key's current token: the entry itself, or one of the account's slices */
          const answerOf = (token: number): RequestDecision => {
            const hit = store.lookup(k.cacheKey, token, k.domain);
            if (hit) {
              store.hit(hit, k.domain);
              notes.cache = store.lastHitPrefetched ? CacheOutcome.Prefetch : CacheOutcome.Hit;
              if (pf !== null && ctx.shardKey?.account !== undefined && ctx.shardKey.action !== undefined) pf.noteHit(ctx.shardKey.account, ctx.shardKey.action, k.cacheKey);
              return { answer: hit.frames };
            }
            const sl = slicing();
            if (sl === null) return undefined;
            const slice = store.lookup(sl.key, token, k.domain);
            const answer = slice?.slice !== undefined ? answerFromSlice(slice.frames, slice.slice.orderBy, { read: sl.shape, params: ctx.params!, resultFormats: ctx.resultFormats ?? [] }) : null;
            if (answer === null) return undefined;
            store.hit(slice!, k.domain);
            notes.cache = CacheOutcome.Prefetch;
            return { answer };
          };
          const first = answerOf(versions!.token(k.placementKey));
          if (first !== undefined) return first;
          // its prefetch (or its slice's) is on its way: waiting for it is sooner than a read of its own, and costs no statement
          const sl = slicing();
          const coming = pf?.inflight(k.cacheKey) ?? (sl !== null ? pf?.inflight(sl.key) : undefined);
          if (coming !== undefined) {
            return coming.then(() => answerOf(versions!.token(k.placementKey)) ?? miss(versions!.token(k.placementKey)));
          }
          return miss(versions!.token(k.placementKey));

          /** Not in the cache: counted, and the response collected to fill it (with prefetch, recorded in the action's read set). */
          function miss(token: number): RequestDecision {
          const sl = pf !== null ? slicing() : null;
          const shape = sl?.shape ?? null;
          const settingsKey = sl?.settingsKey ?? '';
          store.stats(k!.domain).misses++;
          notes.cache = CacheOutcome.Miss;
          const fill: Fill = { cacheKey: k!.cacheKey, placementKey: k!.placementKey, domain: k!.domain, token };
          // a read its action's slice already answers is not recorded on its own (a Describe of random ids: a new key each time)
          const covered = pf !== null && shape !== null && ctx.shardKey?.action !== undefined && pf.coveredBySlice(ctx.shardKey.action, { name: sliceName(shape), filterColumns: shape.filters.map((f) => f.column) });
          if (pf !== null && !covered && ctx.shardKey?.account !== undefined && ctx.shardKey.action !== undefined) {
            const request = requestOf(ctx);
            // every setting that shapes a result, with the client's value (null: not set)
            const settings = new Map<string, string | null>();
            for (const n of RESULT_SETTINGS) settings.set(n, ctx.settings.get(n) ?? null);
            // text parameters can be taken from an earlier action's result (parameter mapping): the read is rebuilt with them
            const text = ctx.params !== undefined && (ctx.paramFormats ?? []).every((f) => f === 0);
            const params = text ? ctx.params!.map((p) => (p === null ? null : Buffer.from(p))) : undefined;
            const pk = k!.placementKey;
            const template = templateOf(ctx);
            const rebuild = text ? (ps: readonly (Buffer | null)[]) => ({ cacheKey: cacheKeyOf(template, pk, ps), request: requestOf(template, ps)! }) : undefined;
            // a read a slice answers: the same slice for any account this action is predicted for
            const user = ctx.session.user;
            const slice = shape === null ? undefined : {
              table: shape.shape.table,
              name: sliceName(shape),
              filterColumns: shape.filters.map((f) => f.column),
              orderBy: shape.shape.orderBy,
              keyFor: (account: string) => {
                const spk = placementKey!(account, k!.action, k!.tables);
                return { cacheKey: sliceKeyOf(user, spk, shape, settingsKey), placementKey: spk, domain: spk.slice(account.length + 1) };
              },
              requestFor: (account: string) => sliceRequest(shape, Buffer.from(account, 'utf8'), cfg!.prefetch.slice_max_rows),
            };
            if (request !== null) fill.recorded = { account: ctx.shardKey.account, action: ctx.shardKey.action, user: ctx.session.user, request, settings, params, rebuild, slice };
          }
          fills.set(ctx, fill);
          return undefined;
          }
        },
        onBackendMessage(code, frame) {
          // the values the current action's results carry (the first rows' columns), for parameter mapping
          if (pf !== null && current !== null && results.size < RESULT_COLUMN_LIMIT) {
            if (code === BackendCode.RowDescription) {
              columns = columnNames(frame);
              rowsTaken = 0;
            } else if (code === BackendCode.DataRow && columns !== null && rowsTaken++ < RESULT_ROW_LIMIT) {
              rowValues(frame).forEach((v, i) => {
                if (v !== null && v.length <= 200 && !results.has(columns![i]!)) results.set(columns![i]!, v);
              });
            }
          }
          if (fills.size === 0) return;
          if (code === BackendCode.ReadyForQuery) return;
          if (code === BackendCode.RowDescription || code === BackendCode.DataRow || code === BackendCode.CommandComplete) {
            if (unusable) return;
            bytes += frame.length;
            if (bytes > store.maxEntryBytes) {
              unusable = true;
              frames = [];
              return;
            }
            // the frame may be a view of a buffer the proxy reuses: keep a copy
            frames.push(Buffer.from(frame));
          } else if (code === BackendCode.PortalSuspended || code === BackendCode.ErrorResponse || code === BackendCode.CopyOutResponse) unusable = true;
        },
        onResponse(info) {
          // the session's action ended (its commit or rollback, or a statement outside a transaction): prefetch what comes next
          const req = info.request;
          if (pf !== null && current !== null && req !== undefined) {
            const last = req.statements?.[req.statements.length - 1]?.kind;
            if (last === StatementKind.Commit || last === StatementKind.Rollback || (!req.transaction?.open && last !== StatementKind.Begin)) {
              const at = current.indexOf('\u0000');
              const [account, action, values] = [current.slice(0, at), current.slice(at + 1), results];
              results = new Map();
              // after this response's own read is recorded below (it must learn from the action before it, not from itself)
              queueMicrotask(() => pf.actionEnded(account, action, values));
            }
          }
          const got = frames;
          const bad = unusable;
          frames = [];
          bytes = 0;
          unusable = false;
          const fill = info.request ? fills.get(info.request) : undefined;
          if (!fill) return;
          fills.delete(info.request!);
          if (bad || info.error || got.length === 0 || got[got.length - 1]![0] !== BackendCode.CommandComplete) return;
          // a write or a notification while the read ran: the rows may be older than the key's newest version
          if (versions!.token(fill.placementKey) !== fill.token) {
            store.stats(fill.domain).invalidations++;
            return;
          }
          const rowDescription = got[0]![0] === BackendCode.RowDescription ? got[0]! : null;
          // stored encoded once: the RowDescription (a replayed Describe may want it alone), then every other frame in
          // one buffer, so a hit writes [RowDescription, rows + tag, ReadyForQuery] without gathering N frames
          const body = Buffer.concat(rowDescription ? got.slice(1) : got);
          const stored = rowDescription ? [rowDescription, body] : [body];
          store.set(fill.cacheKey, {
            frames: stored, rowDescription, bytes: rowDescription ? rowDescription.length + body.length : body.length, token: fill.token,
            placementKey: fill.placementKey, domain: fill.domain, storedAt: now(),
          });
          if (fill.recorded && pf !== null) {
            const r = fill.recorded;
            pf.recordRead(r.account, r.action, { cacheKey: fill.cacheKey, placementKey: fill.placementKey, domain: fill.domain, user: r.user, request: r.request, settings: r.settings, backendUs: Math.round(info.durationMs * 1000), params: r.params, rebuild: r.rebuild, slice: r.slice });
          }
        },
      };
    },
  };
}
