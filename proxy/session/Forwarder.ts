// Forwarder owns a client's conversation with its server connection: frames to the server (prepared-statement names
// mapped, made-up answers in their place), the responses owed (PendingQueue), server frames back to the client in
// merged writes, backpressure both ways, leasing and releasing the connection (or riding a shared one: pool.pipeline),
// COPY IN and resets on release.
import type { ServerConnection, ServerOwner } from '../connection/ServerConnection.js';
import type { Pool } from '../pool/Pool.js';
import type { ServerPipeline } from '../pool/ServerPipeline.js';
import { isPipelinableQuery } from './pipelinableQuery.js';
import * as Be from '../protocol/BackendMessage.js';
import * as Fe from '../protocol/FrontendEncoder.js';
import type { Frame } from '../protocol/FrameReader.js';
import { FrameScanner, type FrameVisitor } from '../protocol/FrameScanner.js';
import { decodeBind, decodeClose, decodeDescribe, decodeParse, decodeQuery, displayName, readCString } from '../protocol/FrontendMessage.js';
import { BackendCode, FrontendCode } from '../protocol/MessageCode.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { Await, PENDING, PendingQueue, completes, type Pending } from './PendingResponses.js';
import { resultShapeOf } from './ResultShape.js';
import { PreparedStatements, type PreparedStatement } from './PreparedStatements.js';
import type { ServerStatement } from '../context/StatementNames.js';
import { Fifo } from './Fifo.js';
import { PinEvent, SessionPins } from './SessionPins.js';
import { sessionSettings, settingsDiffSql, settingsKeyOf } from './startupParams.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import { ErrorSource } from '../context/RequestCounters.js';
import type { SessionPort } from './SessionPort.js';
import type { SessionPlugins } from '../plugins/PluginHost.js';
import { logger } from '../logger.js';
import { deallocateOnly, mayNameReservedBytes, namesReservedStatement } from '../analyzer/SessionStatements.js';

/** ParameterStatus names a client cannot SET: reported, never replayed on another server connection. */
const REPORTED_ONLY = new Set(['server_version', 'server_encoding', 'integer_datetimes', 'is_superuser', 'session_authorization', 'in_hot_standby']);
/** DDL tags: a statement prepared before them may no longer parse, or may describe other columns */
const DDL_TAG = /^(?:CREATE|ALTER|DROP) (?!INDEX|DATABASE|ROLE|USER|EXTENSION|PUBLICATION|SUBSCRIPTION|TABLESPACE)/;
/** responses owed to one client beyond which Prescient stops reading it until they drain */
export const MAX_PENDING = 4096;
/** bytes of answers a client riding a pipeline may leave unread before it is closed (the connection is not paused for it) */
const PIPELINE_CLIENT_QUEUE_LIMIT = 16 * 1024 * 1024;
/** the error code of a client closed for not reading (its socket is destroyed: it would not read the error either) */
export const CLIENT_NOT_READING = 'CLIENT_NOT_READING';
/** a server-side statement name no statement ever has (names are numbered from 1; SQL cannot create it: 42939) */
const NO_STATEMENT_NAME = 'prescient_0';
const NO_STATEMENT = Buffer.from(NO_STATEMENT_NAME + '\0', 'latin1');

/** Frames cut from one received chunk, back to back, are sent as one slice of it; others are copied together. */
function joinFrames(parts: Buffer[]): Buffer {
  const first = parts[0]!;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.buffer !== first.buffer || p.byteOffset !== end) return Buffer.concat(parts);
    end += p.length;
  }
  return Buffer.from(first.buffer as ArrayBuffer, first.byteOffset, end - first.byteOffset);
}

/** What the routed request path wants to hear of the responses (RequestPipeline; none on the pass-through path). */
export interface ResponseObserver {
  /** a ReadyForQuery the client is about to see */
  beforeReady(status: number): void;
  /** after it */
  afterReady(): void;
  /** the session is out of its transaction */
  onIdle(): void;
  /** the server connection may owe nothing now: a request held for another shard can be routed again */
  retryHeldSoon(): void;
  /** a frame the client is about to see (for onResponse) */
  observeResponseFrame(code: number, buf: Buffer, start: number, end: number): void;
  /** whether observeResponseFrame counts anything now (a response record is owed) */
  readonly countsResponses: boolean;
  /** the account and action of the request whose ReadyForQuery comes next, when known (the slow-request line) */
  inFlightKey(): { readonly account?: string; readonly action?: string } | undefined;
  /** DISCARD ALL ran */
  onDiscardAll(): void;
}

/** The one way the forwarder reaches the session that owns it. */
export interface ForwarderOwner extends SessionPort {
  readonly pid: number;
  /** `pid@client port`, what a server connection remembers of the clients it served (SHOW CLIENTS' detail) */
  readonly servedAs: string;
  /** logging in: the first server connection takes the client's settings, then loggedIn() */
  readonly connecting: boolean;
  readonly ready: boolean;
  readonly stats: { queries: number };
  /** this client's pool on a shard (its server identity there) */
  poolOn(shard: string): Pool | undefined;
  /** stop reading the client until resume(), which reads it again and processes what it sent meanwhile */
  block(): void;
  resume(): void;
  /** resume() in two steps: the client may be read again; then what it sent is processed (unless blocked again) */
  unblock(): void;
  readMore(): void;
  /** the server is not draining: stop reading the client, and read it again */
  pauseReading(): void;
  resumeReading(): void;
  /** the request that wanted a server connection gets this error (FATAL while logging in) */
  leaseFailed(err: ProxyError): void;
  /** the first server connection took the client's settings: the login completes */
  loggedIn(): void;
  /** the server answered: a client paused for pipelining too much may be read again */
  answered(): void;
  /** shutting down and idle: the client is told and closed */
  shutdownIdle(): void;
  close(): void;
}

export class Forwarder implements ServerOwner, FrameVisitor {
  /** the session's plugin hooks (set once the client is authenticated), read on every server frame */
  plugins: SessionPlugins | null = null;
  /** the routed request path, once it exists (null on the pass-through path) */
  observer: ResponseObserver | null = null;
  /** the client's start-up parameters (DISCARD ALL puts its settings back to these) */
  private startupParams: ReadonlyMap<string, string> = new Map();

  constructor(
    private readonly owner: ForwarderOwner,
    private ctx: ProxyContext,
  ) {
    this.statements = new PreparedStatements(ctx.statementNames);
  }

