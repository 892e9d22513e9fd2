// mutators owns the fuzzer's mutations: message-level (drop, duplicate, swap, truncate, flip, insert) and byte-level.
import type { Rng } from '../../workload/types.js';

/** Lengths that sit on protocol boundaries (for Int32 length words and counts). */
const INTERESTING_32 = [0, 1, 3, 4, 5, 7, 8, 9, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 10000, 10001, 0x10000, 64 * 1024 * 1024, 64 * 1024 * 1024 + 1, 0x3fffffff, 0x7fffffff, -1, -2, -0x80000000];
const INTERESTING_16 = [0, 1, 2, 0x7fff, -1, -0x8000, 255, 256, 1000];

export function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** Byte-level mutation names (for the report's kinds). */
export const BYTE_MUTATIONS = ['bitflip', 'byte', 'insert', 'delete', 'truncate', 'int32', 'int16', 'dup-range', 'nul', 'grow'] as const;
export type ByteMutation = (typeof BYTE_MUTATIONS)[number];

/** Applies one byte-level mutation to a copy of `b` (an empty buffer only grows). */
export function mutateBytes(rng: Rng, b: Buffer, which: ByteMutation = BYTE_MUTATIONS[rng.int(BYTE_MUTATIONS.length)]!): Buffer {
  if (b.length === 0) return randomBytes(rng, 1 + rng.int(8));
  const at = rng.int(b.length);
  switch (which) {
    case 'bitflip': {
      const out = Buffer.from(b);
      const flips = 1 + rng.int(4);
      for (let i = 0; i < flips; i++) {
        const p = rng.int(out.length);
        out[p] = out[p]! ^ (1 << rng.int(8));
      }
      return out;
    }
    case 'byte': {
      const out = Buffer.from(b);
      out[at] = [0, 0xff, 0x7f, 0x80, rng.int(256)][rng.int(5)]!;
      return out;
    }
    case 'insert':
      return Buffer.concat([b.subarray(0, at), randomBytes(rng, 1 + rng.int(16)), b.subarray(at)]);
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
    case 'truncate':
      return Buffer.from(b.subarray(0, at));
    case 'int32': {
      const out = Buffer.from(b);
      if (out.length < 4) return mutateBytes(rng, b, 'bitflip');
      const p = rng.int(out.length - 3);
      out.writeInt32BE(INTERESTING_32[rng.int(INTERESTING_32.length)]! | 0, p);
      return out;
    }
    case 'int16': {
      const out = Buffer.from(b);
      if (out.length < 2) return mutateBytes(rng, b, 'bitflip');
      const p = rng.int(out.length - 1);
      out.writeInt16BE(INTERESTING_16[rng.int(INTERESTING_16.length)]!, p);
      return out;
    }
    case 'dup-range': {
      const end = Math.min(b.length, at + 1 + rng.int(64));
      return Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
    }
    case 'nul': {
      // remove or add a NUL terminator
      const nul = b.indexOf(0, at);
      if (nul >= 0 && rng.int(2) === 0) return Buffer.concat([b.subarray(0, nul), b.subarray(nul + 1)]);
      return Buffer.concat([b.subarray(0, at), Buffer.from([0]), b.subarray(at)]);
    }
    case 'grow':
      return Buffer.concat([b.subarray(0, at), Buffer.alloc(1000 + rng.int(20000), 0x41 + rng.int(26)), b.subarray(at)]);
  }
}

/** Rewrites the Int32 length word of a typed frame. */
export function setFrameLength(f: Buffer, rng: Rng): Buffer {
  if (f.length < 5) return f;
  const out = Buffer.from(f);
  const real = f.length - 1;
  const choices = [0, 1, 3, real - 1, real + 1, real + 1 + rng.int(100), 0x7fffffff, -1, INTERESTING_32[rng.int(INTERESTING_32.length)]!];
  out.writeInt32BE(choices[rng.int(choices.length)]! | 0, 1);
  return out;
}

export const MESSAGE_MUTATIONS = ['drop', 'duplicate', 'swap', 'shuffle', 'truncate-msg', 'flip-msg', 'length', 'insert-msg', 'retype', 'bytes'] as const;
export type MessageMutation = (typeof MESSAGE_MUTATIONS)[number];

/**
 * Applies one message-level mutation to a list of frames; `extra` makes a random new frame for insert-msg.
 * Returns the new list (the input is not modified).
 */
export function mutateMessages(rng: Rng, frames: Buffer[], extra: () => Buffer, which: MessageMutation): Buffer[] {
  const out = frames.slice();
  if (out.length === 0) return [extra()];
  const i = rng.int(out.length);
  switch (which) {
    case 'drop':
      out.splice(i, 1);
      return out;
    case 'duplicate':
      out.splice(i, 0, out[i]!);
      return out;
    case 'swap': {
      const j = rng.int(out.length);
      [out[i], out[j]] = [out[j]!, out[i]!];
      return out;
    }
    case 'shuffle':
      for (let k = out.length - 1; k > 0; k--) {
        const j = rng.int(k + 1);
        [out[k], out[j]] = [out[j]!, out[k]!];
      }
      return out;
    case 'truncate-msg':
      // the frame keeps its length word but loses its tail; the rest of the stream is then read as its body
      out[i] = out[i]!.subarray(0, rng.int(out[i]!.length));
      return out;
    case 'flip-msg': {
      // a byte-level mutation inside the payload only (the header stays valid)
      const f = out[i]!;
      if (f.length <= 5) return out;
      const payload = mutateBytes(rng, f.subarray(5), (['bitflip', 'byte', 'int16', 'int32', 'nul'] as const)[rng.int(5)]);
      const nf = Buffer.allocUnsafe(payload.length + 5);
      nf[0] = f[0]!;
      nf.writeInt32BE(payload.length + 4, 1);
      payload.copy(nf, 5);
      out[i] = nf;
      return out;
    }
    case 'length':
      out[i] = setFrameLength(out[i]!, rng);
      return out;
    case 'insert-msg':
      out.splice(rng.int(out.length + 1), 0, extra());
      return out;
    case 'retype': {
      const f = Buffer.from(out[i]!);
      f[0] = 'QPBDESHCFdcfXpAGZz?\0'.charCodeAt(rng.int(20));
      out[i] = f;
      return out;
    }
    case 'bytes':
      out[i] = mutateBytes(rng, out[i]!);
      return out;
  }
}
