// SessionPins owns the SQL-level session state that ties a client to its server connection: LISTEN channels,
// SQL PREPAREd statements and temporary tables, read from command tags and the text of the query they complete.

/** A name as Postgres resolves it: "Quoted" keeps its case, unquoted is lower-cased. */
function identifier(raw: string): string {
  return raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase();
}

const NAME = String.raw`"(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*`;
const LISTEN = new RegExp(String.raw`(?:^|;)\s*(un)?listen\s+(${NAME}|\*)`, 'gi');
const PREPARE = new RegExp(String.raw`(?:^|;)\s*prepare\s+(?!transaction\b)(${NAME})`, 'gi');
const DEALLOCATE = new RegExp(String.raw`(?:^|;)\s*deallocate\s+(?:prepare\s+)?(${NAME})`, 'gi');
/** every CREATE TABLE (tags do not say temp or not): group 1 = temp, 2 = name, 3 = ON COMMIT DROP */
const CREATE_TABLE = new RegExp(
  String.raw`(?:^|;)\s*create\s+(?:(?:global|local)\s+)?(temp(?:orary)?\s+)?(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?((?:${NAME})(?:\s*\.\s*(?:${NAME}))?)(?:[^;]*?(\bon\s+commit\s+drop\b))?`,
  'gi',
);
const DROP_TABLE = /(?:^|;)\s*drop\s+table\s+(?:if\s+exists\s+)?([^;]+)/gi;

const Tag = {
  Listen: 'LISTEN',
  Unlisten: 'UNLISTEN',
  Prepare: 'PREPARE',
  Deallocate: 'DEALLOCATE',
  DeallocateAll: 'DEALLOCATE ALL',
  CreateTable: 'CREATE TABLE',
  DropTable: 'DROP TABLE',
  DiscardAll: 'DISCARD ALL',
  DiscardTemp: 'DISCARD TEMP',
} as const;
type Tag = (typeof Tag)[keyof typeof Tag];
const TAGS: ReadonlyMap<string, Tag> = new Map(Object.values(Tag).map((t) => [t, t]));

/** What a tag did to the session, for the owner to act on (server-side statement bookkeeping). */
export const PinEvent = { None: 0, DeallocateAll: 1, DiscardAll: 2 } as const;
export type PinEvent = (typeof PinEvent)[keyof typeof PinEvent];

interface Ops {
  listen: string[];
  prepare: string[];
  deallocate: string[];
  create: { temp: boolean; name: string; onCommitDrop: boolean }[];
  drop: string[][];
}

export class SessionPins {
  /** channels this session listens on */
  readonly channels = new Set<string>();
  /** statements prepared with SQL PREPARE: they live on the server connection, under the client's own names */
  readonly prepared = new Set<string>();
  /** temporary tables (not ON COMMIT DROP) this session created on its server connection */
  readonly tempTables = new Set<string>();
  private ops: Ops | null = null;
  private opsFrom: Buffer | null = null;

  /** Why the session cannot leave its server connection, or null. */
  get reason(): string | null {
    if (this.channels.size > 0) return 'LISTEN keeps it there';
    if (this.prepared.size > 0) return 'a statement prepared with SQL PREPARE keeps it there';
    if (this.tempTables.size > 0) return 'a temporary table keeps it there';
    return null;
  }

  /**
   * A CommandComplete tag (payload without the NUL) of the query whose text is `query` (null: the extended protocol,
   * whose statement text Prescient does not keep here).
   */
  onCommand(payload: Buffer, query: Buffer | null): PinEvent {
    const c = payload[0];
    // the hot path: SELECT, INSERT, UPDATE n, DELETE n, BEGIN, COMMIT … fall out on their first byte or length
    if (c !== 0x4c && c !== 0x55 && c !== 0x50 && c !== 0x44 && c !== 0x43) return PinEvent.None;
    if (payload.length > 16) return PinEvent.None;
    const tag = TAGS.get(payload.toString('latin1', 0, payload.length - 1));
    if (tag === undefined) return PinEvent.None;
    const ops = this.opsOf(query);
    switch (tag) {
      case Tag.Listen:
        this.channels.add(ops?.listen.shift()?.slice(1) ?? '(unknown)');
        return PinEvent.None;
      case Tag.Unlisten: {
        const op = ops?.listen.shift();
        if (!op || op === '-*') this.channels.clear();
        else this.channels.delete(op.slice(1));
        return PinEvent.None;
      }
      case Tag.Prepare:
        this.prepared.add(ops?.prepare.shift() ?? '(unknown)');
        return PinEvent.None;
      case Tag.Deallocate: {
        const name = ops?.deallocate.shift();
        if (name === undefined) this.prepared.delete('(unknown)');
        else this.prepared.delete(name);
        return PinEvent.None;
      }
      case Tag.DeallocateAll:
        ops?.deallocate.shift();
        this.prepared.clear();
        return PinEvent.DeallocateAll;
      case Tag.CreateTable: {
        const op = ops?.create.shift();
        if (op && op.temp && !op.onCommitDrop) this.tempTables.add(op.name);
        return PinEvent.None;
      }
      case Tag.DropTable:
        for (const t of ops?.drop.shift() ?? []) this.tempTables.delete(t);
        return PinEvent.None;
      case Tag.DiscardTemp:
        this.tempTables.clear();
        return PinEvent.None;
      case Tag.DiscardAll:
        this.channels.clear();
        this.prepared.clear();
        this.tempTables.clear();
        return PinEvent.DiscardAll;
    }
  }

  private opsOf(query: Buffer | null): Ops | null {
    if (query === null) return null;
    if (this.opsFrom === query && this.ops !== null) return this.ops;
    const sql = query.toString('utf8', 0, Math.max(0, query.indexOf(0) < 0 ? query.length : query.indexOf(0)));
    const ops: Ops = { listen: [], prepare: [], deallocate: [], create: [], drop: [] };
    for (const m of sql.matchAll(LISTEN)) ops.listen.push((m[1] ? '-' : '+') + (m[2] === '*' ? '*' : identifier(m[2]!)));
    for (const m of sql.matchAll(PREPARE)) ops.prepare.push(identifier(m[1]!));
    for (const m of sql.matchAll(DEALLOCATE)) ops.deallocate.push(identifier(m[1]!));
    for (const m of sql.matchAll(CREATE_TABLE)) {
      const parts = m[2]!.split(/\s*\.\s*/);
      const schema = parts.length > 1 ? identifier(parts[0]!) : null;
      ops.create.push({ temp: m[1] !== undefined || schema === 'pg_temp', name: identifier(parts[parts.length - 1]!), onCommitDrop: m[3] !== undefined });
    }
    for (const m of sql.matchAll(DROP_TABLE)) {
      const names = m[1]!.replace(/\s+(cascade|restrict)\s*$/i, '').split(',').map((n) => n.trim()).filter((n) => n.length > 0);
      ops.drop.push(names.flatMap((n) => {
        const parts = n.split(/\s*\.\s*/);
        if (parts.length > 1 && identifier(parts[0]!) !== 'pg_temp') return [];
        return [identifier(parts[parts.length - 1]!)];
      }));
    }
    this.ops = ops;
    this.opsFrom = query;
    return ops;
  }
}
