// soakCheck owns the pure checks of the move soak: which moves of SHOW MIGRATIONS were manual, the planner's, or an ADD/DRAIN SHARD's, and which tenants have rows on a shard their placement does not name.

/** A row of SHOW MIGRATIONS (text columns as the console sends them). */
export interface MoveRow {
  id: string;
  key: string;
  from: string;
  to: string;
  state: string;
  rows: string;
  pause_ms: string | null;
  elapsed_ms: string | null;
  error: string | null;
}

export interface MoveKinds {
  done: number;
  manual: number;
  planner: number;
  add: number;
  drain: number;
  other: number;
}

/**
 * The done moves by who started them: `manual` ids (MIGRATE's answers); the planner's, matched one for one with its
 * log lines (`moving a key to even the load`: key, from, to; each line names one move, less those of its keys it
 * logged as `move not started`); of the rest, those to the added shard before the drain began (ids below
 * `drainFirstId`) are the add's, those from the drained shard after it the drain's.
 */
export function classifyMoves(rows: readonly MoveRow[], manual: ReadonlySet<number>, planner: readonly { key: string; from: string; to: string }[], added: string, drained: string, drainFirstId = Infinity, notStarted: readonly string[] = []): MoveKinds {
  const k: MoveKinds = { done: 0, manual: 0, planner: 0, add: 0, drain: 0, other: 0 };
  const lines = new Map<string, number>();
  const skip = new Map<string, number>();
  for (const key of notStarted) skip.set(key, (skip.get(key) ?? 0) + 1);
  for (const p of planner) {
    if ((skip.get(p.key) ?? 0) > 0) {
      skip.set(p.key, skip.get(p.key)! - 1);
      continue;
    }
    lines.set(`${p.key}\u0000${p.from}\u0000${p.to}`, (lines.get(`${p.key}\u0000${p.from}\u0000${p.to}`) ?? 0) + 1);
  }
  for (const r of [...rows].sort((a, b) => Number(a.id) - Number(b.id))) {
    const at = `${r.key}\u0000${r.from}\u0000${r.to}`;
    const planned = (lines.get(at) ?? 0) > 0 && !manual.has(Number(r.id));
    if (planned) lines.set(at, lines.get(at)! - 1); // a planner move that failed still took its line
    if (r.state !== 'done') continue;
    k.done++;
    if (manual.has(Number(r.id))) k.manual++;
    else if (planned) k.planner++;
    else if (r.to === added && Number(r.id) < drainFirstId) k.add++;
    else if (r.from === drained && Number(r.id) >= drainFirstId) k.drain++;
    else k.other++;
  }
  return k;
}

export interface Placed {
  account: string;
  shard: string;
}

/** One tenant's rows on a shard its placement does not name (or none on the one it names). */
export interface Stray {
  account: string;
  shard: string;
  placed: string;
  rows: number;
}

/** Tenants with rows off their placement's shard, and tenants with no rows on it (each has an accounts row at least). */
export function strayRows(placed: readonly Placed[], clusters: readonly { shard: string; counts: ReadonlyMap<string, number> }[]): Stray[] {
  const where = new Map(placed.map((p) => [p.account, p.shard]));
  const out: Stray[] = [];
  for (const c of clusters) {
    for (const [account, rows] of c.counts) {
      const p = where.get(account);
      if (p !== c.shard) out.push({ account, shard: c.shard, placed: p ?? '(none)', rows });
    }
  }
  for (const p of placed) {
    const home = clusters.find((c) => c.shard === p.shard);
    if (!home?.counts.get(p.account)) out.push({ account: p.account, shard: p.shard, placed: p.shard, rows: 0 });
  }
  return out;
}
