// poolAdminCommands owns the admin console's statements on databases, pools and connections (of every database served): SHOW SERVERS, SHOW DATABASES, PAUSE [shard], RESUME [shard] and KILL pid.
import type { ServerConnection } from '../connection/ServerConnection.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import { ProxyError, SqlState, terminatedByAdministrator } from '../protocol/SqlState.js';
import type { AdminCommand, AdminResult } from './AdminConsole.js';

const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);

/**
 * The shards a PAUSE or RESUME names, per database (all shards of every database without an argument; a shard name
 * several databases use names each of them); 42704 for a name no database has.
 */
function shardsNamed(ctx: ProxyContext, args: string, usage: string): Map<ProxyContext, string[]> {
  const words = args.split(/\s+/).filter(Boolean).map((w) => w.replace(/^["']|["']$/g, ''));
  if (words.length > 1) throw new ProxyError('ADMIN_SYNTAX', `usage: ${usage}`, SqlState.SyntaxError);
  const out = new Map<ProxyContext, string[]>();
  for (const c of ctx.registry.contexts()) {
    const all = c.config.shards.map((s) => s.name);
    const named = words.length === 0 ? all : all.filter((s) => s === words[0]);
    if (named.length > 0) out.set(c, named);
  }
  if (out.size === 0) {
    const all = [...new Set(ctx.registry.contexts().flatMap((c) => c.config.shards.map((s) => s.name)))];
    throw new ProxyError('UNKNOWN_SHARD', `shard "${words[0]}" is not configured (shards: ${all.join(', ')})`, SqlState.UndefinedObject);
  }
  return out;
}

export function poolAdminCommands(ctx: ProxyContext): AdminCommand[] {
  const servers = (): AdminResult => {
    // the clients each connection serves now (several on a pipeline)
    const served = new Map<ServerConnection, number[]>();
    for (const c of ctx.registry.clients.values()) {
      if (c.server !== null) served.set(c.server, [...(served.get(c.server) ?? []), c.pid]);
    }
    const rows: AdminResult['rows'] = [];
    for (const pool of ctx.registry.contexts().flatMap((c) => c.allPools())) {
      for (const conn of pool.connections()) {
        const state = pool.isIdle(conn) ? 'idle' : conn.owner !== null ? 'active' : 'used';
        rows.push([
          `server-${conn.id}`, 'S', conn.user, conn.shard.database, conn.shard.name, state, conn.shard.host, conn.shard.port,
          conn.socket.localPort ?? null, iso(conn.connectedAt), iso(conn.handedOutAt), served.get(conn)?.join(',') ?? null,
          conn.pid, String.fromCharCode(conn.txStatus), false,
        ]);
      }
    }
    return {
      columns: ['server', 'type', 'user', 'database', 'shard', 'state', 'addr', 'port', 'local_port', 'connect_time', 'request_time', 'link', 'remote_pid', 'tx', 'tls'],
      rows,
    };
  };
  const showDatabases = (): AdminResult => ({
    columns: ['name', 'aliases', 'shard', 'host', 'port', 'database', 'pool_mode', 'pool_size', 'clients', 'current_connections', 'paused'],
    rows: ctx.registry.contexts().flatMap((c) => c.config.shards.map((s) => {
      const pools = c.allPools().filter((p) => p.shard.name === s.name);
      return [c.config.database, (c.config.databases[c.config.database]?.aliases ?? []).join(','), s.name, s.host, s.port, s.database,
        c.config.pool.mode, c.config.pool.size, c.clients.size, pools.reduce((n, p) => n + p.totalCount, 0), c.pausedShards.has(s.name)];
    })),
  });
  const pause = async (args: string): Promise<AdminResult> => {
    const named = shardsNamed(ctx, args, 'PAUSE [shard]');
    const waits: Promise<void>[] = [];
    for (const [c, shards] of named) {
      for (const s of shards) c.pausedShards.add(s);
      // pools of the shard made later are paused as they are made (ProxyContext.poolFor)
      waits.push(...c.allPools().filter((p) => shards.includes(p.shard.name)).map((p) => p.pause()));
    }
    await Promise.all(waits);
    const still = [...named].flatMap(([c, shards]) => shards.filter((s) => c.pausedShards.has(s)));
    return { columns: ['pause'], rows: [[still.length > 0 ? `paused: ${[...new Set(still)].join(', ')}` : 'resumed before every transaction in flight had finished']], tag: 'PAUSE' };
  };
  const resume = (args: string): AdminResult => {
    const named = shardsNamed(ctx, args, 'RESUME [shard]');
    for (const [c, shards] of named) {
      for (const s of shards) c.pausedShards.delete(s);
      for (const p of c.allPools()) if (shards.includes(p.shard.name)) p.resume();
    }
    return { columns: ['resume'], rows: [[`resumed: ${[...new Set([...named.values()].flat())].join(', ')}`]], tag: 'RESUME' };
  };
  const kill = (args: string): AdminResult => {
    const pid = Number(args.trim());
    if (!/^\d+$/.test(args.trim()) || !Number.isSafeInteger(pid)) throw new ProxyError('ADMIN_SYNTAX', 'usage: KILL pid (a client pid from SHOW CLIENTS)', SqlState.SyntaxError);
    const client = ctx.registry.clients.get(pid);
    if (client === undefined) throw new ProxyError('NO_SUCH_CLIENT', `no client with pid ${pid} (SHOW CLIENTS lists them)`, SqlState.UndefinedObject);
    // as at shutdown: FATAL 57P01, and its server connection goes back (closed, so rolled back, mid-transaction)
    client.fail(terminatedByAdministrator());
    return { columns: ['kill'], rows: [[`client ${pid} terminated`]], tag: 'KILL' };
  };
  return [
    { name: 'SHOW SERVERS', syntax: 'SHOW SERVERS', description: 'one row per server connection: shard, user, state (active/idle/used), address, times, the client pids it serves (link), backend pid', run: servers },
    { name: 'SHOW DATABASES', syntax: 'SHOW DATABASES', description: 'per database clients use and shard: server address and database, pool mode and size, connections, paused', run: showDatabases },
    { name: 'PAUSE', syntax: 'PAUSE [shard]', description: 'waits for the transactions in flight on the shard (every shard without one) to finish, then holds new ones until RESUME', run: pause },
    { name: 'RESUME', syntax: 'RESUME [shard]', description: 'releases the requests PAUSE holds', run: resume },
    { name: 'KILL', syntax: 'KILL pid', description: 'closes that client with FATAL 57P01; its server connection goes back to the pool (rolled back)', run: kill },
  ];
}
