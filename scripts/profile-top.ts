// profile-top owns reading a V8 .cpuprofile (node --cpu-prof, the benchmarks' --cpu-prof) and printing where the time went: the functions with the most self time and the most total (inclusive) time.
//
// usage: node dist/scripts/profile-top.js --file FILE.cpuprofile [--top N]

import { readFileSync } from 'node:fs';
import { Args } from './lib/args.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function main(): void {
  const flags = new Args(process.argv.slice(2), { usage: 'usage: node dist/scripts/profile-top.js --file FILE.cpuprofile [--top N]', values: ['file', 'top'], booleans: [] });
  const file = flags.get('file');
  if (!file) throw new Error('--file FILE.cpuprofile is required');
  const top = flags.int('top', 30, 1);
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode): string => {
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    const leaf = byId.get(id)!;
    self.set(name(leaf), (self.get(name(leaf)) ?? 0) + dt);
    // each function once per sample on the stack (recursion counted once)
    const seen = new Set<string>();
    for (let n: ProfileNode | undefined = leaf; n; n = byId.get(parent.get(n.id) ?? -1)) {
      const k = name(n);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  });
  const show = (title: string, m: Map<string, number>): void => {
    process.stdout.write(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)\n`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${((100 * v) / all).toFixed(1).padStart(6)}%  ${k}\n`);
  };
  show('self time', self);
  show('total time', total);
}

main();
