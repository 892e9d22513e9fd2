// probeShard owns asking a Postgres server whether it accepts connections, as pg_isready does: a start-up packet, the first answer read, the connection closed; no credentials needed.
import net from 'node:net';
import * as Fe from '../protocol/FrontendEncoder.js';
import { BackendCode } from '../protocol/MessageCode.js';
import { errorCode } from '../protocol/BackendMessage.js';
import { SqlState } from '../protocol/SqlState.js';

/** What a probe found: null when the server accepts connections, else why not. */
export type ProbeOutcome = string | null;

/**
 * Connects to `host:port` and sends a start-up packet for `user`/`database`. Any authentication request, or any
 * error but 57P03 (starting up, shutting down, in recovery), means the server accepts connections (pg_isready's rule:
 * a wrong password or an unknown role still shows a server that answers). The connection is closed after the first
 * answer, before any authentication (Postgres logs nothing for that, as for pg_isready).
 */
export function probeShard(target: { host: string; port: number; user: string; database: string }, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port });
    let got = Buffer.alloc(0);
    let settled = false;
    const done = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // no Terminate: in the middle of authentication Postgres would log it as an unexpected message; EOF it takes quietly
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done(`no answer in ${timeoutMs} ms`), timeoutMs);
    socket.on('connect', () => socket.write(Fe.StartupMessage({ user: target.user, database: target.database, application_name: 'prescient-readyz' })));
    socket.on('error', (e) => done((e as Error).message));
    socket.on('close', () => done('closed the connection without an answer'));
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 5) return;
      const code = got[0]!;
      if (code !== BackendCode.ErrorResponse) return done(null);
      const length = got.readInt32BE(1);
      if (got.length < 1 + length) return;
      const sqlState = errorCode(got.subarray(5, 1 + length));
      done(sqlState === SqlState.CannotConnectNow ? `not accepting connections (${sqlState})` : null);
    });
  });
}