  /** The client's start-up parameters, and the database's context it asked for (before that, the proxy's first). */
  startup(params: ReadonlyMap<string, string>, ctx: ProxyContext = this.ctx): void {
    if (ctx !== this.ctx) {
      // nothing database-specific ran yet: its statement names are the chosen database's from the start
      this.ctx = ctx;
      this.statements = new PreparedStatements(ctx.statementNames);
    }
    this.startupParams = params;
    this.settings = sessionSettings(params);
    this.settingsKey = settingsKeyOf(this.settings);
  }

  /** Stops reading the server while the client does not drain; the function returned reads it again. */
  pauseServer(): (() => void) | null {
    const server = this.server;
    // a pipeline's connection carries other clients' answers too: it is never paused for one client (see onServerData)
    if (!server || this.riding !== null) return null;
    this.serverPaused = true;
    server.socket.pause();
    return () => {
      if (this.serverPaused && this.server === server) {
        this.serverPaused = false;
        server.socket.resume();
      }
    };
  }

  /** The client left: its server connection goes back (reset if need be) or, its state unknown, is closed. */
  leave(wasReady: boolean): void {
    if (this.riding !== null) {
      // the connection stays with its pipeline; what this client is still owed is dropped there
      this.riding.drop(this);
      this.riding = null;
      this.server = null;
      return;
    }
    const server = this.server;
    if (server) {
      this.detachServer();
      if (server.closed) {
        // nothing to give back
      } else if (this.pending.length === 0 && server.txStatus === Be.TransactionStatus.Idle && !server.unsynced && !server.desynced && wasReady) {
        this.resetAndRelease(server);
      } else {
        // mid-request, mid-transaction, or extended messages sent since the last Sync: its state is unknown, so it is
        // closed (Postgres rolls back whatever the client left open) and the pool opens a fresh one when needed
        logger.debug('closing a server connection its client left mid-request', { pid: this.owner.pid, server: server.id, pending: this.pending.length, unsynced: server.unsynced, tx: String.fromCharCode(server.txStatus) });
        this.ctx.poolOf(server).discard(server);
      }
    } else if (this.usedServer && this.ctx.config.pool.reset_on_every_client) {
      const pool = this.owner.poolOn(this.ctx.firstShard)!;
      const conn = pool.tryAcquire();
      if (conn) this.resetAndRelease(conn);
      // the shared connection is busy with another client: reset it when it comes back, or this client's state leaks
      else pool.acquire().then((c) => this.resetAndRelease(c), () => {});
    }
  }


  /** settings this client wants on whatever server serves it (lower-cased name → value) */
  settings = new Map<string, string>();
  settingsKey = '';
  /** the client's prepared statements (made anew by startup() for the database it asked for) */
  statements: PreparedStatements;
  server: ServerConnection | null = null;
  /** the pipeline this client's Query rides (pool.pipeline > 1; `server` is its connection then), else null */
  riding: ServerPipeline | null = null;
  readonly pending = new PendingQueue();
  /** last transaction status reported to the client */
  txStatus: number = Be.TransactionStatus.Idle;
  /** after an error in an extended-protocol batch, the server skips messages until Sync */
  skipUntilSync = false;
  /** LISTEN channels, SQL PREPAREd statements and temp tables: any keeps the session on its server connection */
  readonly pins = new SessionPins();
  /** texts of simple Queries in flight, oldest first (read only when a tag that pins or unpins completes) */
  private readonly queries = new Fifo<Buffer>();
  // with log.statements: the statement text of extended-protocol requests, for query-error and slow-request lines
  /** the last unnamed Parse's text */
  private unnamedText: string | undefined;
  /** the statement of the batch being sent (its last Parse or Bind), until its Sync */
  private batchText: string | undefined;
  /** each Sync in flight: its batch's statement */
  private readonly syncTexts = new Fifo<string | undefined>();
  /**
   * the server is in COPY IN for the request at the head of `pending` (from its CopyInResponse until that request
   * completes): `open` while the client has not sent its CopyDone/CopyFail, `ignoredSyncs` the client's Syncs the
   * server reads (and ignores) meanwhile
   */
  copyIn: { open: boolean; ignoredSyncs: number } | null = null;
  /** the server sent a FATAL error: its close is not news to the client */
  private serverFatal = false;
  clientPaused = false;
  serverPaused = false;
  usedServer = false;
  /** coalesces contiguous server frames into one write */
  private runBuf: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  /** A statement the client did not send, on its server connection, its answer hidden; `failure` is logged if it fails. */
  sendHidden(sql: string, failure: string): void {
    const server = this.server!;
    this.pending.push({
      kind: Await.Query, hide: true, synth: undefined,
      onDone: (ok, err) => {
        if (!ok) logger.warn(failure, { pid: this.owner.pid, shard: server.shard.name, message: err?.get('M') });
      },
    });
    this.toServer.push(Fe.Query(sql));
  }

  // ---------------------------------------------------------------- requests

  /** outgoing bytes for the server, gathered while processing one batch of client frames */
  toServer: Buffer[] = [];

  /** One request frame on the pass-through path (and, once routed, each frame of a routed request). */
  handleFrame(f: Frame): void {
    const code = f.code;
    if (this.riding !== null) {
      // anything the client sends while its Query rides a pipeline waits for that answer (then takes its own path)
      this.heldFrame = f;
      this.owner.block();
      return;
    }
    if (this.copyIn !== null && this.copyIn.open && this.server) {
      this.forwardInCopy(f);
      return;
    }
    if (this.dropUntilSync) {
      if (code !== FrontendCode.Sync) return;
      this.dropUntilSync = false;
    }
    // (a Flush that carries bytes is refused by the server, which needs one to say so)
    if (code === FrontendCode.Flush && !this.server && f.payload.length === 0) return;
    if (code === FrontendCode.Close) {
      const c = decodeClose(f.payload);
      if (c.target === 'S' && c.name !== '') {
        if (this.skipUntilSync) return;
        if (this.pending.length === 0) {
          this.statements.delete(c.name);
          this.synthesize(Be.CloseComplete);
          return;
        }
        // the Close takes effect in its turn: if an earlier message of the batch fails, Postgres skips it
        const closing = this.statements.get(c.name);
        this.synthesize(Be.CloseComplete, (ok) => {
          if (ok && closing && this.statements.get(c.name) === closing) this.statements.delete(c.name);
        });
        return;
      }
    } else if ((code === FrontendCode.Query || code === FrontendCode.FunctionCall) && this.skipUntilSync) {
      return; // after an extended-protocol error the server ignores it until Sync (Postgres' ignore_till_sync)
    } else if (code === FrontendCode.Query) {
      this.owner.stats.queries++;
      if (mayNameReservedBytes(f.payload, this.ctx.statementNames.prefix) && this.refuseReservedName(f.payload)) return;
      const first = f.payload[0];
      if ((first === 0x64 || first === 0x44 || first === 0x20 || first === 0x0a) && this.interceptQuery(decodeQuery(f.payload))) return;
    }
    if (!this.server && this.answerWithoutServer(f)) return;
    if (!this.server && code === FrontendCode.Query && this.ctx.config.pool.pipeline > 1 && this.ridePipeline(f)) return;
    if (!this.server) {
      if (!this.leaseServer()) {
        this.heldFrame = f;
        return;
      }
    }
    this.forwardFrame(f);
  }

