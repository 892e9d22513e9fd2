// ServerPipeline owns one server connection carrying several clients' autocommit Queries at once (pool.pipeline > 1): their Queries in one write per turn of the event loop, the answers split at each ReadyForQuery and handed to each client in order.
import type { ServerConnection, ServerOwner } from '../connection/ServerConnection.js';
import { BackendCode } from '../protocol/MessageCode.js';

/** A client riding the pipeline: it gets the bytes of its own answers, and hears if the connection closes. */
export interface PipelineRider {
  /** bytes of this rider's answer, in order (as ServerOwner.onServerData: false when nothing of them is kept) */
  onServerData(chunk: Buffer): boolean | void;
  onServerClose(conn: ServerConnection): void;
}

/** What the pipeline tells its pool: it carries nothing any more (the connection may go back). */
export interface PipelineOwner {
  pipelineEmpty(pipe: ServerPipeline): void;
}

/**
 * The connection's owner while it carries Queries of several clients. Each Query sent owes exactly one answer ending
 * in ReadyForQuery (only single autocommit statements ride: Forwarder.ridePipeline), so answers are told apart by
 * counting ReadyForQuery frames; a rider that left has the rest of its answers dropped.
 */
export class ServerPipeline implements ServerOwner {
  /** the rider of each Query sent and not yet answered, oldest first (null: it left) */
  private riders: (PipelineRider | null)[] = [];
  private head = 0;
  /** Queries gathered this turn of the event loop: one write */
  private out: Buffer[] = [];
  private scheduled = false;
  /** the frame being read: its type, and bytes of it still to come (header bytes kept while it is cut) */
  private code = 0;
  private left = 0;
  private readonly header = Buffer.alloc(5);
  private headerLen = 0;
  private closed = false;

  constructor(
    readonly conn: ServerConnection,
    /** settingsKeyOf the settings the connection runs with: only clients with the same ride it */
    readonly settingsKey: string,
    private readonly owner: PipelineOwner,
  ) {
    conn.owner = this;
  }

  /** Queries sent and not answered yet */
  get depth(): number {
    return this.riders.length - this.head;
  }

  /** Sends one Query frame for `rider`: it is owed one answer. */
  send(rider: PipelineRider, query: Buffer): void {
    this.riders.push(rider);
    this.out.push(query);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const out = this.out;
    if (out.length === 0 || this.closed) return;
    this.out = [];
    this.conn.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  };

  /** The rider left: whatever it is still owed is dropped. */
  drop(rider: PipelineRider): void {
    for (let i = this.head; i < this.riders.length; i++) if (this.riders[i] === rider) this.riders[i] = null;
  }

  onServerData(chunk: Buffer): boolean {
    let kept = false;
    let at = 0;
    let runStart = 0;
    const n = chunk.length;
    while (at < n) {
      if (this.left === 0) {
        // a frame header, perhaps cut across reads
        const take = Math.min(5 - this.headerLen, n - at);
        chunk.copy(this.header, this.headerLen, at, at + take);
        this.headerLen += take;
        at += take;
        if (this.headerLen < 5) break;
        this.headerLen = 0;
        this.code = this.header[0]!;
        this.left = this.header.readInt32BE(1) - 4;
        if (this.left > 0) continue;
      } else {
        const take = Math.min(this.left, n - at);
        this.left -= take;
        at += take;
        if (this.left > 0) break;
      }
      if (this.code === BackendCode.ReadyForQuery) {
        kept = this.deliver(chunk, runStart, at) || kept;
        runStart = at;
        this.head++;
        if (this.head > 1024 && this.head * 2 > this.riders.length) {
          this.riders.splice(0, this.head);
          this.head = 0;
        }
      }
    }
    if (at > runStart) kept = this.deliver(chunk, runStart, at) || kept;
    if (this.depth === 0 && this.out.length === 0 && !this.closed) {
      this.riders = [];
      this.head = 0;
      this.owner.pipelineEmpty(this);
    }
    return kept;
  }

  /** Bytes [start, end) of an answer to the rider it is owed to (nobody's, if that rider left); true if it keeps them. */
  private deliver(chunk: Buffer, start: number, end: number): boolean {
    const rider = this.riders[this.head];
    if (rider === undefined || rider === null) return false;
    return rider.onServerData(chunk.subarray(start, end)) !== false;
  }

  onServerClose(conn: ServerConnection): void {
    this.closed = true;
    const riders = this.riders.slice(this.head);
    this.riders = [];
    this.head = 0;
    for (const r of new Set(riders)) r?.onServerClose(conn);
  }
}
