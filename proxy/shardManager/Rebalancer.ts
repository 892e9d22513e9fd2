// Rebalancer owns one look of the planner (ShardManager calls it every second while leading): the merged load, each key counted for the shard it is on now, the planner asked, and the moves it chose started (at most max_concurrent_moves at a time), logging what it does.
import type { Config } from '../../config/schema.js';
import { logger } from '../logger.js';
import type { PlannerLoad } from './ClusterLoad.js';
import type { Mover } from './Mover.js';
import { Planner } from './Planner.js';

/** keys the planner considers each time */
const PLAN_KEYS = 200;

export class Rebalancer {
  private readonly planner: Planner;
  private running = 0;
  private warnedNoUser = false;
  /** keys reported as too hot to move (each logged once while it stays too hot) */
  private tooHot = new Set<string>();

  constructor(
    private readonly config: () => Config,
    private readonly load: PlannerLoad,
    private readonly mover: Mover,
    /** the shard a placement key lives on now (the catalog) */
    private readonly shardOf: (key: string) => string,
    now: () => number = Date.now,
  ) {
    // read at each look: RELOAD changes the thresholds and budgets of a running planner
    const sm = (): Config['shard_manager'] => config().shard_manager;
    this.planner = new Planner(
      {
        get imbalance() { return sm().imbalance; },
        get sustain() { return sm().sustain; },
        get max_concurrent_moves() { return sm().max_concurrent_moves; },
        get max_moves_per_hour() { return sm().max_moves_per_hour; },
        get cooldown() { return sm().cooldown; },
      },
      now,
    );
  }

  /** One look at the load; the moves chosen are started (not awaited). */
  tick(): void {
    const cfg = this.config();
    // shard_manager.moves: false — the planner only plans (SHOW PLAN); its imbalance clock starts again when switched on
    if (!cfg.shard_manager.moves) return;
    if (cfg.shards.some((s) => s.user === undefined)) {
      if (!this.warnedNoUser) logger.warn('shard manager: moves need shards[].user on every shard; the planner only plans (SHOW PLAN)');
      this.warnedNoUser = true;
      return;
    }
    // the latest `recent` seconds of the window: a step in load shows within seconds, not diluted by the whole window
    const span = cfg.shard_manager.recent;
    const load = new Map(this.load.shardLoad(span).map((s) => [s.shard, s.requests]));
    // the window remembers where requests went; a key moved since counts for the shard it is on now (else the planner
    // would keep seeing its old shard busy and move more than needed)
    const keys = this.load.hotspots('placement', PLAN_KEYS, span).flatMap((k) => {
      if (k.shard === undefined) return [];
      const now = this.shardOf(k.key);
      for (const [was, n] of Object.entries(k.byShard ?? {})) {
        if (was === now || !load.has(was)) continue;
        load.set(was, Math.max(0, load.get(was)! - n));
        load.set(now, (load.get(now) ?? 0) + n);
      }
      return [{ key: k.key, shard: now, load: k.requests }];
    });
    // only active shards take keys: a draining or drained one is idle, and would otherwise look the best target
    const shards = cfg.shards.filter((s) => this.mover.accepts(s.name)).map((s) => ({ shard: s.name, load: load.get(s.name) ?? 0 }));
    const plan = this.planner.plan({ shards, keys: keys.filter((k) => shards.some((s) => s.shard === k.shard)), running: this.running });
    const hot = new Set(plan.tooHot.map((k) => k.key));
    for (const k of plan.tooHot) {
      if (!this.tooHot.has(k.key)) logger.warn('shard manager: a key hotter than a shard\'s fair share: reported, not moved (moving it would move the hot spot)', { key: k.key, shard: k.shard, share: Number(k.share.toFixed(4)) });
    }
    this.tooHot = hot;
    for (const m of plan.moves) {
      const at = m.key.lastIndexOf('_');
      const account = m.key.slice(0, at);
      const domain = m.key.slice(at + 1);
      if (cfg.sharding.domains[domain] === undefined) continue;
      logger.info('shard manager: moving a key to even the load', { key: m.key, from: m.from, to: m.to, peakBefore: Number(m.peakBefore.toFixed(3)), peakAfter: Number(m.peakAfter.toFixed(3)) });
      this.running++;
      void this.mover
        .move(account, domain, m.to, cfg.shard_manager.fence_timeout_ms)
        .catch((e: unknown) => logger.warn('shard manager: move not started', { key: m.key, error: (e as Error).message }))
        .finally(() => this.running--);
    }
  }
}
