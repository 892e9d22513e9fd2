// frames owns building well-formed frontend messages of every type the fuzzer sends (on top of proxy/protocol/FrontendEncoder).
import { cstring, frame } from '../../proxy/protocol/BackendMessage.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { FrontendCode } from '../../proxy/protocol/MessageCode.js';

export { cstring, frame };
export const { Parse, Query, Sync, Terminate, Flush, Execute, FunctionCall, CopyData, CopyDone, CopyFail } = Fe;

/** Bind with text parameters (null = SQL NULL); formats: one code for all parameters and one for all results. */
export function Bind(portal: string, statement: string, params: (string | null)[], paramFormat = 0, resultFormat = 0): Buffer {
  return Fe.Bind({ portal, statement, params, paramFormats: [paramFormat], resultFormats: [resultFormat] });
}

export function Describe(target: 'S' | 'P', name: string): Buffer {
  return Fe.targetFrame(FrontendCode.Describe, target, name);
}

export function Close(target: 'S' | 'P', name: string): Buffer {
  return Fe.targetFrame(FrontendCode.Close, target, name);
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
