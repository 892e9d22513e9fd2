// plan owns an agent's seeded choices: which account (Zipf, hot tenant) and which action next (persona Markov chain).
import type { Rng } from './types.js';
import { END, START, nextState, personaByName, type Persona } from './personas.js';
import { Zipf, exponential, makeRng } from './rng.js';

export interface HotSpec {
  account: string;
  /** share of sessions (≈ requests) sent to the hot account once active, 0..1 */
  share: number;
  /** when it starts, ms after the run starts */
  atMs: number;
}

/** "acct-7:20%@30s" → { account: 'acct-7', share: 0.2, atMs: 30000 } */
export function parseHot(s: string): HotSpec {
  const m = /^(.+):(\d+(?:\.\d+)?)%@(\d+(?:\.\d+)?)(ms|s)?$/.exec(s);
  if (!m) throw new Error(`--hot: expected ACCOUNT:PCT%@TIME (e.g. acct-7:20%@30s), got "${s}"`);
  return { account: m[1]!, share: Number(m[2]) / 100, atMs: Number(m[3]) * (m[4] === 'ms' ? 1 : 1000) };
}

export interface PlannedAccount {
  id: string;
  persona: string;
}

export interface Step {
  account: string;
  action: string;
  persona: Persona;
  /** first action of a new session */
  newSession: boolean;
}

/**
 * One agent's choice stream. An agent works in sessions: it picks an account (Zipf over the ranked accounts, or the
 * hot account once active), then walks that account's persona chain from START until END. Only `rng` drives the
 * choices, so the same seed and agent index give the same sequence (given the same elapsed times for --hot).
 */
export class AgentPlan {
  private readonly rng: Rng;
  private account: PlannedAccount | undefined;
  private persona: Persona | undefined;
  private state = END;
  constructor(seed: string, agent: number, private readonly accounts: PlannedAccount[], private readonly zipf: Zipf, private readonly hot?: HotSpec) {
    this.rng = makeRng(`${seed}:plan:${agent}`);
  }

  next(elapsedMs = 0): Step {
    let newSession = false;
    for (let guard = 0; ; guard++) {
      if (this.state === END) {
        const u = this.rng.next();
        const rank = this.zipf.sample(this.rng);
        const hot = this.hot && elapsedMs >= this.hot.atMs && u < this.hot.share ? this.accounts.find((a) => a.id === this.hot!.account) : undefined;
        this.account = hot ?? this.accounts[rank]!;
        this.persona = personaByName(this.account.persona);
        this.state = START;
        newSession = true;
      }
      this.state = nextState(this.persona!, this.state, this.rng);
      if (this.state !== END) return { account: this.account!.id, action: this.state, persona: this.persona!, newSession };
      if (guard > 1000) throw new Error('persona chain produces no actions');
    }
  }

  /** think time before the next action, ms (persona mean × scale) */
  think(scale: number): number {
    return scale > 0 ? exponential(this.rng, this.persona!.thinkMs * scale) : 0;
  }
}
