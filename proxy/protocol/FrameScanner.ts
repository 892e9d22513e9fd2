// FrameScanner owns walking a server's byte stream frame by frame, streaming bulk frames as slices without gathering them.
import { ProxyError, SqlState } from './SqlState.js';

export interface FrameVisitor {
  /** true when frames of this type may be passed on in pieces, as their bytes arrive (DataRow, CopyData) */
  streams(code: number): boolean;
  /** bytes [start, end) of `buf` belong to streamed frames; consecutive calls within one chunk are contiguous */
  onBytes(buf: Buffer, start: number, end: number): void;
  /** a whole frame of a type that is not streamed: bytes [start, end) of `buf`, including the 5-byte header */
  onFrame(code: number, buf: Buffer, start: number, end: number): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Like Envoy's decoder, it only looks at headers of frames it streams: memory stays bounded by the largest
 * non-streamed frame, whatever the size of a row, and no row is copied.
 */
export class FrameScanner {
  /** bytes of the current streamed frame still to pass on */
  private passRemaining = 0;
  /** a non-streamed frame (or a header) cut across chunks */
  private carry: Buffer = EMPTY;
  private parts: Buffer[] = [];
  private partsLen = 0;

  constructor(
    private readonly visitor: FrameVisitor,
    readonly maxFrame = 1 << 30,
  ) {}

  /** Drops any partial state (the stream changed owner or broke). */
  reset(): void {
    this.passRemaining = 0;
    this.carry = EMPTY;
    this.parts = [];
    this.partsLen = 0;
  }

  /** part of a frame is kept from an earlier chunk (as a view of it, or a copy) */
  get holdsBytes(): boolean {
    return this.carry.length > 0 || this.partsLen > 0;
  }

  get idle(): boolean {
    return this.passRemaining === 0 && this.carry.length === 0 && this.partsLen === 0;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    let off = 0;
    if (this.passRemaining > 0) {
      const take = Math.min(this.passRemaining, buf.length);
      this.passRemaining -= take;
      this.visitor.onBytes(buf, 0, take);
      if (take === buf.length) return;
      off = take;
    }
    if (this.carry.length > 0 || this.partsLen > 0) {
      buf = this.resumeCarry(off ? buf.subarray(off) : buf);
      off = 0;
      if (buf.length === 0) return;
    }
    this.scan(buf, off);
  }

  /** Completes a frame begun in an earlier chunk; returns the rest of `buf`. */
  private resumeCarry(buf: Buffer): Buffer {
    this.parts.push(buf);
    this.partsLen += buf.length;
    const have = this.carry.length + this.partsLen;
    if (have < 5) {
      this.carry = Buffer.concat([this.carry, ...this.parts]);
      this.parts = [];
      this.partsLen = 0;
      return EMPTY;
    }
    if (this.carry.length < 5) {
      this.carry = Buffer.concat([this.carry, ...this.parts]);
      this.parts = [];
      this.partsLen = 0;
    }
    const code = this.carry[0]!;
    const total = this.lengthAt(this.carry, 0) + 1;
    if (this.visitor.streams(code)) {
      // pass on what we have, stream the rest
      const head = this.carry.length + this.partsLen >= total ? null : true;
      const all = this.parts.length ? Buffer.concat([this.carry, ...this.parts]) : this.carry;
      this.carry = EMPTY;
      this.parts = [];
      this.partsLen = 0;
      if (head) {
        this.passRemaining = total - all.length;
        this.visitor.onBytes(all, 0, all.length);
        return EMPTY;
      }
      this.visitor.onBytes(all, 0, total);
      return all.subarray(total);
    }
    if (this.carry.length + this.partsLen < total) return EMPTY;
    const all = Buffer.concat([this.carry, ...this.parts]);
    this.carry = EMPTY;
    this.parts = [];
    this.partsLen = 0;
    this.visitor.onFrame(code, all, 0, total);
    return all.subarray(total);
  }

  private lengthAt(buf: Buffer, off: number): number {
    const len = buf.readInt32BE(off + 1);
    if (len < 4 || len > this.maxFrame) {
      throw new ProxyError('BAD_SERVER_FRAME', `server sent an invalid message length ${len}`, SqlState.ProtocolViolation, 'FATAL');
    }
    return len;
  }

  private scan(buf: Buffer, start: number): void {
    const n = buf.length;
    let off = start;
    while (off < n) {
      if (n - off < 5) {
        this.carry = Buffer.from(buf.subarray(off));
        return;
      }
      const code = buf[off]!;
      const total = this.lengthAt(buf, off) + 1;
      const end = off + total;
      if (this.visitor.streams(code)) {
        if (end <= n) {
          this.visitor.onBytes(buf, off, end);
        } else {
          this.passRemaining = end - n;
          this.visitor.onBytes(buf, off, n);
          return;
        }
      } else {
        if (end > n) {
          this.carry = buf.subarray(off);
          return;
        }
        this.visitor.onFrame(code, buf, off, end);
      }
      off = end;
    }
  }
}