  heldFrame: Frame | null = null;

  /**
   * pool.pipeline > 1: a single autocommit statement of an idle client on the pass-through path rides a connection
   * that carries other clients' Queries too (ServerPipeline); false when it does not qualify or no pipeline has room.
   */
  private ridePipeline(f: Frame): boolean {
    if (this.pending.length > 0 || this.txStatus !== Be.TransactionStatus.Idle || this.skipUntilSync || this.pins.reason !== null) return false;
    if (!this.owner.ready || this.copyIn !== null || this.observer !== null || this.ctx.config.pool.mode !== 'transaction') return false;
    if (!isPipelinableQuery(f.payload)) return false;
    const pipe = this.owner.poolOn(this.ctx.firstShard)!.tryPipeline(this.settingsKey, this.ctx.config.pool.pipeline);
    if (pipe === null) return false;
    this.riding = pipe;
    this.server = pipe.conn;
    this.usedServer = true;
    this.queries.push(f.payload);
    this.expect(PENDING.Query);
    pipe.send(this, f.frame);
    return true;
  }

  /** The answer of the Query that rode a pipeline is complete: the client goes on (what it sent meanwhile first). */
  private endRide(): void {
    this.flushRun();
    this.riding = null;
    this.server = null;
    this.runBuf = null;
    this.serverStream.reset();
    if (this.ctx.shuttingDown) this.owner.shutdownIdle();
    const held = this.heldFrame;
    if (held === null) return;
    this.heldFrame = null;
    this.owner.unblock();
    try {
      this.handleFrame(held);
    } catch (e) {
      this.owner.fail(e);
      return;
    }
    this.owner.readMore();
  }

  /**
   * With no server connection and nothing owed, outside a transaction: a Sync only needs its ReadyForQuery, and the
   * Parse of a text some server already parsed only needs its ParseComplete (it is prepared where it is first bound).
   * So a PQprepare never waits for a server connection, which other clients of a full pool may be holding while
   * the client's own driver thread waits for this answer (pgbench -M prepared with more clients than connections).
   */
  private answerWithoutServer(f: Frame): boolean {
    if (this.pending.length > 0 || this.txStatus !== Be.TransactionStatus.Idle || this.skipUntilSync) return false;
    if (f.code === FrontendCode.Sync) {
      this.owner.write(Be.ReadyForQuery(this.txStatus));
      return true;
    }
    if (f.code !== FrontendCode.Parse || f.payload[0] === 0) return false;
    const p = decodeParse(f.payload);
    if (this.statements.has(p.name) || !this.ctx.statementNames.statementFor(p.rest).valid) return false;
    this.statements.add(p.name, p.rest, p.query);
    this.owner.write(Be.ParseComplete);
    return true;
  }

  /** SQL that names a server-side statement of Prescient's (EXECUTE prescient_3, DEALLOCATE "prescient_3"): refused. */
  private refuseReservedName(payload: Buffer): boolean {
    const prefix = this.ctx.statementNames.prefix;
    // U& identifiers can spell any name: refused with these statements too (see namesReservedStatement)
    if (!namesReservedStatement(decodeQuery(payload), prefix)) return false;
    this.synthesize(Buffer.concat([
      Be.ErrorResponse({ severity: 'ERROR', code: SqlState.ReservedName, message: `prepared statement names starting with "${prefix}" are reserved by Prescient (and U& identifiers cannot be used with EXECUTE, PREPARE or DEALLOCATE)` }),
      Be.ReadyForQuery(this.txStatus === Be.TransactionStatus.Idle ? this.txStatus : Be.TransactionStatus.Failed),
    ]));
    if (this.txStatus !== Be.TransactionStatus.Idle) this.txStatus = Be.TransactionStatus.Failed;
    return true;
  }

  /** DEALLOCATE acts on the client's own statement names, which the server does not know. */
  private interceptQuery(sql: string): boolean {
    const d = deallocateOnly(sql);
    if (d === null) return false;
    if (d.name === null) {
      // SQL PREPAREd statements live on the server connection: the server deallocates them (and its tag clears both)
      if (this.pins.prepared.size > 0) return false;
      this.statements.clear();
    } else {
      const n = d.name;
      if (this.pins.prepared.has(n)) return false;
      if (!this.statements.delete(Buffer.from(n, 'utf8').toString('latin1'))) {
        this.synthesize(Buffer.concat([
          Be.ErrorResponse({ severity: 'ERROR', code: SqlState.InvalidSqlStatementName, message: `prepared statement "${n}" does not exist` }),
          Be.ReadyForQuery(this.txStatus === Be.TransactionStatus.Idle ? this.txStatus : Be.TransactionStatus.Failed),
        ]));
        if (this.txStatus !== Be.TransactionStatus.Idle) this.txStatus = Be.TransactionStatus.Failed;
        return true;
      }
    }
    this.synthesize(Buffer.concat([Be.CommandComplete('DEALLOCATE' + (d.name === null ? ' ALL' : '')), Be.ReadyForQuery(this.txStatus)]));
    return true;
  }

  /** Emits a made-up response in its place among the responses still owed. */
  synthesize(bytes: Buffer, onDone?: (ok: boolean) => void): void {
    if (this.pending.length === 0) {
      this.flushToServer();
      this.owner.write(bytes);
    } else {
      this.pending.push({ kind: Await.Synthetic, hide: false, synth: bytes, onDone });
    }
  }

