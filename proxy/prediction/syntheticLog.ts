// syntheticLog owns the seeded synthetic action log: the workload's personas (AgentPlan) walked without a database.
import { AgentPlan, type PlannedAccount } from '../../workload/plan.js';
import { choosePersona } from '../../workload/personas.js';
import { actionByName } from '../../workload/actions.js';
import { exponential, makeRng, Zipf } from '../../workload/rng.js';
import type { ActionEvent } from './ActionEvent.js';

export interface SyntheticOptions {
  seed: string;
  accounts: number;
  events: number;
  /** agents working at once (their sessions interleave in time) */
  agents: number;
  /** mean pause between two sessions of an agent, ms */
  sessionGapMs: number;
  /** think time scale: a persona's thinkMs × this between two actions of a session */
  thinkScale: number;
  /** first event time, ms since the epoch */
  start: number;
}

export const SYNTHETIC_DEFAULTS: SyntheticOptions = { seed: 'predict', accounts: 200, events: 20000, agents: 8, sessionGapMs: 60_000, thinkScale: 100, start: Date.UTC(2026, 0, 5, 8) };

/**
 * An action log as the workload's agents would produce it: each agent picks an account (Zipf) and walks its
 * persona's chain for a session; think times inside a session, a longer pause between sessions. Same options,
 * same log.
 */
export function syntheticLog(options: Partial<SyntheticOptions> = {}): ActionEvent[] {
  const o = { ...SYNTHETIC_DEFAULTS, ...options };
  const rng = makeRng(`${o.seed}:accounts`);
  const accounts: PlannedAccount[] = Array.from({ length: o.accounts }, (_, i) => ({ id: `acct-${i}`, persona: choosePersona(rng).name }));
  const zipf = new Zipf(accounts.length, 0.9);
  const agents = Array.from({ length: o.agents }, (_, a) => ({ plan: new AgentPlan(o.seed, a, accounts, zipf), t: o.start + a * 1000, rng: makeRng(`${o.seed}:gap:${a}`) }));
  const out: ActionEvent[] = [];
  const perAgent = Math.ceil(o.events / o.agents);
  for (const ag of agents) {
    for (let k = 0; k < perAgent; k++) {
      const step = ag.plan.next();
      ag.t += step.newSession ? exponential(ag.rng, o.sessionGapMs) : ag.plan.think(o.thinkScale);
      const a = actionByName(step.action);
      out.push({ t: Math.round(ag.t), account: step.account, action: step.action, domain: a?.domain, readOnly: a ? !a.write : undefined, ok: true });
    }
  }
  return out.sort((a, b) => a.t - b.t).slice(0, o.events);
}
