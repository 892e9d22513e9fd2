// cachePlugin owns the built-in `result-cache` plugin: version-checked caching of cacheable reads on the onRequest /
// onBackendMessage / onResponse hooks (DESIGN.md §5). A hit replays the stored frames; a miss records the key's version
// token, collects the response and stores it only if the token did not move while the read ran.
import { BackendCode, PLUGIN_API_VERSION, StatementKind, type PrescientPlugin, type RequestContext, type VersionView } from '../../proxy/plugins/api.js';
import type { CacheConfig } from '../../config/schema.js';
import { ResultCache } from './ResultCache.js';

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

  /** The cache key of a cacheable request, or null. */
  function keyOf(ctx: RequestContext): { cacheKey: string; placementKey: string; domain: string } | null {
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
    let k = `${pk}\u0000${ctx.session.user}\u0000${ctx.protocol}\u0000${ctx.sql}`;
    if (ctx.params) {
      for (const p of ctx.params) k += p === null ? '\u0000N' : `\u0000${p.length}:${p.toString('latin1')}`;
      k += `\u0000f${(ctx.paramFormats ?? []).join(',')}\u0000r${(ctx.resultFormats ?? []).join(',')}`;
    }
    if (ctx.replay) k += `\u0000d${ctx.replay.describePortal ? 1 : 0}`;
    for (const name of RESULT_SETTINGS) {
      const v = ctx.settings.get(name);
      if (v !== undefined) k += `\u0000${name}=${v}`;
    }
    return { cacheKey: k, placementKey: pk, domain };
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
      });
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
      return {
        onRequest(ctx) {
          const k = keyOf(ctx);
          if (k === null) return undefined;
          const token = versions!.token(k.placementKey);
          const hit = store.get(k.cacheKey, token, k.domain);
          if (hit) return { answer: hit.frames };
          fills.set(ctx, { ...k, token });
          return undefined;
        },
        onBackendMessage(code, frame) {
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
        },
      };
    },
  };
}
