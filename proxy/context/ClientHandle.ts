// ClientHandle owns what the proxy as a whole asks of one client session: the registry, cancel routing, the admin console and shutdown.
import type { ServerConnection, ServerIdentity } from '../connection/ServerConnection.js';

/** One client session as the context, the admin console and the server see it (ClientSession implements it). */
export interface ClientHandle {
  readonly pid: number;
  /** the cancel key a CancelRequest must carry */
  readonly secret: number;
  readonly database: string;
  readonly applicationName: string;
  /** address:port of the client */
  readonly remote: string;
  readonly connectedAt: number;
  readonly stats: { readonly queries: number; readonly bytesIn: number; readonly bytesOut: number };
  /** the server connection this client holds now, if any */
  readonly server: ServerConnection | null;
  /** for SHOW POOLS: the shard(s) this session waits for */
  readonly waitingFor: string | null;
  /** the server connection running a request of this client now (a CancelRequest goes there), else null */
  readonly cancelTarget: ServerConnection | null;
  /** the server user and password this client uses on a shard (undefined: not a configured shard) */
  serverIdentityOn(shardName: string): ServerIdentity | undefined;
  /** a snapshot for SHOW CLIENTS and debugging */
  describe(): Record<string, unknown>;
  /** why this session is where it is, in one line */
  detail(): string;
  /** at shutdown: an idle client is told and closed */
  shutdownIdle(): void;
  /** sends an error to the client; FATAL errors close the session */
  fail(e: unknown): void;
}
