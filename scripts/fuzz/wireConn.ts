// wireConn owns one raw fuzz connection: writing bytes, counting and parsing what comes back (SQLSTATEs, the probe marker, ReadyForQuery), SCRAM login.
import net from 'node:net';
import { ScramClientSession } from '../../proxy/auth/scram.js';
import { PasswordMessage, SASLInitialResponse, SASLResponse, StartupMessage } from '../../proxy/protocol/FrontendEncoder.js';

export type WaitResult = 'ok' | 'closed' | 'hang';

const EMPTY = Buffer.alloc(0);

export class WireConn {
  closed = false;
  bytesIn = 0;
  lastByteAt = 0;
  /** SQLSTATE of every ErrorResponse since the last reset */
  sqlstates: string[] = [];
  /** ReadyForQuery messages seen since the last reset, and the last transaction status byte */
  readyCount = 0;
  lastStatus = 0x49;
  /** set once the DataRow carrying `marker` arrived; `probeDone` once a ReadyForQuery followed it */
  markerSeen = false;
  probeDone = false;
  private marker: Buffer | null = null;
  private pending: Buffer = EMPTY;
  /** single-byte answers (to SSLRequest/GSSENCRequest) expected before typed frames */
  private singleBytes = 0;
  private broken = false;
  private waiter: (() => void) | null = null;
  /** every frame received, when tracing */
  trace: string[] | null = null;
  /** frames kept for login */
  private kept: { code: number; payload: Buffer }[] | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.trace?.push('<closed by the proxy or the client>');
      this.closed = true;
      this.wake();
    });
  }

  static connect(host: string, port: number, timeoutMs: number): Promise<WireConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timeout'));
      }, timeoutMs);
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(new WireConn(s));
      });
    });
  }

  /** Forgets what was seen (before a new input); `singleBytes` single-byte answers are expected first. */
  reset(singleBytes = 0): void {
    this.sqlstates = [];
    this.readyCount = 0;
    this.bytesIn = 0;
    this.markerSeen = false;
    this.probeDone = false;
    this.marker = null;
    this.singleBytes = singleBytes;
  }

  expectMarker(marker: string): void {
    this.marker = Buffer.from(marker, 'utf8');
    this.markerSeen = false;
    this.probeDone = false;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private onData(d: Buffer): void {
    if (this.trace && this.singleBytes > 0) this.trace.push(`<single byte ${String.fromCharCode(d[0]!)}>`);
    this.bytesIn += d.length;
    this.lastByteAt = Date.now();
    if (!this.broken) this.parse(d);
    this.wake();
  }

  private parse(d: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let off = 0;
    while (this.singleBytes > 0 && off < buf.length) {
      off++;
      this.singleBytes--;
    }
    while (buf.length - off >= 5) {
      const code = buf[off]!;
      const len = buf.readInt32BE(off + 1);
      if (len < 4) {
        this.broken = true;
        this.sqlstates.push('bad-backend-frame');
        buf = EMPTY;
        off = 0;
        break;
      }
      if (buf.length - off < len + 1) break;
      const payload = buf.subarray(off + 5, off + 1 + len);
      off += 1 + len;
      this.onFrame(code, payload);
    }
    this.pending = off >= buf.length ? EMPTY : Buffer.from(buf.subarray(off));
  }

  private onFrame(code: number, payload: Buffer): void {
    if (this.trace) this.trace.push(`${String.fromCharCode(code)} ${payload.toString('latin1', 0, 60).replace(/[^\x20-\x7e]/g, '.')}`);
    if (this.kept) this.kept.push({ code, payload: Buffer.from(payload) });
    if (code === 0x45 /* E */) {
      let code5 = 'no-sqlstate';
      for (let i = 0; i < payload.length && payload[i] !== 0; ) {
        const end = payload.indexOf(0, i + 1);
        if (end < 0) break;
        if (payload[i] === 0x43 /* C */) code5 = payload.toString('latin1', i + 1, end);
        i = end + 1;
      }
      this.sqlstates.push(code5);
    } else if (code === 0x5a /* Z */) {
      this.readyCount++;
      this.lastStatus = payload[0] ?? 0;
      if (this.markerSeen) this.probeDone = true;
    } else if (code === 0x44 /* D */ && this.marker && payload.length === 6 + this.marker.length) {
      if (payload.readInt16BE(0) === 1 && payload.subarray(6).equals(this.marker)) this.markerSeen = true;
    }
  }

  /** Writes `b` (split at `cuts`, yielding between pieces); never throws. */
  async write(b: Buffer, cuts: number[] = []): Promise<void> {
    if (this.closed || this.socket.destroyed) return;
    if (cuts.length === 0) {
      this.socket.write(b);
      return;
    }
    let at = 0;
    for (const c of [...cuts, b.length]) {
      if (c <= at) continue;
      if (this.closed || this.socket.destroyed) return;
      this.socket.write(b.subarray(at, c));
      at = c;
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Waits until `done()` holds ('ok') or the connection closes ('closed'). 'hang': neither, and no byte arrived for
   * `idleMs` (counted from the call or the last byte, whichever is later), or `capMs` passed in all.
   */
  waitUntil(done: () => boolean, idleMs: number, capMs = 60_000): Promise<WaitResult> {
    const start = Date.now();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const finish = (r: WaitResult): void => {
        if (timer) clearTimeout(timer);
        this.waiter = null;
        resolve(r);
      };
      const check = (): void => {
        if (done()) return finish('ok');
        if (this.closed) return finish('closed');
        this.waiter = check;
      };
      const arm = (): void => {
        const now = Date.now();
        const idleSince = Math.max(start, this.lastByteAt);
        if (now - start >= capMs || now - idleSince >= idleMs) return finish('hang');
        timer = setTimeout(arm, Math.min(idleMs - (now - idleSince), capMs - (now - start)) + 1);
      };
      check();
      if (this.waiter) arm();
    });
  }

  /** Sleeps `ms` (or less if the connection closes). */
  sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return this.waitUntil(() => false, ms, ms).then(() => undefined);
  }

  /** Start-up and SCRAM (or cleartext) login up to ReadyForQuery. Throws with the SQLSTATE, or 'hang' after `idleMs` of silence. */
  async login(user: string, password: string, database: string, idleMs: number): Promise<void> {
    this.kept = [];
    let scram: ScramClientSession | null = null;
    this.socket.write(StartupMessage({ user, database, application_name: 'prescient-fuzz' }));
    try {
      for (;;) {
        const r = await this.waitUntil(() => this.kept!.length > 0, idleMs);
        if (r === 'hang') throw Object.assign(new Error('login: no answer'), { code: 'hang' });
        if (r === 'closed' && this.kept.length === 0) throw Object.assign(new Error('login: closed'), { code: this.sqlstates[0] ?? 'closed' });
        const m = this.kept.shift()!;
        if (m.code === 0x52 /* R */) {
          const kind = m.payload.readInt32BE(0);
          if (kind === 10) {
            scram = new ScramClientSession(password);
            this.socket.write(SASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
          } else if (kind === 11) this.socket.write(SASLResponse(scram!.serverFirst(m.payload.toString('utf8', 4))));
          else if (kind === 12) scram!.serverFinal(m.payload.toString('utf8', 4));
          else if (kind === 3) this.socket.write(PasswordMessage(password));
          else if (kind !== 0) throw Object.assign(new Error(`login: unsupported auth ${kind}`), { code: 'auth' });
        } else if (m.code === 0x45) throw Object.assign(new Error('login refused'), { code: this.sqlstates[this.sqlstates.length - 1] ?? 'no-sqlstate' });
        else if (m.code === 0x5a) return;
      }
    } finally {
      this.kept = null;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
