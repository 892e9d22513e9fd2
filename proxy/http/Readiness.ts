// Readiness owns /readyz's answer: the catalog answers and every active shard accepts connections (probeShard), checked at most once a second so that frequent probes do not reach the shards more often.
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
    const ctx = this.ctx;
    const catalog = within(ctx.catalog.migrations({ limit: 1 }), READY_TIMEOUT_MS, 'catalog').then(
      () => undefined,
      (e: unknown) => void (notReady.catalog = (e as Error).message),
    );
    // the catalog's active shards (a draining one still serves its keys), at the address the catalog holds
    const active = ctx.catalog.snapshot().shards.filter((s) => s.status !== ShardStatus.Inactive);
    const shards = active.map(async (s) => {
      const configured = ctx.shard(s.name);
      const why = await probeShard(
        { host: s.host, port: s.port, user: configured?.user ?? 'prescient', database: s.database },
        READY_TIMEOUT_MS,
      );
      if (why !== null) notReady[`shard ${s.name}`] = why;
    });
    if (active.length === 0) notReady.shards = 'no active shard in the catalog';
    await Promise.all([catalog, ...shards]);
    return { ready: Object.keys(notReady).length === 0, notReady, checkedAt: new Date(at).toISOString() };
  }
}
