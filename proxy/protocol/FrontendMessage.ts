// FrontendMessage owns decoding what a client sends (startup packets and typed frames) into values.
import { FRONTEND_CODES, FrontendCode, StartupCode } from './MessageCode.js';
import { ProxyError, SqlState } from './SqlState.js';

export type StartupPacket =
  | { kind: 'StartupMessage'; protocol: number; params: Map<string, string> }
  | { kind: 'SSLRequest' }
  | { kind: 'GSSENCRequest' }
  | { kind: 'CancelRequest'; pid: number; secret: number };

/**
 * Names of statements and portals are decoded as latin1 (one char per byte, so any byte string round-trips); the query
 * is decoded as UTF-8 for analysis only: `rest` (query bytes, NUL, parameter count and types) is what servers get.
 */
export interface Parse { name: string; query: string; paramTypes: number[]; rest: Buffer }
export interface Bind { portal: string; statement: string; /** byte offset where the statement name ends (after its NUL) */ restOffset: number }
export interface Describe { target: 'S' | 'P'; name: string }
export interface Close { target: 'S' | 'P'; name: string }
export interface Execute { portal: string; maxRows: number }

function bad(message: string): ProxyError {
  return new ProxyError('MALFORMED_MESSAGE', message, SqlState.ProtocolViolation, 'FATAL');
}

/** Reads a NUL-terminated string at `at`; returns it and the offset after the NUL. */
export function readCString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw bad('string without terminator');
  return [buf.toString('utf8', at, end), end + 1];
}

/** Reads a NUL-terminated name at `at` as latin1 (byte-exact); returns it and the offset after the NUL. */
export function readName(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw bad('string without terminator');
  return [buf.toString('latin1', at, end), end + 1];
}

/** A latin1-decoded name as the client wrote it (UTF-8 text), for messages. */
export function displayName(name: string): string {
  return Buffer.from(name, 'latin1').toString('utf8');
}

/** Counts are unsigned 16-bit on the wire: Postgres allows up to 65535 parameters. */
function readUInt16(buf: Buffer, at: number): number {
  if (at + 2 > buf.length) throw bad('message too short');
  return buf.readUInt16BE(at);
}
function readInt32(buf: Buffer, at: number): number {
  if (at + 4 > buf.length) throw bad('message too short');
  return buf.readInt32BE(at);
}

