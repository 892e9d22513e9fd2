// RoutedRequest owns one client request as routing sees it: the frames of a simple Query or of an extended batch up to
// Sync/Flush, cut into routing units (one per Bind), and the responses Prescient gives without a server.
import type { Frame } from '../protocol/FrameReader.js';
import { BackendCode, FrontendCode } from '../protocol/MessageCode.js';
import { decodeParse } from '../protocol/FrontendMessage.js';
import * as Be from '../protocol/BackendMessage.js';
import { StatementKind, type StatementInfo } from '../analyzer/types.js';
import { SessionOp, TransactionEnd } from '../analyzer/SessionStatements.js';
import type { RequestContext } from '../plugins/api.js';

/** What one Bind (or a lone Parse, or a simple Query) runs, with its parameters. */
export interface RoutingUnit {
  sql: string;
  statements: StatementInfo[];
  params?: (Buffer | null)[];
  formats?: number[];
  resultFormats?: number[];
  /** the plugins' view, built only when plugins run */
  ctx?: RequestContext;
}

export const TxControl = {
  None: 0,
  /** the request is exactly one BEGIN / START TRANSACTION */
  Begin: 1,
  /** exactly one COMMIT / END (AND NO CHAIN included; not AND CHAIN, not COMMIT PREPARED) */
  Commit: 2,
  /** exactly one ROLLBACK / ABORT (AND NO CHAIN included; not AND CHAIN, not ROLLBACK PREPARED, not ROLLBACK TO) */
  Rollback: 3,
} as const;
export type TxControl = (typeof TxControl)[keyof typeof TxControl];

export interface RoutedRequest {
  frames: Frame[];
  /** a simple Query (or FunctionCall) */
  simple: boolean;
  /** the batch ends with Sync: the answer ends with ReadyForQuery */
  endsWithSync: boolean;
  units: RoutingUnit[];
  txControl: TxControl;
  /** every statement only sets prescient.account / prescient.action: answered by the proxy */
  routingSettingsOnly: boolean;
  /** the text of a BEGIN to replay on the server once the transaction's shard is known */
  sql: string;
  /** placement keys this request writes (for the version tracker) */
  writeKeys?: string[];
  /** Parse (and Describe) without Bind: prepares, runs nothing */
  prepareOnly?: boolean;
  /** the account and action of the shard key it was routed by (a one-shard route), for the slow-request line */
  account?: string;
  action?: string;
}

/** Whether a plugin's result answer can stand in for this request's response (see RequestContext.replay). */
export function replayOf(req: RoutedRequest): { describePortal: boolean; maxRows: number } | null {
  if (req.simple) return req.frames[0]!.code === FrontendCode.Query ? { describePortal: true, maxRows: 0 } : null;
  let executes = 0;
  let describePortal = false;
  for (const f of req.frames) {
    switch (f.code) {
      case FrontendCode.Parse: case FrontendCode.Bind: case FrontendCode.Sync: case FrontendCode.Flush:
        break;
      case FrontendCode.Describe:
        if (f.payload[0] !== 0x50) return null;
        describePortal = true;
        break;
      case FrontendCode.Execute:
        // a row-limited Execute would leave a portal the server does not have
        if (f.payload.readInt32BE(f.payload.length - 4) !== 0) return null;
        executes++;
        break;
      default:
        return null;
    }
  }
  return executes === 1 ? { describePortal, maxRows: 0 } : null;
}

/** The transaction end a statement makes when it is a plain one (not AND CHAIN, not a prepared transaction's), or null. */
function plainEnd(st: StatementInfo): TransactionEnd | null {
  const s = st.session;
  return s !== undefined && s.op === SessionOp.EndTransaction && !s.chain ? s.end : null;
}

/** The request is one transaction-control statement and nothing else. */
export function txControlOf(units: readonly RoutingUnit[]): TxControl {
  if (units.length !== 1 || units[0]!.statements.length !== 1) return TxControl.None;
  const st = units[0]!.statements[0]!;
  if (st.parseError) return TxControl.None;
  switch (st.kind) {
    case StatementKind.Begin:
      return TxControl.Begin;
    case StatementKind.Commit:
      return plainEnd(st) === TransactionEnd.Commit ? TxControl.Commit : TxControl.None;
    case StatementKind.Rollback:
      return plainEnd(st) === TransactionEnd.Rollback ? TxControl.Rollback : TxControl.None;
    default:
      return TxControl.None;
  }
}

type Register = (name: string, rest: Buffer, query: string) => void;

/**
 * The response to an extended request Prescient answers itself: ParseComplete (named statements handed to
 * `register`), BindComplete, the RowDescription (or NoData) of the first result for Describe, each Execute's
 * result without its RowDescription, CloseComplete, ReadyForQuery(status) at Sync.
 */
function answerExtended(req: RoutedRequest, status: number, register: Register, resultOf: (execute: number) => readonly Buffer[]): Buffer {
  const out: Buffer[] = [];
  let executed = 0;
  for (const f of req.frames) {
    switch (f.code) {
      case FrontendCode.Parse: {
        // an unnamed statement needs no registering (and its text no decoding)
        if (f.payload[0] !== 0) {
          const p = decodeParse(f.payload);
          register(p.name, p.rest, p.query);
        }
        out.push(Be.ParseComplete);
        break;
      }
      case FrontendCode.Bind:
        out.push(Be.BindComplete);
        break;
      case FrontendCode.Describe: {
        if (f.payload[0] === 0x53) out.push(Be.ParameterDescriptionNone);
        const first = resultOf(executed)[0];
        out.push(first !== undefined && first[0] === BackendCode.RowDescription ? first : Be.NoData);
        break;
      }
      case FrontendCode.Execute: {
        const result = resultOf(executed++);
        for (let i = result[0]?.[0] === BackendCode.RowDescription ? 1 : 0; i < result.length; i++) out.push(result[i]!);
        break;
      }
      case FrontendCode.Close:
        out.push(Be.CloseComplete);
        break;
      case FrontendCode.Sync:
        out.push(Be.ReadyForQuery(status));
        break;
      default:
        break;
    }
  }
  return Buffer.concat(out);
}

/** A plugin's result answer (RowDescription?, DataRow…, CommandComplete) in the shape an extended request expects. */
export function replayExtended(req: RoutedRequest, answer: readonly Buffer[], status: number, register: Register): Buffer {
  return answerExtended(req, status, register, () => answer);
}

/**
 * The response Postgres would give to a request that only runs `tags` (BEGIN, COMMIT, ROLLBACK, SET) when the proxy
 * answers it itself. `status` is the transaction status after it.
 */
export function synthesizedResponse(req: RoutedRequest, tags: readonly string[], status: number, register: Register): Buffer {
  if (req.simple) return Buffer.concat([...tags.map((t) => Be.CommandComplete(t)), Be.ReadyForQuery(status)]);
  return answerExtended(req, status, register, (i) => (tags.length === 0 ? [] : [Be.CommandComplete(tags[Math.min(i, tags.length - 1)]!)]));
}
