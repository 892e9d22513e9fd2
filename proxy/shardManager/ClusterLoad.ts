// ClusterLoad owns the load of every proxy on one catalog as the leader's planner reads it: each member publishes a bounded summary of its own window (per-shard totals and its top placement keys over the recent seconds), and the leader merges the live members' latest summaries.
import type { Catalog } from '../catalog/Catalog.js';
import type { LoadView } from '../plugins/api.js';
import { logger } from '../logger.js';

type ShardLoad = ReturnType<LoadView['shardLoad']>[number];
type Hotspot = ReturnType<LoadView['hotspots']>[number];

/** what one member publishes */
interface Report {
  shards: ShardLoad[];
  keys: Hotspot[];
}

/** keys each member publishes (the planner looks at this many) */
export const PUBLISHED_KEYS = 200;
/** a report older than this is not counted (its member is gone or stuck) */
const REPORT_TTL_MS = 5000;

/** The merged view: what Rebalancer reads. */
export type PlannerLoad = Pick<LoadView, 'shardLoad' | 'hotspots'>;

export class ClusterLoad implements PlannerLoad {
  private shards: ShardLoad[] = [];
  private keys: Hotspot[] = [];

  constructor(private readonly catalog: Catalog) {}

  /** This member's summary of `load` over its last `seconds`, into the catalog. */
  static async publish(catalog: Catalog, member: string, load: LoadView, seconds: number): Promise<void> {
    const report: Report = { shards: load.shardLoad(seconds), keys: load.hotspots('placement', PUBLISHED_KEYS, seconds) };
    await catalog.publishLoad(member, JSON.stringify(report));
  }

  /** Reads and merges the live members' latest reports (the view then answers from them until the next refresh). */
  async refresh(): Promise<void> {
    const shards = new Map<string, ShardLoad>();
    const keys = new Map<string, Hotspot & { top: number }>();
    for (const r of await this.catalog.loadReports(REPORT_TTL_MS)) {
      let report: Report;
      try {
        report = JSON.parse(r.report) as Report;
      } catch {
        logger.warn('shard manager: a load report that does not parse is skipped', { member: r.member });
        continue;
      }
      for (const s of report.shards) {
        const m = shards.get(s.shard) ?? { shard: s.shard, requests: 0, rows: 0, backendUs: 0, errors: 0 };
        m.requests += s.requests;
        m.rows += s.rows;
        m.backendUs += s.backendUs;
        m.errors += s.errors;
        shards.set(s.shard, m);
      }
      for (const k of report.keys) {
        const m = keys.get(k.key) ?? { key: k.key, requests: 0, error: 0, rows: 0, backendUs: 0, share: 0, shard: k.shard, byShard: {}, top: 0 };
        m.requests += k.requests;
        m.error += k.error;
        m.rows += k.rows;
        m.backendUs += k.backendUs;
        // the shard of the member that saw most of it
        if (k.requests > m.top) {
          m.top = k.requests;
          m.shard = k.shard;
        }
        for (const [s, n] of Object.entries(k.byShard ?? {})) m.byShard![s] = (m.byShard![s] ?? 0) + n;
        keys.set(k.key, m);
      }
    }
    const total = [...shards.values()].reduce((a, s) => a + s.requests, 0);
    this.shards = [...shards.values()];
    this.keys = [...keys.values()]
      .map(({ top: _top, ...k }) => ({ ...k, share: total > 0 ? k.requests / total : 0 }))
      .sort((a, b) => b.requests - a.requests);
  }

  shardLoad(): ShardLoad[] {
    return this.shards;
  }

  hotspots(_kind: 'placement' | 'action', n: number): Hotspot[] {
    return this.keys.slice(0, n);
  }
}
