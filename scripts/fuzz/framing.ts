// framing owns reading the framing of an input's bytes: well framed, an impossible length, or cut mid-message.

export type Framing = 'framed' | 'bad-length' | 'truncated';

/**
 * Walks the typed frames of `b` (1 type byte + Int32 length). `bad-length`: a length below 4 or above
 * `maxMessageSize` (the proxy owes an error and a close); `truncated`: the last frame is incomplete (the proxy
 * rightly waits for the rest); `framed`: the bytes end exactly on a frame boundary.
 */
export function framing(b: Buffer, maxMessageSize: number): Framing {
  let off = 0;
  while (off < b.length) {
    if (b.length - off < 5) return 'truncated';
    const len = b.readInt32BE(off + 1);
    if (len < 4 || len > maxMessageSize) return 'bad-length';
    if (off + 1 + len > b.length) return 'truncated';
    if (b[off] === 0x58 /* X */) return 'framed'; // a whole Terminate: the proxy closes; later bytes are never read
    off += 1 + len;
  }
  return off === b.length ? 'framed' : 'truncated';
}
