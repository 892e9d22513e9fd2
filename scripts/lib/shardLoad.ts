// shardLoad owns the arithmetic of a shard-load measurement: cumulative per-shard counters sampled over time cut into windows, peak-to-mean per window, and the floor a single hottest key sets on it.

/** One sample: when (ms) and each shard's cumulative count then (e.g. statements from pg_stat_statements). */
export interface LoadSample {
  t: number;
  counts: number[];
}

export interface LoadWindowFigure {
  start: number;
  end: number;
  /** per shard: the count's growth over the window */
  loads: number[];
  /** max / mean of `loads` (1 = perfectly even; 1 when nothing happened) */
  peak: number;
}

/** max / mean of the loads; 1 when they are all zero or there are none. */
export function peakToMean(loads: readonly number[]): number {
  if (loads.length === 0) return 1;
  const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
  return mean > 0 ? Math.max(...loads) / mean : 1;
}

/** The counters at time `t`, linearly between the samples around it (the first or last sample outside them). */
export function countersAt(samples: readonly LoadSample[], t: number): number[] {
  if (samples.length === 0) return [];
  let i = samples.findIndex((s) => s.t >= t);
  if (i === -1) return [...samples.at(-1)!.counts];
  if (i === 0 || samples[i]!.t === t) return [...samples[i]!.counts];
  const a = samples[i - 1]!;
  const b = samples[i]!;
  const f = (t - a.t) / (b.t - a.t);
  return a.counts.map((x, k) => x + (b.counts[k]! - x) * f);
}

function figure(samples: readonly LoadSample[], start: number, end: number): LoadWindowFigure {
  const a = countersAt(samples, start);
  const b = countersAt(samples, end);
  const loads = b.map((x, k) => Math.max(0, x - a[k]!));
  return { start, end, loads, peak: peakToMean(loads) };
}

/** Back-to-back windows of `size` ms from `from` while they end by `to`. */
export function tumblingWindows(samples: readonly LoadSample[], from: number, to: number, size: number): LoadWindowFigure[] {
  const out: LoadWindowFigure[] = [];
  for (let s = from; s + size <= to + 1; s += size) out.push(figure(samples, s, s + size));
  return out;
}

/** Windows of `size` ms starting every `step` ms from `from`, while they end by `to`. */
export function slidingWindows(samples: readonly LoadSample[], from: number, to: number, size: number, step: number): LoadWindowFigure[] {
  const out: LoadWindowFigure[] = [];
  for (let s = from; s + size <= to + 1; s += step) out.push(figure(samples, s, s + size));
  return out;
}

/**
 * The lowest peak-to-mean any placement can reach when the hottest key's requests cannot be split: its share of all
 * requests × the number of shards (at least 1). `keys` are the requests' keys (one entry per request).
 */
export function hotKeyFloor(keys: readonly string[], shards: number): number {
  if (keys.length === 0) return 1;
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return Math.max(1, (Math.max(...counts.values()) / keys.length) * shards);
}
