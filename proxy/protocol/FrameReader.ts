// FrameReader owns splitting a byte stream into whole protocol frames (1-byte type + Int32 length), as slices.
import { ProxyError, SqlState } from './SqlState.js';

/** One whole frame: `code` is the type byte (0 for an untyped startup frame), `frame` the bytes incl. header. */
export interface Frame {
  code: number;
  frame: Buffer;
  /** payload without the type byte and the length word */
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);
/** 'X': a startup-phase reader recognises a Terminate (its length word as an Int32 would be 0x58000000) */
const TERMINATE = 0x58;

/**
 * Accumulates chunks and hands out whole frames. A frame that sits inside one chunk is a slice of it (no
 * copy); a frame cut across chunks is gathered in a list and joined once, when its last byte arrives.
 */
export class FrameReader {
  private buf: Buffer = EMPTY;
  private off = 0;
  /** chunks of a frame still incomplete, beyond `buf` */
  private more: Buffer[] = [];
  private moreLen = 0;
  /** bytes needed in total (from `off`) before the current frame is whole; 0 when unknown */
  private need = 0;
  /** startup frames have no type byte: Int32 length includes itself */
  untyped: boolean;
  /** typed frames of these types may be at most `smallLimit` bytes long (Postgres' PQ_SMALL_MESSAGE_LIMIT) */
  private smallTypes: ReadonlySet<number> | null = null;
  private smallLimit = 0;

  constructor(
    public maxMessageSize: number,
    untyped = false,
  ) {
    this.untyped = untyped;
  }

  /** From now on, frames of `types` whose body (after the length word) is longer than `limit` are refused like any bad length. */
  limitSmall(types: ReadonlySet<number>, limit: number): void {
    this.smallTypes = types;
    this.smallLimit = limit;
  }

  push(chunk: Buffer): void {
    if (this.off >= this.buf.length && this.moreLen === 0) {
      this.buf = chunk;
      this.off = 0;
      return;
    }
    this.more.push(chunk);
    this.moreLen += chunk.length;
    if (this.need === 0 || this.buf.length - this.off + this.moreLen >= this.need) this.join();
  }

  private join(): void {
    this.buf = Buffer.concat([this.buf.subarray(this.off), ...this.more]);
    this.off = 0;
    this.more = [];
    this.moreLen = 0;
  }

  /** Bytes received but not yet returned as frames. */
  get pending(): number {
    return this.buf.length - this.off + this.moreLen;
  }

  /** The next whole frame, or null when more bytes are needed. Throws ProxyError 08P01 on a bad length. */
  next(): Frame | null {
    if (this.moreLen > 0 && (this.need === 0 || this.pending >= this.need)) this.join();
    const avail = this.buf.length - this.off;
    const head = this.untyped ? 4 : 5;
    if (avail < head) {
      this.need = 0;
      return null;
    }
    let code = 0;
    let total: number;
    if (this.untyped) {
      // a Terminate where a startup packet belongs (a client giving up before it started): handed out as a typed frame
      if (this.buf[this.off] === TERMINATE && avail < 5) {
        this.need = 5;
        return null;
      }
      if (this.buf[this.off] === TERMINATE && this.buf.readInt32BE(this.off + 1) === 4) {
        const frame = this.buf.subarray(this.off, this.off + 5);
        this.off += 5;
        return { code: TERMINATE, frame, payload: frame.subarray(5) };
      }
      const len = this.buf.readInt32BE(this.off);
      // as Postgres' ProcessStartupPacket: the limit counts the packet after its length word
      if (len < 8 || len - 4 > this.maxMessageSize) {
        throw new ProxyError('BAD_STARTUP_LENGTH', `invalid startup packet length ${len}`, SqlState.ProtocolViolation, 'FATAL');
      }
      total = len;
    } else {
      code = this.buf[this.off]!;
      const len = this.buf.readInt32BE(this.off + 1);
      if (len < 4 || len > this.maxMessageSize || (this.smallTypes !== null && len - 4 > this.smallLimit && this.smallTypes.has(code))) {
        throw new ProxyError(
          'BAD_MESSAGE_LENGTH',
          `invalid message length ${len} for message type '${String.fromCharCode(code)}' (limit ${this.smallTypes?.has(code) ? this.smallLimit : this.maxMessageSize})`,
          SqlState.ProtocolViolation,
          'FATAL',
        );
      }
      total = len + 1;
    }
    if (avail < total) {
      this.need = total;
      return null;
    }
    this.need = 0;
    const frame = this.buf.subarray(this.off, this.off + total);
    this.off += total;
    return { code, frame, payload: frame.subarray(head) };
  }

  /** Hands out what is left unread (used when a stream switches owner, e.g. after TLS negotiation). */
  drain(): Buffer {
    if (this.moreLen > 0) this.join();
    const rest = this.buf.subarray(this.off);
    this.buf = EMPTY;
    this.off = 0;
    this.need = 0;
    return rest;
  }
}
