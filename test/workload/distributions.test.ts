// Owns: the workload's distributions — Zipf top-account share, persona transition frequencies, seed repeatability.
import t from 'tap';
import { Zipf, harmonic, makeRng, pareto } from '../../workload/rng.js';
import { END, PERSONAS, START, nextState } from '../../workload/personas.js';
import { AgentPlan, parseHot } from '../../workload/plan.js';
import { ACTIONS, actionByName } from '../../workload/actions.js';

t.test('Zipf: the top account gets 1/H(N,s) of the draws', async (t) => {
  for (const [n, s] of [[50, 1.1], [1000, 1.1], [200, 0.8]] as const) {
    const z = new Zipf(n, s);
    const rng = makeRng(`zipf:${n}:${s}`);
    const draws = 200_000;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < draws; i++) counts[z.sample(rng)]!++;
    const expected = 1 / harmonic(n, s);
    const observed = counts[0]! / draws;
    // 4 standard deviations of a binomial share
    const tol = 4 * Math.sqrt((expected * (1 - expected)) / draws);
    t.ok(Math.abs(observed - expected) < tol, `N=${n} s=${s}: top share ${observed.toFixed(4)} vs ${expected.toFixed(4)} (±${tol.toFixed(4)})`);
    const second = counts[1]! / draws;
    t.ok(Math.abs(second - expected / Math.pow(2, s)) < tol, `second rank ${second.toFixed(4)} vs ${(expected / Math.pow(2, s)).toFixed(4)}`);
    t.ok(counts.every((c, i) => i === 0 || c <= counts[0]!), 'rank 0 is the most frequent');
  }
});

t.test('persona chains: every state names a real action and rows sample at their weights', async (t) => {
  t.ok(ACTIONS.length >= 30, `${ACTIONS.length} actions`);
  t.equal(new Set(ACTIONS.map((a) => a.name)).size, ACTIONS.length, 'action names are unique');
  for (const p of PERSONAS) {
    for (const [from, row] of Object.entries(p.chain)) {
      if (from !== START) t.ok(actionByName(from), `${p.name}: ${from} is an action`);
      for (const to of Object.keys(row)) if (to !== END) {
        t.ok(actionByName(to), `${p.name}: ${to} is an action`);
        t.ok(p.chain[to], `${p.name}: ${to} has outgoing transitions`);
      }
    }
    const rng = makeRng(`chain:${p.name}`);
    let maxDiff = 0;
    for (const [from, row] of Object.entries(p.chain)) {
      const steps = 20_000;
      const total = Object.values(row).reduce((a, b) => a + b, 0);
      const seen: Record<string, number> = {};
      for (let i = 0; i < steps; i++) {
        const to = nextState(p, from, rng);
        seen[to] = (seen[to] ?? 0) + 1;
      }
      for (const to of new Set([...Object.keys(row), ...Object.keys(seen)])) {
        maxDiff = Math.max(maxDiff, Math.abs((seen[to] ?? 0) / steps - (row[to] ?? 0) / total));
      }
    }
    t.ok(maxDiff < 0.02, `${p.name}: max |observed − expected| transition probability ${maxDiff.toFixed(4)} < 0.02`);
  }
});

t.test('same seed → same sequence; another seed → another', async (t) => {
  const accounts = Array.from({ length: 50 }, (_, i) => ({ id: `acct-${i + 1}`, persona: PERSONAS[i % PERSONAS.length]!.name }));
  const zipf = new Zipf(accounts.length, 1.1);
  const seq = (seed: string, agent: number): string[] => {
    const plan = new AgentPlan(seed, agent, accounts, zipf);
    return Array.from({ length: 2000 }, () => { const s = plan.next(); return `${s.account}:${s.action}:${plan.think(1).toFixed(6)}`; });
  };
  t.same(seq('42', 0), seq('42', 0), 'same seed and agent: identical');
  t.not(seq('42', 0).join(), seq('43', 0).join(), 'another seed differs');
  t.not(seq('42', 0).join(), seq('42', 1).join(), 'another agent differs');
  const a = makeRng('x'), b = makeRng('x');
  t.same(Array.from({ length: 100 }, () => a.next()), Array.from({ length: 100 }, () => b.next()), 'Rng repeatable');
  const r = makeRng('p');
  const sizes = Array.from({ length: 10_000 }, () => pareto(r, 3, 0.9, 50_000)).sort((x, y) => x - y);
  t.ok(sizes[5000]! < 20 && sizes[9999]! > 1000, `heavy tail: median ${sizes[5000]}, max ${sizes[9999]}`);
});

t.test('hot tenant: parse and takeover after the start time', async (t) => {
  t.same(parseHot('acct-7:20%@30s'), { account: 'acct-7', share: 0.2, atMs: 30_000 });
  t.throws(() => parseHot('acct-7'));
  const accounts = Array.from({ length: 100 }, (_, i) => ({ id: `acct-${i + 1}`, persona: 'auditor' }));
  const plan = new AgentPlan('1', 0, accounts, new Zipf(100, 1.1), parseHot('acct-70:50%@1s'));
  const share = (elapsed: number): number => {
    let sessions = 0, hot = 0;
    for (let i = 0; i < 20_000; i++) {
      const s = plan.next(elapsed);
      if (s.newSession) { sessions++; if (s.account === 'acct-70') hot++; }
    }
    return hot / sessions;
  };
  t.ok(share(0) < 0.02, 'before: acct-70 rare');
  t.ok(Math.abs(share(2000) - 0.5) < 0.05, 'after: about half the sessions');
});
