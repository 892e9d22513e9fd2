// backgroundRead owns running a read of Prescient's own (a prefetch) on a shard: an idle pooled connection no client waits for, with the reported settings the read's result depends on, never while the key is being moved; the connection goes back to its pool after.
import type { ProxyContext } from './ProxyContext.js';
import { logger } from '../logger.js';

/** how long a background read may take before its connection is given up */
const READ_TIMEOUT_MS = 5000;

/** The result frames; null: it cannot run here (settings differ) or failed; 'busy': no idle connection now, or the key is being moved (try later). */
export async function backgroundRead(ctx: ProxyContext, placementKey: string, user: string, request: Buffer, settings: ReadonlyMap<string, string | null>): Promise<Buffer[] | null | 'busy'> {
  // a key being moved waits for its fence like any request; a prefetch just does not run
  if (ctx.fence.isClosed(placementKey)) return 'busy';
  const shardName = ctx.catalog.snapshot().placementOf(placementKey).shard.name;
  const shard = ctx.shard(shardName);
  if (shard === undefined) return null;
  const pool = ctx.poolFor(shardName, ctx.serverIdentity(ctx.config.users.find((u) => u.name === user), user, shard));
  const conn = pool?.tryAcquireBackground() ?? null;
  if (pool === undefined) return null;
  if (conn === null) return 'busy';
  // a connection carrying a client's SET, or reporting other settings than the read was made with, would give other rows
  // the settings a result depends on, as the connection has them (a client's SET, else what the server reported),
  // must be the read's own: null = the client had not set it
  let differs: string | null = null;
  for (const [name, value] of settings) {
    const has = conn.setParams.get(name) ?? (value === null ? undefined : [...conn.params].find(([k]) => k.toLowerCase() === name)?.[1]);
    if ((has ?? null) !== value) differs = `${name}: ${value ?? 'not set'} wanted, ${has ?? 'not set'} on the connection`;
  }
  if (differs !== null) {
    logger.debug('prefetch: not run on a connection with other settings', { key: placementKey, differs });
    pool.release(conn);
    return null;
  }
  try {
    const frames = await conn.read(request, READ_TIMEOUT_MS);
    if (frames === null) {
      pool.discard(conn);
      return null;
    }
    pool.release(conn);
    return frames;
  } catch {
    pool.discard(conn);
    return null;
  }
}
