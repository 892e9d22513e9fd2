// PreparedStatements owns the mapping from a client's statement names to server-side names shared by all clients.

/** One statement text (with its parameter types) as the server knows it under one name. */
export interface ServerStatement {
  /** the name on every server connection: one per distinct (query bytes, parameter types) and schema generation */
  readonly name: string;
  /** name as a NUL-terminated string, ready to copy into frames */
  readonly nameBytes: Buffer;
  /** the Parse payload after the statement name: query bytes, NUL, parameter count and types, exactly as the client sent them */
  readonly rest: Buffer;
  /** a server parsed it without error at least once (a Parse-only request may then be answered without a server) */
  valid: boolean;
  /** replaced by a newer generation (DDL seen, or a server reported the statement stale): new Parses get a new name */
  retired: boolean;
}

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

/** Process-wide: the same statement bytes get the same server-side name for every client, until DDL retires it. */
export class StatementNames {
  private readonly byKey = new Map<string, ServerStatement>();
  private next = 1;
  /** distinct texts remembered (least recently parsed forgotten first: clients keep theirs, a new Parse gets a new name) */
  constructor(readonly prefix = 'prescient_', private readonly maxTexts = 10_000) {}

  /** The current server statement for a Parse payload's `rest` (query bytes + parameter types). */
  statementFor(rest: Buffer): ServerStatement {
    const key = rest.toString('latin1');
    let s = this.byKey.get(key);
    if (s !== undefined && !s.retired) {
      this.byKey.delete(key);
      this.byKey.set(key, s);
    } else {
      if (this.byKey.size >= this.maxTexts) this.byKey.delete(this.byKey.keys().next().value!);
      const name = `${this.prefix}${this.next++}`;
      s = { name, nameBytes: Buffer.from(name + '\0', 'latin1'), rest: Buffer.from(rest), valid: false, retired: false };
      this.byKey.set(key, s);
    }
    return s;
  }

  /** Schema changed (DDL through the proxy, or a server said a cached plan is stale): every text gets a new name at its next Parse. */
  retireAll(): void {
    for (const s of this.byKey.values()) s.retired = true;
    this.byKey.clear();
  }

  /** Is `name` one of ours (a client must never reach it by SQL)? */
  owns(name: string): boolean {
    return name.startsWith(this.prefix);
  }

  get size(): number { return this.byKey.size; }
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
