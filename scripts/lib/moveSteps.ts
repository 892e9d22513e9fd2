// moveSteps owns reading a move's phases from Prescient's log (its `migration step` lines): when each step began and the rows copied by then, and from those the snapshot copy's rate and the catch-up's rows.

/** One move's steps: for each state, when it began (ms since the epoch) and the rows copied by then. */
export type MoveSteps = Map<string, { at: number; rows: number }>;

/** The `migration step` lines of a Prescient log (JSON lines), by migration id. */
export function moveSteps(logText: string): Map<number, MoveSteps> {
  const out = new Map<number, MoveSteps>();
  for (const line of logText.split('\n')) {
    if (!line.includes('"migration step"')) continue;
    let j: { t?: string; msg?: string; id?: number; state?: string; rows?: number };
    try {
      j = JSON.parse(line) as typeof j;
    } catch {
      continue;
    }
    if (j.msg !== 'migration step' || j.id === undefined || j.state === undefined || j.t === undefined) continue;
    const steps = out.get(j.id) ?? new Map();
    steps.set(j.state, { at: Date.parse(j.t), rows: j.rows ?? 0 });
    out.set(j.id, steps);
  }
  return out;
}

export interface MovePhases {
  /** rows of the snapshot copy, and how long it took (copying → catching_up) */
  copyRows: number;
  copyMs: number;
  /** rows brought over by the catch-up rounds before the fence (catching_up → fencing) */
  catchUpRows: number;
  catchUpMs: number;
  /** rows of the final round, under the fence (final_catchup → verifying) */
  finalRows: number;
}

/** A move's phases from its steps; null when a step is missing (the move failed, or the log lost a line). */
export function phases(s: MoveSteps): MovePhases | null {
  const [copying, catching, fencing, final, verifying] = ['copying', 'catching_up', 'fencing', 'final_catchup', 'verifying'].map((k) => s.get(k));
  if (!copying || !catching || !fencing || !final || !verifying) return null;
  return {
    copyRows: catching.rows - copying.rows,
    copyMs: catching.at - copying.at,
    catchUpRows: fencing.rows - catching.rows,
    catchUpMs: fencing.at - catching.at,
    finalRows: verifying.rows - final.rows,
  };
}
