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

/**
 * Accumulates chunks and hands out whole frames. Frames are subarrays of the received chunks where a
 * frame sits inside one chunk (no copy); only a frame cut across chunks is copied once.
 */
export class FrameReader {
  private buf: Buffer = EMPTY;
  private off = 0;
  /** startup frames have no type byte: Int32 length includes itself */
  untyped: boolean;

  constructor(
    readonly maxMessageSize: number,
    untyped = false,
  ) {
    this.untyped = untyped;
  }

  push(chunk: Buffer): void {
    if (this.off >= this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.off), chunk]);
    }
    this.off = 0;
  }

  /** Bytes received but not yet returned as frames. */
  get pending(): number {
    return this.buf.length - this.off;
  }

  /** The next whole frame, or null when more bytes are needed. Throws ProxyError 08P01 on a bad length. */
  next(): Frame | null {
    const avail = this.buf.length - this.off;
    if (this.untyped) {
      if (avail < 4) return null;
      const len = this.buf.readInt32BE(this.off);
      if (len < 8 || len > this.maxMessageSize) {
        throw new ProxyError('BAD_STARTUP_LENGTH', `invalid startup packet length ${len}`, SqlState.ProtocolViolation, 'FATAL');
      }
      if (avail < len) return null;
      const frame = this.buf.subarray(this.off, this.off + len);
      this.off += len;
      return { code: 0, frame, payload: frame.subarray(4) };
    }
    if (avail < 5) return null;
    const code = this.buf[this.off]!;
    const len = this.buf.readInt32BE(this.off + 1);
    if (len < 4 || len > this.maxMessageSize) {
      throw new ProxyError(
        'BAD_MESSAGE_LENGTH',
        `invalid message length ${len} for message type '${String.fromCharCode(code)}' (limit ${this.maxMessageSize})`,
        SqlState.ProtocolViolation,
        'FATAL',
      );
    }
    if (avail < len + 1) return null;
    const frame = this.buf.subarray(this.off, this.off + len + 1);
    this.off += len + 1;
    return { code, frame, payload: frame.subarray(5) };
  }

  /** Hands out what is left unread (used when a stream switches owner, e.g. after TLS negotiation). */
  drain(): Buffer {
    const rest = this.buf.subarray(this.off);
    this.buf = EMPTY;
    this.off = 0;
    return rest;
  }
}
