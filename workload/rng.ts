// rng owns the workload's seeded randomness: the Rng, Zipf and Pareto samplers, weighted picks and resource ids.
import type { Rng } from './types.js';

/** A seeded Rng (sfc32 seeded from a string/number by cyrb128); same seed → same sequence. */
export function makeRng(seed: string | number): Rng {
  const s = String(seed);
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  let a = Math.imul(h3 ^ (h1 >>> 18), 597399067) >>> 0;
  let b = Math.imul(h4 ^ (h2 >>> 22), 2869860233) >>> 0;
  let c = Math.imul(h1 ^ (h3 >>> 17), 951274213) >>> 0;
  let d = Math.imul(h2 ^ (h4 >>> 19), 2716044179) >>> 0;
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return { next, int: (n: number) => Math.floor(next() * n) };
}

/** Generalized harmonic number H(n, s) = Σ_{k=1..n} 1/k^s. */
export function harmonic(n: number, s: number): number {
  let h = 0;
  for (let k = 1; k <= n; k++) h += 1 / Math.pow(k, s);
  return h;
}

/** Exact Zipf(s) over ranks 0..n-1 (rank 0 most likely, P(k) = (1/(k+1)^s) / H(n,s)); inverse CDF by binary search. */
export class Zipf {
  private readonly cdf: Float64Array;
  constructor(readonly n: number, readonly s: number) {
    if (n < 1) throw new Error('Zipf: n must be ≥ 1');
    this.cdf = new Float64Array(n);
    let acc = 0;
    for (let k = 0; k < n; k++) this.cdf[k] = acc += 1 / Math.pow(k + 1, s);
    for (let k = 0; k < n; k++) this.cdf[k]! /= acc;
  }
  sample(rng: Rng): number {
    const u = rng.next();
    let lo = 0, hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** Pareto(xmin, alpha), capped: heavy-tailed sizes (most small, a few huge). */
export function pareto(rng: Rng, xmin: number, alpha: number, cap: number): number {
  const u = 1 - rng.next(); // (0, 1]
  return Math.min(cap, Math.floor(xmin / Math.pow(u, 1 / alpha)));
}

/** Exponential with the given mean (think times). */
export function exponential(rng: Rng, mean: number): number {
  return -Math.log(1 - rng.next()) * mean;
}

/** Pick a key of `weights` with probability proportional to its weight. */
export function weighted<K extends string>(rng: Rng, weights: Record<K, number> | [K, number][]): K {
  const entries = Array.isArray(weights) ? weights : (Object.entries(weights) as [K, number][]);
  let total = 0;
  for (const [, w] of entries) total += w;
  let u = rng.next() * total;
  for (const [k, w] of entries) if ((u -= w) < 0) return k;
  return entries[entries.length - 1]![0];
}

export function pick<T>(rng: Rng, list: readonly T[]): T | undefined {
  return list.length ? list[rng.int(list.length)] : undefined;
}

/** An EC2-style id: prefix + 17 hex digits from rng. */
export function resourceId(rng: Rng, prefix: string): string {
  let s = '';
  for (let i = 0; i < 17; i++) s += '0123456789abcdef'[rng.int(16)];
  return `${prefix}-${s}`;
}
