// Membership owns this process's place among the proxies on one catalog: a heartbeat every second (who is alive, who must acknowledge fences), and the bid to lead (the one member that plans and settles what dead members left).
import os from 'node:os';
import type { Catalog } from '../catalog/Catalog.js';
import { logger } from '../logger.js';

/** a member whose heartbeat is older than this is gone: its fences need no acknowledgement, its moves are settled by the leader */
export const MEMBER_TTL_MS = 5000;

export class Membership {
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private beating: Promise<void> = Promise.resolve();

  constructor(
    private readonly catalog: Catalog,
    /** this process (MOVER_OWNER) */
    readonly id: string,
    /** true for a proxy with clients (fences wait for it), false for a `prescient shard-manager` process */
    private readonly serving: boolean,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** First heartbeat and bid now, then every `intervalMs`. */
  async start(intervalMs = 1000): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beating = this.beat();
    }, intervalMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      const now = await this.catalog.lead(this.id);
      await this.catalog.heartbeat(this.id, this.serving, now);
      if (now !== this.leading) logger.info(now ? 'shard manager: this process leads (plans, settles moves of dead members)' : 'shard manager: leadership lost', { member: this.id });
      this.leading = now;
    } catch (e) {
      if (this.leading) logger.warn('shard manager: the catalog is out of reach; not leading', { error: (e as Error).message });
      this.leading = false;
    }
  }

  /** Whether `member` still runs: a process of this host is asked directly (a killed one is known dead at once), another by its heartbeat. */
  async alive(member: string): Promise<boolean> {
    if (member === this.id) return true;
    const [host, pid] = member.split(':');
    if (host === os.hostname() && pid !== undefined && /^\d+$/.test(pid)) {
      try {
        process.kill(Number(pid), 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
      }
    }
    return (await this.catalog.members(MEMBER_TTL_MS)).some((m) => m.id === member);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating.catch(() => {});
    this.leading = false;
    await this.catalog.leave(this.id).catch(() => {});
  }
}
