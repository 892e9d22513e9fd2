// PreparedStatements owns the mapping from a client's statement names to server-side names shared by all clients.
import type { ServerStatement, StatementNames } from '../context/StatementNames.js';

export interface PreparedStatement {
  readonly server: ServerStatement;
  /** server.name (kept for readers that only need the name) */
  readonly serverName: string;
  readonly serverNameBytes: Buffer;
  /** the query text decoded as UTF-8, for analysis only (the bytes sent to servers are server.rest) */
  readonly query: string;
  /** the analyzer's view of `query`, filled at the first Parse/Bind that routes it (routing only) */
  analysis?: unknown;
  /** resultShapeOf the RowDescription the client was given when it described this statement (drivers such as
   * postgres.js and Npgsql decode later rows with it); undefined until it does */
  shape?: string;
}

/** One client's named statements (names are the client's bytes, decoded as latin1 so that any byte string round-trips). */
export class PreparedStatements {
  private readonly byName = new Map<string, PreparedStatement>();
  constructor(private readonly names: StatementNames) {}
  add(name: string, rest: Buffer, query: string): PreparedStatement {
    const server = this.names.statementFor(rest);
    const s: PreparedStatement = { server, serverName: server.name, serverNameBytes: server.nameBytes, query, shape: undefined };
    this.byName.set(name, s);
    return s;
  }
  get(name: string): PreparedStatement | undefined { return this.byName.get(name); }
  has(name: string): boolean { return this.byName.has(name); }
  /** The client's name for a server-side name (for messages that mention it). */
  clientNameOf(serverName: string): string | undefined {
    for (const [name, s] of this.byName) if (s.serverName === serverName) return name;
    return undefined;
  }
  delete(name: string): boolean { return this.byName.delete(name); }
  clear(): void { this.byName.clear(); }
  get size(): number { return this.byName.size; }
}
