// loadPlugin owns the built-in `shard-load` plugin: every routed request's shard, placement key and account_action counted in the shard manager's rolling window (onRoute + onResponse), and the admin console's SHOW LOAD, SHOW HOTSPOTS and SHOW PLAN.
import { PLUGIN_API_VERSION, type LoadView, type PrescientPlugin, type RequestContext } from '../../proxy/plugins/api.js';
import { LoadWindow } from '../../proxy/shardManager/LoadWindow.js';
import { Planner } from '../../proxy/shardManager/Planner.js';

/** rows SHOW HOTSPOTS lists of each kind */
const HOTSPOT_ROWS = 20;
/** keys the planner considers */
const PLAN_KEYS = 200;

const round = (n: number, digits: number): number => Number(n.toFixed(digits));

/** The `shard-load` plugin; `now` is the window's clock (tests inject one). */
export function loadPlugin(now: () => number = Date.now): PrescientPlugin {
  let window: LoadView | null = null;
  return {
    name: 'shard-load',
    apiVersion: PLUGIN_API_VERSION,
    dependencies: [],
    setup(host) {
      const cfg = host.config?.shard_manager;
      if (!cfg) return;
      // the proxy's own window when it has one (its rebalancer reads it), else one of this plugin's
      const w = (window = host.services?.load ?? new LoadWindow(cfg.window, cfg.heavy_hitters, now));
      host.services?.adminCommand('SHOW LOAD', () => {
        const shards = w.shardLoad();
        const all = shards.reduce((n, s) => n + s.requests, 0);
        return {
          columns: ['shard', 'requests', 'requests_per_s', 'rows', 'backend_ms', 'errors', 'share'],
          rows: shards.map((s) => [s.shard, s.requests, round(s.requests / w.seconds, 1), s.rows, round(s.backendUs / 1000, 1), s.errors, all > 0 ? round(s.requests / all, 4) : null]),
        };
      }, { syntax: 'SHOW LOAD', description: 'with shard_manager.enabled: per shard requests, rows, backend time, errors over the window' });
      // what the planner would do with the window as it is (a dry run: nothing is recorded against the budgets)
      const planner = new Planner(cfg, now);
      const shardNames = (host.config?.shards ?? []).map((s) => s.name);
      host.services?.adminCommand('SHOW PLAN', () => {
        // what the planner weighs: the window's last `recent` seconds
        const load = new Map(w.shardLoad(cfg.recent).map((s) => [s.shard, s.requests]));
        const keys = w.hotspots('placement', PLAN_KEYS, cfg.recent).flatMap((k) => (k.shard !== undefined ? [{ key: k.key, shard: k.shard, load: k.requests }] : []));
        const p = planner.plan({ shards: shardNames.map((s) => ({ shard: s, load: load.get(s) ?? 0 })), keys, running: 0 }, true);
        const rows: (string | number | null)[][] = [['status', null, null, null, round(p.peak, 3), p.held ?? `${p.moves.length} move(s)`]];
        for (const m of p.moves) rows.push(['move', m.key, m.from, m.to, round(m.peakAfter, 3), `load ${m.load}`]);
        for (const h of p.tooHot) rows.push(['too hot', h.key, h.shard, null, null, `share ${round(h.share, 4)}: hotter than a shard's fair share, not moved`]);
        return { columns: ['kind', 'key', 'from', 'to', 'peak_to_mean', 'detail'], rows };
      }, { syntax: 'SHOW PLAN', description: "with shard_manager.enabled: the planner's dry run on the window" });
      // hottest now first (the window's last `recent` seconds), with the whole window's figures beside
      host.services?.adminCommand('SHOW HOTSPOTS', () => ({
        columns: ['kind', 'key', 'requests', 'share', 'error', 'rows', 'backend_ms', 'recent_requests', 'recent_share'],
        rows: (['placement', 'action'] as const).flatMap((kind) => {
          const all = new Map(w.hotspots(kind, PLAN_KEYS).map((k) => [k.key, k]));
          return w.hotspots(kind, HOTSPOT_ROWS, cfg.recent).map((r) => {
            const k = all.get(r.key) ?? r;
            return [kind, k.key, k.requests, round(k.share, 4), k.error, k.rows, round(k.backendUs / 1000, 1), r.requests, round(r.share, 4)];
          });
        }),
      }), { syntax: 'SHOW HOTSPOTS', description: 'with shard_manager.enabled: the heaviest placement keys and actions over the window' });
    },
    createSessionHooks() {
      const w = window;
      if (w === null) return {};
      const routes = new Map<RequestContext, { shard: string; key: string | undefined }>();
      return {
        onRoute(ctx) {
          routes.set(ctx.request, { shard: ctx.shard, key: ctx.key });
          return undefined;
        },
        onResponse(info) {
          const req = info.request;
          if (req === undefined) return;
          const route = routes.get(req);
          if (route === undefined) return;
          routes.delete(req);
          const k = req.shardKey;
          w.record({
            shard: route.shard,
            placementKey: route.key,
            actionKey: k?.account !== undefined && k.action !== undefined ? `${k.account}_${k.action}` : undefined,
            rows: info.rows ?? 0,
            backendUs: Math.round(info.durationMs * 1000),
            error: info.error !== undefined,
          });
        },
        onClose() {
          routes.clear();
        },
      };
    },
  };
}
