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

/** The settings a client asked for at startup, keyed by lower-cased name. */
export function sessionSettings(params: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  // as in Postgres (process_startup_options), `-c` switches in `options` apply first and plain parameters override them
  const options = params.get('options');
  if (options) for (const [k, v] of parseOptions(options)) out.set(k.toLowerCase(), v);
  for (const [k, v] of params) {
    if (NOT_SETTINGS.has(k) || k.startsWith('_pq_.')) continue;
    out.set(k.toLowerCase(), v);
  }
  // server connections log in as application_name 'prescient': a client that names no application has Postgres' default, ''
  if (!out.has('application_name')) out.set('application_name', '');
  for (const k of out.keys()) {
    if (!NAME.test(k)) throw new ProxyError('BAD_PARAMETER', `invalid parameter name "${k}"`, SqlState.InvalidParameterValue, 'FATAL');
  }
  return out;
}

/** A string literal that reads the same whatever standard_conforming_strings is (E'' when there is a backslash). */
const quoteLiteral = (v: string): string =>
  v.includes('\\') ? `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'` : `'${v.replace(/'/g, "''")}'`;
const quoteIdent = (k: string): string => (/^[a-z_][a-z0-9_]*$/.test(k) ? k : k.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.'));

/** SQL that moves a server connection from settings `have` to `want`; '' when nothing differs. */
export function settingsDiffSql(have: ReadonlyMap<string, string>, want: ReadonlyMap<string, string>): string {
  // set_config reads a value exactly as a startup parameter is read (a list stays a list), unlike SET … TO '…'
  const sets: string[] = [];
  for (const [k, v] of want) if (have.get(k) !== v) sets.push(`pg_catalog.set_config(${quoteLiteral(k)}, ${quoteLiteral(v)}, false)`);
  let sql = sets.length ? `SELECT ${sets.join(', ')};` : '';
  for (const k of have.keys()) if (!want.has(k)) sql += `RESET ${quoteIdent(k)};`;
  return sql;
}

/** A canonical text for a set of settings: equal settings, equal keys (a cheap check on every lease). */
export function settingsKeyOf(settings: Map<string, string>): string {
  if (settings.size === 0) return '';
  return JSON.stringify([...settings].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}
