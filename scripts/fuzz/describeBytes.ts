// describeBytes owns rendering an input's bytes as readable frames (for --trace and reproductions in reports).

function printable(b: Buffer, max = 80): string {
  const s = b.toString('latin1', 0, Math.min(b.length, max)).replace(/[^\x20-\x7e]/g, (c) => (c === '\0' ? '\\0' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return b.length > max ? `${s}…(${b.length} bytes)` : s;
}

/** Typed frames as `Q len=… "payload"`; stops at a length that cannot be followed and shows the rest raw. */
export function describeBytes(b: Buffer, untypedFirst = false): string[] {
  const out: string[] = [];
  let off = 0;
  if (untypedFirst && b.length >= 8) {
    const len = b.readInt32BE(0);
    out.push(`<startup len=${len} code=${b.readInt32BE(4)}> "${printable(b.subarray(8, Math.max(8, Math.min(b.length, len))))}"`);
    off = len >= 8 && len <= b.length ? len : b.length;
  }
  while (off < b.length) {
    if (b.length - off < 5) {
      out.push(`<tail ${printable(b.subarray(off))}>`);
      break;
    }
    const code = String.fromCharCode(b[off]!);
    const len = b.readInt32BE(off + 1);
    const end = Math.min(b.length, off + 1 + Math.max(4, len));
    out.push(`${/[ -~]/.test(code) ? code : `\\x${b[off]!.toString(16)}`} len=${len}${off + 1 + len > b.length ? ' (cut short)' : ''} "${printable(b.subarray(off + 5, end))}"`);
    if (len < 4) {
      out.push(`<rest ${printable(b.subarray(off + 5))}>`);
      break;
    }
    off += 1 + len;
  }
  return out;
}
