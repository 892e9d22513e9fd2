// Planner owns deciding which tenants to move: when the busiest shard stays above the mean by `imbalance` for `sustain` seconds, the moves that cut the peak most per row moved, within the budgets (concurrent moves, moves per hour, a per-key cool-down); a key hotter than a shard's fair share is reported, not moved.

export interface PlannerConfig {
  /** peak-to-mean shard load above which the shards are out of balance (e.g. 1.25) */
  imbalance: number;
  /** seconds the imbalance must last before anything moves */
  sustain: number;
  max_concurrent_moves: number;
  max_moves_per_hour: number;
  /** seconds a moved key stays where it is */
  cooldown: number;
}

/** What the planner sees: load per active shard (0 for an idle one) and the heaviest keys with their shard. */
export interface PlannerInput {
  shards: readonly { shard: string; load: number }[];
  keys: readonly { key: string; shard: string; load: number }[];
  /** rows stored for a key (what a move copies); unknown: 1 */
  rows?: (key: string) => number;
  /** moves under way now */
  running: number;
}

export interface Move {
  key: string;
  from: string;
  to: string;
  load: number;
  rows: number;
  /** peak-to-mean before and after this move (as planned) */
  peakBefore: number;
  peakAfter: number;
}

export interface Plan {
  /** peak-to-mean shard load now (1 = perfectly even) */
  peak: number;
  /** seconds the imbalance has lasted (0 when in balance) */
  imbalancedFor: number;
  moves: Move[];
  /** keys heavier than a shard's fair share (the mean): moving them only moves the hot spot */
  tooHot: { key: string; shard: string; load: number; share: number }[];
  /** why nothing (more) moves, when that is the case */
  held?: string;
}

const peakToMean = (loads: ReadonlyMap<string, number>): number => {
  const values = [...loads.values()];
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return mean > 0 ? Math.max(...values) / mean : 1;
};

export class Planner {
  /** when the current imbalance began (ms), or null when in balance */
  private imbalancedSince: number | null = null;
  /** when each move was planned (for the per-hour budget) */
  private readonly planned: number[] = [];
  /** key → when it was last moved (the cool-down) */
  private readonly movedAt = new Map<string, number>();

  constructor(
    private readonly cfg: PlannerConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Looks at the load now; returns the moves to start (and records them against the budgets unless `dryRun`). */
  plan(input: PlannerInput, dryRun = false): Plan {
    const at = this.now();
    const loads = new Map(input.shards.map((s) => [s.shard, s.load]));
    const total = [...loads.values()].reduce((a, b) => a + b, 0);
    const mean = loads.size > 0 ? total / loads.size : 0;
    const peak = peakToMean(loads);
    const tooHot = input.keys
      .filter((k) => mean > 0 && k.load > mean && loads.has(k.shard))
      .map((k) => ({ key: k.key, shard: k.shard, load: k.load, share: total > 0 ? k.load / total : 0 }));
    if (loads.size < 2 || peak <= this.cfg.imbalance) {
      if (!dryRun) this.imbalancedSince = null;
      return { peak, imbalancedFor: 0, moves: [], tooHot, held: loads.size < 2 ? 'fewer than two shards' : 'in balance' };
    }
    const since = this.imbalancedSince ?? at;
    if (!dryRun) this.imbalancedSince = since;
    const imbalancedFor = (at - since) / 1000;
    if (imbalancedFor < this.cfg.sustain) return { peak, imbalancedFor, moves: [], tooHot, held: `imbalance for ${imbalancedFor.toFixed(0)} s of ${this.cfg.sustain} s` };
    while (this.planned.length > 0 && at - this.planned[0]! > 3_600_000) this.planned.shift();
    let budget = Math.min(this.cfg.max_concurrent_moves - input.running, this.cfg.max_moves_per_hour - this.planned.length);
    if (budget <= 0) return { peak, imbalancedFor, moves: [], tooHot, held: input.running >= this.cfg.max_concurrent_moves ? 'max_concurrent_moves under way' : 'max_moves_per_hour used' };
    const hot = new Set(tooHot.map((k) => k.key));
    const moves: Move[] = [];
    const sim = new Map(loads);
    const moved = new Set<string>();
    while (budget > 0) {
      const peakNow = peakToMean(sim);
      if (peakNow <= this.cfg.imbalance) break;
      const busiest = [...sim].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
      const idlest = [...sim].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))[0]![0];
      let best: Move | null = null;
      let bestScore = 0;
      for (const k of input.keys) {
        if (k.shard !== busiest || hot.has(k.key) || moved.has(k.key) || k.load <= 0) continue;
        const last = this.movedAt.get(k.key);
        if (last !== undefined && at - last < this.cfg.cooldown * 1000) continue;
        const after = new Map(sim);
        after.set(busiest, after.get(busiest)! - k.load);
        after.set(idlest, after.get(idlest)! + k.load);
        const peakAfter = peakToMean(after);
        const gain = peakNow - peakAfter;
        if (gain <= 0) continue;
        const rows = Math.max(1, input.rows?.(k.key) ?? 1);
        const score = gain / rows;
        if (score > bestScore) {
          bestScore = score;
          best = { key: k.key, from: busiest, to: idlest, load: k.load, rows, peakBefore: peakNow, peakAfter };
        }
      }
      if (best === null) break;
      moves.push(best);
      moved.add(best.key);
      sim.set(best.from, sim.get(best.from)! - best.load);
      sim.set(best.to, sim.get(best.to)! + best.load);
      budget--;
    }
    if (!dryRun) {
      for (const m of moves) {
        this.planned.push(at);
        this.movedAt.set(m.key, at);
      }
    }
    return { peak, imbalancedFor, moves, tooHot, ...(moves.length === 0 ? { held: 'no move lowers the peak (keys cooling down, too hot, or none known on the busiest shard)' } : {}) };
  }
}
