// Shape owns the hand-written single-pass SQL tokenizer: literal stripping ($L1…), whitespace/comment folding, sqlcommenter tags, statement splitting.

/** A statement's normalized shape, its literal values (in order, decoded) and its sqlcommenter tags. */
export interface Shape {
  /** literals replaced by `$L1, $L2…` (real `$n` parameters kept), comments removed, whitespace collapsed, case preserved */
  shape: string;
  /** the decoded literal values, `literals[k]` is `$L{k+1}` */
  literals: string[];
  /** sqlcommenter tags (`/* key='value',… *\/`, URL-decoded); a frozen shared object, do not mutate */
  tags: Readonly<Record<string, string>>;
}

/** One statement of a scanned string: its shape plus where it sits in the input. */
export interface ScannedStatement extends Shape {
  /** offset of the statement's first character (just after the previous `;`, comments included) */
  start: number;
  /** offset just past its last character (the `;` excluded) */
  end: number;
  /** absolute offset (in the scanned string) where each literal starts (at the `E`/`B`/`X`/`N`/`U&` prefix if any) */
  literalStarts: number[];
}

export const EMPTY_TAGS: Readonly<Record<string, string>> = Object.freeze({});

const PLACEHOLDERS: string[] = [];
for (let k = 1; k <= 512; k++) PLACEHOLDERS.push('$L' + k);

// character classes, one table lookup per char
const CL_SPACE = 1, CL_IDSTART = 2, CL_DIGIT = 3; // 0: anything else
const CLASS = new Uint8Array(128);
for (const c of [9, 10, 11, 12, 13, 32]) CLASS[c] = CL_SPACE;
for (let c = 65; c <= 90; c++) CLASS[c] = CL_IDSTART;
for (let c = 97; c <= 122; c++) CLASS[c] = CL_IDSTART;
CLASS[95] = CL_IDSTART; // _
for (let c = 48; c <= 57; c++) CLASS[c] = CL_DIGIT;

/** identifier continuation: letters, digits, `_`, `$` (non-ASCII is checked apart) */
const IDCONT = new Uint8Array(128);
for (let c = 0; c < 128; c++) if (CLASS[c]! >= CL_IDSTART || c === 36) IDCONT[c] = 1;

const isIdentChar = (c: number): boolean => c >= 128 || IDCONT[c] === 1;
const cls = (c: number): number => (c < 128 ? CLASS[c]! : CL_IDSTART);
const isTagIdent = (c: number): boolean => (c < 128 ? CLASS[c]! >= CL_IDSTART : true);

/** sqlcommenter comment bodies seen before → their tags (or null: not a tag comment); bounded. */
const tagCache = new Map<string, Readonly<Record<string, string>> | null>();
const TAG_CACHE_MAX = 4096;

function urlDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parse a comment body as sqlcommenter `key='value',key2='value2'` (values may escape `'` as `\'`); null if it is not one. */
export function parseTags(body: string): Readonly<Record<string, string>> | null {
  const hit = tagCache.get(body);
  if (hit !== undefined) return hit;
  const out: Record<string, string> = {};
  const n = body.length;
  let i = 0;
  let ok = false;
  for (;;) {
    while (i < n && cls(body.charCodeAt(i)) === CL_SPACE) i++;
    if (i >= n) break;
    const eq = body.indexOf('=', i);
    if (eq < 0) { ok = false; break; }
    const key = body.slice(i, eq).trim();
    if (!key || body.charCodeAt(eq + 1) !== 39 /* ' */) { ok = false; break; }
    let j = eq + 2;
    let val = '';
    let seg = j;
    for (;;) {
      if (j >= n) { ok = false; break; }
      const c = body.charCodeAt(j);
      if (c === 92 /* \ */ && j + 1 < n) { val += body.slice(seg, j); seg = j + 1; j += 2; continue; }
      if (c === 39) break;
      j++;
    }
    if (j >= n) { ok = false; break; }
    val += body.slice(seg, j);
    out[urlDecode(key)] = urlDecode(val);
    ok = true;
    i = j + 1;
    while (i < n && cls(body.charCodeAt(i)) === CL_SPACE) i++;
    if (i >= n) break;
    if (body.charCodeAt(i) !== 44 /* , */) { ok = false; break; }
    i++;
  }
  const res = ok ? Object.freeze(out) : null;
  if (tagCache.size >= TAG_CACHE_MAX) tagCache.clear();
  tagCache.set(body, res);
  return res;
}

