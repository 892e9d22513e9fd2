// StatementNames owns the server-side statement names every client shares: one name per distinct statement text, retired on DDL.

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