  private forwardFrame(f: Frame): void {
    const server = this.server!;
    switch (f.code) {
      case FrontendCode.Query:
      case FrontendCode.FunctionCall:
        this.queries.push(f.payload);
        server.unsynced = false;
        server.endBatch();
        this.expect(PENDING.Query);
        this.toServer.push(f.frame);
        return;
      case FrontendCode.Sync:
        this.skipUntilSync = false;
        server.unsynced = false;
        server.endBatch();
        if (this.ctx.config.log.statements) {
          this.syncTexts.push(this.batchText);
          this.batchText = undefined;
        }
        this.expect(PENDING.Sync);
        this.toServer.push(f.frame);
        return;
      case FrontendCode.Parse: {
        server.unsynced = true;
        // the unnamed statement passes as it came (its text decoded only for log.statements)
        if (f.payload[0] === 0) {
          if (this.ctx.config.log.statements) this.batchText = this.unnamedText = decodeParse(f.payload).query;
          this.expect(PENDING.Parse);
          this.toServer.push(f.frame);
          return;
        }
        const p = decodeParse(f.payload);
        if (this.ctx.config.log.statements) this.batchText = p.query;
        if (this.skipUntilSync) return; // the server is skipping to Sync after an error: so does the registry
        if (this.statements.has(p.name)) {
          this.errorUntilSync(SqlState.DuplicatePreparedStatement, `prepared statement "${displayName(p.name)}" already exists`);
          return;
        }
        const stmt = this.statements.add(p.name, p.rest, p.query);
        if (server.prepared.has(stmt.serverName)) {
          server.useStatement(stmt.serverName);
          this.synthesize(Be.ParseComplete);
          return;
        }
        this.prepareOnServer(server, stmt.server, false, p.name);
        return;
      }
      case FrontendCode.Bind: {
        const b = decodeBind(f.payload);
        server.unsynced = true;
        const stmt = b.statement === '' ? undefined : this.statements.get(b.statement);
        if (this.ctx.config.log.statements) this.batchText = b.statement === '' ? this.unnamedText : stmt?.query;
        if (!stmt) {
          if (b.statement !== '' && !this.pins.prepared.has(b.statement)) {
            // a name this client never prepared never passes through (it could be another client's statement): the
            // server is asked for a name no statement has, and its own 26000 error gets the client's name back
            this.expect({ kind: Await.Bind, hide: false, synth: Buffer.from(b.statement, 'latin1'), onDone: undefined });
            this.toServer.push(Fe.renameBind(f.payload, b.restOffset, NO_STATEMENT));
            return;
          }
          // unnamed, or prepared with SQL PREPARE on this server connection: the server answers
          this.expect(PENDING.Bind);
          this.toServer.push(f.frame);
          return;
        }
        this.ensurePrepared(server, stmt.server);
        if (stmt.shape !== undefined && !this.skipUntilSync && !this.shapeChecked) {
          const seen = server.shapes.get(stmt.serverName);
          // the check holds the Bind for the server's answer: only when no statement of the client's is still running,
          // so the server answers (one in COPY IN would take the Describe as an error and never answer)
          if (seen === undefined && !this.pending.owesStatement()) {
            this.verifyShape(server, stmt, f);
            return;
          }
          if (seen !== undefined && seen !== stmt.shape) {
            // the statement was prepared again on this server connection after a schema change: its rows no longer
            // fit the description the client decodes them with. Postgres' answer on one connection:
            this.errorUntilSync(SqlState.FeatureNotSupported, 'cached plan must not change result type');
            return;
          }
        }
        this.shapeChecked = false;
        this.expect(PENDING.BindNamed);
        this.toServer.push(Fe.renameBind(f.payload, b.restOffset, stmt.serverNameBytes));
        return;
      }
      case FrontendCode.Describe: {
        const d = decodeDescribe(f.payload);
        server.unsynced = true;
        if (d.target === 'P') {
          this.expect(PENDING.DescribePortal);
          this.toServer.push(f.frame);
          return;
        }
        const stmt = d.name === '' ? undefined : this.statements.get(d.name);
        if (!stmt) {
          if (d.name !== '' && !this.pins.prepared.has(d.name)) {
            this.expect({ kind: Await.DescribeStatement, hide: false, synth: Buffer.from(d.name, 'latin1'), onDone: undefined });
            this.toServer.push(Fe.targetFrame(FrontendCode.Describe, 'S', NO_STATEMENT_NAME));
            return;
          }
          this.expect(PENDING.DescribeStatement);
          this.toServer.push(f.frame);
          return;
        }
        // the injected Parse goes first, on the wire and in the queue
        this.ensurePrepared(server, stmt.server);
        const serverName = stmt.serverName;
        this.expect({
          kind: Await.DescribeStatement, hide: false, synth: undefined, onDone: undefined,
          onShape: (rd) => {
            // what the client will decode this statement's rows with, and what this server connection returns
            const shape = resultShapeOf(rd);
            stmt.shape = shape;
            if (server.prepared.has(serverName)) server.shapes.set(serverName, shape);
          },
        });
        this.toServer.push(Fe.targetFrame(FrontendCode.Describe, 'S', serverName));
        return;
      }
      case FrontendCode.Execute:
        server.unsynced = true;
        this.expect(PENDING.Execute);
        this.toServer.push(f.frame);
        return;
      case FrontendCode.Close:
        server.unsynced = true;
        this.expect(PENDING.Close);
        this.toServer.push(f.frame);
        return;
      case FrontendCode.Flush:
        server.unsynced = true;
        // Postgres answers a Flush that carries bytes with 08P01 and skips to Sync: that error is owed (unless the server
        // is skipping already, and then ignores it)
        if (f.payload.length > 0) this.expect(PENDING.Refused);
        this.toServer.push(f.frame);
        return;
      default:
        // CopyData, CopyDone, CopyFail: no response of their own (the COPY's Query or Execute is owed until then)
        if (f.code !== FrontendCode.CopyData) this.pending.markCopyEnd();
        this.toServer.push(f.frame);
    }
  }

  /**
   * A frame the client sends while its server is in COPY IN: the server ignores Sync and Flush there, and any other
   * message ends the COPY with an error (Postgres then ends the connection: protocol synchronization was lost).
   */
  private forwardInCopy(f: Frame): void {
    const copy = this.copyIn!;
    if (f.code === FrontendCode.Sync) copy.ignoredSyncs++;
    else if (f.code !== FrontendCode.Flush && f.code !== FrontendCode.CopyData) copy.open = false;
    this.toServer.push(f.frame);
  }

  /** The server answered the COPY at the head of `pending` with CopyInResponse. */
  private enterCopyIn(): void {
    const { ignored, open } = this.pending.takeCopyIgnored();
    let ignoredSyncs = 0;
    for (const p of ignored) {
      if (p.kind === Await.Sync) ignoredSyncs++;
      this.settle(p, false);
    }
    this.copyIn = { open, ignoredSyncs };
  }

