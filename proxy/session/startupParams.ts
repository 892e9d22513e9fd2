// startupParams owns turning a StartupMessage's parameters into the session settings to apply on servers.
import { ProxyError, SqlState } from '../protocol/SqlState.js';

/** Startup parameters that are not settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication']);
const NAME = /^[A-Za-z_][A-Za-z0-9_.$]*$/;

/** Splits the `options` startup parameter (`-c a=b --c=d`, backslash escapes a space) into settings. */
export function parseOptions(options: string): [string, string][] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < options.length; i++) {
    const ch = options[i]!;
    if (ch === '\\' && i + 1 < options.length) {
      cur += options[++i];
      has = true;
    } else if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has) words.push(cur);
  const out: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    let w = words[i]!;
    if (w === '-c') {
      w = words[++i] ?? '';
    } else if (w.startsWith('-c')) {
      w = w.slice(2);
    } else if (w.startsWith('--')) {
      w = w.slice(2);
    } else {
      throw new ProxyError('BAD_OPTIONS', `invalid command-line argument for server process: ${w}`, SqlState.ProtocolViolation, 'FATAL');
    }
    const eq = w.indexOf('=');
    if (eq <= 0) throw new ProxyError('BAD_OPTIONS', `-c ${w} requires a value`, SqlState.ProtocolViolation, 'FATAL');
    out.push([w.slice(0, eq).replace(/-/g, '_'), w.slice(eq + 1)]);
  }
  return out;
}

/**
 * Settings whose value is a list of identifiers (GUC_LIST_QUOTE in Postgres). `SET search_path TO 'a, b'` makes ONE
 * schema named "a, b", while the startup parameter `search_path=a, b` means two: these are SET element by element.
 */
const IDENTIFIER_LISTS = new Set(['search_path', 'temp_tablespaces']);

/** The settings a client asked for at startup, keyed by lower-cased name. */
export function sessionSettings(params: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  // as in Postgres (process_startup_options), `-c` switches in `options` apply first and plain parameters override them
  const options = params.get('options');
  if (options) for (const [k, v] of parseOptions(options)) out.set(k.toLowerCase(), v);
  for (const [k, v] of params) {
    if (NOT_SETTINGS.has(k) || k.startsWith('_pq_.')) continue;
    out.set(k.toLowerCase(), v);
  }
  for (const [k, v] of out) {
    if (!NAME.test(k)) throw new ProxyError('BAD_PARAMETER', `invalid parameter name "${k}"`, SqlState.InvalidParameterValue, 'FATAL');
    if (IDENTIFIER_LISTS.has(k) && splitIdentifierList(v) === null) {
      throw new ProxyError('BAD_PARAMETER', `invalid value for parameter "${k}": "${v}" (list syntax is invalid)`, SqlState.InvalidParameterValue, 'FATAL');
    }
  }
  return out;
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/**
 * Splits a list of identifiers as Postgres' SplitIdentifierString does: comma-separated, blanks around names ignored,
 * unquoted names down-cased (ASCII), `"…"` names kept as written with `""` for a quote. null when the syntax is invalid.
 */
export function splitIdentifierList(value: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (isSpace(value[i])) i++;
  if (i === value.length) return out;
  for (;;) {
    let name = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        const end = value.indexOf('"', i);
        if (end < 0) return null;
        name += value.slice(i, end);
        i = end + 1;
        if (value[i] !== '"') break;
        name += '"';
        i++;
      }
    } else {
      const start = i;
      while (i < value.length && value[i] !== ',' && !isSpace(value[i])) i++;
      if (i === start) return null;
      name = value.slice(start, i).replace(/[A-Z]+/g, (m) => m.toLowerCase());
    }
    out.push(name);
    while (isSpace(value[i])) i++;
    if (i === value.length) return out;
    if (value[i] !== ',') return null;
    i++;
    while (isSpace(value[i])) i++;
  }
}

/** A string literal that reads the same whatever standard_conforming_strings is (E'' when there is a backslash). */
const quoteLiteral = (v: string): string =>
  v.includes('\\') ? `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'` : `'${v.replace(/'/g, "''")}'`;
const quoteIdent = (k: string): string => (/^[a-z_][a-z0-9_]*$/.test(k) ? k : k.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.'));

/** The `TO` part of a SET for setting `k`: a list setting gets one literal per element (Postgres quotes each as a name). */
function setValue(k: string, v: string): string {
  const list = IDENTIFIER_LISTS.has(k) ? splitIdentifierList(v) : null;
  if (list === null || list.length === 0) return quoteLiteral(v);
  return list.map(quoteLiteral).join(', ');
}

/** SQL that moves a server connection from settings `have` to `want`; '' when nothing differs. */
export function settingsDiffSql(have: Map<string, string>, want: Map<string, string>): string {
  let sql = '';
  for (const [k, v] of want) if (have.get(k) !== v) sql += `SET ${quoteIdent(k)} TO ${setValue(k, v)};`;
  for (const k of have.keys()) if (!want.has(k)) sql += `RESET ${quoteIdent(k)};`;
  return sql;
}
