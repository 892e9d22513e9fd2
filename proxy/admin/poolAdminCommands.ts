// poolAdminCommands owns the admin console's statements on databases, pools and connections: SHOW SERVERS, SHOW DATABASES, PAUSE [shard], RESUME [shard] and KILL pid.
import type { ServerConnection } from '../connection/ServerConnection.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import { ProxyError, SqlState, terminatedByAdministrator } from '../protocol/SqlState.js';
import type { AdminCommand, AdminResult } from './AdminConsole.js';

const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);

/** The shards a PAUSE or RESUME names (all configured shards without an argument); 42704 for an unknown one. */
function shardsNamed(ctx: ProxyContext, args: string, usage: string): string[] {
  const words = args.split(/\s+/).filter(Boolean).map((w) => w.replace(/^["']|["']$/g, ''));
  if (words.length > 1) throw new ProxyError('ADMIN_SYNTAX', `usage: ${usage}`, SqlState.SyntaxError);
  const all = ctx.config.shards.map((s) => s.name);
  if (words.length === 0) return all;
  if (!all.includes(words[0]!)) throw new ProxyError('UNKNOWN_SHARD', `shard "${words[0]}" is not configured (shards: ${all.join(', ')})`, SqlState.UndefinedObject);
  return [words[0]!];
}

/** The databases clients connect to, each with its shards (one today: config.database over config.shards). */
function databases(ctx: ProxyContext): { name: string; shards: ProxyContext['config']['shards'] }[] {
  return [{ name: ctx.config.database, shards: ctx.config.shards }];
}

export function poolAdminCommands(ctx: ProxyContext): AdminCommand[] {
  const servers = (): AdminResult => {
    // the clients each connection serves now (several on a pipeline)
    const served = new Map<ServerConnection, number[]>();
    for (const c of ctx.clients.values()) {
      if (c.server !== null) served.set(c.server, [...(served.get(c.server) ?? []), c.pid]);
    }
    const rows: AdminResult['rows'] = [];
    for (const pool of ctx.allPools()) {
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
    columns: ['name', 'shard', 'host', 'port', 'database', 'pool_mode', 'pool_size', 'current_connections', 'paused'],
    rows: databases(ctx).flatMap((db) => db.shards.map((s) => {
      const pools = ctx.allPools().filter((p) => p.shard.name === s.name);
      return [db.name, s.name, s.host, s.port, s.database, ctx.config.pool.mode, ctx.config.pool.size, pools.reduce((n, p) => n + p.totalCount, 0), ctx.pausedShards.has(s.name)];
    })),
  });
  const pause = async (args: string): Promise<AdminResult> => {
    const shards = shardsNamed(ctx, args, 'PAUSE [shard]');
    for (const s of shards) ctx.pausedShards.add(s);
    // pools of the shard made later are paused as they are made (ProxyContext.poolFor)
    await Promise.all(ctx.allPools().filter((p) => shards.includes(p.shard.name)).map((p) => p.pause()));
    const still = shards.filter((s) => ctx.pausedShards.has(s));
    return { columns: ['pause'], rows: [[still.length > 0 ? `paused: ${still.join(', ')}` : 'resumed before every transaction in flight had finished']], tag: 'PAUSE' };
  };
  const resume = (args: string): AdminResult => {
    const shards = shardsNamed(ctx, args, 'RESUME [shard]');
    for (const s of shards) ctx.pausedShards.delete(s);
    for (const p of ctx.allPools()) if (shards.includes(p.shard.name)) p.resume();
    return { columns: ['resume'], rows: [[`resumed: ${shards.join(', ')}`]], tag: 'RESUME' };
  };
  const kill = (args: string): AdminResult => {
    const pid = Number(args.trim());
    if (!/^\d+$/.test(args.trim()) || !Number.isSafeInteger(pid)) throw new ProxyError('ADMIN_SYNTAX', 'usage: KILL pid (a client pid from SHOW CLIENTS)', SqlState.SyntaxError);
    const client = ctx.clients.get(pid);
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
