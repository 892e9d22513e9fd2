// ServerConnection owns one client connection from Prescient to a Postgres server: connect, authenticate, state.
import net from 'node:net';
import { ScramClientSession } from '../auth/scram.js';
import { md5PasswordHash } from '../auth/md5.js';
import { decodeErrorFields } from '../protocol/BackendMessage.js';
import { FrameReader, type Frame } from '../protocol/FrameReader.js';
import { readCString } from '../protocol/FrontendMessage.js';
import * as Fe from '../protocol/FrontendEncoder.js';
import { AuthCode, BackendCode } from '../protocol/MessageCode.js';
import { ProxyError, SqlState, type SqlState as SqlStateT } from '../protocol/SqlState.js';
import type { ShardConfig } from '../../config/schema.js';
import { logger } from '../logger.js';

/** Whoever currently holds the connection receives its bytes and its close. */
export interface ServerOwner {
  /**
   * Bytes from the server. `chunk` is a view of the connection's read buffer: return false only when nothing of it is
   * referenced any more (not kept, not queued in a socket), so that the next read may go into the same memory; any
   * other return (undefined included) keeps the chunk, and the next read goes into a new buffer.
   */
  onServerData(chunk: Buffer): boolean | void;
  onServerClose(conn: ServerConnection, error: Error | null): void;
}

/** The user and password Prescient logs in to a server with (docs/server-identity.md says which). */
export interface ServerIdentity {
  user: string;
  password: string;
}

let nextId = 1;

/** the read buffer of a server connection: reads go into it (net onread) instead of a new Buffer per chunk */
const READ_BUFFER_BYTES = 64 * 1024;

export class ServerConnection {
  readonly id = nextId++;
  pid = 0;
  secret = 0;
  /** values the server reported in ParameterStatus, keyed by name as the server spells it */
  readonly params = new Map<string, string>();
  /** session settings Prescient applied with SET on top of the server's defaults, keyed by lower-cased name */
  setParams = new Map<string, string>();
  /** settingsKeyOf(setParams) */
  setParamsKey = '';
  /** server-side names of the prepared statements known to exist on this connection (their ParseComplete came) */
  readonly prepared = new Set<string>();
  /** names a Parse was sent for: one still in flight may yet be skipped or fail, so its existence is unknown */
  readonly parsed = new Set<string>();
  /** resultShapeOf each prepared statement on this connection, when a Describe of it was seen here */
  readonly shapes = new Map<string, string>();
  /** statements used since the last Sync or Query: never closed for room (a portal of the batch may come from one) */
  private readonly inBatch = new Set<string>();

  /** The server dropped every prepared statement (DISCARD ALL, DEALLOCATE ALL, a reset). */
  forgetStatements(): void {
    this.prepared.clear();
    this.parsed.clear();
    this.shapes.clear();
    this.inBatch.clear();
  }

  /** A request uses (or is about to Parse) statement `name`: it becomes the most recently used. */
  useStatement(name: string): void {
    this.parsed.delete(name);
    this.parsed.add(name);
    this.inBatch.add(name);
  }

  /** A Sync or a simple Query went out: the batch that used statements is over. */
  endBatch(): void {
    if (this.inBatch.size > 0) this.inBatch.clear();
  }

  /**
   * Makes room for one more statement when `max` (> 0) are there: forgets the least recently used ones not used by
   * the current batch and returns their names, for the caller to Close on the server.
   */
  evictStatements(max: number): string[] {
    if (max <= 0 || this.parsed.size < max) return [];
    const out: string[] = [];
    for (const name of this.parsed) {
      if (this.parsed.size - out.length < max) break;
      if (this.inBatch.has(name)) continue;
      out.push(name);
    }
    for (const name of out) {
      this.parsed.delete(name);
      this.prepared.delete(name);
      this.shapes.delete(name);
    }
    return out;
  }
  owner: ServerOwner | null = null;
  /** the last clients this connection served (`pid@port`, newest last, at most 4): for SHOW CLIENTS' detail */
  readonly served: string[] = [];
  noteServed(client: string): void {
    if (this.served.length >= 4) this.served.shift();
    this.served.push(client);
  }
  /** the key of the pool this connection belongs to (set by the pool) */
  poolKey = '';
  closed = false;
  /** last ReadyForQuery status: 'I' idle, 'T' in transaction, 'E' failed transaction */
  txStatus = 0x49;
  /**
   * extended-protocol messages were sent after the last Sync (or Query): txStatus is stale, the server may be inside an
   * implicit or explicit transaction or skipping to Sync after an error. Such a connection never goes back to the pool.
   */
  unsynced = false;
  /** Prescient cannot know how many answers this connection still owes (an error ended a COPY IN the client sent Syncs into): it is closed, never pooled, when its client leaves */
  desynced = false;
  lastUsed = Date.now();
  /** when the connection was established (SHOW SERVERS' connect_time) */
  readonly connectedAt = Date.now();
  /** when its pool last handed it out for a request or transaction (SHOW SERVERS' request_time); 0: never */
  handedOutAt = 0;
  private onIdleClose: ((conn: ServerConnection) => void) | null = null;