/** Decode the body of an E'…' string (the common backslash escapes). */
function decodeEscapes(s: string): string {
  if (s.indexOf('\\') < 0) return s.indexOf("''") < 0 ? s : s.replace(/''/g, "'");
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'" && s[i + 1] === "'") { out += "'"; i++; continue; }
    if (c !== '\\' || i + 1 >= s.length) { out += c; continue; }
    const d = s[++i]!;
    switch (d) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'x': {
        const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 1, i + 3));
        if (m) { out += String.fromCharCode(parseInt(m[0], 16)); i += m[0].length; } else out += d;
        break;
      }
      case 'u': case 'U': {
        const len = d === 'u' ? 4 : 8;
        const hex = s.slice(i + 1, i + 1 + len);
        if (hex.length === len && /^[0-9a-fA-F]+$/.test(hex)) { out += String.fromCodePoint(parseInt(hex, 16)); i += len; } else out += d;
        break;
      }
      default:
        if (d >= '0' && d <= '7') {
          const m = /^[0-7]{1,3}/.exec(s.slice(i, i + 3))!;
          out += String.fromCharCode(parseInt(m[0], 8));
          i += m[0].length - 1;
        } else out += d;
    }
  }
  return out;
}

/** End of the '…' string whose opening quote is at q (past the closing quote, or n); sets `strDoubled` if it holds `''`. */
let strDoubled = false;
function stringEnd(sql: string, q: number, n: number, escapes: boolean): number {
  let j = q + 1;
  strDoubled = false;
  for (;;) {
    if (escapes) {
      while (j < n) {
        const d = sql.charCodeAt(j);
        if (d === 92) j += 2;
        else if (d === 39) break;
        else j++;
      }
      if (j >= n) return n;
    } else {
      j = sql.indexOf("'", j);
      if (j < 0) return n;
    }
    if (sql.charCodeAt(j + 1) === 39) { strDoubled = true; j += 2; continue; }
    return j + 1;
  }
}

/** End of a (nested) block comment opening at i. */
function commentEnd(sql: string, i: number, n: number): number {
  const close = sql.indexOf('*/', i + 2);
  const open = sql.indexOf('/*', i + 2);
  if (close >= 0 && (open < 0 || open > close)) return close + 2; // the common, non-nested case
  let depth = 1;
  let j = i + 2;
  while (j < n && depth > 0) {
    const d = sql.charCodeAt(j);
    if (d === 42 && sql.charCodeAt(j + 1) === 47) { depth--; j += 2; } else if (d === 47 && sql.charCodeAt(j + 1) === 42) { depth++; j += 2; } else j++;
  }
  return depth === 0 ? j : n;
}

/** Tags of the block comment [i, end), or null. */
function commentTags(sql: string, i: number, end: number): Readonly<Record<string, string>> | null {
  const bodyEnd = sql.charCodeAt(end - 1) === 47 && sql.charCodeAt(end - 2) === 42 && end - 2 >= i + 2 ? end - 2 : end;
  const eq = sql.indexOf("='", i + 2);
  if (eq < 0 || eq >= bodyEnd) return null;
  return parseTags(sql.slice(i + 2, bodyEnd));
}

/** Chars that need no attention inside a token: letters, `_`, most punctuation, non-ASCII. Not: whitespace, digits, ' " $ - / ; */
const PLAIN = new Uint8Array(128);
for (let c = 33; c < 127; c++) PLAIN[c] = 1;
for (const ch of "0123456789'\"$-/;") PLAIN[ch.charCodeAt(0)] = 0;