  /**
   * The COPY at the head ended. After an error Postgres answers the Syncs it reads from then on, and which of the
   * client's Syncs it read before the error is unknowable here: if any could have been, the count of what this
   * server connection owes is uncertain, so it serves this client until it leaves and is closed then.
   */
  private leaveCopyIn(failed: boolean): void {
    if (failed && this.copyIn!.ignoredSyncs > 0 && this.server) this.server.desynced = true;
    this.copyIn = null;
  }

  /**
   * An error Prescient raises itself inside an extended-protocol batch: it takes its place among the responses,
   * and, as Postgres does after an error, the rest of the batch is dropped until Sync.
   */
  /**
   * A Bind of a statement the client described, on a server connection where its shape is unknown (prepared again
   * here, perhaps after a schema change): a hidden Describe and a Flush go first, the Bind waits for their answer,
   * and then goes on or gets 0A000 (a client never gets rows of a shape other than the one it was described).
   */
  private verifyShape(server: ServerConnection, stmt: PreparedStatement, bind: Frame): void {
    const serverName = stmt.serverName;
    this.pending.push({
      kind: Await.DescribeStatement, hide: true, synth: undefined,
      onShape: (rd) => {
        if (server.prepared.has(serverName)) server.shapes.set(serverName, resultShapeOf(rd));
      },
      onDone: (ok) => {
        queueMicrotask(() => {
          if (this.heldFrame !== bind) return;
          this.heldFrame = null;
          // a failed Describe (the server is skipping to Sync) is not asked again: the Bind follows it into the skip
          this.shapeChecked = !ok;
          try {
            if (this.server === server && !this.owner.closed) this.forwardFrame(bind);
          } catch (e) {
            this.owner.fail(e);
            return;
          }
          this.owner.resume();
        });
      },
    });
    this.toServer.push(Fe.targetFrame(FrontendCode.Describe, 'S', serverName), Fe.Flush);
    this.heldFrame = bind;
    this.owner.block();
  }
  /** the next Bind skips the shape check (its statement's Describe failed: the server is skipping to Sync) */
  private shapeChecked = false;

  private errorUntilSync(code: SqlState, message: string): void {
    this.ctx.requestCounters.error(ErrorSource.Proxy, code);
    this.synthesize(Be.ErrorResponse({ severity: 'ERROR', code, message }));
    this.dropUntilSync = true;
  }
  dropUntilSync = false;

  private expect(p: Pending): void {
    if (this.skipUntilSync && p.kind !== Await.Sync && p.kind !== Await.Query) return;
    this.pending.push(p);
  }

  /** Injects a Parse for a statement this server connection lacks; its ParseComplete is hidden. */
  private ensurePrepared(server: ServerConnection, st: ServerStatement): void {
    if (this.skipUntilSync) return;
    if (server.prepared.has(st.name)) {
      server.useStatement(st.name);
      return;
    }
    this.prepareOnServer(server, st, true, null);
  }

  private prepareOnServer(server: ServerConnection, st: ServerStatement, hide: boolean, clientName: string | null): void {
    if (this.skipUntilSync) return; // the server ignores it until Sync anyway
    const serverName = st.name;
    if (server.parsed.has(serverName)) {
      // an earlier Parse of this name is in flight or failed: whether it exists is unknown, so replace it
      this.pending.push(PENDING.HiddenClose);
      this.toServer.push(Fe.targetFrame(FrontendCode.Close, 'S', serverName));
    } else {
      // bounded per server connection (pool.max_prepared_statements): the least recently used ones are closed there
      for (const old of server.evictStatements(this.ctx.config.pool.max_prepared_statements)) {
        this.pending.push(PENDING.HiddenClose);
        this.toServer.push(Fe.targetFrame(FrontendCode.Close, 'S', old));
      }
    }
    server.useStatement(serverName);
    this.pending.push({
      kind: Await.Parse,
      hide,
      synth: undefined,
      onDone: (ok) => {
        if (ok) {
          // (unless closed for room meanwhile: then it is prepared again where next used)
          if (server.parsed.has(serverName)) server.prepared.add(serverName);
          st.valid = true;
          return;
        }
        server.prepared.delete(serverName);
        // a statement whose Parse failed does not exist, as in Postgres
        if (clientName !== null && this.statements.get(clientName)?.serverName === serverName) this.statements.delete(clientName);
      },
    });
    this.toServer.push(Fe.ParseRaw(st.nameBytes, st.rest));
  }

  flushToServer(): void {
    const out = this.toServer;
    if (out.length === 0 || !this.server) return;
    const buf = out.length === 1 ? out[0]! : joinFrames(out);
    this.toServer = [];
    if (this.slowSince === 0 && this.ctx.config.log.slow_ms > 0) this.slowSince = performance.now();
    if (!this.server.write(buf) && !this.clientPaused) {
      this.clientPaused = true;
      this.owner.pauseReading();
      const server = this.server;
      server.socket.once('drain', () => {
        this.clientPaused = false;
        this.owner.resumeReading();
      });
    }
  }

  // ---------------------------------------------------------------- server lease

  /** Takes a server connection now (true) or queues for one and resumes later (false). */
  leaseServer(): boolean {
    const pool = this.owner.poolOn(this.ctx.firstShard)!;
    const conn = pool.tryAcquire();
    if (conn) {
      this.attachServer(conn);
      return true;
    }
    this.owner.block();
    pool.acquire(this.owner.closing).then((c) => {
      if (this.owner.closed) {
        pool.release(c);
        return;
      }
      // reading resumes before the held frame goes on: it may block the client again (a shape check)
      this.owner.unblock();
      try {
        this.attachServer(c);
        const held = this.heldFrame;
        this.heldFrame = null;
        if (held) this.forwardFrame(held);
      } catch (e) {
        this.owner.fail(e);
        return;
      }
      this.owner.readMore();
    }, (err: unknown) => {
      if (this.owner.closed) return;
      // the request that wanted a server gets the error (FATAL while logging in)
      this.heldFrame = null;
      this.owner.leaseFailed(err instanceof ProxyError ? err : new ProxyError('POOL_ERROR', String(err), SqlState.ConnectionFailure));
    });
    return false;
  }

