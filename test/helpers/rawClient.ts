// Owns: the raw Postgres wire-protocol client for tests (connect + auth, or open a bare socket and send hand-made,
// possibly malformed, bytes; read frames, raw bytes or the close), frontend message builders (Parse/Bind/Describe/
// Execute/..., plus hand-made frames for malformed input) and readable renderings of backend frames.
//
//   const c = await RawClient.connect({ host, port, user: 'app', password: 'app-secret', database: 'app' });
//   c.send(parse('', 'select $1::int'), bind({ params: ['1'] }), describe('P'), execute(), sync());
//   const frames = await c.readUntilReady();   // every backend frame up to and including ReadyForQuery
//   await c.close();
//
//   const r = await RawClient.open({ host, port });   // no startup yet
//   r.send(rawFrame('Q', Buffer.alloc(0), -5));
//   const m = await r.read();                        // a frame, or null once the connection is closed
import net from 'node:net';
import { ScramClientSession } from '../../proxy/auth/scram.js';
import { md5PasswordHash } from '../../proxy/auth/md5.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { frame, cstring, decodeErrorFields } from '../../proxy/protocol/BackendMessage.js';
import { FrameReader, type Frame } from '../../proxy/protocol/FrameReader.js';
import { AuthCode, BackendCode, FrontendCode } from '../../proxy/protocol/MessageCode.js';

export type { Frame };

export interface RawConnectOptions {
  host: string;
  port: number;
  user: string;
  password?: string;
  database?: string;
  /** extra startup parameters (application_name, TimeZone, ...) */
  params?: Record<string, string>;
  /** connect + authenticate deadline (default 15 s) */
  timeoutMs?: number;
}

/** An ErrorResponse received during startup. */
export class RawStartupError extends Error {
  constructor(readonly fields: Map<string, string>) {
    super(`startup failed: ${fields.get('S') ?? ''} ${fields.get('C') ?? ''} ${fields.get('M') ?? ''}`);
  }
}

