// explainHang owns telling a proxy hang from a lock wait: when a probe is not answered, is its server backend waiting for a row lock that another connected client's open transaction holds (as it would against Postgres itself)?
import pg from 'pg';

export interface HangExplanation {
  /** true: the input's backend waits for a lock held by a backend that serves another client still connected */
  lockWait: boolean;
  /** what was found, for the report */
  detail: string;
}

interface ClientRow {
  addr: string;
  backend: number | null;
  detail: string;
}

/** The client sessions the proxy lists, with the backend pid of the server connection each holds (SHOW CLIENTS' detail). */
async function clientsOf(proxy: { host: string; port: number }, admin: { user: string; password: string }): Promise<ClientRow[]> {
  const c = new pg.Client({ ...proxy, user: admin.user, password: admin.password, database: 'prescient', connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const rows = (await c.query('SHOW CLIENTS')).rows as Record<string, unknown>[];
    return rows.map((r) => {
      const m = /backend=(\d+)/.exec(String(r.detail ?? ''));
      return { addr: String(r.addr ?? ''), backend: m ? Number(m[1]) : null, detail: String(r.detail ?? '') };
    });
  } finally {
    await c.end().catch(() => {});
  }
}

/** What Postgres says one backend is doing (state, since when, wait event, query). */
async function backendState(db: pg.ClientConfig, pid: number): Promise<string> {
  const c = new pg.Client({ ...db, connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const r = await c.query(`select state, round(extract(epoch from now() - state_change) * 1000)::int as ms, wait_event_type, wait_event, left(query, 80) as query
      from pg_stat_activity where pid = $1`, [pid]);
    const x = r.rows[0] as Record<string, unknown> | undefined;
    return x ? `${x.state} for ${x.ms} ms, wait ${x.wait_event_type ?? '-'}/${x.wait_event ?? '-'}: ${x.query}` : 'gone';
  } finally {
    await c.end().catch(() => {});
  }
}

/** Lock waits now: each waiting backend with the backends blocking it and what those are doing. */
async function lockWaits(db: pg.ClientConfig): Promise<{ pid: number; query: string; blockers: { pid: number; state: string; query: string }[] }[]> {
  const c = new pg.Client({ ...db, connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const r = await c.query(`select w.pid, left(w.query, 80) as query, b.pid as blocker, b.state as blocker_state, left(b.query, 80) as blocker_query
      from pg_stat_activity w cross join lateral unnest(pg_blocking_pids(w.pid)) bp join pg_stat_activity b on b.pid = bp
      where w.wait_event_type = 'Lock'`);
    const byPid = new Map<number, { pid: number; query: string; blockers: { pid: number; state: string; query: string }[] }>();
    for (const x of r.rows as Record<string, unknown>[]) {
      const pid = Number(x.pid);
      const e = byPid.get(pid) ?? { pid, query: String(x.query), blockers: [] };
      e.blockers.push({ pid: Number(x.blocker), state: String(x.blocker_state), query: String(x.blocker_query) });
      byPid.set(pid, e);
    }
    return [...byPid.values()];
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * Explains the hang of the fuzz client on local port `clientPort`: a lock wait when the backend of its session waits for
 * a lock whose every blocker is the backend of another session the proxy lists (a client still connected, whose open
 * transaction Postgres would make it wait for just the same). A blocker that serves no listed session would be a
 * transaction the proxy kept for nobody: that stays a hang.
 */
export async function explainHang(
  clientPort: number,
  proxy: { host: string; port: number },
  admin: { user: string; password: string },
  db: pg.ClientConfig,
): Promise<HangExplanation> {
  try {
    const clients = await clientsOf(proxy, admin);
    const mine = clients.find((c) => c.addr.endsWith(`:${clientPort}`));
    if (!mine) return { lockWait: false, detail: 'the proxy lists no session for it' };
    if (mine.backend === null) return { lockWait: false, detail: `its session holds no server connection (${mine.detail})` };
    const waits = await lockWaits(db);
    const wait = waits.find((w) => w.pid === mine.backend);
    if (!wait) return { lockWait: false, detail: `its backend ${mine.backend} waits for no lock (${await backendState(db, mine.backend)}); session: ${mine.detail}` };
    const served = new Map(clients.filter((c) => c.backend !== null && c !== mine).map((c) => [c.backend!, c.addr]));
    const blockers = wait.blockers.map((b) => `${b.pid} (${b.state}${served.has(b.pid) ? `, client ${served.get(b.pid)}` : ', no client'}: ${b.query})`);
    const lockWait = wait.blockers.length > 0 && wait.blockers.every((b) => served.has(b.pid));
    return { lockWait, detail: `its backend ${mine.backend} waits for a lock (${wait.query}) held by ${blockers.join('; ')}` };
  } catch (e) {
    return { lockWait: false, detail: `could not look: ${(e as Error).message}` };
  }
}
