// actionLogPlugin owns the built-in `action-log` plugin: each action an account runs through the proxy (its requests, in a transaction or alone) becomes one ActionEvent — time, account, action, domain, shard, backend time, rows, outcome — appended to the action log off the request path.
import { PLUGIN_API_VERSION, StatementKind, type PrescientPlugin, type RequestContext } from '../../proxy/plugins/api.js';
import type { ActionEvent } from '../../proxy/prediction/ActionEvent.js';
import { ActionLogStore } from '../../proxy/prediction/ActionLogStore.js';

/** The action a session is running: its requests so far. */
interface Run extends ActionEvent {
  /** its requests ran inside a transaction block: the next ones of the same action belong to it */
  inTransaction: boolean;
}

/** The `action-log` plugin; with `store`, it appends there (tests), else to one it opens from `action_log`. */
export function actionLogPlugin(store?: ActionLogStore): PrescientPlugin {
  let log: ActionLogStore | null = store ?? null;
  let domainOf: ((account: string, action: string, tables: readonly string[]) => string) | null = null;
  return {
    name: 'action-log',
    apiVersion: PLUGIN_API_VERSION,
    dependencies: [],
    setup(host) {
      const cfg = host.config?.action_log;
      if (!log && cfg) {
        log = new ActionLogStore({ dir: cfg.dir, segmentBytes: cfg.segment_bytes, segments: cfg.segments, flushMs: cfg.flush_ms });
        log.start();
      }
      const services = host.services;
      if (services) domainOf = (account, action, tables) => services.placementKey(account, action, tables).slice(account.length + 1);
      const l = log;
      services?.adminCommand('SHOW ACTION LOG', () => ({
        columns: ['written', 'dropped'],
        rows: [[l?.written ?? 0, l?.dropped ?? 0]],
      }), { syntax: 'SHOW ACTION LOG', description: 'with action_log.enabled: events written, and dropped' });
    },
    async close() {
      await log?.close();
    },
    createSessionHooks() {
      const store = log;
      if (store === null) return {};
      let run: Run | null = null;
      const shards = new Map<RequestContext, string>();
      const flush = (): void => {
        if (run === null) return;
        const { inTransaction: _, ...ev } = run;
        store.append(ev);
        run = null;
      };
      return {
        onRequest(ctx) {
          // a request outside a transaction: the transaction the last action ran in has ended
          if (!ctx.transaction?.open) flush();
          return undefined;
        },
        onRoute(ctx) {
          shards.set(ctx.request, ctx.shard);
          return undefined;
        },
        onResponse(info) {
          const req = info.request;
          if (req === undefined) return;
          const shard = shards.get(req);
          shards.delete(req);
          const account = req.shardKey?.account;
          const action = req.shardKey?.action;
          if (account === undefined || action === undefined) return;
          const backendUs = Math.round(info.durationMs * 1000);
          const ok = info.error === undefined;
          const readOnly = req.statements?.every((s) => s.kind === StatementKind.Select) ?? false;
          if (run !== null && run.inTransaction && run.account === account && run.action === action) {
            run.backendUs! += backendUs;
            run.rows! += info.rows ?? 0;
            run.ok = run.ok! && ok;
            run.readOnly = run.readOnly! && readOnly;
            return;
          }
          flush();
          const tables = req.statements?.flatMap((s) => s.tables) ?? [];
          run = {
            t: Date.now() - Math.round(info.durationMs), account, action, domain: domainOf?.(account, action, tables), shard,
            backendUs, rows: info.rows ?? 0, ok, readOnly,
            inTransaction: req.transaction?.open ?? false,
          };
          if (!run.inTransaction) flush();
        },
        onClose() {
          flush();
        },
      };
    },
  };
}
