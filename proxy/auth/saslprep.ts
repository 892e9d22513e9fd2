// saslprep owns SASLprep (RFC 4013, the stringprep profile for user names and passwords) as Postgres applies it to SCRAM passwords.
//
// Like Postgres' pg_saslprep: an ASCII string is returned as is; otherwise non-ASCII spaces (RFC 3454 C.1.2) map to
// U+0020, "commonly mapped to nothing" characters (B.1) are removed, an empty result is prohibited, the result is
// NFKC-normalised, and prohibited output (C.1.2–C.9), unassigned code points (A.1) and bidi rule violations make the
// string prohibited. Like Postgres, the prohibition and bidi checks look at the mapped string before normalisation.
// Callers then use the raw password (saslprepPassword), as both libpq and the Postgres server do.
//
// Approximations (only ever matter for passwords with unusual characters): "unassigned" is judged by the Unicode
// version of this Node (RFC 3454 uses Unicode 3.2: a character assigned after 3.2 counts as unassigned there), and
// the bidi table of L characters (D.2) is approximated by letters, spacing marks and letter numbers.

export const SaslprepResult = { Ok: 'ok', Prohibited: 'prohibited', InvalidUtf8: 'invalid-utf8' } as const;
export type SaslprepResult = (typeof SaslprepResult)[keyof typeof SaslprepResult];

/** RFC 3454 C.1.2: non-ASCII space characters (mapped to SPACE). */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/u;
/** RFC 3454 B.1: commonly mapped to nothing. */
// eslint-disable-next-line no-misleading-character-class
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/u;

/** [lo, hi] code point ranges, sorted. */
type Ranges = readonly (readonly [number, number])[];

/** RFC 4013 §2.3 prohibited output: RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9. */
const PROHIBITED: Ranges = [
  [0x0000, 0x001f], [0x007f, 0x009f], [0x00a0, 0x00a0], [0x0340, 0x0341], [0x06dd, 0x06dd], [0x070f, 0x070f],
  [0x1680, 0x1680], [0x180e, 0x180e], [0x2000, 0x200f], [0x2028, 0x202f], [0x205f, 0x2063], [0x206a, 0x206f],
  [0x2ff0, 0x2ffb], [0x3000, 0x3000], [0xd800, 0xf8ff], [0xfdd0, 0xfdef], [0xfeff, 0xfeff], [0xfff9, 0xffff],
  [0x1d173, 0x1d17a], [0x1fffe, 0x1ffff], [0x2fffe, 0x2ffff], [0x3fffe, 0x3ffff], [0x4fffe, 0x4ffff],
  [0x5fffe, 0x5ffff], [0x6fffe, 0x6ffff], [0x7fffe, 0x7ffff], [0x8fffe, 0x8ffff], [0x9fffe, 0x9ffff],
  [0xafffe, 0xaffff], [0xbfffe, 0xbffff], [0xcfffe, 0xcffff], [0xdfffe, 0xdffff], [0xe0001, 0xe0001],
  [0xe0020, 0xe007f], [0xefffe, 0xeffff], [0xf0000, 0x10ffff],
];

/** RFC 3454 D.1: characters with bidirectional property R or AL. */
const RAND_AL: Ranges = [
  [0x05be, 0x05be], [0x05c0, 0x05c0], [0x05c3, 0x05c3], [0x05d0, 0x05ea], [0x05f0, 0x05f4], [0x061b, 0x061b],
  [0x061f, 0x061f], [0x0621, 0x063a], [0x0640, 0x064a], [0x066d, 0x066f], [0x0671, 0x06d5], [0x06dd, 0x06dd],
  [0x06e5, 0x06e6], [0x06fa, 0x06fe], [0x0700, 0x070d], [0x0710, 0x0710], [0x0712, 0x072c], [0x0780, 0x07a5],
  [0x07b1, 0x07b1], [0x200f, 0x200f], [0xfb1d, 0xfb1d], [0xfb1f, 0xfb28], [0xfb2a, 0xfb36], [0xfb38, 0xfb3c],
  [0xfb3e, 0xfb3e], [0xfb40, 0xfb41], [0xfb43, 0xfb44], [0xfb46, 0xfbb1], [0xfbd3, 0xfd3d], [0xfd50, 0xfd8f],
  [0xfd92, 0xfdc7], [0xfdf0, 0xfdfc], [0xfe70, 0xfe74], [0xfe76, 0xfefc],
];

const UNASSIGNED = /\p{Cn}/u;
/** an approximation of RFC 3454 D.2 (bidirectional property L) for code points not in D.1 */
const L_CAT = /[\p{L}\p{Mc}\p{Nl}]/u;

function inRanges(cp: number, ranges: Ranges): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (cp < r[0]) hi = mid - 1;
    else if (cp > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** true when `s` has a lone surrogate (it has no UTF-8 form: Postgres would see invalid UTF-8). */
function hasLoneSurrogate(s: string): boolean {
  return /\p{Cs}/u.test(s);
}

/** SASLprep of `input`: the prepared string, or why there is none. */
export function saslprep(input: string): { result: typeof SaslprepResult.Ok; output: string } | { result: typeof SaslprepResult.Prohibited | typeof SaslprepResult.InvalidUtf8 } {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(input)) return { result: SaslprepResult.Ok, output: input };
  if (hasLoneSurrogate(input)) return { result: SaslprepResult.InvalidUtf8 };
  // 1) map
  const mapped: string[] = [];
  for (const ch of input) {
    if (NON_ASCII_SPACE.test(ch)) mapped.push(' ');
    else if (!MAPPED_TO_NOTHING.test(ch)) mapped.push(ch);
  }
  if (mapped.length === 0) return { result: SaslprepResult.Prohibited };
  // 2) normalise
  const output = mapped.join('').normalize('NFKC');
  // 3) prohibit (on the mapped characters, as Postgres does)
  let randAl = false;
  for (const ch of mapped) {
    const cp = ch.codePointAt(0)!;
    if (inRanges(cp, PROHIBITED) || UNASSIGNED.test(ch)) return { result: SaslprepResult.Prohibited };
    if (inRanges(cp, RAND_AL)) randAl = true;
  }
  // 4) bidi: with any R/AL character, no L character, and R/AL first and last
  if (randAl) {
    for (const ch of mapped) {
      const cp = ch.codePointAt(0)!;
      if (!inRanges(cp, RAND_AL) && L_CAT.test(ch)) return { result: SaslprepResult.Prohibited };
    }
    const first = mapped[0]!.codePointAt(0)!;
    const last = mapped[mapped.length - 1]!.codePointAt(0)!;
    if (!inRanges(first, RAND_AL) || !inRanges(last, RAND_AL)) return { result: SaslprepResult.Prohibited };
  }
  return { result: SaslprepResult.Ok, output };
}

/**
 * The password bytes SCRAM hashes: the SASLprep'd password, or, when SASLprep refuses it (prohibited output or not
 * valid UTF-8), the raw password, as libpq and the Postgres server both do.
 */
export function saslprepPassword(password: string | Buffer): Buffer {
  if (Buffer.isBuffer(password)) {
    const text = password.toString('utf8');
    // not valid UTF-8: used as is
    if (!Buffer.from(text, 'utf8').equals(password)) return password;
    password = text;
  }
  const r = saslprep(password);
  return Buffer.from(r.result === SaslprepResult.Ok ? r.output : password, 'utf8');
}
