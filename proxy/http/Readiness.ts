// Readiness owns /readyz's answer: every database's catalog answers and its every active shard accepts connections (probeShard), checked at most once a second so that frequent probes do not reach the shards more often.
import type { ProxyContext } from '../context/ProxyContext.js';
import { ShardStatus } from '../catalog/Catalog.js';
import { probeShard } from './probeShard.js';

/** how long one check's answer is reused */
export const READY_CACHE_MS = 1000;
/** how long a shard or the catalog gets to answer */
export const READY_TIMEOUT_MS = 1000;

export interface ReadyReport {
  ready: boolean;
  /** what is not ready: `catalog`, or `shard NAME`, each with why */
  notReady: Record<string, string>;
  /** when it was checked (ISO 8601) */
  checkedAt: string;
}

/** Fails with `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export class Readiness {
  private last: { at: number; report: Promise<ReadyReport> } | null = null;

  constructor(private readonly ctx: ProxyContext, private readonly now: () => number = Date.now) {}

  /** The latest check when it is younger than READY_CACHE_MS (a check in progress is shared), else a new one. */
  check(): Promise<ReadyReport> {
    const t = this.now();
    if (this.last !== null && t - this.last.at < READY_CACHE_MS) return this.last.report;
    const report = this.run(t);
    this.last = { at: t, report };
    return report;
  }

  private async run(at: number): Promise<ReadyReport> {
    const notReady: Record<string, string> = {};
    if (this.ctx.shuttingDown) notReady.proxy = 'shutting down';
    // every database the proxy serves (config databases): its catalog, and its catalog's active shards
    const contexts = this.ctx.registry.contexts();
    const several = contexts.length > 1;
    const checks: Promise<void>[] = [];
    for (const ctx of contexts) {
      const prefix = several ? `${ctx.config.database}: ` : '';
      checks.push(within(ctx.catalog.migrations({ limit: 1 }), READY_TIMEOUT_MS, 'catalog').then(
        () => undefined,
        (e: unknown) => void (notReady[`${prefix}catalog`] = (e as Error).message),
      ));
      // the catalog's active shards (a draining one still serves its keys), at the address the catalog holds
      const active = ctx.catalog.snapshot().shards.filter((s) => s.status !== ShardStatus.Inactive);
      for (const s of active) {
        const configured = ctx.shard(s.name);
        checks.push(probeShard({ host: s.host, port: s.port, user: configured?.user ?? 'prescient', database: s.database }, READY_TIMEOUT_MS)
          .then((why) => void (why !== null && (notReady[`${prefix}shard ${s.name}`] = why))));
      }
      if (active.length === 0) notReady[`${prefix}shards`] = 'no active shard in the catalog';
    }
    await Promise.all(checks);
    return { ready: Object.keys(notReady).length === 0, notReady, checkedAt: new Date(at).toISOString() };
  }
}
