// PendingResponses owns the queue of responses a server connection still owes a client, in request order.
import { BackendCode } from '../protocol/MessageCode.js';
import { Fifo } from './Fifo.js';

/** What a forwarded (or synthesized) request is waiting for. */
export const Await = {
  /** simple Query or FunctionCall: everything up to ReadyForQuery belongs to it */
  Query: 0,
  Sync: 1,
  Parse: 2,
  Bind: 3,
  DescribeStatement: 4,
  DescribePortal: 5,
  Execute: 6,
  Close: 7,
  /** a response Prescient makes up (e.g. ParseComplete for a statement the server already has) */
  Synthetic: 8,
  /** a message the server answers only with an error (a Flush that carries bytes): only ErrorResponse ends it */
  Refused: 9,
} as const;
export type Await = (typeof Await)[keyof typeof Await];

export interface Pending {
  kind: Await;
  /** swallow this request's responses: it was injected by Prescient, the client never sent it */
  hide: boolean;
  /** bytes to emit when this entry reaches the head (Synthetic); for a Bind/Describe of a name the client never prepared, that name */
  synth?: Buffer;
  /** called when the entry completes (ok) or is skipped by an error (not ok) */
  onDone?: (ok: boolean, error?: Map<string, string> | null) => void;
  /** a Describe of a statement: called with the RowDescription payload (null for NoData) before onDone */
  onShape?: (rowDescription: Buffer | null) => void;
}

// every entry has the same shape (kind, hide, synth, onDone), so property reads on the hot path stay monomorphic
const shared = (kind: Await): Pending => Object.freeze({ kind, hide: false, synth: undefined, onDone: undefined });
export const PENDING = {
  Query: shared(Await.Query),
  Sync: shared(Await.Sync),
  Parse: shared(Await.Parse),
  Bind: shared(Await.Bind),
  DescribeStatement: shared(Await.DescribeStatement),
  DescribePortal: shared(Await.DescribePortal),
  Execute: shared(Await.Execute),
  Close: shared(Await.Close),
  /** a Bind of a client's named statement (its errors may say the shared server statement is stale) */
  BindNamed: Object.freeze({ kind: Await.Bind, hide: false, synth: undefined, onDone: undefined }) as Pending,
  HiddenClose: Object.freeze({ kind: Await.Close, hide: true, synth: undefined, onDone: undefined }) as Pending,
  Refused: shared(Await.Refused),
} as const;

/** Does backend message `code` complete a request of `kind`? (ErrorResponse is handled apart.) */
export function completes(kind: Await, code: number): boolean {
  switch (kind) {
    case Await.Query:
    case Await.Sync:
      return code === BackendCode.ReadyForQuery;
    case Await.Parse:
      return code === BackendCode.ParseComplete;
    case Await.Bind:
      return code === BackendCode.BindComplete;
    case Await.DescribeStatement:
    case Await.DescribePortal:
      return code === BackendCode.RowDescription || code === BackendCode.NoData;
    case Await.Execute:
      return code === BackendCode.CommandComplete || code === BackendCode.EmptyQueryResponse || code === BackendCode.PortalSuspended;
    case Await.Close:
      return code === BackendCode.CloseComplete;
    default:
      return false;
  }
}

/** The responses owed, oldest first. */
export class PendingQueue extends Fifo<Pending> {
  /** entries ever pushed (less those taken out of the middle): the entry at offset i sits at position pushed - length + i */
  private pushed = 0;
  /** positions where the client's CopyDone or CopyFail fell among the entries, oldest first (see takeCopyIgnored) */
  private copyEnds: number[] = [];

  override push(p: Pending): void {
    this.pushed++;
    this.items.push(p);
  }

  override clear(): void {
    super.clear();
    this.copyEnds = [];
  }

  /** The client's CopyDone or CopyFail went to the server: a COPY IN still owed ends there. */
  markCopyEnd(): void {
    if (this.length === 0) return; // nothing owed: no COPY is running, the server drops it
    const headAt = this.pushed - this.length;
    while (this.copyEnds.length > 0 && this.copyEnds[0]! <= headAt) this.copyEnds.shift();
    if (this.copyEnds[this.copyEnds.length - 1] !== this.pushed) this.copyEnds.push(this.pushed);
  }

  /**
   * The head (a COPY's Query or Execute) put the server in COPY IN. A server in COPY IN ignores Sync and Flush and
   * takes any other message as the end of the COPY with an error (protocol-flow "COPY Operations"), so the entries the
   * client queued after the head and before its CopyDone/CopyFail are owed nothing: they are taken out (the made-up
   * answers among them stay) and returned, with `open` true when the client has not sent its CopyDone/CopyFail yet.
   */
  takeCopyIgnored(): { ignored: Pending[]; open: boolean } {
    const headAt = this.pushed - this.length;
    while (this.copyEnds.length > 0 && this.copyEnds[0]! <= headAt) this.copyEnds.shift();
    const end = this.copyEnds.length > 0 ? this.copyEnds.shift()! : Infinity;
    const ignored: Pending[] = [];
    const kept: Pending[] = [];
    let open = end === Infinity;
    let i = this.head + 1;
    for (let at = headAt + 1; i < this.items.length && at < end; i++, at++) {
      const p = this.items[i]!;
      if (p.kind === Await.Synthetic) {
        kept.push(p);
        continue;
      }
      ignored.push(p);
      // (a Flush, even one carrying bytes, is ignored there as a Sync is)
      if (p.kind !== Await.Sync && p.kind !== Await.Refused) {
        open = false; // the COPY ends here, with an error
        i++;
        break;
      }
    }
    if (ignored.length > 0) {
      this.items.splice(this.head + 1, i - this.head - 1, ...kept);
      this.pushed -= ignored.length;
      for (let k = 0; k < this.copyEnds.length; k++) this.copyEnds[k]! -= ignored.length;
    }
    return { ignored, open };
  }

  /** What is owed, by kind and in order, run-length encoded (`Query×4080 Sync×3 Synthetic`): for SHOW CLIENTS' detail. */
  summary(maxRuns = 6): string {
    const names = Object.keys(Await) as (keyof typeof Await)[];
    const runs: string[] = [];
    let last = -1;
    let n = 0;
    const flush = (): void => {
      if (n > 0) runs.push(`${p(last)}${n > 1 ? `×${n}` : ''}`);
    };
    const p = (kind: number): string => names[kind] ?? String(kind);
    for (let i = this.head; i < this.items.length; i++) {
      const e = this.items[i]!;
      const kind = e.hide ? 100 + e.kind : e.kind;
      if (kind === last) n++;
      else {
        flush();
        last = kind;
        n = 1;
      }
    }
    flush();
    const text = runs.slice(0, maxRuns).map((r) => r.replace(/^(\d+)/, (k) => `hidden ${names[Number(k) - 100] ?? k}`)).join(' ');
    return runs.length > maxRuns ? `${text} …(${runs.length - maxRuns} more runs)` : text;
  }

  /** counts entries of a kind (e.g. how many ReadyForQuery are still owed) */
  /** Is a client's Query or Execute still owed? (Then the server may be in COPY IN, where it answers nothing else.) */
  owesStatement(): boolean {
    for (let i = this.head; i < this.items.length; i++) {
      const p = this.items[i]!;
      if (!p.hide && (p.kind === Await.Query || p.kind === Await.Execute)) return true;
    }
    return false;
  }

  count(kind: Await): number {
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]!.kind === kind) n++;
    return n;
  }
}
