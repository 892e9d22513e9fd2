// ShardManager owns putting the shard manager together for one process (a proxy, or `prescient shard-manager` on its own): membership on the catalog, the mover and resharder, following fences, settling dead members' moves, publishing this proxy's load, and — while leading — the planner over every member's load.
import type { Config } from '../../config/schema.js';
import type { Catalog } from '../catalog/Catalog.js';
import { logger } from '../logger.js';
import type { LoadView } from '../plugins/api.js';
import type { KeyFence } from '../router/KeyFence.js';
import { checkShards } from './checkShards.js';
import { ClusterLoad } from './ClusterLoad.js';
import { FenceFollower } from './FenceFollower.js';
import { Membership } from './Membership.js';
import { MoveFence } from './MoveFence.js';
import { MoveRecovery } from './MoveRecovery.js';
import { MOVER_OWNER, Mover } from './Mover.js';
import { Rebalancer } from './Rebalancer.js';
import { Resharder } from './Resharder.js';

export interface ShardManagerParts {
  /** the config in effect (RELOAD replaces it) */
  config: () => Config;
  catalog: Catalog;
  /** a proxy's own per-key hold; absent in a process without clients */
  fence?: KeyFence;
  /** a proxy's own window of load (shard_manager.enabled); absent: nothing to publish */
  load?: LoadView | null;
  /** cached reads of the key are stale from now on */
  invalidate?: (key: string) => void;
}

/** seconds between sweeps for moves whose process died */
const SWEEP_EVERY = 10;

export class ShardManager {
  readonly membership: Membership;
  readonly mover: Mover;
  readonly resharder: Resharder;
  private readonly follower: FenceFollower | null;
  private readonly recovery: MoveRecovery;
  private readonly rebalancer: Rebalancer;
  private readonly cluster: ClusterLoad;
  private timer: NodeJS.Timeout | null = null;
  private ticks = 0;
  private busy = false;

  private constructor(private readonly parts: ShardManagerParts) {
    const { catalog } = parts;
    const invalidate = parts.invalidate ?? (() => {});
    this.membership = new Membership(catalog, MOVER_OWNER, parts.fence !== undefined);
    const config = parts.config;
    this.mover = new Mover({ get config() { return config(); }, catalog, fence: new MoveFence(catalog, (m) => this.membership.alive(m)), invalidate, alive: (m) => this.membership.alive(m) });
    this.resharder = new Resharder({ get config() { return config(); }, catalog, mover: this.mover });
    this.follower = parts.fence ? new FenceFollower(catalog, parts.fence, MOVER_OWNER, invalidate) : null;
    this.recovery = new MoveRecovery(config, catalog, (owner) => this.membership.alive(owner));
    this.cluster = new ClusterLoad(catalog);
    this.rebalancer = new Rebalancer(config, this.cluster, this.mover, (key) => catalog.snapshot().placementOf(key).shard.name);
  }

  /** Built, not yet started (the admin console is built before the loop starts). */
  static create(parts: ShardManagerParts): ShardManager {
    return new ShardManager(parts);
  }

  /** Joins the catalog's members, settles what dead members left, and starts the loop (every second). */
  async start(): Promise<void> {
    // what moves need on each shard, said at start (a proxy serves either way)
    if (this.parts.config().shard_manager.enabled) await checkShards(this.parts.config());
    this.follower?.start();
    await this.membership.start();
    await this.sweep();
    this.timer = setInterval(() => void this.tick(), 1000);
    this.timer.unref();
  }

  private async sweep(): Promise<void> {
    await this.recovery.sweep().catch((e: unknown) => logger.warn('migration recovery failed', { error: (e as Error).message }));
  }

  /** One second of the loop: publish this proxy's load; settle dead members' moves now and then; plan while leading. */
  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const cfg = this.parts.config().shard_manager;
      this.ticks++;
      if (this.parts.load) await ClusterLoad.publish(this.parts.catalog, MOVER_OWNER, this.parts.load, cfg.recent);
      if (this.ticks % SWEEP_EVERY === 0) await this.sweep();
      if (cfg.enabled && this.membership.isLeader) {
        await this.cluster.refresh();
        this.rebalancer.tick();
      }
    } catch (e) {
      logger.warn('shard manager: a tick failed', { error: (e as Error).message });
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.follower?.stop();
    await this.membership.stop();
  }
}
