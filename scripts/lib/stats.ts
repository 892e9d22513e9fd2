// stats owns the summary statistics of the benchmarks: the median of a sample and a percentile of a sorted one.

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The p-th percentile (nearest rank) of an ascending array; null when it is empty. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** The largest of the numbers that are there (nulls skipped); null when there are none. */
export function maxOf(xs: readonly (number | null)[]): number | null {
  const ns = xs.flatMap((x) => (x === null ? [] : [x]));
  return ns.length ? Math.max(...ns) : null;
}