export function decodeStartupPacket(payload: Buffer): StartupPacket {
  const code = readInt32(payload, 0);
  switch (code) {
    case StartupCode.SSLRequest:
      return { kind: 'SSLRequest' };
    case StartupCode.GSSENCRequest:
      return { kind: 'GSSENCRequest' };
    case StartupCode.CancelRequest:
      return { kind: 'CancelRequest', pid: readInt32(payload, 4), secret: readInt32(payload, 8) };
  }
  if (code >> 16 !== 3) {
    throw new ProxyError('UNSUPPORTED_PROTOCOL', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}: server supports 3.0`, SqlState.FeatureNotSupported, 'FATAL');
  }
  const params = new Map<string, string>();
  let at = 4;
  while (at < payload.length && payload[at] !== 0) {
    const [key, a1] = readCString(payload, at);
    const [value, a2] = readCString(payload, a1);
    params.set(key, value);
    at = a2;
  }
  if (at !== payload.length - 1) throw bad('invalid startup packet layout: expected terminator as last byte');
  return { kind: 'StartupMessage', protocol: code, params };
}

export function decodeParse(payload: Buffer): Parse {
  const [name, a1] = readName(payload, 0);
  const [query, a2] = readCString(payload, a1);
  const n = readUInt16(payload, a2);
  const paramTypes: number[] = new Array(n);
  for (let i = 0; i < n; i++) paramTypes[i] = readInt32(payload, a2 + 2 + i * 4) >>> 0;
  // as Postgres' pq_getmsgend: a Parse with bytes after its parameter types is malformed
  if (a2 + 2 + n * 4 !== payload.length) throw bad('invalid message format: trailing bytes after Parse');
  return { name, query, paramTypes, rest: payload.subarray(a1) };
}

export function decodeBind(payload: Buffer): Bind {
  const [portal, a1] = readName(payload, 0);
  const [statement, a2] = readName(payload, a1);
  // the rest is forwarded as is, so check its layout here: a malformed Bind must not reach a shared server connection
  let at = a2;
  const nFormats = readUInt16(payload, at);
  at += 2 + nFormats * 2;
  const nParams = readUInt16(payload, at);
  at += 2;
  if (nFormats > 1 && nFormats !== nParams) throw bad(`bind message has ${nFormats} parameter formats but ${nParams} parameters`);
  for (let i = 0; i < nParams; i++) {
    const len = readInt32(payload, at);
    at += 4;
    if (len === -1) continue;
    if (len < 0 || at + len > payload.length) throw bad('insufficient data left in Bind message');
    at += len;
  }
  const nResults = readUInt16(payload, at);
  at += 2 + nResults * 2;
  if (at > payload.length) throw bad('message too short');
  if (at !== payload.length) throw bad('invalid Bind message format: trailing bytes');
  return { portal, statement, restOffset: a2 };
}

/** The parameter values and format codes of a Bind (call after decodeBind validated the layout). */
export function decodeBindParams(payload: Buffer, restOffset: number): { formats: number[]; values: (Buffer | null)[]; resultFormats: number[] } {
  let at = restOffset;
  const nFormats = payload.readUInt16BE(at);
  at += 2;
  const formats: number[] = new Array(nFormats);
  for (let i = 0; i < nFormats; i++, at += 2) formats[i] = payload.readUInt16BE(at);
  const n = payload.readUInt16BE(at);
  at += 2;
  const values: (Buffer | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const len = payload.readInt32BE(at);
    at += 4;
    if (len === -1) values[i] = null;
    else {
      values[i] = payload.subarray(at, at + len);
      at += len;
    }
  }
  const nResults = payload.readUInt16BE(at);
  at += 2;
  const resultFormats: number[] = new Array(nResults);
  for (let i = 0; i < nResults; i++, at += 2) resultFormats[i] = payload.readUInt16BE(at);
  return { formats, values, resultFormats };
}

function decodeTarget(payload: Buffer, what: string): { target: 'S' | 'P'; name: string } {
  if (payload.length < 2) throw bad(`${what} message too short`);
  const t = payload[0];
  if (t !== 0x53 && t !== 0x50) throw bad(`invalid ${what} target '${String.fromCharCode(t!)}'`);
  const [name, end] = readName(payload, 1);
  if (end !== payload.length) throw bad(`invalid message format: trailing bytes after ${what}`);
  return { target: t === 0x53 ? 'S' : 'P', name };
}
export const decodeDescribe = (payload: Buffer): Describe => decodeTarget(payload, 'Describe');
export const decodeClose = (payload: Buffer): Close => decodeTarget(payload, 'Close');

export function decodeExecute(payload: Buffer): Execute {
  const [portal, a1] = readName(payload, 0);
  return { portal, maxRows: readInt32(payload, a1) };
}

export function decodeQuery(payload: Buffer): string {
  return readCString(payload, 0)[0];
}

export type FrontendMessage =
  | { type: 'Parse'; msg: Parse }
  | { type: 'Bind'; msg: Bind }
  | { type: 'Describe'; msg: Describe }
  | { type: 'Close'; msg: Close }
  | { type: 'Execute'; msg: Execute }
  | { type: 'Query'; query: string }
  | { type: 'Sync' | 'Flush' | 'Terminate' | 'CopyDone' }
  | { type: 'CopyData'; data: Buffer }
  | { type: 'CopyFail'; message: string }
  | { type: 'FunctionCall'; payload: Buffer }
  | { type: 'PasswordMessage'; payload: Buffer };

/** Decodes any typed frontend frame; throws ProxyError 08P01 for unknown types or malformed bodies. */
export function decodeFrontendMessage(code: number, payload: Buffer): FrontendMessage {
  if (!FRONTEND_CODES.has(code)) throw bad(`invalid frontend message type ${code} ('${String.fromCharCode(code)}')`);
  switch (code) {
    case FrontendCode.Parse: return { type: 'Parse', msg: decodeParse(payload) };
    case FrontendCode.Bind: return { type: 'Bind', msg: decodeBind(payload) };
    case FrontendCode.Describe: return { type: 'Describe', msg: decodeDescribe(payload) };
    case FrontendCode.Close: return { type: 'Close', msg: decodeClose(payload) };
    case FrontendCode.Execute: return { type: 'Execute', msg: decodeExecute(payload) };
    case FrontendCode.Query: return { type: 'Query', query: decodeQuery(payload) };
    case FrontendCode.Sync: return { type: 'Sync' };
    case FrontendCode.Flush: return { type: 'Flush' };
    case FrontendCode.Terminate: return { type: 'Terminate' };
    case FrontendCode.CopyDone: return { type: 'CopyDone' };
    case FrontendCode.CopyData: return { type: 'CopyData', data: payload };
    case FrontendCode.CopyFail: return { type: 'CopyFail', message: readCString(payload, 0)[0] };
    case FrontendCode.FunctionCall: return { type: 'FunctionCall', payload };
    default: return { type: 'PasswordMessage', payload };
  }
}
