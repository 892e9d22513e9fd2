// frames owns building well-formed frontend messages of every type the fuzzer sends (on top of proxy/protocol/FrontendEncoder).
import { cstring, frame } from '../../proxy/protocol/BackendMessage.js';
import { Parse, Query, Sync, Terminate, targetFrame } from '../../proxy/protocol/FrontendEncoder.js';
import { FrontendCode } from '../../proxy/protocol/MessageCode.js';

export { Parse, Query, Sync, Terminate, cstring, frame };

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

/** Bind with text parameters (null = SQL NULL); formats: one code for all parameters and one for all results. */
export function Bind(portal: string, statement: string, params: (string | null)[], paramFormat = 0, resultFormat = 0): Buffer {
  const parts: Buffer[] = [cstring(portal), cstring(statement), int16(1), int16(paramFormat), int16(params.length)];
  for (const p of params) {
    if (p === null) parts.push(int32(-1));
    else {
      const v = Buffer.from(p, 'utf8');
      parts.push(int32(v.length), v);
    }
  }
  parts.push(int16(1), int16(resultFormat));
  return frame(FrontendCode.Bind, Buffer.concat(parts));
}

export function Execute(portal: string, maxRows = 0): Buffer {
  return frame(FrontendCode.Execute, Buffer.concat([cstring(portal), int32(maxRows)]));
}

export function Describe(target: 'S' | 'P', name: string): Buffer {
  return targetFrame(FrontendCode.Describe, target, name);
}

export function Close(target: 'S' | 'P', name: string): Buffer {
  return targetFrame(FrontendCode.Close, target, name);
}

export const Flush = frame(FrontendCode.Flush);

/** FunctionCall of `oid` with text arguments. */
export function FunctionCall(oid: number, args: string[]): Buffer {
  const parts: Buffer[] = [int32(oid), int16(1), int16(0), int16(args.length)];
  for (const a of args) {
    const v = Buffer.from(a, 'utf8');
    parts.push(int32(v.length), v);
  }
  parts.push(int16(0));
  return frame(FrontendCode.FunctionCall, Buffer.concat(parts));
}

export function CopyData(data: Buffer | string): Buffer {
  return frame(FrontendCode.CopyData, Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'));
}
export const CopyDone = frame(FrontendCode.CopyDone);
export function CopyFail(message: string): Buffer {
  return frame(FrontendCode.CopyFail, cstring(message));
}

/** A password / SASL message ('p') with raw contents. */
export function PasswordFrame(payload: Buffer): Buffer {
  return frame(FrontendCode.PasswordMessage, payload);
}

/** A frame with any type byte (unknown letters included). */
export function RawFrame(code: number, payload: Buffer): Buffer {
  return frame(code, payload);
}

/** The extended-protocol sequence for one statement: Parse, Bind, Describe portal, Execute. */
export function extendedStatement(name: string, sql: string, params: (string | null)[], portal = ''): Buffer[] {
  return [Parse(name, sql, []), Bind(portal, name, params), Describe('P', portal), Execute(portal, 0)];
}
