// SessionLexer owns the tokens of one SQL statement as the session-state facts need them (words, identifiers as Postgres resolves them, strings, punctuation), without the parser.

/** A token: a word (keyword or unquoted identifier, ASCII lower-cased), a quoted or U& identifier, a string, a number, a punctuation mark. */
export interface Token {
  readonly kind: 'word' | 'ident' | 'string' | 'number' | 'op';
  /** word: lower-cased; ident: exact (decoded); op: the character; string / number: their source text */
  readonly text: string;
}

/** Postgres' NAMEDATALEN - 1: identifiers are cut to 63 bytes (at a character boundary). */
const MAX_IDENTIFIER_BYTES = 63;

/** An identifier cut as the server cuts it. */
export function truncateIdentifier(name: string): string {
  if (Buffer.byteLength(name, 'utf8') <= MAX_IDENTIFIER_BYTES) return name;
  let out = '';
  let bytes = 0;
  for (const ch of name) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > MAX_IDENTIFIER_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}

const isIdentStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
const isIdentChar = (c: number): boolean => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;

/** The tokens of sql[from, to): comments and whitespace skipped; null when a quote or comment is not closed. */
export function tokenize(sql: string, from = 0, to = sql.length): Token[] | null {
  const out: Token[] = [];
  let i = from;
  for (;;) {
    const t = nextToken(sql, i, to);
    if (t === null) return null;
    if (t === 'end') return out;
    out.push(t.token);
    i = t.end;
  }
}

/** The token at sql[i…): 'end' when only whitespace and comments are left, null when a quote or comment is not closed. */
function nextToken(sql: string, i: number, to: number): { token: Token; end: number } | 'end' | null {
  while (i < to) {
    const c = sql.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) {
      i++;
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const nl = sql.indexOf('\n', i + 2);
      i = nl < 0 || nl >= to ? to : nl + 1;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < to && depth > 0) {
        if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) { depth--; i += 2; } else if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) { depth++; i += 2; } else i++;
      }
      if (depth > 0) return null;
    } else if ((c === 85 || c === 117) && sql.charCodeAt(i + 1) === 38 && (sql.charCodeAt(i + 2) === 34 || sql.charCodeAt(i + 2) === 39)) {
      // U&"…" (an identifier) or U&'…' (a string), with an optional UESCAPE 'c'
      const quote = sql[i + 2]!;
      const body = quoted(sql, i + 3, to, quote);
      if (body === null) return null;
      let end = body.end;
      let escape = '\\';
      const word = nextToken(sql, end, to);
      if (word !== null && word !== 'end' && word.token.kind === 'word' && word.token.text === 'uescape') {
        const str = nextToken(sql, word.end, to);
        if (str === null || str === 'end' || str.token.kind !== 'string' || !/^'.'$/.test(str.token.text)) return null;
        escape = str.token.text[1]!;
        end = str.end;
      }
      const decoded = decodeUnicodeEscapes(body.text, escape);
      if (decoded === null) return null;
      return { token: quote === '"' ? { kind: 'ident', text: truncateIdentifier(decoded) } : { kind: 'string', text: `'${decoded}'` }, end };
    } else if (c === 34) {
      const body = quoted(sql, i + 1, to, '"');
      if (body === null || body.text === '') return null; // a zero-length delimited identifier is an error
      return { token: { kind: 'ident', text: truncateIdentifier(body.text) }, end: body.end };
    } else if (c === 39 || ((c === 69 || c === 101 || c === 66 || c === 98 || c === 88 || c === 120 || c === 78 || c === 110) && sql.charCodeAt(i + 1) === 39)) {
      const open = c === 39 ? i : i + 1;
      const backslash = c === 69 || c === 101;
      let j = open + 1;
      for (;;) {
        if (j >= to) return null;
        const d = sql.charCodeAt(j);
        if (backslash && d === 92) j += 2;
        else if (d === 39 && sql.charCodeAt(j + 1) === 39) j += 2;
        else if (d === 39) break;
        else j++;
      }
      return { token: { kind: 'string', text: sql.slice(i, j + 1) }, end: j + 1 };
    } else if (c === 36 && DOLLAR_TAG.test(sql.slice(i, Math.min(to, i + 66)))) {
      const tag = DOLLAR_TAG.exec(sql.slice(i, Math.min(to, i + 66)))![0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0 || close + tag.length > to) return null;
      return { token: { kind: 'string', text: sql.slice(i, close + tag.length) }, end: close + tag.length };
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < to && isIdentChar(sql.charCodeAt(j))) j++;
      // Postgres lower-cases the ASCII letters of an unquoted identifier
      return { token: { kind: 'word', text: truncateIdentifier(sql.slice(i, j).replace(/[A-Z]+/g, (w) => w.toLowerCase())) }, end: j };
    } else if (c >= 48 && c <= 57) {
      let j = i + 1;
      while (j < to && (isIdentChar(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46)) j++;
      return { token: { kind: 'number', text: sql.slice(i, j) }, end: j };
    } else {
      return { token: { kind: 'op', text: sql[i]! }, end: i + 1 };
    }
  }
  return 'end';
}

const DOLLAR_TAG = /^\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$/;

/** The body of a quoted run starting after its opening quote (a doubled quote is one quote), and where it ends. */
function quoted(sql: string, from: number, to: number, quote: string): { text: string; end: number } | null {
  let text = '';
  let i = from;
  for (;;) {
    const close = sql.indexOf(quote, i);
    if (close < 0 || close >= to) return null;
    text += sql.slice(i, close);
    if (sql[close + 1] === quote) {
      text += quote;
      i = close + 2;
    } else return { text, end: close + 1 };
  }
}

/** U& escapes: `\XXXX`, `\+XXXXXX` and a doubled escape character; null for a malformed escape. */
function decodeUnicodeEscapes(body: string, escape: string): string | null {
  if (escape.length !== 1 || /[0-9a-fA-F+'"\s]/.test(escape)) return null;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== escape) {
      out += ch;
      continue;
    }
    if (body[i + 1] === escape) {
      out += escape;
      i++;
      continue;
    }
    const long = body[i + 1] === '+';
    const hex = long ? body.slice(i + 2, i + 8) : body.slice(i + 1, i + 5);
    if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== (long ? 6 : 4)) return null;
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff || cp === 0) return null;
    out += String.fromCodePoint(cp);
    i += long ? 7 : 4;
  }
  return out;
}
