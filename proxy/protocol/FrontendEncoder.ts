// FrontendEncoder owns building frontend messages (what Prescient, the tests and the fuzzer send as a client).
import { frame, cstring } from './BackendMessage.js';
import { FrontendCode, StartupCode } from './MessageCode.js';

export function StartupMessage(params: Record<string, string>): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4), Buffer.alloc(4)];
  parts[1]!.writeInt32BE(StartupCode.Protocol3);
  for (const [k, v] of Object.entries(params)) parts.push(cstring(k), cstring(v));
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  out.writeInt32BE(out.length, 0);
  return out;
}
export function CancelRequest(pid: number, secret: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(StartupCode.CancelRequest, 4);
  b.writeInt32BE(pid, 8);
  b.writeInt32BE(secret, 12);
  return b;
}
export function PasswordMessage(password: string): Buffer {
  return frame(FrontendCode.PasswordMessage, cstring(password));
}
export function SASLInitialResponse(mechanism: string, data: string): Buffer {
  const d = Buffer.from(data, 'utf8');
  const len = Buffer.alloc(4);
  len.writeInt32BE(d.length);
  return frame(FrontendCode.PasswordMessage, Buffer.concat([cstring(mechanism), len, d]));
}
export function SASLResponse(data: string): Buffer {
  return frame(FrontendCode.PasswordMessage, Buffer.from(data, 'utf8'));
}
export function Query(sql: string): Buffer {
  return frame(FrontendCode.Query, cstring(sql));
}
export const Sync = frame(FrontendCode.Sync);
export const Terminate = frame(FrontendCode.Terminate);
export const Flush = frame(FrontendCode.Flush);

/** A Parse frame for `query` under statement name `name`, with the parameter type oids given. */
export function Parse(name: string, query: string, paramTypes: readonly number[]): Buffer {
  const n = Buffer.alloc(2 + paramTypes.length * 4);
  n.writeUInt16BE(paramTypes.length, 0);
  paramTypes.forEach((oid, i) => n.writeUInt32BE(oid >>> 0, 2 + i * 4));
  return frame(FrontendCode.Parse, Buffer.concat([cstring(name), cstring(query), n]));
}

/** A Parse frame from a NUL-terminated name and the client's Parse bytes after its name (query and types, byte-exact). */
export function ParseRaw(name: Buffer, rest: Buffer): Buffer {
  const len = 4 + name.length + rest.length;
  const out = Buffer.allocUnsafe(len + 1);
  out[0] = FrontendCode.Parse;
  out.writeInt32BE(len, 1);
  name.copy(out, 5);
  rest.copy(out, 5 + name.length);
  return out;
}

/**
 * Rewrites the statement name of a Bind payload in one allocation, keeping its portal and the rest of its bytes.
 * `statement` is the new name as a NUL-terminated string (see `cstring`).
 */
export function renameBind(payload: Buffer, restOffset: number, statement: Buffer): Buffer {
  const portalEnd = payload.indexOf(0) + 1;
  const len = 4 + portalEnd + statement.length + (payload.length - restOffset);
  const out = Buffer.allocUnsafe(len + 1);
  out[0] = FrontendCode.Bind;
  out.writeInt32BE(len, 1);
  payload.copy(out, 5, 0, portalEnd);
  statement.copy(out, 5 + portalEnd);
  payload.copy(out, 5 + portalEnd + statement.length, restOffset);
  return out;
}
/** A Describe or Close frame for a statement ('S') or portal ('P'). */
export function targetFrame(code: number, target: 'S' | 'P', name: string): Buffer {
  return frame(code, Buffer.concat([Buffer.from(target), cstring(name)]));
}

function int16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeInt16BE(n);
  return b;
}
function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n | 0);
  return b;
}

export interface BindOptions {
  portal?: string;
  statement?: string;
  /** parameter values: string → UTF-8 text, Buffer → as given (binary with paramFormats [1]), null → NULL */
  params?: readonly (string | Buffer | null)[];
  /** 0 text / 1 binary; [] = all text, [f] = f for all, else one per parameter */
  paramFormats?: readonly number[];
  /** 0 text / 1 binary; [] = all text, [f] = f for all, else one per result column */
  resultFormats?: readonly number[];
}

export function Bind(o: BindOptions = {}): Buffer {
  const params = o.params ?? [];
  const paramFormats = o.paramFormats ?? [];
  const resultFormats = o.resultFormats ?? [];
  const parts: Buffer[] = [cstring(o.portal ?? ''), cstring(o.statement ?? ''), int16(paramFormats.length)];
  for (const f of paramFormats) parts.push(int16(f));
  parts.push(int16(params.length));
  for (const p of params) {
    if (p === null) parts.push(int32(-1));
    else {
      const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      parts.push(int32(b.length), b);
    }
  }
  parts.push(int16(resultFormats.length));
  for (const f of resultFormats) parts.push(int16(f));
  return frame(FrontendCode.Bind, Buffer.concat(parts));
}

export function Execute(portal = '', maxRows = 0): Buffer {
  return frame(FrontendCode.Execute, Buffer.concat([cstring(portal), int32(maxRows)]));
}

/** FunctionCall of `oid` with text arguments and a text result. */
export function FunctionCall(oid: number, args: readonly string[]): Buffer {
  const parts: Buffer[] = [int32(oid), int16(1), int16(0), int16(args.length)];
  for (const a of args) {
    const v = Buffer.from(a, 'utf8');
    parts.push(int32(v.length), v);
  }
  parts.push(int16(0));
  return frame(FrontendCode.FunctionCall, Buffer.concat(parts));
}

export function CopyData(data: Buffer | string): Buffer {
  return frame(FrontendCode.CopyData, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}
export const CopyDone = frame(FrontendCode.CopyDone);
export function CopyFail(message: string): Buffer {
  return frame(FrontendCode.CopyFail, cstring(message));
}
