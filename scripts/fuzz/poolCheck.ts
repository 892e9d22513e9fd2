// poolCheck owns the end-of-run leak check on the admin console: SHOW POOLS / SHOW CLIENTS once every fuzz connection is closed.
import pg from 'pg';
import type { PoolRow } from './types.js';

export interface PoolCheck {
  pools: PoolRow[] | null;
  /** server connections still active with no client on them */
  leaked: number;
  /** client sessions the proxy still lists (every fuzz and honest connection is closed) */
  clients: number;
  /** SHOW CLIENTS rows of the sessions still listed (pid, state, server, status, detail) */
  clientRows: string[];
  error: string | null;
}

/** Polls SHOW POOLS until no server connection is active without a client, or `waitMs` passes (resets may take a moment). */
export async function poolCheck(proxy: { host: string; port: number }, admin: { user: string; password: string }, waitMs: number): Promise<PoolCheck> {
  const c = new pg.Client({ ...proxy, user: admin.user, password: admin.password, database: 'prescient', connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const deadline = Date.now() + waitMs;
    for (;;) {
      const rows = (await c.query('SHOW POOLS')).rows as Record<string, unknown>[];
      const pools: PoolRow[] = rows.map((r) => ({
        shard: String(r.shard),
        server_total: Number(r.server_total),
        server_active: Number(r.server_active),
        server_idle: Number(r.server_idle),
        cl_active: Number(r.cl_active),
        cl_waiting: Number(r.cl_waiting),
      }));
      const leaked = pools.reduce((n, p) => n + (p.cl_active === 0 ? p.server_active : 0), 0);
      const listed = (await c.query('SHOW CLIENTS')).rows as Record<string, unknown>[];
      const clients = listed.length;
      if ((leaked === 0 && clients === 0) || Date.now() > deadline) {
        const clientRows = listed.map((r) => `pid ${r.pid} addr ${r.addr} ${r.state} ${r.server ?? '-'} ${r.status} queries=${r.queries} ${r.detail ?? ''}`);
        return { pools, leaked, clients, clientRows, error: null };
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (e) {
    return { pools: null, leaked: 0, clients: 0, clientRows: [], error: (e as Error).message };
  } finally {
    await c.end().catch(() => {});
  }
}

/** The proxy's memory as SHOW STATS reports it, in one line (null if the console does not answer). */
export async function proxyMemory(proxy: { host: string; port: number }, admin: { user: string; password: string }): Promise<string | undefined> {
  const c = new pg.Client({ ...proxy, user: admin.user, password: admin.password, database: 'prescient', connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    const r = (await c.query('SHOW STATS')).rows[0] as Record<string, string>;
    return `heap ${r.heap_used_mb}/${r.heap_total_mb} MB, external ${r.external_mb} MB, array buffers ${r.array_buffers_mb} MB, ${r.clients} clients`;
  } catch {
    return undefined;
  } finally {
    await c.end().catch(() => {});
  }
}
