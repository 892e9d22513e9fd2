// stats owns latency/throughput bookkeeping for a run: per-action samples, percentiles, the table and the JSON.
export interface Summary {
  count: number;
  tps: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  errors: number;
}

class Series {
  lat: number[] = [];
  errors = 0;
}

/** nearest-rank percentile of sorted values */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export class Recorder {
  private readonly by = new Map<string, Series>();
  readonly errorMessages = new Map<string, number>();

  record(action: string, latencyMs: number, error?: string): void {
    let s = this.by.get(action);
    if (!s) this.by.set(action, (s = new Series()));
    if (error !== undefined) {
      s.errors++;
      this.errorMessages.set(error, (this.errorMessages.get(error) ?? 0) + 1);
    } else s.lat.push(latencyMs);
  }

  private summarize(lat: number[], errors: number, seconds: number): Summary {
    const sorted = Float64Array.from(lat).sort();
    const arr = Array.from(sorted);
    const r = (x: number): number => Math.round(x * 1000) / 1000;
    return {
      count: lat.length, tps: r(lat.length / seconds), errors,
      p50: r(percentile(arr, 0.5)), p90: r(percentile(arr, 0.9)), p99: r(percentile(arr, 0.99)), p999: r(percentile(arr, 0.999)),
    };
  }

  report(seconds: number): { overall: Summary; actions: Record<string, Summary> } {
    const all: number[] = [];
    let errors = 0;
    const actions: Record<string, Summary> = {};
    for (const [name, s] of [...this.by].sort(([a], [b]) => a.localeCompare(b))) {
      for (const x of s.lat) all.push(x);
      errors += s.errors;
      actions[name] = this.summarize(s.lat, s.errors, seconds);
    }
    return { overall: this.summarize(all, errors, seconds), actions };
  }
}

export function table(r: { overall: Summary; actions: Record<string, Summary> }): string {
  const head = `${'action'.padEnd(30)} ${'count'.padStart(8)} ${'tps'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'p99.9 ms'.padStart(9)} ${'errors'.padStart(7)}`;
  const line = (name: string, s: Summary): string =>
    `${name.padEnd(30)} ${String(s.count).padStart(8)} ${s.tps.toFixed(1).padStart(9)} ${s.p50.toFixed(2).padStart(8)} ${s.p90.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)} ${s.p999.toFixed(2).padStart(9)} ${String(s.errors).padStart(7)}`;
  return [head, line('ALL', r.overall), ...Object.entries(r.actions).map(([n, s]) => line(n, s))].join('\n') + '\n';
}