  attachServer(conn: ServerConnection): void {
    this.server = conn;
    this.usedServer = true;
    conn.owner = this;
    conn.noteServed(this.owner.servedAs);
    const logingIn = this.owner.connecting;
    if (conn.setParamsKey === this.settingsKey && !logingIn) return;
    const sql = settingsDiffSql(conn.setParams, this.settings);
    if (sql || logingIn) {
      const want = new Map(this.settings);
      const wantKey = this.settingsKey;
      this.pending.push({
        kind: Await.Query,
        hide: true,
        synth: undefined,
        onDone: (ok: boolean, err?: Map<string, string> | null) => {
          if (ok) {
            conn.setParams = want;
            conn.setParamsKey = wantKey;
          }
          if (!logingIn) return;
          if (ok) this.owner.loggedIn();
          else this.owner.fail(new ProxyError('BAD_STARTUP_SETTING', err?.get('M') ?? 'invalid startup parameter', (err?.get('C') ?? SqlState.InvalidParameterValue) as SqlState, 'FATAL'));
        },
      });
      this.toServer.push(Fe.Query(sql || ''));
      this.flushToServer();
    }
  }

  /** Gives the server connection back when nothing is owed and no transaction is open. */
  private maybeRelease(): void {
    if (this.riding !== null) {
      if (this.pending.length === 0) this.endRide();
      return;
    }
    const server = this.server;
    if (!server || this.pending.length > 0 || server.txStatus !== Be.TransactionStatus.Idle || server.unsynced || server.desynced) return;
    if (this.pins.reason !== null || this.ctx.config.pool.mode === 'session' || !this.owner.ready) return;
    if (this.toServer.length > 0 || this.heldFrame) return;
    this.detachServer();
    this.ctx.poolOf(server).release(server);
    if (this.ctx.shuttingDown) this.owner.shutdownIdle();
  }

  detachServer(): void {
    this.flushRun();
    const server = this.server!;
    this.server = null;
    this.copyIn = null;
    server.owner = null;
    if (this.serverPaused) {
      this.serverPaused = false;
      server.socket.resume();
    }
    this.runBuf = null;
  }

  // ---------------------------------------------------------------- server bytes

  private readonly serverStream = new FrameScanner(this);

  /** Server bytes; false when nothing of `chunk` is kept (no frame cut across reads, nothing queued for the client). */
  onServerData(chunk: Buffer): boolean {
    try {
      this.serverStream.push(chunk);
    } catch (e) {
      this.owner.fail(e);
      return true;
    }
    this.flushRun();
    // released mid-chunk: whatever is left belonged to nobody (nothing is owed once released)
    if (!this.server) this.serverStream.reset();
    this.owner.answered();
    const queued = this.owner.clientQueued;
    // a client that does not read would hold up every client of its pipeline's connection, which is never paused:
    // past the limit it is closed, and the rest of its answer is dropped
    if (this.riding !== null && queued > PIPELINE_CLIENT_QUEUE_LIMIT) {
      const message = `the client did not read ${queued} bytes of answers on a shared (pipelined) server connection`;
      logger.warn('client closed: it does not read its answers on a pipelined server connection', { pid: this.owner.pid, queued });
      this.owner.fail(new ProxyError(CLIENT_NOT_READING, message, SqlState.ProgramLimitExceeded, 'FATAL'));
      return true;
    }
    return this.serverStream.holdsBytes || queued > 0;
  }

  /** FrameVisitor: rows and COPY data stream through untouched unless Prescient hides the response. */
  streams(code: number): boolean {
    if (code !== BackendCode.DataRow && code !== BackendCode.CopyData) return false;
    // an onBackendMessage plugin sees every frame whole
    if (this.plugins !== null && this.plugins.hasBackendMessageHooks) return false;
    const head = this.pending.peek();
    return !(head && head.hide);
  }

  onBytes(buf: Buffer, start: number, end: number): void {
    if (this.server) this.emitRange(buf, start, end);
  }

  onFrame(code: number, buf: Buffer, start: number, end: number): void {
    if (!this.server) return;
    // the common frames of a response are handled from offsets, without slicing
    if (code === BackendCode.ReadyForQuery) {
      this.onReadyForQuery(buf, start, end);
      return;
    }
    if (code === BackendCode.CommandComplete && this.slowSince > 0) this.slowRows += Be.commandCompleteRows(buf, start, end) ?? 0;
    // onBackendMessage hooks see every frame; onResponse hooks get the rows and the error counted from them (only while
    // a response record is owed: a request no plugin watches is not counted)
    if ((this.plugins !== null && this.plugins.hasBackendMessageHooks) || (this.observer !== null && this.observer.countsResponses)) this.observeFrame(code, buf, start, end);
    // the rows of a simple Query the client sent, and its tag: forwarded from offsets, no frame object (the hot path)
    const head = this.pending.peek();
    if (head !== undefined && head.kind === Await.Query && !head.hide && this.copyIn === null) {
      if (code === BackendCode.RowDescription || code === BackendCode.DataRow) {
        this.emitRange(buf, start, end);
        return;
      }
      if (code === BackendCode.CommandComplete) {
        this.noteCommand(buf.subarray(start + 5, end));
        this.emitRange(buf, start, end);
        return;
      }
    }
    this.curBuf = buf;
    this.curStart = start;
    this.curEnd = end;
    this.onServerFrame(code, buf, start, end);
  }

  /** the frame onServerFrame is looking at, as a range of the received chunk (so that forwarding it merges writes) */
  private curBuf: Buffer = Buffer.alloc(0);
  private curStart = 0;
  private curEnd = 0;
  private emitCurrent(): void {
    this.emitRange(this.curBuf, this.curStart, this.curEnd);
  }

