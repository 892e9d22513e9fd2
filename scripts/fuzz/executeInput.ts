// executeInput owns running one input on a connection and classifying what the proxy did — including the definition of a hang.
//
// A HANG is the proxy owing the client something and giving nothing: no byte and no close for `hangMs`
// (5 s by default) after the client finished writing, in a state where Postgres itself would have answered:
// - a complete start-up packet (or one with an impossible length): some byte or a close is owed;
// - a well-framed message input: the client then sends Sync + `select '<marker>'` (the probe, resent a few times
//   when the server sits waiting, e.g. in COPY IN mode, which ignores Sync) and the marker row + ReadyForQuery are owed;
// - an input with an impossible length word: a close (after an ErrorResponse) is owed;
// - a client that half-closed (FIN): a close is owed.
// A client that waits after an input Postgres would also leave waiting (a message cut short, a Parse without a
// Sync) is never a hang: such inputs end with a disconnect; whether the proxy survived them is checked by the
// honest client, the next logins, the accept check and the pool-leak check at the end.
import { Query, Sync } from './frames.js';
import type { Ending, FuzzInput, Outcome } from './types.js';
import type { WireConn } from './wireConn.js';

export interface Executed {
  outcome: Outcome;
  sqlstates: string[];
  detail?: string;
}

/** How long the probe waits in silence before it is sent again (the server may sit in COPY IN, which ignores Sync). */
const PROBE_RESEND_MS = 100;
const PROBE_RESENDS = 4;
/** ROLLBACK + probe after answers that report a failed transaction (each one an answer, not silence) */
const PROBE_ROLLBACKS = 64;
/** Bytes written at most by a client that stops reading. */
const NO_READ_BYTES = 4 * 1024 * 1024;

function classify(conn: WireConn): Outcome {
  if (conn.closed) return conn.sqlstates.length ? 'error-closed' : 'closed';
  if (conn.sqlstates.length) return 'error';
  return conn.bytesIn > 0 ? 'answered' : 'silent';
}

/**
 * Sends the probe for `marker` and waits for its answer. It is sent again (up to PROBE_RESENDS times) when the server
 * sits silent (COPY IN ignores Sync) or reports a failed transaction (then after a ROLLBACK, as any client would).
 */
async function probe(conn: WireConn, marker: string, hangMs: number): Promise<'ok' | 'closed' | 'hang'> {
  const frames = Buffer.concat([Sync, Query(`select '${marker}'`)]);
  conn.expectMarker(marker);
  const sentAt = Date.now();
  await conn.write(frames);
  // resends after silence (COPY IN) are few; those after an answer that reports a failed transaction are not silence
  // (the input's own queued statements may open and fail a transaction again after the ROLLBACK), so they have a
  // budget of their own: the proxy answered each time
  let resends = 0;
  let rollbacks = 0;
  for (;;) {
    const seenReady = conn.readyCount;
    const failedTx = (): boolean => conn.readyCount > seenReady && conn.lastStatus === 0x45; /* E */
    const canResend = resends < PROBE_RESENDS;
    const r = await conn.waitUntil(() => conn.probeDone || (rollbacks < PROBE_ROLLBACKS && failedTx()), canResend ? PROBE_RESEND_MS : hangMs);
    if (r === 'closed' || conn.probeDone) return r === 'closed' ? 'closed' : 'ok';
    if (r === 'ok') {
      // a failed transaction: roll it back and ask again
      rollbacks++;
      if (!conn.markerSeen) await conn.write(Buffer.concat([Query('rollback'), frames]));
      continue;
    }
    if (Date.now() - Math.max(sentAt, conn.lastByteAt) >= hangMs) return 'hang';
    if (canResend) {
      resends++;
      if (!conn.markerSeen) await conn.write(conn.lastStatus === 0x45 ? Buffer.concat([Query('rollback'), frames]) : frames);
    }
  }
}

async function finishMessageInput(conn: WireConn, input: FuzzInput, hangMs: number): Promise<Executed> {
  const ending: Ending = input.ending;
  switch (ending) {
    case 'probe': {
      const r = await probe(conn, `fz${input.index}`, hangMs);
      if (r === 'hang') return { outcome: 'hang', sqlstates: conn.sqlstates, detail: `no answer to the probe (Sync + select) for ${hangMs} ms` };
      const outcome = classify(conn);
      const sqlstates = conn.sqlstates;
      if (r === 'ok' && conn.lastStatus !== 0x49 /* I */) {
        // leave no transaction open between inputs (a real client would end it too)
        await conn.write(Query('rollback'));
        const r2 = await probe(conn, `fz${input.index}r`, hangMs);
        if (r2 === 'hang') return { outcome: 'hang', sqlstates, detail: `no answer to rollback + probe for ${hangMs} ms` };
      }
      return { outcome, sqlstates };
    }
    case 'await-close': {
      const r = await conn.waitUntil(() => false, hangMs);
      if (r === 'hang' && conn.bytesIn === 0) return { outcome: 'hang', sqlstates: conn.sqlstates, detail: `no byte and no close for ${hangMs} ms after an impossible length word` };
      const outcome = classify(conn);
      conn.destroy();
      return { outcome, sqlstates: conn.sqlstates, detail: r === 'hang' ? 'answered but did not close after an impossible length word' : undefined };
    }
    case 'half-close': {
      conn.socket.end();
      const r = await conn.waitUntil(() => false, hangMs);
      if (r === 'hang') return { outcome: 'hang', sqlstates: conn.sqlstates, detail: `no close for ${hangMs} ms after the client's FIN` };
      return { outcome: classify(conn), sqlstates: conn.sqlstates };
    }
    case 'linger':
      await conn.sleep(input.lingerMs);
      break;
    case 'no-read':
    case 'disconnect':
    case 'await-answer':
      break;
  }
  const outcome = classify(conn);
  conn.destroy();
  return { outcome, sqlstates: conn.sqlstates };
}

/** Runs a start-up input on a fresh connection (closed afterwards). */
export async function executeStartupInput(conn: WireConn, input: FuzzInput, hangMs: number): Promise<Executed> {
  const code = input.bytes.length >= 8 ? input.bytes.readInt32BE(4) : 0;
  conn.reset(code === 80877103 || code === 80877104 ? 1 : 0);
  await conn.write(input.bytes, input.cuts);
  if (input.ending === 'await-answer') {
    const r = await conn.waitUntil(() => conn.bytesIn > 0, hangMs);
    if (r === 'hang') {
      conn.destroy();
      return { outcome: 'hang', sqlstates: [], detail: `no byte and no close for ${hangMs} ms after a complete start-up packet` };
    }
    // give a close that follows an ErrorResponse a moment to arrive (for the histogram only)
    if (!conn.closed && conn.sqlstates.length) await conn.sleep(2);
  } else await conn.sleep(input.lingerMs);
  const outcome = classify(conn);
  conn.destroy();
  return { outcome, sqlstates: conn.sqlstates };
}

/** Runs a message or session input on a logged-in connection (which stays open when the input allows). */
export async function executeMessageInput(conn: WireConn, input: FuzzInput, hangMs: number): Promise<Executed> {
  conn.reset();
  if (input.ending === 'no-read') {
    conn.socket.pause();
    const times = Math.max(1, Math.min(256, Math.floor(NO_READ_BYTES / Math.max(1, input.bytes.length))));
    for (let i = 0; i < times && !conn.closed; i++) conn.socket.write(input.bytes);
    await new Promise((r) => setTimeout(r, 20 + input.lingerMs));
  } else await conn.write(input.bytes, input.cuts);
  return finishMessageInput(conn, input, hangMs);
}