  /** where the next read goes; replaced when the owner kept (a view of) the last chunk */
  private readBuf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /** who gets the bytes read: the start-up exchange, then attach()'s dispatcher */
  private onChunk: (chunk: Buffer) => boolean | void = () => {};
  readonly socket: net.Socket;

  private constructor(
    host: string,
    port: number,
    readonly shard: ShardConfig,
    /** the server user this connection is logged in as */
    readonly user: string,
  ) {
    // reads into a reused buffer: no Buffer and no 'data' event per chunk (bench:passthrough's floor-onread measures it)
    this.socket = net.connect({
      host,
      port,
      onread: {
        buffer: () => this.readBuf,
        callback: (n: number, buf: Uint8Array): boolean => {
          const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
          if (this.onChunk(chunk) !== false) this.readBuf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
          return true;
        },
      },
    });
  }

  /** Opens, authenticates as `identity` and waits for the first ReadyForQuery. */
  static connect(shard: ShardConfig, identity: ServerIdentity, timeoutMs: number, applicationName = 'prescient'): Promise<ServerConnection> {
    return new Promise((resolve, reject) => {
      const conn = new ServerConnection(shard.host, shard.port, shard, identity.user);
      const socket = conn.socket;
      socket.setNoDelay(true);
      const reader = new FrameReader(1 << 30);
      let scram: ScramClientSession | null = null;
      let done = false;
      const timer = setTimeout(() => fail(new ProxyError('SERVER_CONNECT_TIMEOUT', `timed out connecting to shard "${shard.name}" at ${shard.host}:${shard.port}`, SqlState.SqlclientUnableToEstablishSqlconnection)), timeoutMs);
      const fail = (err: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const onData = (chunk: Buffer): void => {
        reader.push(chunk);
        try {
          let f;
          while ((f = reader.next())) {
            const p = f.payload;
            switch (f.code) {
              case BackendCode.Authentication: {
                const kind = p.readInt32BE(0);
                if (kind === AuthCode.Ok) break;
                if (kind === AuthCode.CleartextPassword) socket.write(Fe.PasswordMessage(identity.password));
                else if (kind === AuthCode.MD5Password) socket.write(Fe.PasswordMessage(md5PasswordHash(identity.user, identity.password, p.subarray(4, 8))));
                else if (kind === AuthCode.SASL) {
                  const mechs: string[] = [];
                  let at = 4;
                  while (at < p.length && p[at] !== 0) {
                    const [m, next] = readCString(p, at);
                    mechs.push(m);
                    at = next;
                  }
                  if (!mechs.includes('SCRAM-SHA-256')) throw new ProxyError('SERVER_AUTH_UNSUPPORTED', `shard "${shard.name}" offers only ${mechs.join(', ')}`, SqlState.FeatureNotSupported);
                  scram = new ScramClientSession(identity.password);
                  socket.write(Fe.SASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
                } else if (kind === AuthCode.SASLContinue) {
                  if (!scram) throw new Error('SASLContinue before SASL');
                  socket.write(Fe.SASLResponse(scram.serverFirst(p.toString('utf8', 4))));
                } else if (kind === AuthCode.SASLFinal) {
                  if (!scram) throw new Error('SASLFinal before SASL');
                  scram.serverFinal(p.toString('utf8', 4));
                } else {
                  throw new ProxyError('SERVER_AUTH_UNSUPPORTED', `shard "${shard.name}" asks for unsupported authentication method ${kind}`, SqlState.FeatureNotSupported);
                }
                break;
              }
              case BackendCode.ParameterStatus: {
                const [k, a] = readCString(p, 0);
                conn.params.set(k, readCString(p, a)[0]);
                break;
              }
              case BackendCode.BackendKeyData:
                conn.pid = p.readInt32BE(0);
                conn.secret = p.readInt32BE(4);
                break;
              case BackendCode.ErrorResponse: {
                const fields = decodeErrorFields(p);
                throw new ProxyError('SERVER_STARTUP_ERROR', `shard "${shard.name}" (server user "${identity.user}"): ${fields.get('M') ?? 'error'}`, (fields.get('C') ?? SqlState.ConnectionFailure) as SqlStateT, 'FATAL');
              }
              case BackendCode.ReadyForQuery:
                done = true;
                clearTimeout(timer);
                socket.off('error', onError);
                socket.off('close', onClose);
                conn.attach();
                resolve(conn);
                return;
              default:
                break; // NoticeResponse, NegotiateProtocolVersion: nothing to do
            }
          }
        } catch (e) {
          fail(e instanceof ProxyError ? e : new ProxyError('SERVER_STARTUP_ERROR', `shard "${shard.name}": ${(e as Error).message}`, SqlState.ConnectionFailure));
        }
      };
      const onClose = (): void => fail(new ProxyError('SERVER_CLOSED', `shard "${shard.name}" closed the connection during startup`, SqlState.ConnectionFailure));
      // the start-up reader keeps slices across reads: each chunk is its own copy until attach()
      conn.onChunk = (chunk) => {
        onData(Buffer.from(chunk));
        return false;
      };
      const onError = (e: Error): void => fail(new ProxyError('SERVER_CONNECT_FAILED', `cannot connect to shard "${shard.name}" at ${shard.host}:${shard.port}: ${e.message}`, SqlState.SqlclientUnableToEstablishSqlconnection));
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.on('connect', () => {
        socket.write(Fe.StartupMessage({ user: identity.user, database: shard.database, application_name: applicationName }));
      });
    });
  }

  /** After startup: bytes go to the owner, or are watched for a FATAL while idle in the pool. */
  private attach(): void {
    this.onChunk = (chunk) => {
      if (this.owner) return this.owner.onServerData(chunk);
      this.onIdleData(chunk);
      return false;
    };
    this.socket.on('error', () => this.socket.destroy());
    this.socket.on('close', () => {
      this.closed = true;
      const owner = this.owner;
      this.owner = null;
      if (owner) owner.onServerClose(this, null);
      this.onIdleClose?.(this);
    });
  }

  /** An idle server connection may only say something fatal (admin shutdown); any message closes it. */
  private onIdleData(chunk: Buffer): void {
    if (chunk.length > 0 && chunk[0] !== BackendCode.ParameterStatus && chunk[0] !== BackendCode.NoticeResponse) this.destroy();
  }

  setCloseHandler(fn: (conn: ServerConnection) => void): void {
    this.onIdleClose = fn;
  }

  write(buf: Buffer): boolean {
    return this.socket.write(buf);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  /** Ends politely with Terminate. */
  terminate(): void {
    if (this.closed) return;
    this.socket.end(Fe.Terminate);
    this.closed = true;
  }

  /** CancelRequests for this connection whose connection Postgres has not closed yet */
  private readonly cancels = new Set<CancelInFlight>();
  private afterCancels: (() => void)[] = [];
  /** a CancelRequest was sent and Postgres never closed its connection: it may yet land on whatever runs here */
  private cancelUnsettled = false;

  /** true while a CancelRequest for this connection may still reach the server */
  get cancelling(): boolean {
    return this.cancels.size > 0;
  }

  /**
   * Sends a CancelRequest for whatever this connection is running, on a new connection to the same server; `done`
   * runs once Postgres has closed that connection (it has signalled the backend by then), or it failed or timed out.
   * The caller must only cancel while a request is in flight: a cancel lands on whatever the backend runs when it
   * arrives, so a connection with one in flight must not serve anyone else (see afterCancel).
   */
  cancel(done: () => void = () => {}, waitMs = CANCEL_WAIT_MS): void {
    const s = net.connect({ host: this.shard.host, port: this.shard.port });
    const c: CancelInFlight = { socket: s, sent: false };
    this.cancels.add(c);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, waitMs);
    s.on('error', () => s.destroy());
    s.on('connect', () => {
      c.sent = true;
      s.end(Fe.CancelRequest(this.pid, this.secret));
    });
    s.resume(); // Postgres answers nothing: read to its FIN, so 'close' comes when it has processed the request
    s.on('close', () => {
      clearTimeout(timer);
      this.cancels.delete(c);
      if (timedOut && c.sent) this.cancelUnsettled = true;
      done();
      if (this.cancels.size > 0) return;
      const waiters = this.afterCancels;
      this.afterCancels = [];
      // nobody can know when (or whether) that cancel lands: the connection is not handed to anyone else
      if (this.cancelUnsettled && waiters.length > 0) this.destroy();
      for (const w of waiters) w();
    });
  }

  /**
   * Runs `fn` once no CancelRequest for this connection can reach the server any more (at once when none is in
   * flight). For a connection going back to the pool: its request is over, so a cancel not sent yet is dropped (as
   * PgBouncer does), and one already sent is waited for — else it could cancel the next client's query.
   */
  /**
   * Runs `query` (DISCARD ALL …) with no owner on the connection and forgets what it reset (prepared statements, SET
   * values; reported settings are taken from the server's ParameterStatus). Resolves true when the server is idle
   * after it, false when it is not, closed, or did not answer within `timeoutMs` (then the caller discards it).
   */
  async reset(query: string, timeoutMs: number): Promise<boolean> {
    const idle = await this.exchange(Fe.Query(query), timeoutMs, (f) => {
      if (f.code === BackendCode.ParameterStatus) {
        // the reset puts reported settings back to their defaults: the next login reports these values
        const [name, at] = readCString(f.payload, 0);
        this.params.set(name, readCString(f.payload, at)[0]);
      }
    }, 'server reset');
    if (idle !== null) {
      this.forgetStatements();
      this.setParams = new Map();
      this.setParamsKey = '';
    }
    return idle === true;
  }

  /**
   * Runs a read of Prescient's own (a prefetch: a Query, or Parse … Sync) on an idle connection with no owner: its
   * result frames (RowDescription, DataRow…, CommandComplete) as the server sent them, or null when it failed, left a
   * transaction open, or did not answer within `timeoutMs` (then the caller discards the connection).
   */
  async read(request: Buffer, timeoutMs: number): Promise<Buffer[] | null> {
    const frames: Buffer[] = [];
    let failed = false;
    const idle = await this.exchange(request, timeoutMs, (f) => {
      if (f.code === BackendCode.RowDescription || f.code === BackendCode.DataRow || f.code === BackendCode.CommandComplete) frames.push(Buffer.from(f.frame));
      else if (f.code === BackendCode.ErrorResponse) failed = true;
    }, 'prefetch read');
    return idle === true && !failed ? frames : null;
  }

  /**
   * One request (ending in a Query or a Sync) with no owner on the connection, each frame before its ReadyForQuery
   * handed to `onFrame`. Resolves with whether the server is idle after it (its transaction status), or null: closed,
   * or no answer in `timeoutMs`.
   */
  private exchange(request: Buffer, timeoutMs: number, onFrame: (f: Frame) => void, what: string): Promise<boolean | null> {
    return new Promise((resolve) => {
      const reader = new FrameReader(1 << 30);
      let timer: NodeJS.Timeout | null = null;
      const done = (idle: boolean | null): void => {
        if (timer !== null) clearTimeout(timer);
        timer = null;
        if (this.owner === exchanger) this.owner = null;
        resolve(idle);
      };
      const exchanger: ServerOwner = {
        onServerData: (chunk) => {
          reader.push(chunk);
          let f;
          while ((f = reader.next())) {
            if (f.code === BackendCode.ReadyForQuery) {
              this.txStatus = f.payload[0]!;
              done(this.txStatus === 0x49);
              return;
            }
            onFrame(f);
          }
        },
        onServerClose: () => done(null),
      };
      this.owner = exchanger;
      this.write(request);
      timer = setTimeout(() => {
        if (this.owner !== exchanger) return;
        logger.warn(`${what} timed out: connection closed`, { server: this.id, shard: this.shard.name, timeoutMs });
        done(null);
      }, timeoutMs);
      timer.unref();
    });
  }

  afterCancel(fn: () => void): void {
    if (this.cancels.size === 0) {
      if (this.cancelUnsettled) this.destroy();
      fn();
      return;
    }
    this.afterCancels.push(fn);
    for (const c of this.cancels) if (!c.sent) c.socket.destroy();
  }
}

interface CancelInFlight {
  socket: net.Socket;
  /** the CancelRequest was written (it may reach the server); false while still connecting */
  sent: boolean;
}

/** How long a CancelRequest connection may take before it is given up (PgBouncer's cancel_wait_timeout is 10 s). */
const CANCEL_WAIT_MS = 10_000;