  /** A server frame other than ReadyForQuery: [start, end) of `buf` (also this.cur*, for emitCurrent). */
  private onServerFrame(code: number, buf: Buffer, start: number, end: number): void {
    const head = this.pending.peek();
    switch (code) {
      case BackendCode.ErrorResponse: {
        const payload = buf.subarray(start + 5, end);
        if (this.copyIn !== null) this.leaveCopyIn(true);
        if (head && head.hide && head.kind === Await.Query) {
          this.hiddenError = Be.decodeErrorFields(payload);
          logger.warn('error in an injected statement', { pid: this.owner.pid, message: this.hiddenError.get('M') });
          return;
        }
        if (payload.indexOf('prescient_') >= 0) this.emit(this.clientNamesIn(payload, head));
        else this.emitCurrent();
        this.noteServerError(payload, head);
        this.ctx.requestCounters.error(ErrorSource.Server, Be.errorCode(payload));
        if (this.slowSince > 0 || logger.enabled('info')) this.logServerError(payload);
        if (this.plugins !== null && this.plugins.hasErrorHooks) {
          const fields = Be.decodeErrorFields(payload);
          this.plugins.observeError({ code: fields.get('C') ?? '', message: fields.get('M') ?? '', source: 'backend' });
        }
        if (!head || head.kind === Await.Query || head.kind === Await.Sync) return;
        // extended protocol: the server skips everything up to the next Sync, simple Queries included (Postgres'
        // ignore_till_sync: only a Sync ends it), so nothing sent before that Sync will be answered
        while (this.pending.length > 0 && this.pending.peek()!.kind !== Await.Sync) {
          const p = this.pending.shift()!;
          if (p.kind === Await.Query && !p.hide) this.queries.shift();
          this.settle(p, false);
        }
        if (this.pending.length === 0) {
          this.skipUntilSync = true;
          // a Query sent after the failed message cleared `unsynced`, but the server ignored it: until a Sync reaches
          // it, this server connection skips whatever it is sent and must not go back to the pool
          this.server!.unsynced = true;
        }
        return;
      }
      case BackendCode.ParameterStatus: {
        const payload = buf.subarray(start + 5, end);
        const [name, at] = readCString(payload, 0);
        const value = readCString(payload, at)[0];
        const server = this.server!;
        server.params.set(name, value);
        if (head && head.hide) return;
        this.emitCurrent();
        if (REPORTED_ONLY.has(name)) return;
        // the client changed a setting: keep it for every server connection that serves it later
        this.settings.set(name.toLowerCase(), value);
        this.settingsKey = settingsKeyOf(this.settings);
        server.setParams.set(name.toLowerCase(), value);
        server.setParamsKey = settingsKeyOf(server.setParams);
        return;
      }
      case BackendCode.CopyInResponse:
        if (head && !head.hide && (head.kind === Await.Query || head.kind === Await.Execute)) this.enterCopyIn();
        break;
      case BackendCode.CommandComplete:
        if (this.copyIn !== null) this.leaveCopyIn(false);
        if (head && head.kind === Await.Query) {
          if (!head.hide) {
            this.noteCommand(buf.subarray(start + 5, end));
            this.emitCurrent();
          }
          return;
        }
        this.noteCommand(buf.subarray(start + 5, end));
        break;
      case BackendCode.NoticeResponse:
        if (head && head.hide) return;
        this.emitCurrent();
        return;
      default:
        break;
    }
    if (head && head.kind !== Await.Query && completes(head.kind, code)) {
      this.pending.shift();
      if (head.onShape !== undefined) head.onShape(code === BackendCode.RowDescription ? buf.subarray(start + 5, end) : null);
      if (!head.hide) this.emitCurrent();
      this.settle(head, true);
      this.emitSynthetic();
      return;
    }
    if (head && head.hide) return;
    this.emitCurrent();
  }

  /** What an error says about the server connection: a FATAL ends it; a Bind's error may mean a shared statement is stale. */
  private noteServerError(payload: Buffer, head: Pending | undefined): void {
    const fatal = payload.indexOf('FATAL\0') >= 0 || payload.indexOf('PANIC\0') >= 0;
    if (!fatal && head !== PENDING.BindNamed) return;
    const fields = Be.decodeErrorFields(payload);
    const severity = fields.get('V') ?? fields.get('S');
    if (severity === 'FATAL' || severity === 'PANIC') {
      this.serverFatal = true;
      return;
    }
    if (head !== PENDING.BindNamed) return;
    const code = fields.get('C') ?? '';
    if (code === SqlState.InvalidSqlStatementName) {
      // the server lost statements Prescient believed it had (DEALLOCATE or DISCARD run where Prescient cannot see)
      this.server!.forgetStatements();
    } else if (code.startsWith('42') || (code === SqlState.FeatureNotSupported && /cached plan/.test(fields.get('M') ?? ''))) {
      // the schema changed under the shared statement (DDL Prescient did not see): new Parses get new names
      this.ctx.statementNames.retireAll();
    }
  }

  /** onBackendMessage: what the client is about to see (never the responses to statements Prescient injected). */
  private observeFrame(code: number, buf: Buffer, start: number, end: number): void {
    const head = this.pending.peek();
    if (head && head.hide) return;
    if (this.plugins !== null && this.plugins.hasBackendMessageHooks) this.plugins.observeBackendMessage(code, buf.subarray(start, end));
    // from offsets: no frame object for what onResponse counts
    this.observer?.observeResponseFrame(code, buf, start, end);
  }

  /** when the request now in flight was written to the server (performance.now()), with log.slow_ms on; else 0 */
  private slowSince = 0;
  /** the SQLSTATE of the error the request in flight got, for its slow-request line */
  private slowError: string | null = null;
  /** the rows its CommandCompletes reported, for its slow-request line */
  private slowRows = 0;

  /** The query-error line: SQLSTATE, message, client pid, shard; the statement with log.statements. */
  private logServerError(payload: Buffer): void {
    const fields = Be.decodeErrorFields(payload);
    const sqlstate = fields.get('C') ?? '';
    if (this.slowSince > 0) this.slowError = sqlstate;
    if (!logger.enabled('info')) return;
    logger.info('query error', {
      pid: this.owner.pid, shard: this.server?.shard.name, sqlstate, message: fields.get('M') ?? '', source: 'server',
      ...(this.ctx.config.log.statements ? { statement: this.statementText() } : {}),
    });
  }

  /** the text of the request in flight: a simple Query's, or (with log.statements) an extended batch's statement */
  private statementText(): string | undefined {
    const head = this.pending.peek();
    if (head === undefined || head.kind === Await.Query) {
      const q = this.queries.peek();
      return q === undefined ? undefined : q.toString('utf8', 0, Math.max(0, q.length - 1));
    }
    return this.syncTexts.length > 0 ? this.syncTexts.peek() : this.batchText;
  }

  /**
   * The slow-request line: a request took at least log.slow_ms from being written to the server to its ReadyForQuery;
   * its account and action (routed requests), rows, SQLSTATE, and the statement with log.statements.
   */
  private logSlow(ms: number, status: number): void {
    const key = this.observer?.inFlightKey();
    logger.warn('slow request', {
      pid: this.owner.pid, shard: this.server?.shard.name, duration_ms: Math.round(ms * 10) / 10, sqlstate: this.slowError, rows: this.slowRows,
      ...(key?.account !== undefined ? { account: key.account } : {}), ...(key?.action !== undefined ? { action: key.action } : {}),
      tx: String.fromCharCode(status), ...(this.ctx.config.log.statements ? { statement: this.statementText() } : {}),
    });
  }