type Waiter = { resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class RawClient {
  /** backend pid and secret from BackendKeyData (the proxy's own when connected through Prescient) */
  pid = 0;
  secret = 0;
  /** ParameterStatus values seen during startup (and later, as they arrive through readUntil*) */
  readonly params = new Map<string, string>();
  /** every frame of the startup phase after the password exchange (AuthenticationOk .. ReadyForQuery) */
  startupFrames: Frame[] = [];
  private reader = new FrameReader(1 << 30);
  /** frames split off the received bytes and not read yet (each a copy; `frame` keeps its raw bytes) */
  private readonly queue: Frame[] = [];
  private readonly waiters: Waiter[] = [];
  /** called on every received chunk and on close (readBytes, waitClosed) */
  private watchers: (() => void)[] = [];
  /** bytes that do not split into frames (a bad length word); reported by next() once the queue is empty */
  private parseError: Error | null = null;
  private closedError: Error | null = null;
  /** the socket's 'close' event has fired */
  private socketClosed = false;
  /** the socket's error (ECONNRESET, EPIPE, ...), if it had one */
  socketError: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    // every byte is collected eagerly, so nothing is lost if the peer resets the connection afterwards
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.split();
      this.notify();
    });
    socket.on('error', (e) => {
      this.socketError = e;
      this.shut(e);
    });
    socket.on('close', () => {
      this.socketClosed = true;
      this.shut(new Error('connection closed'));
      this.notify();
    });
  }

  /** Opens a TCP connection and sends nothing (see login(), or send hand-made bytes). */
  static async open(at: { host: string; port: number }): Promise<RawClient> {
    const socket = net.connect({ host: at.host, port: at.port });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new RawClient(socket);
  }

  /** Opens a connection and authenticates (trust, cleartext, md5 or SCRAM-SHA-256); resolves after ReadyForQuery. */
  static async connect(opts: RawConnectOptions): Promise<RawClient> {
    const c = await RawClient.open(opts);
    const params: Record<string, string> = { user: opts.user, database: opts.database ?? opts.user, ...opts.params };
    try {
      await c.login(params, opts.password ?? '', opts.timeoutMs ?? 15000);
      return c;
    } catch (e) {
      c.socket.destroy();
      throw e;
    }
  }

  /**
   * Sends a StartupMessage with `params` (user, database, ...) and authenticates (trust, cleartext, md5 or
   * SCRAM-SHA-256); resolves after ReadyForQuery. Each backend message must come within timeoutMs. An ErrorResponse
   * rejects with a RawStartupError (the connection is left as the server leaves it: it is not closed here).
   */
  async login(params: Record<string, string>, password = '', timeoutMs = 15000): Promise<void> {
    this.send(Fe.StartupMessage(params));
    let scram: ScramClientSession | null = null;
    for (;;) {
      const f = await this.next(timeoutMs);
      const p = f.payload;
      if (f.code === BackendCode.ErrorResponse) throw new RawStartupError(errorFields(f));
      if (f.code === BackendCode.Authentication) {
        const kind = p.readInt32BE(0);
        if (kind === AuthCode.Ok) {
          this.startupFrames.push(f);
          continue;
        }
        if (kind === AuthCode.CleartextPassword) this.send(Fe.PasswordMessage(password));
        else if (kind === AuthCode.MD5Password) this.send(Fe.PasswordMessage(md5PasswordHash(params.user ?? '', password, p.subarray(4, 8))));
        else if (kind === AuthCode.SASL) {
          scram = new ScramClientSession(password);
          this.send(Fe.SASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
        } else if (kind === AuthCode.SASLContinue) {
          this.send(Fe.SASLResponse(scram!.serverFirst(p.toString('utf8', 4))));
        } else if (kind === AuthCode.SASLFinal) {
          scram!.serverFinal(p.toString('utf8', 4));
        } else throw new Error(`unsupported authentication request ${kind}`);
        continue;
      }
      this.startupFrames.push(f);
      if (f.code === BackendCode.ParameterStatus) {
        const [k, v] = cstrings(p);
        this.params.set(k!, v!);
      } else if (f.code === BackendCode.BackendKeyData) {
        this.pid = p.readInt32BE(0);
        this.secret = p.readInt32BE(4);
      } else if (f.code === BackendCode.ReadyForQuery) {
        return;
      }
    }
  }

  /** Moves the whole frames received so far to the queue (or to a waiting reader). */
  private split(): void {
    if (this.parseError) return;
    try {
      let f: Frame | null;
      while ((f = this.reader.next())) {
        // copy: frames are views on the received chunk
        const bytes = Buffer.from(f.frame);
        this.deliver({ code: f.code, frame: bytes, payload: bytes.subarray(5) });
      }
    } catch (e) {
      this.parseError = new Error(`received bytes that are not a backend frame: ${(e as Error).message}`);
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(this.parseError);
      }
    }
  }

  private deliver(f: Frame): void {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(f);
    } else this.queue.push(f);
  }

  private shut(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }

  private notify(): void {
    const ws = this.watchers;
    this.watchers = [];
    for (const w of ws) w();
  }

  /** Resolves on the next received chunk or close (true), or after `ms` (false). */
  private changed(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.watchers = this.watchers.filter((w) => w !== wake);
        resolve(false);
      }, Math.max(1, ms));
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.watchers.push(wake);
    });
  }

  /** The connection is closed or failed (by either side). */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Writes the given frames (concatenated, in one write). */
  send(...bufs: Buffer[]): void {
    this.socket.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  }

  /** The next backend frame (rejects after timeoutMs, or when the connection closes with nothing queued). */
  next(timeoutMs = 15000): Promise<Frame> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    if (this.parseError) return Promise.reject(this.parseError);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<Frame>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new Error(`no backend message within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /**
   * Like next(), but resolves null once the connection is closed with no whole frame left (a close is an
   * answer, not a failure); still rejects after timeoutMs.
   */
  async read(timeoutMs = 15000): Promise<Frame | null> {
    try {
      return await this.next(timeoutMs);
    } catch (e) {
      if (e === this.closedError) return null;
      throw e;
    }
  }

  /** Frames received and not read yet (does not wait). */
  get buffered(): number {
    return this.queue.length;
  }

  /** Bytes received and not read yet, framed or not (does not wait). */
  get pendingBytes(): number {
    return this.queue.reduce((n, f) => n + f.frame.length, 0) + this.reader.pending;
  }

  /**
   * The next `n` received bytes as they are, not as frames (e.g. the one-byte answer 'S' or 'N' to an SSLRequest);
   * waits for them, rejecting after timeoutMs or when the connection closes first.
   */
  async readBytes(n: number, timeoutMs = 15000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.pendingBytes < n) {
      if (this.socketClosed) throw new Error(`connection closed with ${this.pendingBytes} of ${n} bytes received`);
      if (!(await this.changed(deadline - Date.now()))) throw new Error(`${this.pendingBytes} of ${n} bytes within ${timeoutMs} ms`);
    }
    const all = Buffer.concat([...this.queue.splice(0).map((f) => f.frame), this.reader.drain()]);
    this.reader = new FrameReader(1 << 30);
    this.parseError = null;
    const rest = all.subarray(n);
    if (rest.length > 0) this.reader.push(Buffer.from(rest));
    this.split();
    return Buffer.from(all.subarray(0, n));
  }

  /** Resolves true once the socket is closed (by either side), false if it is still open after timeoutMs. */
  async waitClosed(timeoutMs = 15000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.socketClosed) {
      if (!(await this.changed(deadline - Date.now()))) return this.socketClosed;
    }
    return true;
  }

  /** All frames up to and including the first one `stop` accepts. */
  async readUntil(stop: (f: Frame) => boolean, timeoutMs = 15000): Promise<Frame[]> {
    const out: Frame[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let f: Frame;
      try {
        f = await this.next(Math.max(1, deadline - Date.now()));
      } catch (e) {
        throw new Error(`${(e as Error).message}; got so far:\n${renderFrames(out)}`);
      }
      out.push(f);
      if (f.code === BackendCode.ParameterStatus) {
        const [k, v] = cstrings(f.payload);
        this.params.set(k!, v!);
      }
      if (stop(f)) return out;
    }
  }

  /** All frames up to and including ReadyForQuery. */
  readUntilReady(timeoutMs = 15000): Promise<Frame[]> {
    return this.readUntil((f) => f.code === BackendCode.ReadyForQuery, timeoutMs);
  }

  /** Simple-protocol query: sends Query and returns the frames up to ReadyForQuery. */
  query(sql: string, timeoutMs = 15000): Promise<Frame[]> {
    this.send(query(sql));
    return this.readUntilReady(timeoutMs);
  }

  /** Like query(), but throws on an ErrorResponse; returns the text rows. */
  async rows(sql: string): Promise<(string | null)[][]> {
    const frames = await this.query(sql);
    const err = frames.find((f) => f.code === BackendCode.ErrorResponse);
    if (err) throw new Error(`query failed: ${sql}: ${errorFields(err).get('M')}`);
    return frames.filter((f) => f.code === BackendCode.DataRow).map(dataRowText);
  }

  /** Sends Terminate and waits for the socket to close. */
  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 2000);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.closedError) {
        this.socket.destroy();
        return;
      }
      this.socket.end(Fe.Terminate);
    });
  }

  /** Drops the connection without Terminate. */
  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends a CancelRequest on a new connection and waits until the server (or proxy) closes it. */
export async function sendCancel(host: string, port: number, pid: number, secret: number): Promise<void> {
  const s = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      resolve();
    }, 5000);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.once('connect', () => s.end(Fe.CancelRequest(pid, secret)));
    s.resume();
  });
}

// ---------------------------------------------------------------- frontend builders

export type BindOptions = Fe.BindOptions;

export function query(sql: string): Buffer {
  return Fe.Query(sql);
}
export function parse(name: string, sql: string, paramTypes: readonly number[] = []): Buffer {
  return Fe.Parse(name, sql, paramTypes);
}
export function bind(o: BindOptions = {}): Buffer {
  return Fe.Bind(o);
}
export function execute(portal = '', maxRows = 0): Buffer {
  return Fe.Execute(portal, maxRows);
}
export function describe(target: 'S' | 'P', name = ''): Buffer {
  return Fe.targetFrame(FrontendCode.Describe, target, name);
}
export function close(target: 'S' | 'P', name = ''): Buffer {
  return Fe.targetFrame(FrontendCode.Close, target, name);
}
export function sync(): Buffer {
  return Fe.Sync;
}
export function flush(): Buffer {
  return Fe.Flush;
}
export function copyData(data: string | Buffer): Buffer {
  return Fe.CopyData(data);
}
export function copyDone(): Buffer {
  return Fe.CopyDone;
}
export function copyFail(message: string): Buffer {
  return Fe.CopyFail(message);
}
/** A StartupMessage asking for protocol `major.minor` (3.0 unless given) with the given parameters. */
export function startupMessage(params: Record<string, string>, major = 3, minor = 0): Buffer {
  const out = Fe.StartupMessage(params);
  out.writeInt32BE((major << 16) | minor, 4);
  return out;
}

/**
 * A typed frame built by hand, for malformed input: type byte (a number or a one-letter string), Int32 length
 * (the payload's length + 4 unless `len` overrides it), payload. Use the builders above for well-formed frames.
 */
export function rawFrame(code: number | string, payload: Buffer = Buffer.alloc(0), len?: number): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = typeof code === 'string' ? code.charCodeAt(0) : code;
  out.writeInt32BE(len ?? payload.length + 4, 1);
  payload.copy(out, 5);
  return out;
}

// ---------------------------------------------------------------- backend decoding

const BACKEND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(BackendCode).map(([k, v]) => [v, k]));

export function frameName(code: number): string {
  return BACKEND_NAMES[code] ?? `0x${code.toString(16)}`;
}

function cstrings(payload: Buffer, at = 0): string[] {
  const out: string[] = [];
  while (at < payload.length) {
    const end = payload.indexOf(0, at);
    if (end < 0) break;
    out.push(payload.toString('utf8', at, end));
    at = end + 1;
  }
  return out;
}

/** ErrorResponse / NoticeResponse fields keyed by their one-letter codes. */
export function errorFields(f: Frame): Map<string, string> {
  return decodeErrorFields(f.payload);
}

/** The values of a DataRow (null for SQL NULL). */
export function dataRow(f: Frame): (Buffer | null)[] {
  const p = f.payload;
  const n = p.readInt16BE(0);
  const out: (Buffer | null)[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    const len = p.readInt32BE(at);
    at += 4;
    if (len < 0) out.push(null);
    else {
      out.push(p.subarray(at, at + len));
      at += len;
    }
  }
  return out;
}
export function dataRowText(f: Frame): (string | null)[] {
  return dataRow(f).map((v) => (v === null ? null : v.toString('utf8')));
}

export interface FieldDescription {
  name: string;
  tableOid: number;
  column: number;
  typeOid: number;
  typeLen: number;
  typeMod: number;
  format: number;
}
export function rowDescription(f: Frame): FieldDescription[] {
  const p = f.payload;
  const n = p.readInt16BE(0);
  const out: FieldDescription[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    const end = p.indexOf(0, at);
    const name = p.toString('utf8', at, end);
    at = end + 1;
    out.push({
      name,
      tableOid: p.readUInt32BE(at),
      column: p.readInt16BE(at + 4),
      typeOid: p.readUInt32BE(at + 6),
      typeLen: p.readInt16BE(at + 10),
      typeMod: p.readInt32BE(at + 12),
      format: p.readInt16BE(at + 16),
    });
    at += 18;
  }
  return out;
}

export function commandTag(f: Frame): string {
  return cstrings(f.payload)[0] ?? '';
}

/** One readable line for a frame: its name, a decoded summary and the payload in hex. */
export function renderFrame(f: Frame): string {
  const name = frameName(f.code);
  let summary = '';
  try {
    switch (f.code) {
      case BackendCode.DataRow:
        summary = JSON.stringify(dataRow(f).map((v) => (v === null ? null : printable(v))));
        break;
      case BackendCode.RowDescription:
        summary = JSON.stringify(rowDescription(f));
        break;
      case BackendCode.ErrorResponse:
      case BackendCode.NoticeResponse:
        summary = JSON.stringify(Object.fromEntries(errorFields(f)));
        break;
      case BackendCode.CommandComplete:
      case BackendCode.ParameterStatus:
        summary = JSON.stringify(cstrings(f.payload));
        break;
      case BackendCode.ReadyForQuery:
        summary = String.fromCharCode(f.payload[0]!);
        break;
      case BackendCode.ParameterDescription: {
        const n = f.payload.readInt16BE(0);
        summary = JSON.stringify(Array.from({ length: n }, (_, i) => f.payload.readUInt32BE(2 + i * 4)));
        break;
      }
      case BackendCode.NotificationResponse:
        summary = JSON.stringify([f.payload.readInt32BE(0), ...cstrings(f.payload, 4)]);
        break;
      default:
        break;
    }
  } catch {
    summary = '(undecodable)';
  }
  const hex = f.payload.length > 256 ? f.payload.subarray(0, 256).toString('hex') + `...(${f.payload.length} bytes)` : f.payload.toString('hex');
  return `${name}${summary ? ' ' + summary : ''} | ${hex}`;
}

function printable(v: Buffer): string {
  const s = v.toString('utf8');
  // binary values: show hex when the bytes are not valid, printable UTF-8
  return Buffer.from(s, 'utf8').equals(v) && !/[\u0000-\u0008\u000e-\u001f]/.test(s) ? s : `\\x${v.toString('hex')}`;
}

export function renderFrames(frames: readonly Frame[]): string {
  return frames.map(renderFrame).join('\n');
}
