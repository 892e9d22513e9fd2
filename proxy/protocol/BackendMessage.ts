// BackendMessage owns encoding the messages Prescient itself sends to clients (the server side of the protocol).
import { AuthCode, BackendCode } from './MessageCode.js';

/** Builds one typed frame from a payload. */
export function frame(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 5);
  out[0] = code;
  out.writeInt32BE(payload.length + 4, 1);
  payload.copy(out, 5);
  return out;
}

export function cstring(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(b.length + 1);
  b.copy(out);
  out[b.length] = 0;
  return out;
}

function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n | 0);
  return b;
}
function int16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeInt16BE(n);
  return b;
}

export const AuthenticationOk = frame(BackendCode.Authentication, int32(AuthCode.Ok));
export const AuthenticationCleartextPassword = frame(BackendCode.Authentication, int32(AuthCode.CleartextPassword));
export function AuthenticationMD5Password(salt: Buffer): Buffer {
  return frame(BackendCode.Authentication, Buffer.concat([int32(AuthCode.MD5Password), salt]));
}
export function AuthenticationSASL(mechanisms: string[]): Buffer {
  return frame(BackendCode.Authentication, Buffer.concat([int32(AuthCode.SASL), ...mechanisms.map(cstring), Buffer.from([0])]));
}
export function AuthenticationSASLContinue(data: string): Buffer {
  return frame(BackendCode.Authentication, Buffer.concat([int32(AuthCode.SASLContinue), Buffer.from(data, 'utf8')]));
}
export function AuthenticationSASLFinal(data: string): Buffer {
  return frame(BackendCode.Authentication, Buffer.concat([int32(AuthCode.SASLFinal), Buffer.from(data, 'utf8')]));
}
export function ParameterStatus(name: string, value: string): Buffer {
  return frame(BackendCode.ParameterStatus, Buffer.concat([cstring(name), cstring(value)]));
}
export function BackendKeyData(pid: number, secret: number): Buffer {
  return frame(BackendCode.BackendKeyData, Buffer.concat([int32(pid), int32(secret)]));
}
export const TransactionStatus = { Idle: 0x49, InTransaction: 0x54, Failed: 0x45 } as const;
export type TransactionStatus = (typeof TransactionStatus)[keyof typeof TransactionStatus];
const readyCache = new Map<number, Buffer>();
export function ReadyForQuery(status: number): Buffer {
  let b = readyCache.get(status);
  if (!b) readyCache.set(status, (b = frame(BackendCode.ReadyForQuery, Buffer.from([status]))));
  return b;
}
export const ParseComplete = frame(BackendCode.ParseComplete);
export const BindComplete = frame(BackendCode.BindComplete);
export const CloseComplete = frame(BackendCode.CloseComplete);
export const NoData = frame(BackendCode.NoData);
/** ParameterDescription of a statement without parameters */
export const ParameterDescriptionNone = frame(BackendCode.ParameterDescription, Buffer.from([0, 0]));
export const EmptyQueryResponse = frame(BackendCode.EmptyQueryResponse);
export function CommandComplete(tag: string): Buffer {
  return frame(BackendCode.CommandComplete, cstring(tag));
}

/** Error and notice fields, keyed by their one-letter field codes. */
export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'LOG' | 'INFO' | 'DEBUG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}
/** A field value: a NUL (e.g. an echoed message type byte 0) would end the field early and corrupt the rest. */
const fieldText = (s: string): Buffer => cstring(s.includes('\0') ? s.replace(/\0/g, '\\0') : s);
function fieldsPayload(f: ErrorFields): Buffer {
  const parts: Buffer[] = [
    Buffer.from('S'), cstring(f.severity),
    Buffer.from('V'), cstring(f.severity),
    Buffer.from('C'), cstring(f.code),
    Buffer.from('M'), fieldText(f.message),
  ];
  if (f.detail) parts.push(Buffer.from('D'), fieldText(f.detail));
  if (f.hint) parts.push(Buffer.from('H'), fieldText(f.hint));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}
export function ErrorResponse(f: ErrorFields): Buffer {
  return frame(BackendCode.ErrorResponse, fieldsPayload(f));
}
export function NoticeResponse(f: ErrorFields): Buffer {
  return frame(BackendCode.NoticeResponse, fieldsPayload(f));
}

/** RowDescription for text columns (type text, oid 25) — used by the admin console. */
export function RowDescription(columns: string[]): Buffer {
  const parts: Buffer[] = [int16(columns.length)];
  for (const c of columns) {
    const d = Buffer.alloc(18);
    d.writeInt32BE(0, 0); // table oid
    d.writeInt16BE(0, 4); // attnum
    d.writeInt32BE(25, 6); // type oid: text
    d.writeInt16BE(-1, 10); // typlen
    d.writeInt32BE(-1, 12); // typmod
    d.writeInt16BE(0, 16); // format: text
    parts.push(cstring(c), d);
  }
  return frame(BackendCode.RowDescription, Buffer.concat(parts));
}
export function DataRow(values: (string | null)[]): Buffer {
  const parts: Buffer[] = [int16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(int32(-1));
    else {
      const b = Buffer.from(v, 'utf8');
      parts.push(int32(b.length), b);
    }
  }
  return frame(BackendCode.DataRow, Buffer.concat(parts));
}

/** An ErrorResponse (or NoticeResponse, with `code` 'N') from a field map as decodeErrorFields returns it. */
export function ErrorResponseFromFields(fields: Map<string, string>, code: number = BackendCode.ErrorResponse): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of fields) parts.push(Buffer.from(k, 'latin1'), fieldText(v));
  parts.push(Buffer.from([0]));
  return frame(code, Buffer.concat(parts));
}

/**
 * The rows a CommandComplete frame at buf[start, end) reports: its tag's last word when that is a number (`SELECT 3`,
 * `INSERT 0 1`), read from the bytes; undefined when the tag has none (`BEGIN`, `CREATE TABLE`).
 */
export function commandCompleteRows(buf: Buffer, start: number, end: number): number | undefined {
  let i = end - 2; // before the tag's terminating NUL
  let n = 0;
  let scale = 1;
  while (i >= start + 5 && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    n += (buf[i]! - 0x30) * scale;
    scale *= 10;
    i--;
  }
  return scale > 1 && (i < start + 5 || buf[i] === 0x20) ? n : undefined;
}

/** The SQLSTATE (field C) of an ErrorResponse or NoticeResponse payload, '' when it has none; reads no other field. */
export function errorCode(payload: Buffer): string {
  let at = 0;
  while (at < payload.length && payload[at] !== 0) {
    const end = payload.indexOf(0, at + 1);
    if (end < 0) break;
    if (payload[at] === 0x43 /* C */) return payload.toString('latin1', at + 1, end);
    at = end + 1;
  }
  return '';
}

/** Reads the fields of an ErrorResponse/NoticeResponse payload into a map keyed by field code. */
export function decodeErrorFields(payload: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < payload.length && payload[at] !== 0) {
    const key = String.fromCharCode(payload[at]!);
    const end = payload.indexOf(0, at + 1);
    if (end < 0) break;
    out.set(key, payload.toString('utf8', at + 1, end));
    at = end + 1;
  }
  return out;
}