  private onReadyForQuery(buf: Buffer, start: number, end: number): void {
    const status = buf[start + 5]!;
    if (this.slowSince > 0) {
      const ms = performance.now() - this.slowSince;
      if (ms >= this.ctx.config.log.slow_ms) this.logSlow(ms, status);
      this.slowSince = 0;
      this.slowError = null;
      this.slowRows = 0;
    }
    this.server!.txStatus = status;
    // anything still queued before this ReadyForQuery was skipped by the server after an error
    let p = this.pending.shift();
    while (p && p.kind !== Await.Query && p.kind !== Await.Sync) {
      this.settle(p, false);
      p = this.pending.shift();
    }
    if (p && p.hide) {
      this.settle(p, true);
    } else {
      if (p && p.kind === Await.Query && this.queries.length > 0) this.queries.shift();
      if (p && p.kind === Await.Sync && this.syncTexts.length > 0) this.syncTexts.shift();
      this.txStatus = status;
      this.observer?.beforeReady(status);
      if (this.plugins !== null && this.plugins.hasBackendMessageHooks) this.plugins.observeBackendMessage(BackendCode.ReadyForQuery, buf.subarray(start, end));
      this.emitRange(buf, start, end);
      if (p) this.settle(p, true);
      this.observer?.afterReady();
    }
    this.emitSynthetic();
    if (status === Be.TransactionStatus.Idle) this.observer?.onIdle();
    this.maybeRelease();
    // the held request is routed again once this server chunk is fully handled (it may take another server)
    this.observer?.retryHeldSoon();
  }

  private hiddenError: Map<string, string> | null = null;

  /** An error that names a server-side statement name gets the client's own name back. */
  private clientNamesIn(payload: Buffer, head: Pending | undefined): Buffer {
    const fields = Be.decodeErrorFields(payload);
    // a Bind/Describe sent as NO_STATEMENT carries the client's name
    const unknown = head !== undefined && head.kind !== Await.Synthetic && head.synth !== undefined ? head.synth.toString('latin1') : undefined;
    for (const [k, v] of fields) {
      fields.set(k, v.replace(/prescient_\d+/g, (serverName) => (serverName === NO_STATEMENT_NAME ? (unknown !== undefined ? displayName(unknown) : serverName) : this.statements.clientNameOf(serverName) ?? serverName)));
    }
    return Be.ErrorResponseFromFields(fields);
  }

  private settle(p: Pending, ok: boolean): void {
    if (p.kind === Await.Synthetic) {
      if (ok) this.emit(p.synth!);
      p.onDone?.(ok);
      return;
    }
    if (p.onDone) {
      const err = this.hiddenError;
      this.hiddenError = null;
      p.onDone(ok && !err, err);
    }
  }

  /** Emits made-up responses that have reached the head of the queue. */
  private emitSynthetic(): void {
    let p = this.pending.peek();
    while (p && p.kind === Await.Synthetic) {
      this.pending.shift();
      this.settle(p, true);
      p = this.pending.peek();
    }
  }

  /** A CommandComplete of the client's: session state that pins it to its server, DDL, statements the server dropped. */
  private noteCommand(payload: Buffer): void {
    const c = payload[0];
    if ((c === 0x43 || c === 0x41 || c === 0x44) && payload.length > 6 && DDL_TAG.test(payload.toString('latin1', 0, payload.length - 1))) {
      // a statement prepared before this DDL may now parse differently: new Parses get new server-side names
      this.ctx.statementNames.retireAll();
    }
    const head = this.pending.peek();
    const event = this.pins.onCommand(payload, head !== undefined && head.kind === Await.Query ? (this.queries.peek() ?? null) : null);
    if (event === PinEvent.None) return;
    // DEALLOCATE ALL or DISCARD ALL ran on the server: every statement on it is gone, the client's own included
    const server = this.server!;
    server.forgetStatements();
    this.statements.clear();
    if (event === PinEvent.DiscardAll) {
      // RESET ALL: the server is back to its defaults, the client to its start-up settings
      server.setParams = new Map();
      server.setParamsKey = '';
      this.settings = sessionSettings(new Map(this.startupParams));
      this.settingsKey = settingsKeyOf(this.settings);
      this.observer?.onDiscardAll();
    }
  }

  /** Queues bytes [start, end) of `buf` for the client, merging ranges that follow each other in one chunk. */
  private emitRange(buf: Buffer, start: number, end: number): void {
    if (this.runBuf === buf && this.runEnd === start) {
      this.runEnd = end;
      return;
    }
    this.flushRun();
    this.runBuf = buf;
    this.runStart = start;
    this.runEnd = end;
  }

  private emit(buf: Buffer): void {
    this.emitRange(buf, 0, buf.length);
  }

  flushRun(): void {
    const buf = this.runBuf;
    if (buf === null) return;
    this.runBuf = null;
    if (this.runEnd === this.runStart) return;
    this.owner.write(this.runStart === 0 && this.runEnd === buf.length ? buf : buf.subarray(this.runStart, this.runEnd));
  }

  onServerClose(conn: ServerConnection): void {
    if (this.server !== conn) return;
    this.flushRun();
    this.server = null;
    this.riding = null;
    this.copyIn = null;
    this.serverStream.reset();
    this.ctx.poolOf(conn).discard(conn);
    this.pending.clear();
    this.syncTexts.clear();
    if (this.serverFatal) {
      // the client has the server's own FATAL (57P01 …): a second error would only confuse its driver
      logger.warn('server connection ended with a FATAL error while serving a client', { pid: this.owner.pid, shard: conn.shard.name });
      this.owner.close();
      return;
    }
    logger.warn('server connection lost while serving a client', { pid: this.owner.pid, shard: conn.shard.name });
    this.owner.fail(new ProxyError('SERVER_LOST', `server connection to shard "${conn.shard.name}" was lost`, SqlState.ConnectionFailure, 'FATAL'));
  }

  /** Session mode (or a shared single-session backend): reset the server's session state before reuse. */
  resetAndRelease(server: ServerConnection): void {
    // a late CancelRequest must not cancel the reset (then nothing would be reset)
    if (server.cancelling) return server.afterCancel(() => void (server.closed || this.resetAndRelease(server)));
    const pool = this.ctx.poolOf(server);
    const cfg = this.ctx.config.pool;
    const needsReset = (cfg.mode === 'session' || cfg.reset_on_every_client || this.pins.reason !== null) && cfg.reset_query;
    if (!needsReset) {
      pool.release(server);
      return;
    }
    // a reset that does not finish in time closes the connection; the pool opens a fresh one for whoever waits
    void server.reset(cfg.reset_query, cfg.reset_timeout_ms).then((idle) => (idle ? pool.release(server) : pool.discard(server)));
  }
}