/**
 * Scan `sql` once: split it at top-level `;` (when `split`), and give each non-empty statement its shape, literals, tags
 * and position. Quotes, quoted identifiers, dollar quotes and (nested) comments are respected; never throws — an
 * unterminated quote or comment runs to the end of the input. One flat loop without closures; runs of ordinary chars
 * are skipped by a table lookup each and copied to the shape as whole slices.
 */
export function scanStatements(sql: string, split = true): ScannedStatement[] {
  const n = sql.length;
  const result: ScannedStatement[] = [];
  let out = '';
  let seg = 0; // start of the not-yet-copied original text
  let literals: string[] = [];
  let starts: number[] = [];
  let tags: Readonly<Record<string, string>> = EMPTY_TAGS;
  let tagsShared = true;
  let stmtStart = 0;
  let i = 0;

  for (;;) {
    // the common case: ordinary characters
    let c = -1;
    while (i < n) {
      c = sql.charCodeAt(i);
      if (c < 128 && PLAIN[c] === 0) break;
      i++;
    }
    if (i >= n || (c === 59 && split)) {
      // end of a statement
      if (seg < i) out += sql.slice(seg, i);
      if (out.length) {
        if (!tagsShared) Object.freeze(tags);
        result.push({ shape: out, literals, tags, start: stmtStart, end: i, literalStarts: starts });
        literals = [];
        starts = [];
      } else if (literals.length) {
        literals = [];
        starts = [];
      }
      if (i >= n) return result;
      out = '';
      tags = EMPTY_TAGS;
      tagsShared = true;
      i++;
      seg = i;
      stmtStart = i;
      continue;
    }
    let gapEnd = -1; // whitespace / comment [i, gapEnd)
    let litEnd = -1; // literal [litAt, litEnd) with value litVal
    let litAt = i;
    let litVal = '';
    if (c === 32 || (c >= 9 && c <= 13)) {
      const d = sql.charCodeAt(i + 1);
      if (c === 32 && (seg < i || out.length !== 0) && !(d === 32 || (d >= 9 && d <= 13) || d !== d || (d === 59 && split) || (d === 45 && sql.charCodeAt(i + 2) === 45) || (d === 47 && sql.charCodeAt(i + 2) === 42))) {
        i++; // a single space between tokens: kept in place
        continue;
      }
      let j = i + 1;
      while (j < n) {
        const e = sql.charCodeAt(j);
        if (e !== 32 && (e < 9 || e > 13)) break;
        j++;
      }
      gapEnd = j;
    } else if (c >= 48 && c <= 57) {
      const p = i > 0 ? sql.charCodeAt(i - 1) : 32;
      if (p >= 128 || IDCONT[p] === 1) { i++; continue; } // a digit inside an identifier
      if (p === 46 /* . */ && i - 1 >= seg && (i < 2 || !isIdentChar(sql.charCodeAt(i - 2)))) litAt = i - 1; // .5
      let j = i + 1;
      while (j < n) {
        const d = sql.charCodeAt(j);
        if (d < 128 && CLASS[d]! >= CL_IDSTART) {
          // exponent sign: 1e-5 / 1E+5
          if ((d | 32) === 101 && (sql.charCodeAt(j + 1) === 43 || sql.charCodeAt(j + 1) === 45) && cls(sql.charCodeAt(j + 2)) === CL_DIGIT) j += 2;
          else j++;
        } else if (d === 46 && sql.charCodeAt(j + 1) !== 46) j++;
        else break;
      }
      litEnd = j;
      litVal = sql.slice(litAt, j);
    } else if (c === 39) {
      // '…', or E'…' B'…' X'…' N'…' U&'…' (the prefix is still in the uncopied segment)
      const p = i > 0 ? sql.charCodeAt(i - 1) | 32 : 0;
      let esc = false;
      if ((p === 101 || p === 98 || p === 120 || p === 110) && i - 1 >= seg && (i < 2 || !isIdentChar(sql.charCodeAt(i - 2)))) {
        litAt = i - 1;
        esc = p === 101;
      } else if (p === (38 | 32) && (sql.charCodeAt(i - 2) | 32) === 117 && i - 2 >= seg && (i < 3 || !isIdentChar(sql.charCodeAt(i - 3)))) {
        litAt = i - 2;
      }
      litEnd = stringEnd(sql, i, n, esc);
      const body = sql.slice(i + 1, litEnd < n || (litEnd - 1 > i && sql.charCodeAt(n - 1) === 39) ? litEnd - 1 : n);
      litVal = esc ? decodeEscapes(body) : strDoubled ? body.replace(/''/g, "'") : body;
    } else if (c === 34) {
      // "quoted identifier", kept exact
      let j = i + 1;
      for (;;) {
        j = sql.indexOf('"', j);
        if (j < 0) { j = n; break; }
        if (sql.charCodeAt(j + 1) === 34) { j += 2; continue; }
        j++;
        break;
      }
      i = j;
      continue;
    } else if (c === 45) {
      if (sql.charCodeAt(i + 1) !== 45) { i++; continue; }
      const j = sql.indexOf('\n', i + 2);
      gapEnd = j < 0 ? n : j;
    } else if (c === 47) {
      if (sql.charCodeAt(i + 1) !== 42) { i++; continue; }
      gapEnd = commentEnd(sql, i, n);
      const t = commentTags(sql, i, gapEnd);
      if (t) {
        if (tags === EMPTY_TAGS) tags = t;
        else {
          const merged: Record<string, string> = tagsShared ? { ...tags } : (tags as Record<string, string>);
          tags = Object.assign(merged, t);
          tagsShared = false;
        }
      }
    } else if (c === 36) {
      // $n parameter or $tag$…$tag$ dollar quote (`$` inside an identifier is an identifier char)
      const p = i > 0 ? sql.charCodeAt(i - 1) : 32;
      if (p >= 128 || IDCONT[p] === 1) { i++; continue; }
      const c1 = sql.charCodeAt(i + 1);
      if (c1 >= 48 && c1 <= 57) {
        let j = i + 2;
        while (j < n) {
          const d = sql.charCodeAt(j);
          if (d < 48 || d > 57) break;
          j++;
        }
        i = j;
        continue;
      }
      let j = i + 1;
      let quote = c1 === 36;
      if (!quote && cls(c1) === CL_IDSTART) {
        while (j < n && isTagIdent(sql.charCodeAt(j))) j++;
        quote = sql.charCodeAt(j) === 36;
      }
      if (!quote) { i++; continue; }
      const delim = sql.slice(i, j + 1);
      const close = sql.indexOf(delim, j + 1);
      litEnd = close < 0 ? n : close + delim.length;
      litVal = sql.slice(j + 1, close < 0 ? n : close);
    } else {
      i++; // `;` when not splitting
      continue;
    }
    if (gapEnd >= 0) {
      // whitespace or comment: one space in the shape, and only between two tokens
      if (seg < i) out += sql.slice(seg, i);
      seg = i = gapEnd;
      if (out.length !== 0 && i < n) {
        const d = sql.charCodeAt(i);
        if (!(d === 32 || (d >= 9 && d <= 13) || (d === 59 && split) || (d === 45 && sql.charCodeAt(i + 1) === 45) || (d === 47 && sql.charCodeAt(i + 1) === 42))) out += ' ';
      }
      continue;
    }
    // a literal
    if (seg < litAt) out += sql.slice(seg, litAt);
    literals.push(litVal);
    starts.push(litAt);
    out += literals.length <= 512 ? PLACEHOLDERS[literals.length - 1]! : '$L' + literals.length;
    seg = i = litEnd;
  }
}

/** The shape of `sql` taken as one statement (`;` kept in the shape, not split). */
export function shapeOf(sql: string): Shape {
  const r = scanStatements(sql, false);
  if (r.length) return r[0]!;
  return { shape: '', literals: [], tags: EMPTY_TAGS };
}

/** Split a multi-statement string at top-level `;` (outside quotes, comments and dollar quotes); each statement trimmed, empty ones dropped. */
export function splitStatements(sql: string): string[] {
  return scanStatements(sql, true).map((s) => sql.slice(s.start, s.end).trim());
}
