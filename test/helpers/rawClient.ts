// Owns: a minimal raw Postgres wire-protocol client for tests (connect + auth, send bytes, read frames),
// frontend message builders (Parse/Bind/Describe/Execute/...) and readable renderings of backend frames.
//
//   const c = await RawClient.connect({ host, port, user: 'app', password: 'app-secret', database: 'app' });
//   c.send(parse('', 'select $1::int'), bind({ params: ['1'] }), describe('P'), execute(), sync());
//   const frames = await c.readUntilReady();   // every backend frame up to and including ReadyForQuery
//   await c.close();
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
  private readonly reader = new FrameReader(1 << 30);
  private readonly queue: Frame[] = [];
  private readonly waiters: Waiter[] = [];
  private closedError: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      let f: Frame | null;
      while ((f = this.reader.next())) {
        // copy: frames are views on the received chunk
        const bytes = Buffer.from(f.frame);
        this.deliver({ code: f.code, frame: bytes, payload: bytes.subarray(5) });
      }
    });
    socket.on('error', (e) => this.shut(e));
    socket.on('close', () => this.shut(new Error('connection closed')));
  }

  /** Opens a connection and authenticates (trust, cleartext, md5 or SCRAM-SHA-256); resolves after ReadyForQuery. */
  static async connect(opts: RawConnectOptions): Promise<RawClient> {
    const socket = net.connect({ host: opts.host, port: opts.port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    const timeoutMs = opts.timeoutMs ?? 15000;
    const params: Record<string, string> = { user: opts.user, database: opts.database ?? opts.user, ...opts.params };
    c.send(Fe.StartupMessage(params));
    let scram: ScramClientSession | null = null;
    try {
      for (;;) {
        const f = await c.next(timeoutMs);
        const p = f.payload;
        if (f.code === BackendCode.ErrorResponse) throw new RawStartupError(errorFields(f));
        if (f.code === BackendCode.Authentication) {
          const kind = p.readInt32BE(0);
          if (kind === AuthCode.Ok) {
            c.startupFrames.push(f);
            continue;
          }
          const password = opts.password ?? '';
          if (kind === AuthCode.CleartextPassword) c.send(Fe.PasswordMessage(password));
          else if (kind === AuthCode.MD5Password) c.send(Fe.PasswordMessage(md5PasswordHash(opts.user, password, p.subarray(4, 8))));
          else if (kind === AuthCode.SASL) {
            scram = new ScramClientSession(password);
            c.send(Fe.SASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
          } else if (kind === AuthCode.SASLContinue) {
            c.send(Fe.SASLResponse(scram!.serverFirst(p.toString('utf8', 4))));
          } else if (kind === AuthCode.SASLFinal) {
            scram!.serverFinal(p.toString('utf8', 4));
          } else throw new Error(`unsupported authentication request ${kind}`);
          continue;
        }
        c.startupFrames.push(f);
        if (f.code === BackendCode.ParameterStatus) {
          const [k, v] = cstrings(p);
          c.params.set(k!, v!);
        } else if (f.code === BackendCode.BackendKeyData) {
          c.pid = p.readInt32BE(0);
          c.secret = p.readInt32BE(4);
        } else if (f.code === BackendCode.ReadyForQuery) {
          return c;
        }
      }
    } catch (e) {
      socket.destroy();
      throw e;
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

  /** Frames received and not read yet (does not wait). */
  get buffered(): number {
    return this.queue.length;
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
