// SessionPins owns the SQL-level session state that ties a client to its server connection: LISTEN channels,
// SQL PREPAREd statements and temporary tables, read from command tags and what the analyzer says the statements of the
// query they complete do (analyzer/SessionStatements.ts).

import { SessionOp, sessionStatements } from '../analyzer/SessionStatements.js';

const Tag = {
  Listen: 'LISTEN',
  Unlisten: 'UNLISTEN',
  Prepare: 'PREPARE',
  Deallocate: 'DEALLOCATE',
  DeallocateAll: 'DEALLOCATE ALL',
  CreateTable: 'CREATE TABLE',
  /** CREATE TABLE … AS … WITH NO DATA (with data, and SELECT … INTO, the tag is `SELECT n`) */
  CreateTableAs: 'CREATE TABLE AS',
  DropTable: 'DROP TABLE',
  DiscardAll: 'DISCARD ALL',
  DiscardTemp: 'DISCARD TEMP',
} as const;
type Tag = (typeof Tag)[keyof typeof Tag];
const TAGS: ReadonlyMap<string, Tag> = new Map(Object.values(Tag).map((t) => [t, t]));

/** What a tag did to the session, for the owner to act on (server-side statement bookkeeping). */
export const PinEvent = { None: 0, DeallocateAll: 1, DiscardAll: 2 } as const;
export type PinEvent = (typeof PinEvent)[keyof typeof PinEvent];

/** The session statements of one query, per command tag, in order: each tag takes the first of its list. */
interface Ops {
  /** LISTEN and UNLISTEN channels in order; null: UNLISTEN * */
  listen: (string | null)[];
  prepare: string[];
  /** null: DEALLOCATE ALL */
  deallocate: (string | null)[];
  /** every CREATE TABLE (its tag does not say temp or not); not CREATE TABLE … AS, whose tag is SELECT */
  create: { temp: boolean; name: string; onCommitDrop: boolean }[];
  /** CREATE TABLE … AS and SELECT … INTO, whose tag is `SELECT n` (or CREATE TABLE AS): each SELECT tag takes one */
  createAs: { temp: boolean; name: string; onCommitDrop: boolean }[];
  /** per DROP TABLE, the names it may drop from this session's temporary tables (unqualified or in pg_temp) */
  drop: string[][];
}

/** The text holds `temp` in any letter case (TEMP, Temporary, tEmP …): one pass, no string made. */
export function mentionsTemp(query: Uint8Array): boolean {
  for (let i = 0, n = query.length - 3; i < n; i++) {
    if ((query[i]! | 0x20) === 0x74 && (query[i + 1]! | 0x20) === 0x65 && (query[i + 2]! | 0x20) === 0x6d && (query[i + 3]! | 0x20) === 0x70) return true;
  }
  return false;
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
    // a temporary table made by CREATE TABLE … AS or SELECT … INTO completes with `SELECT n`: read the query only when
    // its text names a temp table at all (pinning at the first SELECT tag of such a query errs on the safe side)
    if (c === 0x53 && query !== null && mentionsTemp(query)) {
      this.pinCreatedAs(this.opsOf(query)?.createAs.shift());
      return PinEvent.None;
    }
    // the hot path: SELECT, INSERT, UPDATE n, DELETE n, BEGIN, COMMIT … fall out on their first byte or length
    if (c !== 0x4c && c !== 0x55 && c !== 0x50 && c !== 0x44 && c !== 0x43) return PinEvent.None;
    if (payload.length > 16) return PinEvent.None;
    const tag = TAGS.get(payload.toString('latin1', 0, payload.length - 1));
    if (tag === undefined) return PinEvent.None;
    const ops = this.opsOf(query);
    switch (tag) {
      case Tag.Listen:
        this.channels.add(ops?.listen.shift() ?? '(unknown)');
        return PinEvent.None;
      case Tag.Unlisten: {
        const channel = ops?.listen.shift();
        if (channel === undefined || channel === null) this.channels.clear();
        else this.channels.delete(channel);
        return PinEvent.None;
      }
      case Tag.Prepare:
        this.prepared.add(ops?.prepare.shift() ?? '(unknown)');
        return PinEvent.None;
      case Tag.Deallocate: {
        const name = ops?.deallocate.shift();
        if (name === undefined || name === null) this.prepared.delete('(unknown)');
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
      case Tag.CreateTableAs:
        this.pinCreatedAs(ops?.createAs.shift());
        return PinEvent.None;
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

  private pinCreatedAs(op: { temp: boolean; name: string; onCommitDrop: boolean } | undefined): void {
    if (op && op.temp && !op.onCommitDrop) this.tempTables.add(op.name);
  }

  private opsOf(query: Buffer | null): Ops | null {
    if (query === null) return null;
    if (this.opsFrom === query && this.ops !== null) return this.ops;
    const sql = query.toString('utf8', 0, Math.max(0, query.indexOf(0) < 0 ? query.length : query.indexOf(0)));
    const ops: Ops = { listen: [], prepare: [], deallocate: [], create: [], createAs: [], drop: [] };
    for (const st of sessionStatements(sql)) {
      if (st === null) continue;
      switch (st.op) {
        case SessionOp.Listen:
        case SessionOp.Unlisten:
          ops.listen.push(st.channel);
          break;
        case SessionOp.Prepare:
          ops.prepare.push(st.name);
          break;
        case SessionOp.Deallocate:
          ops.deallocate.push(st.name);
          break;
        case SessionOp.CreateTable:
          (st.asQuery ? ops.createAs : ops.create).push({ temp: st.temp, name: st.table.name, onCommitDrop: st.onCommitDrop });
          break;
        case SessionOp.DropTable:
          ops.drop.push(st.tables.filter((t) => t.schema === null || t.schema === 'pg_temp').map((t) => t.name));
          break;
        default:
          break;
      }
    }
    this.ops = ops;
    this.opsFrom = query;
    return ops;
  }
}
