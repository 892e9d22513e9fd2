// Owns: a raw wire-protocol test client (net.Socket) for sending hand-made, possibly malformed, frames to the proxy
// and reading back whole backend messages; plus a few frame builders.
import net from 'node:net';
import { ScramClientSession } from '../../proxy/auth/scram.js';
import { md5PasswordHash } from '../../proxy/auth/md5.js';
import { decodeErrorFields } from '../../proxy/protocol/BackendMessage.js';

export interface BackendMsg {
  code: string;
  payload: Buffer;
}

/** A typed frame: type byte, Int32 length (incl. itself), payload. `len` overrides the length word. */
export function typedFrame(code: string | number, payload: Buffer = Buffer.alloc(0), len?: number): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = typeof code === 'string' ? code.charCodeAt(0) : code;
  out.writeInt32BE(len ?? payload.length + 4, 1);
  payload.copy(out, 5);
  return out;
}

export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

export function queryFrame(sql: string): Buffer {
  return typedFrame('Q', cstr(sql));
}

/** An untyped startup packet for protocol `major.minor` with the given parameters. */
export function startupPacket(params: Record<string, string>, major = 3, minor = 0): Buffer {
  const body = Buffer.concat([...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE((major << 16) | minor, 4);
  body.copy(out, 8);
  return out;
}

export function errorFields(m: BackendMsg): Map<string, string> {
  return decodeErrorFields(m.payload);
}

/** A raw client connection: collects every byte eagerly so nothing is lost if the peer resets afterwards. */
export class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  /** set once the socket is closed (by either side) */
  closed = false;
  /** the socket error, if any (ECONNRESET, EPIPE, ...) */
  error: Error | null = null;
  /** backend key data from login */
  backendPid = 0;
  readonly params = new Map<string, string>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(host: string, port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private changed(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const ms = deadline - Date.now();
      if (ms <= 0) return reject(new Error('timed out waiting for the proxy'));
      const timer = setTimeout(() => reject(new Error('timed out waiting for the proxy')), ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Writes bytes; a write error (peer already gone) is recorded, not thrown. */
  send(buf: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(buf, () => resolve());
    });
  }

  /** The next whole typed backend message, or null once the connection is closed with no whole message left. */
  async read(timeoutMs = 10_000): Promise<BackendMsg | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length >= len + 1) {
          const m = { code: String.fromCharCode(this.buf[0]!), payload: Buffer.from(this.buf.subarray(5, len + 1)) };
          this.buf = this.buf.subarray(len + 1);
          return m;
        }
      }
      if (this.closed) return null;
      await this.changed(deadline);
    }
  }

  /** Reads messages until one with type `code` (returned); throws on timeout, close, or (unless code is 'E') an error. */
  async readUntil(code: string, timeoutMs = 10_000): Promise<{ msg: BackendMsg; before: BackendMsg[] }> {
    const before: BackendMsg[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.read(Math.max(1, deadline - Date.now()));
      if (!m) throw new Error(`connection closed before a '${code}' message; got ${before.map((b) => b.code).join('')}`);
      if (m.code === code) return { msg: m, before };
      if (m.code === 'E') throw new Error(`unexpected error: ${JSON.stringify(Object.fromEntries(errorFields(m)))}`);
      before.push(m);
    }
  }

  /** Resolves true once the socket is closed, false after the timeout. */
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      try {
        await this.changed(deadline);
      } catch {
        return this.closed;
      }
    }
    return true;
  }

  /** Startup + authentication (trust, cleartext, md5 or SCRAM) up to the first ReadyForQuery. */
  async login(params: Record<string, string>, password = ''): Promise<void> {
    await this.send(startupPacket(params));
    let scram: ScramClientSession | null = null;
    for (;;) {
      const m = await this.read();
      if (!m) throw new Error('connection closed during login');
      const p = m.payload;
      switch (m.code) {
        case 'R': {
          const kind = p.readInt32BE(0);
          if (kind === 0) break;
          if (kind === 3) await this.send(typedFrame('p', cstr(password)));
          else if (kind === 5) await this.send(typedFrame('p', cstr(md5PasswordHash(params.user ?? '', password, p.subarray(4, 8)))));
          else if (kind === 10) {
            scram = new ScramClientSession(password);
            const data = Buffer.from(scram.clientFirst(), 'utf8');
            const len = Buffer.alloc(4);
            len.writeInt32BE(data.length);
            await this.send(typedFrame('p', Buffer.concat([cstr('SCRAM-SHA-256'), len, data])));
          } else if (kind === 11) await this.send(typedFrame('p', Buffer.from(scram!.serverFirst(p.toString('utf8', 4)), 'utf8')));
          else if (kind === 12) scram!.serverFinal(p.toString('utf8', 4));
          else throw new Error(`unsupported auth request ${kind}`);
          break;
        }
        case 'S': {
          const i = p.indexOf(0);
          this.params.set(p.toString('utf8', 0, i), p.toString('utf8', i + 1, p.indexOf(0, i + 1)));
          break;
        }
        case 'K':
          this.backendPid = p.readInt32BE(0);
          break;
        case 'E':
          throw Object.assign(new Error(errorFields(m).get('M') ?? 'login failed'), { fields: errorFields(m) });
        case 'Z':
          return;
        default:
          break;
      }
    }
  }

  /** Runs one simple query; returns the first column of each row (text) and the error fields, if any. */
  async simpleQuery(sql: string): Promise<{ rows: (string | null)[]; error: Map<string, string> | null }> {
    await this.send(queryFrame(sql));
    const rows: (string | null)[] = [];
    let error: Map<string, string> | null = null;
    for (;;) {
      const m = await this.read();
      if (!m) throw new Error('connection closed during query');
      if (m.code === 'D') {
        const len = m.payload.readInt32BE(2);
        rows.push(len < 0 ? null : m.payload.toString('utf8', 6, 6 + len));
      } else if (m.code === 'E') error = errorFields(m);
      else if (m.code === 'Z') return { rows, error };
    }
  }

  /** Bytes received and not yet read as messages (e.g. the single-byte answer to an SSLRequest). */
  pendingBytes(): number {
    return this.buf.length;
  }

  /** Takes `n` raw bytes off the front of what was received. */
  takeBytes(n: number): Buffer {
    const out = Buffer.from(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    return out;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
