// PreparedStatements owns the mapping from a client's statement names to server-side names shared by all clients.
export interface PreparedStatement {
  /** the name on every server connection: one per distinct (query, parameter types) */
  serverName: string;
  /** serverName as a NUL-terminated string, ready to copy into frames */
  serverNameBytes: Buffer;
  query: string;
  paramTypes: number[];
  /** the analyzer's view of `query`, filled at the first Parse/Bind that routes it (routing only) */
  analysis?: unknown;
}

/** Process-wide: the same statement text gets the same server-side name for every client. */
export class StatementNames {
  private readonly byText = new Map<string, string>();
  private next = 1;
  constructor(private readonly prefix = 'prescient_') {}
  nameFor(query: string, paramTypes: readonly number[]): string {
    const key = paramTypes.length ? `${query}\u0000${paramTypes.join(',')}` : query;
    let name = this.byText.get(key);
    if (!name) {
      name = `${this.prefix}${this.next++}`;
      this.byText.set(key, name);
    }
    return name;
  }
  get size(): number { return this.byText.size; }
}

/** One client's named statements. */
export class PreparedStatements {
  private readonly byName = new Map<string, PreparedStatement>();
  constructor(private readonly names: StatementNames) {}
  add(name: string, query: string, paramTypes: number[]): PreparedStatement {
    const serverName = this.names.nameFor(query, paramTypes);
    const s = { serverName, serverNameBytes: Buffer.from(serverName + '\0', 'latin1'), query, paramTypes };
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
