// tally owns counting the run as it goes: inputs per category and kind, outcomes, SQLSTATEs, hangs and failed logins.
import type { Executed } from './executeInput.js';
import type { FuzzInput, InputResult } from './types.js';

const KEEP = 50;

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

export class Tally {
  inputs = 0;
  readonly perCategory = new Map<string, number>();
  readonly perKind = new Map<string, number>();
  readonly outcomes = new Map<string, number>();
  readonly sqlstates = new Map<string, number>();
  readonly hangs: InputResult[] = [];
  hangCount = 0;
  readonly lockWaits: InputResult[] = [];
  readonly loginFailures: InputResult[] = [];
  /** wall time spent per ending (ms) and inputs per ending, to see where a run's time goes */
  readonly msPerEnding = new Map<string, number>();
  readonly perEnding = new Map<string, number>();
  loginFailureCount = 0;

  add(input: FuzzInput, r: Executed, history: number[], ms = 0): void {
    this.inputs++;
    bump(this.perEnding, input.ending);
    bump(this.msPerEnding, input.ending, ms);
    bump(this.perCategory, input.category);
    bump(this.perKind, input.kind.replace(/#\d+/, ''));
    bump(this.outcomes, r.outcome);
    for (const s of r.sqlstates) bump(this.sqlstates, s);
    if (r.outcome === 'lock-wait' && this.lockWaits.length < KEEP) {
      this.lockWaits.push({ index: input.index, category: input.category, kind: input.kind, ending: input.ending, outcome: r.outcome, sqlstates: r.sqlstates, history: history.slice(-20), detail: r.detail });
    }
    if (r.outcome === 'hang' || r.outcome === 'login-failed') {
      const res: InputResult = { index: input.index, category: input.category, kind: input.kind, ending: input.ending, outcome: r.outcome, sqlstates: r.sqlstates, history: history.slice(-20), detail: r.detail };
      if (r.outcome === 'hang') {
        this.hangCount++;
        if (this.hangs.length < KEEP) this.hangs.push(res);
      } else {
        this.loginFailureCount++;
        if (this.loginFailures.length < KEEP) this.loginFailures.push(res);
      }
    }
  }
}
