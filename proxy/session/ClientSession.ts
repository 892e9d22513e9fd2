// ClientSession owns one client connection: startup, authentication, request forwarding and server leases.
import type net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { ServerConnection, ServerIdentity, ServerOwner } from '../connection/ServerConnection.js';
import type { Pool } from '../pool/Pool.js';
import * as Be from '../protocol/BackendMessage.js';
import * as Fe from '../protocol/FrontendEncoder.js';
import { FrameReader, type Frame } from '../protocol/FrameReader.js';
import { FrameScanner, type FrameVisitor } from '../protocol/FrameScanner.js';
import {
  decodeBind, decodeClose, decodeDescribe, decodeParse, decodeQuery, decodeStartupPacket, displayName, readCString,
} from '../protocol/FrontendMessage.js';
import { BackendCode, FRONTEND_CODES, FRONTEND_SMALL_MESSAGES, FrontendCode, SMALL_MESSAGE_LIMIT } from '../protocol/MessageCode.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { Await, PENDING, PendingQueue, completes, type Pending } from './PendingResponses.js';
import { resultShapeOf } from './ResultShape.js';
import { PreparedStatements, type PreparedStatement } from './PreparedStatements.js';
import type { ServerStatement } from '../context/StatementNames.js';
import { Fifo } from './Fifo.js';
import { PinEvent, SessionPins } from './SessionPins.js';
import { sessionSettings, settingsDiffSql, settingsKeyOf } from './startupParams.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import { ClientAuth } from './ClientAuth.js';
import { answerAdminQuery } from '../admin/AdminConsole.js';
import { logger } from '../logger.js';
import { decodeBindParams } from '../protocol/FrontendMessage.js';
import { StatementKind, type StatementInfo } from '../analyzer/types.js';
import type { SessionPlugins } from '../plugins/PluginHost.js';
import type { RequestContext, SessionInfo } from '../plugins/api.js';
import { RequestKind } from '../plugins/api.js';
import type { Route } from '../router/Router.js';
import { TxControl, replayExtended, replayOf, synthesizedResponse, txControlOf, type RoutedRequest, type RoutingUnit } from './RoutedRequest.js';
import { ShardSet, type ShardReply } from './ShardSet.js';
import { mergeRows } from '../router/Merge.js';
import { clientRowDescription } from '../router/MergeAggregate.js';
import { shardText } from '../analyzer/Rewrite.js';

export const SessionState = {
  Startup: 'startup',
  Authenticating: 'authenticating',
  Connecting: 'connecting',
  Ready: 'ready',
  Closed: 'closed',
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

const LoginPhase = { Startup: 'startup', Authentication: 'authentication' } as const;
type LoginPhase = (typeof LoginPhase)[keyof typeof LoginPhase];

/** Postgres' parse_bool (a unique prefix of true/false/yes/no, on/off, 1/0); null when not a boolean. */
function parseBool(v: string): boolean | null {
  const s = v.trim().toLowerCase();
  if (!s) return null;
  if ('true'.startsWith(s) || 'yes'.startsWith(s) || (s.length >= 2 && 'on'.startsWith(s)) || s === '1') return true;
  if ('false'.startsWith(s) || 'no'.startsWith(s) || (s.length >= 2 && 'off'.startsWith(s)) || s === '0') return false;
  return null;
}

/** The startup parameter `replication`: `database` or true asks for a walsender, which Prescient is not. */
function refuseReplication(value: string | undefined): void {
  if (value === undefined) return;
  const b = value === 'database' ? true : parseBool(value);
  if (b === null) {
    throw new ProxyError('BAD_PARAMETER', `invalid value for parameter "replication": "${value}"`, SqlState.InvalidParameterValue, 'FATAL');
  }
  if (b) throw new ProxyError('REPLICATION', 'Prescient does not support replication connections', SqlState.FeatureNotSupported, 'FATAL');
}

/** ParameterStatus names a client cannot SET: reported, never replayed on another server connection. */
const REPORTED_ONLY = new Set(['server_version', 'server_encoding', 'integer_datetimes', 'is_superuser', 'session_authorization', 'in_hot_standby']);
/** the database name of the admin console, as PgBouncer's `pgbouncer` */
export const ADMIN_DATABASE = 'prescient';
const DEALLOCATE = /^\s*deallocate\s+(?:prepare\s+)?(all|"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s*;?\s*$/i;
/** cheap first look (latin1 text of a Query) for SQL that could name a server-side statement of Prescient's */
const RESERVED_HINT = /prescient_|u&["']/i;
const STATEMENT_SQL = /\b(?:execute|prepare|deallocate)\b/i;
/** DDL tags: a statement prepared before them may no longer parse, or may describe other columns */
const DDL_TAG = /^(?:CREATE|ALTER|DROP) (?!INDEX|DATABASE|ROLE|USER|EXTENSION|PUBLICATION|SUBSCRIPTION|TABLESPACE)/;
/** responses owed to one client beyond which Prescient stops reading it until they drain */
const MAX_PENDING = 4096;
const UNNAMED = Buffer.from([0]);
/** a server-side statement name no statement ever has (names are numbered from 1; SQL cannot create it: 42939) */
const NO_STATEMENT_NAME = 'prescient_0';
const NO_STATEMENT = Buffer.from(NO_STATEMENT_NAME + '\0', 'latin1');
/** settings Postgres reports with ParameterStatus: a SET of one is followed (TIME ZONE is timezone) */
const REPORTED_SETTINGS = new Set(['client_encoding', 'datestyle', 'timezone', 'intervalstyle', 'application_name', 'standard_conforming_strings', 'default_transaction_read_only', 'in_hot_standby', 'is_superuser', 'session_authorization', 'integer_datetimes', 'server_encoding', 'server_version', 'names']);
const TEMP_TABLE = /^\s*create\s+(?:(?:global|local)\s+)?temp(?:orary)?\s+(?:unlogged\s+)?table\b/i;

/** The request kind plugins see, from the analysis. */
function requestKindOf(statements: readonly StatementInfo[]): RequestKind {
  let kind: RequestKind = RequestKind.Other;
  for (const st of statements) {
    switch (st.kind) {
      case StatementKind.Ddl:
        return RequestKind.Ddl;
      case StatementKind.Insert: case StatementKind.Update: case StatementKind.Delete: case StatementKind.Copy:
        if (!st.readOnly) return RequestKind.Write;
        kind = RequestKind.Read;
        break;
      case StatementKind.Select:
        if (!st.readOnly) return RequestKind.Write;
        kind = RequestKind.Read;
        break;
      case StatementKind.Begin: case StatementKind.Commit: case StatementKind.Rollback: case StatementKind.Savepoint:
        if (kind === RequestKind.Other) kind = RequestKind.Transaction;
        break;
      default:
        if (kind === RequestKind.Other) kind = RequestKind.Session;
    }
  }
  return kind;
}

/** A reply's result sets: each RowDescription's fields and the DataRow frames up to its CommandComplete. */
function resultSets(frames: readonly Buffer[]): { rowDescription: Buffer | null; rows: Buffer[] }[] {
  const sets: { rowDescription: Buffer | null; rows: Buffer[] }[] = [];
  let cur: { rowDescription: Buffer | null; rows: Buffer[] } | null = null;
  for (const f of frames) {
    const code = f[0];
    if (code === BackendCode.RowDescription) cur = { rowDescription: f.subarray(5), rows: [] };
    else if (code === BackendCode.DataRow) (cur ??= { rowDescription: null, rows: [] }).rows.push(f);
    else if (code === BackendCode.CommandComplete) {
      sets.push(cur ?? { rowDescription: null, rows: [] });
      cur = null;
    }
  }
  return sets;
}

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

export class ClientSession implements ServerOwner, FrameVisitor {
  state: SessionState = SessionState.Startup;
  readonly pid: number;
  readonly secret: number;
  user = '';
  database = '';
  applicationName = '';
  private startupParams: ReadonlyMap<string, string> = new Map();
  readonly connectedAt = Date.now();
  private socket: net.Socket | tls.TLSSocket;
  private reader: FrameReader;
  private auth: ClientAuth | null = null;
  /** settings this client wants on whatever server serves it (lower-cased name → value) */
  private settings = new Map<string, string>();
  private settingsKey = '';
  private readonly statements: PreparedStatements;
  server: ServerConnection | null = null;
  private waitingForServer = false;
  private readonly pending = new PendingQueue();
  /** last transaction status reported to the client */
  private txStatus: number = Be.TransactionStatus.Idle;
  /** after an error in an extended-protocol batch, the server skips messages until Sync */
  private skipUntilSync = false;
  /** LISTEN channels, SQL PREPAREd statements and temp tables: any keeps the session on its server connection */
  private readonly pins = new SessionPins();
  /** texts of simple Queries in flight, oldest first (read only when a tag that pins or unpins completes) */
  private readonly queries = new Fifo<Buffer>();
  /**
   * the server is in COPY IN for the request at the head of `pending` (from its CopyInResponse until that request
   * completes): `open` while the client has not sent its CopyDone/CopyFail, `ignoredSyncs` the client's Syncs the
   * server reads (and ignores) meanwhile
   */
  private copyIn: { open: boolean; ignoredSyncs: number } | null = null;
  /** the client has more responses owed than MAX_PENDING: its socket is paused until they drain */
  private pipelineFull = false;
  /** the server sent a FATAL error: its close is not news to the client */
  private serverFatal = false;
  private clientPaused = false;
  private serverPaused = false;
  private usedServer = false;
  private tlsUpgraded = false;
  /** coalesces contiguous server frames into one write */
  private runBuf: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;
  private writeBlocked = false;
  readonly stats = { queries: 0, bytesIn: 0, bytesOut: 0 };

  constructor(
    socket: net.Socket,
    private readonly ctx: ProxyContext,
  ) {
    this.socket = socket;
    this.pid = ctx.nextPid();
    this.secret = randomBytes(4).readInt32BE(0);
    this.statements = new PreparedStatements(ctx.statementNames);
    this.reader = new FrameReader(ctx.config.listen.max_startup_packet, true);
    this.bindSocket(socket);
    this.armLoginTimer(LoginPhase.Startup);
  }

  private readonly onData = (chunk: Buffer): void => this.onClientData(chunk);
  private readonly onError = (e: Error): void => {
    logger.debug('client socket error', { pid: this.pid, error: e.message });
    this.close();
  };
  private readonly onClose = (): void => this.close();

  private bindSocket(socket: net.Socket | tls.TLSSocket): void {
    socket.setNoDelay?.(true);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  /** A snapshot for SHOW CLIENTS and debugging. */
  describe(): Record<string, unknown> {
    return {
      pid: this.pid, user: this.user, state: this.state, server: this.server?.id ?? null,
      serverTx: this.server ? String.fromCharCode(this.server.txStatus) : null, pending: this.pending.length,
      waiting: this.waitingForServer, held: this.heldFrame !== null, toServer: this.toServer.length,
      skipUntilSync: this.skipUntilSync, pinned: this.pins.reason, readerPending: this.reader.pending,
    };
  }

  /** Why this session is where it is, in one line for SHOW CLIENTS' `detail` (what it owes, what holds its reading). */
  detail(): string {
    const held = [
      this.waitingForServer && 'lease', this.pipelineFull && 'pipeline', this.clientPaused && 'server-not-draining',
      this.writeBlocked && 'client-not-reading', this.heldFrame !== null && 'held-frame',
    ].filter(Boolean);
    const s = this.server;
    return [
      `pending=${this.pending.length}`,
      held.length > 0 ? `held=${held.join('+')}` : '',
      this.socket.isPaused() ? 'reading=paused' : '',
      s ? `server_tx=${String.fromCharCode(s.txStatus)}${s.unsynced ? ' unsynced' : ''}` : '',
      this.skipUntilSync ? 'skip-to-sync' : '', this.dropUntilSync ? 'drop-to-sync' : '',
      this.pins.reason ? `pinned=${this.pins.reason}` : '',
      this.socket.destroyed ? 'socket=destroyed' : '',
    ].filter(Boolean).join(' ');
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }
  get inTransaction(): boolean {
    return this.server !== null;
  }
  /** the server connection running a request of this client now (a CancelRequest goes there), else null */
  get cancelTarget(): ServerConnection | null {
    return this.server !== null && this.pending.length > 0 ? this.server : null;
  }

  // ---------------------------------------------------------------- client bytes

  private onClientData(chunk: Buffer): void {
    this.stats.bytesIn += chunk.length;
    this.reader.push(chunk);
    if (this.waitingForServer) return;
    try {
      this.processClientFrames();
    } catch (e) {
      this.fail(e);
    }
  }

  private processClientFrames(): void {
    let f: Frame | null;
    while (this.state !== SessionState.Closed && this.state !== SessionState.Connecting && !this.waitingForServer && !this.pipelineFull && (f = this.reader.next())) {
      switch (this.state) {
        case SessionState.Startup:
          // a Terminate before any startup packet: closed silently, as Postgres
          if (f.code === FrontendCode.Terminate) return this.close();
          this.onStartupPacket(f.payload);
          break;
        case SessionState.Authenticating:
          if (f.code !== FrontendCode.PasswordMessage) {
            throw new ProxyError('AUTH_EXPECTED', `expected password response, got message type '${String.fromCharCode(f.code)}'`, SqlState.ProtocolViolation, 'FATAL');
          }
          this.auth!.onMessage(f.payload);
          break;
        case SessionState.Ready:
          if (this.admin) this.onAdminFrame(f);
          else this.onRequestFrame(f);
          if (this.pending.length >= MAX_PENDING) {
            // a client pipelining without reading: stop reading it until the server has answered half of what is owed
            this.pipelineFull = true;
            this.socket.pause();
          }
          break;
      }
    }
    if (this.server && this.state === SessionState.Ready) this.flushToServer();
  }

  private onStartupPacket(payload: Buffer): void {
    const pkt = decodeStartupPacket(payload);
    switch (pkt.kind) {
      case 'SSLRequest': {
        const secure = this.ctx.secureContext;
        if (!secure || this.tlsUpgraded) {
          this.socket.write('N');
          return;
        }
        if (this.reader.pending > 0) {
          throw new ProxyError('SSL_PIPELINED', 'received unencrypted data after SSL request', SqlState.ProtocolViolation, 'FATAL');
        }
        this.socket.write('S');
        const plain = this.socket as net.Socket;
        // only the session's own listeners: the server's bookkeeping stays on the plain socket
        plain.off('data', this.onData);
        plain.off('close', this.onClose);
        plain.off('error', this.onError);
        const secureSocket = new tls.TLSSocket(plain, { isServer: true, secureContext: secure });
        this.socket = secureSocket;
        this.tlsUpgraded = true;
        this.bindSocket(secureSocket);
        return;
      }
      case 'GSSENCRequest':
        this.socket.write('N');
        return;
      case 'CancelRequest': {
        // closed once the server has the cancel (as Postgres does), even if the client half-closed after sending it
        const socket = this.socket;
        socket.allowHalfOpen = true;
        this.ctx.cancel(pkt.pid, pkt.secret, () => socket.end());
        this.close(false);
        return;
      }
      case 'StartupMessage': {
        this.startupParams = pkt.params;
        this.user = pkt.params.get('user') ?? '';
        this.database = pkt.params.get('database') || this.user;
        this.applicationName = pkt.params.get('application_name') ?? '';
        if (!this.user) throw new ProxyError('NO_USER', 'no PostgreSQL user name specified in startup packet', SqlState.InvalidAuthorizationSpecification, 'FATAL');
        refuseReplication(pkt.params.get('replication'));
        this.settings = sessionSettings(pkt.params);
        this.settingsKey = settingsKeyOf(this.settings);
        // the same reader: bytes the client sent right behind the StartupMessage are kept
        this.reader.untyped = false;
        this.reader.maxMessageSize = this.ctx.config.listen.max_message_size;
        this.reader.limitSmall(FRONTEND_SMALL_MESSAGES, Math.min(SMALL_MESSAGE_LIMIT, this.ctx.config.listen.max_message_size));
        this.admin = this.database === ADMIN_DATABASE;
        if (!this.admin && this.database !== this.ctx.config.database) {
          throw new ProxyError('UNKNOWN_DATABASE', `database "${this.database}" does not exist`, SqlState.InvalidCatalogName, 'FATAL');
        }
        this.state = SessionState.Authenticating;
        this.armLoginTimer(LoginPhase.Authentication);
        // the admin console takes admin users; a known ordinary user authenticates, then is refused with 42501
        const account = this.admin ? (this.ctx.findAdmin(this.user) ?? this.ctx.findUser(this.user)) : this.ctx.findUser(this.user);
        this.auth = new ClientAuth(this.ctx, this.user, account, (buf) => this.socket.write(buf), () => this.onAuthenticated(), (e) => this.fail(e), this.socket.remoteAddress ?? '');
        this.auth.start();
        return;
      }
    }
  }

  private onAuthenticated(): void {
    this.auth = null;
    this.clearLoginTimer();
    if (this.admin) {
      this.startAdmin();
      return;
    }
    if (this.ctx.shuttingDown) throw new ProxyError('SHUTTING_DOWN', 'the database system is shutting down', SqlState.CannotConnectNow, 'FATAL');
    if (!this.ctx.admitClient(this)) {
      throw new ProxyError('TOO_MANY_CLIENTS', 'sorry, too many clients already', SqlState.TooManyConnections, 'FATAL');
    }
    for (const shard of this.ctx.config.shards) this.serverIdentityOn(shard.name);
    const host = this.ctx.plugins;
    if (host) {
      // a plugin whose createSessionHooks throws refuses the connection, naming the plugin
      this.plugins = host.createSession(this.sessionInfo());
      if (this.plugins.hasStartupHooks) {
        this.state = SessionState.Connecting;
        void Promise.resolve(this.plugins.decideStartup(this.sessionInfo())).then((o) => {
          if (this.state === SessionState.Closed) return;
          if (o) this.fail(new ProxyError('PLUGIN_REFUSED', o.reject.message, o.reject.code as SqlState, 'FATAL'));
          else this.beginLogin();
        }).catch((e: unknown) => this.fail(e));
        return;
      }
    }
    this.beginLogin();
  }

  /** listen.startup_timeout_ms, then listen.auth_timeout_ms (Postgres: authentication_timeout for both) */
  private loginTimer: NodeJS.Timeout | null = null;

  private armLoginTimer(phase: LoginPhase): void {
    this.clearLoginTimer();
    const listen = this.ctx.config.listen;
    const ms = phase === LoginPhase.Startup ? listen.startup_timeout_ms : listen.auth_timeout_ms;
    if (!ms) return;
    this.loginTimer = setTimeout(() => {
      this.loginTimer = null;
      if (this.state === SessionState.Closed) return;
      // as Postgres: the client is told nothing (it may not even be speaking the protocol), the connection is closed
      logger.info(phase === LoginPhase.Startup ? 'incomplete startup packet: timeout' : 'canceling authentication due to timeout', {
        pid: this.pid, remote: this.remote, user: this.user || undefined, timeoutMs: ms,
      });
      this.socket.destroy();
      this.close();
    }, ms);
    this.loginTimer.unref();
  }

  private clearLoginTimer(): void {
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
  }

  private beginLogin(): void {
    this.socket.write(Be.AuthenticationOk);
    const known = this.ctx.loginReports.get(this.loginKey());
    if (known !== undefined) {
      // a login with the same user and settings was answered by a server before: its ParameterStatus values are
      // known, so this one needs no server connection (a storm of logins does not queue for the pool)
      this.writeClient(Buffer.concat([known, Be.BackendKeyData(this.pid, this.secret), Be.ReadyForQuery(Be.TransactionStatus.Idle)]));
      this.state = SessionState.Ready;
      if (this.reader.pending > 0) queueMicrotask(() => this.resumeAfterLogin());
      return;
    }
    this.state = SessionState.Connecting;
    // the first login of its kind reaches a server: it applies the client's settings and reports the values the server took
    this.leaseServer();
  }

  /** Completes the login once a server connection has the client's settings. */
  private finishLogin(): void {
    const server = this.server!;
    const out: Buffer[] = [];
    for (const [name, value] of server.params) out.push(Be.ParameterStatus(name, value));
    const report = Buffer.concat(out);
    this.ctx.rememberLogin(this.loginKey(), report);
    this.flushRun();
    this.writeClient(Buffer.concat([report, Be.BackendKeyData(this.pid, this.secret), Be.ReadyForQuery(Be.TransactionStatus.Idle)]));
    this.state = SessionState.Ready;
    // frames the client sent before it saw ReadyForQuery wait in the reader
    if (this.reader.pending > 0) queueMicrotask(() => this.resumeAfterLogin());
  }

  /** The server identity and settings that decide what a login reports. */
  private loginKey(): string {
    return `${this.user}\u0000${this.settingsKey}`;
  }

  private resumeAfterLogin(): void {
    if (this.state !== SessionState.Ready || this.waitingForServer) return;
    try {
      this.processClientFrames();
    } catch (e) {
      this.fail(e);
    }
  }

  // ---------------------------------------------------------------- admin console

  /** true for a session on the admin database `prescient`: answered by the proxy, never by a server */
  private admin = false;
  private adminBusy: Promise<void> = Promise.resolve();
  private adminBatchFailed = false;

  private startAdmin(): void {
    if (!this.ctx.findAdmin(this.user)) {
      throw new ProxyError('NOT_ADMIN', `user "${this.user}" is not an admin of the "${ADMIN_DATABASE}" console (admin.users)`, SqlState.InsufficientPrivilege, 'FATAL');
    }
    const params: [string, string][] = [
      ['server_version', '15.0 (Prescient admin console)'], ['server_encoding', 'UTF8'], ['client_encoding', 'UTF8'],
      ['DateStyle', 'ISO, MDY'], ['integer_datetimes', 'on'], ['standard_conforming_strings', 'on'],
      ['application_name', this.applicationName], ['TimeZone', 'UTC'], ['is_superuser', 'off'],
    ];
    this.socket.write(Buffer.concat([
      Be.AuthenticationOk,
      ...params.map(([k, v]) => Be.ParameterStatus(k, v)),
      Be.BackendKeyData(this.pid, this.secret),
      Be.ReadyForQuery(Be.TransactionStatus.Idle),
    ]));
    this.state = SessionState.Ready;
  }

  /** Admin requests: simple queries are answered in order; the extended protocol gets one error per batch. */
  private onAdminFrame(f: Frame): void {
    const code = f.code;
    if (code === FrontendCode.Terminate) {
      this.close();
      return;
    }
    let reply: () => Promise<Buffer> | Buffer;
    if (code === FrontendCode.Query) {
      const sql = decodeQuery(f.payload);
      const source = this.ctx.adminSource;
      reply = () => (source ? answerAdminQuery(sql, source) : Buffer.concat([
        Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: 'the admin console is not available' }),
        Be.ReadyForQuery(Be.TransactionStatus.Idle),
      ]));
    } else if (code === FrontendCode.Sync) {
      this.adminBatchFailed = false;
      reply = () => Be.ReadyForQuery(Be.TransactionStatus.Idle);
    } else if (code === FrontendCode.Flush || this.adminBatchFailed) {
      return;
    } else {
      this.adminBatchFailed = true;
      reply = () => Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: 'the admin console answers the simple query protocol only' });
    }
    // answers keep their order even when one is asynchronous
    this.adminBusy = this.adminBusy.then(async () => {
      const out = await reply();
      if (this.state !== SessionState.Closed) this.writeClient(out);
    }).catch((e) => this.fail(e));
  }

  // ---------------------------------------------------------------- requests

  /** outgoing bytes for the server, gathered while processing one batch of client frames */
  private toServer: Buffer[] = [];

  private onRequestFrame(f: Frame): void {
    const code = f.code;
    if (code === FrontendCode.Terminate) {
      this.close();
      return;
    }
    if (!FRONTEND_CODES.has(code) || code === FrontendCode.PasswordMessage) {
      throw new ProxyError('BAD_MESSAGE_TYPE', `invalid frontend message type ${code} ('${String.fromCharCode(code)}')`, SqlState.ProtocolViolation, 'FATAL');
    }
    if (this.ctx.routing) {
      this.collect(f);
      return;
    }
    this.handleFrame(f);
  }

  /** One request frame on the pass-through path (and, once routed, each frame of a routed request). */
  private handleFrame(f: Frame): void {
    const code = f.code;
    if (this.copyIn !== null && this.copyIn.open && this.server) {
      this.forwardInCopy(f);
      return;
    }
    if (this.dropUntilSync) {
      if (code !== FrontendCode.Sync) return;
      this.dropUntilSync = false;
    }
    if (code === FrontendCode.Flush && !this.server) return;
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
      this.stats.queries++;
      if (RESERVED_HINT.test(f.payload.toString('latin1')) && this.refuseReservedName(f.payload)) return;
      const first = f.payload[0];
      if ((first === 0x64 || first === 0x44 || first === 0x20 || first === 0x0a) && this.interceptQuery(decodeQuery(f.payload))) return;
    }
    if (!this.server && this.answerWithoutServer(f)) return;
    if (!this.server) {
      if (!this.leaseServer()) {
        this.heldFrame = f;
        return;
      }
    }
    this.forwardFrame(f);
  }

  private heldFrame: Frame | null = null;

  /**
   * With no server connection and nothing owed, outside a transaction: a Sync only needs its ReadyForQuery, and the
   * Parse of a text some server already parsed only needs its ParseComplete (it is prepared where it is first bound).
   * So a PQprepare never waits for a server connection, which other clients of a full pool may be holding while
   * the client's own driver thread waits for this answer (pgbench -M prepared with more clients than connections).
   */
  private answerWithoutServer(f: Frame): boolean {
    if (this.pending.length > 0 || this.txStatus !== Be.TransactionStatus.Idle || this.skipUntilSync) return false;
    if (f.code === FrontendCode.Sync) {
      this.writeClient(Be.ReadyForQuery(this.txStatus));
      return true;
    }
    if (f.code !== FrontendCode.Parse || f.payload[0] === 0) return false;
    const p = decodeParse(f.payload);
    if (this.statements.has(p.name) || !this.ctx.statementNames.statementFor(p.rest).valid) return false;
    this.statements.add(p.name, p.rest, p.query);
    this.writeClient(Be.ParseComplete);
    return true;
  }

  /** SQL that names a server-side statement of Prescient's (EXECUTE prescient_3, DEALLOCATE "prescient_3"): refused. */
  private refuseReservedName(payload: Buffer): boolean {
    const sql = decodeQuery(payload);
    if (!STATEMENT_SQL.test(sql)) return false;
    const prefix = this.ctx.statementNames.prefix;
    // U& identifiers can spell any name: refused with these statements too
    if (!sql.toLowerCase().includes(prefix) && !/u&["']/i.test(sql)) return false;
    this.synthesize(Buffer.concat([
      Be.ErrorResponse({ severity: 'ERROR', code: SqlState.ReservedName, message: `prepared statement names starting with "${prefix}" are reserved by Prescient (and U& identifiers cannot be used with EXECUTE, PREPARE or DEALLOCATE)` }),
      Be.ReadyForQuery(this.txStatus === Be.TransactionStatus.Idle ? this.txStatus : Be.TransactionStatus.Failed),
    ]));
    if (this.txStatus !== Be.TransactionStatus.Idle) this.txStatus = Be.TransactionStatus.Failed;
    return true;
  }

  /** DEALLOCATE acts on the client's own statement names, which the server does not know. */
  private interceptQuery(sql: string): boolean {
    const m = DEALLOCATE.exec(sql);
    if (!m) return false;
    const name = m[1]!;
    if (name.toLowerCase() === 'all') {
      // SQL PREPAREd statements live on the server connection: the server deallocates them (and its tag clears both)
      if (this.pins.prepared.size > 0) return false;
      this.statements.clear();
    } else {
      const n = name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name.toLowerCase();
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
    this.synthesize(Buffer.concat([Be.CommandComplete('DEALLOCATE' + (name.toLowerCase() === 'all' ? ' ALL' : '')), Be.ReadyForQuery(this.txStatus)]));
    return true;
  }

  /** Emits a made-up response in its place among the responses still owed. */
  private synthesize(bytes: Buffer, onDone?: (ok: boolean) => void): void {
    if (this.pending.length === 0) {
      this.flushToServer();
      this.writeClient(bytes);
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
        this.expect(PENDING.Sync);
        this.toServer.push(f.frame);
        return;
      case FrontendCode.Parse: {
        const p = decodeParse(f.payload);
        server.unsynced = true;
        if (p.name === '') {
          this.expect(PENDING.Parse);
          this.toServer.push(f.frame);
          return;
        }
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
            if (this.server === server && this.state !== SessionState.Closed) this.forwardFrame(bind);
          } catch (e) {
            this.fail(e);
            return;
          }
          this.resume();
        });
      },
    });
    this.toServer.push(Fe.targetFrame(FrontendCode.Describe, 'S', serverName), Fe.Flush);
    this.heldFrame = bind;
    this.block();
  }
  /** the next Bind skips the shape check (its statement's Describe failed: the server is skipping to Sync) */
  private shapeChecked = false;

  private errorUntilSync(code: SqlState, message: string): void {
    this.synthesize(Be.ErrorResponse({ severity: 'ERROR', code, message }));
    this.dropUntilSync = true;
  }
  private dropUntilSync = false;

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

  private flushToServer(): void {
    const out = this.toServer;
    if (out.length === 0 || !this.server) return;
    const buf = out.length === 1 ? out[0]! : joinFrames(out);
    this.toServer = [];
    if (!this.server.write(buf) && !this.clientPaused) {
      this.clientPaused = true;
      this.socket.pause();
      const server = this.server;
      server.socket.once('drain', () => {
        this.clientPaused = false;
        this.resumeReading();
      });
    }
  }

  // ---------------------------------------------------------------- routing (more than one shard, or plugins)

  /** the session's plugin hooks (none until authenticated) */
  private plugins: SessionPlugins | null = null;
  /** extended-protocol frames gathered until Sync or Flush */
  private batch: Frame[] = [];
  private batchBytes = 0;
  /** complete requests not yet dispatched (a request ahead of them waits for a server) */
  private readonly requests: Frame[][] = [];
  /** a request for another shard, waiting until this server connection has answered everything owed */
  private heldRequest: { req: RoutedRequest; route: Route } | null = null;
  /** a BEGIN answered by the proxy: sent to the transaction's shard once its first statement names one */
  private deferredBegin: string | null = null;
  /** SET statements sent after a deferred BEGIN, answered by the proxy and replayed after it */
  private deferredSets: string[] = [];
  /** temporary tables this session created: they go wherever the session is */
  private tempTables: Set<string> | null = null;
  /** SET prescient.account / prescient.action for the session */
  private routing: { account?: string; action?: string } = {};
  /** SET LOCAL prescient.* for the open transaction */
  private localRouting: { account?: string; action?: string } | null = null;
  /** the text of the unnamed statement (routing reads it at Bind) */
  private unnamedSql = '';
  private unnamedAnalysis: StatementInfo[] | null = null;
  /** the shard this session last ran on: where a request that needs no particular shard goes */
  private lastShard: string | null = null;
  /** for SHOW POOLS: the shard this session waits for */
  waitingFor: string | null = null;
  /** who this client logs in to each shard as: computed at login for every shard, on first use for shards added by RELOAD */
  private readonly serverIdentities = new Map<string, ServerIdentity>();

  /** The server user and password this client uses on `shardName` (undefined: not a configured shard). */
  serverIdentityOn(shardName: string): ServerIdentity | undefined {
    let identity = this.serverIdentities.get(shardName);
    if (identity === undefined) {
      const shard = this.ctx.shard(shardName);
      if (shard === undefined) return undefined;
      identity = this.ctx.serverIdentity(this.ctx.findUser(this.user), this.user, shard);
      this.serverIdentities.set(shardName, identity);
    }
    return identity;
  }

  /** This client's pool on `shardName`: the (shard, server user) pool of its server identity there. */
  private poolOn(shardName: string): Pool | undefined {
    const identity = this.serverIdentityOn(shardName);
    return identity === undefined ? undefined : this.ctx.poolFor(shardName, identity);
  }

  /** Gathers request frames; COPY data goes straight to the server that asked for it. */
  private collect(f: Frame): void {
    const code = f.code;
    if (this.copyIn !== null && this.copyIn.open && this.server && this.requests.length === 0 && this.batch.length === 0 && !this.waitingForServer) {
      this.handleFrame(f);
      return;
    }
    if (code === FrontendCode.CopyData || code === FrontendCode.CopyDone || code === FrontendCode.CopyFail) {
      if (this.requests.length === 0 && this.batch.length === 0 && !this.waitingForServer) {
        if (this.server) this.handleFrame(f);
        return;
      }
      this.requests.push([f]);
      this.drainRequests();
      return;
    }
    if (code === FrontendCode.Query || code === FrontendCode.FunctionCall) {
      if (this.batch.length > 0) this.requests.push(this.takeBatch());
      this.requests.push([f]);
    } else {
      this.batch.push(f);
      this.batchBytes += f.frame.length;
      // a client that never syncs still gets routed in bounded memory
      if (code === FrontendCode.Sync || code === FrontendCode.Flush || this.batch.length >= 4096 || this.batchBytes >= 64 << 20) {
        this.requests.push(this.takeBatch());
      }
    }
    this.drainRequests();
  }

  private takeBatch(): Frame[] {
    const b = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    return b;
  }

  private drainRequests(): void {
    while (this.requests.length > 0 && !this.waitingForServer && this.state === SessionState.Ready) {
      this.dispatch(this.requests.shift()!);
    }
  }

  /** Stops reading the client until resume(). */
  private block(): void {
    this.waitingForServer = true;
    this.socket.pause();
  }

  private resume(): void {
    this.waitingForServer = false;
    if (this.state === SessionState.Closed) return;
    this.resumeReading();
    try {
      this.drainRequests();
      this.processClientFrames();
      this.flushToServer();
    } catch (e) {
      this.fail(e);
    }
  }

  private dispatch(frames: Frame[]): void {
    const first = frames[0]!;
    if (frames.length === 1 && (first.code === FrontendCode.CopyData || first.code === FrontendCode.CopyDone || first.code === FrontendCode.CopyFail)) {
      if (this.server) this.handleFrame(first);
      return;
    }
    if (this.skipUntilSync && frames.length === 1 && (first.code === FrontendCode.Query || first.code === FrontendCode.FunctionCall)) {
      return; // a server error in an extended batch: Postgres ignores everything, simple Queries too, until Sync
    }
    if (this.dropUntilSync) {
      // an error the proxy raised ended this batch: skip to Sync, as Postgres does
      const at = frames.findIndex((x) => x.code === FrontendCode.Sync);
      if (at < 0) return;
      this.dropUntilSync = false;
      frames = frames.slice(at);
    }
    const req = this.assemble(frames);
    // SET prescient.account / prescient.action: the session's routing state, answered here
    if (req.routingSettingsOnly) {
      const tags = req.units.flatMap((u) => u.statements.map((st) => (st.setting?.value === null ? 'RESET' : 'SET')));
      this.synthesize(synthesizedResponse(req, tags, this.txStatus, this.registerStatement));
      return;
    }
    this.decideUnits(req, 0);
  }

  private readonly registerStatement = (name: string, rest: Buffer, query: string): void => {
    this.statements.add(name, rest, query);
  };

  /** Cuts a request into routing units and reads the routing settings it makes. */
  private assemble(frames: Frame[]): RoutedRequest {
    const analyzer = this.ctx.analyzer;
    const units: RoutingUnit[] = [];
    let prepareOnly = false;
    const first = frames[0]!;
    const simple = first.code === FrontendCode.Query || first.code === FrontendCode.FunctionCall;
    let sql = '';
    if (first.code === FrontendCode.Query) {
      sql = decodeQuery(first.payload);
      units.push({ sql, statements: analyzer.analyze(sql) });
    } else if (!simple) {
      // analysed at Parse; a Bind only picks its parameters (a named statement keeps its analysis)
      // (prepareOnly: a Parse without a Bind)
      let parsed: Map<string, { sql: string; statements: StatementInfo[] }> | null = null;
      let lone: RoutingUnit | null = null;
      for (const f of frames) {
        if (f.code === FrontendCode.Parse) {
          const p = decodeParse(f.payload);
          const a = { sql: p.query, statements: analyzer.analyze(p.query) };
          if (p.name === '') {
            this.unnamedSql = p.query;
            this.unnamedAnalysis = a.statements;
          } else (parsed ??= new Map()).set(p.name, a);
          lone ??= a;
        } else if (f.code === FrontendCode.Bind) {
          const b = decodeBind(f.payload);
          let a: { sql: string; statements: StatementInfo[] } | undefined;
          if (b.statement === '') a = { sql: this.unnamedSql, statements: this.unnamedAnalysis ?? analyzer.analyze(this.unnamedSql) };
          else {
            a = parsed?.get(b.statement);
            if (a === undefined) {
              const stmt = this.statements.get(b.statement);
              if (stmt) a = { sql: stmt.query, statements: (stmt.analysis ??= analyzer.analyze(stmt.query)) as StatementInfo[] };
            }
          }
          if (a === undefined) continue; // the server reports the unknown statement
          const { values, formats, resultFormats } = decodeBindParams(f.payload, b.restOffset);
          units.push({ sql: a.sql, statements: a.statements, params: values, formats, resultFormats });
        }
      }
      if (units.length === 0 && lone) {
        units.push(lone);
        prepareOnly = true;
      }
      sql = units[0]?.sql ?? '';
    }
    const last = frames[frames.length - 1]!;
    const req: RoutedRequest = {
      frames, simple, endsWithSync: last.code === FrontendCode.Sync, units, txControl: prepareOnly ? TxControl.None : txControlOf(units), routingSettingsOnly: false, sql, prepareOnly,
    };
    let settings = 0;
    let statements = 0;
    for (const u of units) {
      for (const st of u.statements) {
        statements++;
        if (st.kind === StatementKind.Ddl && st.tables.length > 0) this.noteTempTables(st);
        else if ((st.kind === StatementKind.Set || st.kind === StatementKind.Discard) && !st.setting) this.noteSetting(st);
        if (st.setting && st.setting.value?.startsWith('$') !== true) {
          settings++;
          this.applyRoutingSetting(st);
        }
      }
    }
    req.routingSettingsOnly = statements > 0 && settings === statements;
    return req;
  }

  /** a session-wide SET of a setting the server does not report (its value is unknown to Prescient) */
  private opaqueSettings = false;
  /** a SET LOCAL (or any SET) in the open transaction */
  private txOpaqueSettings = false;

  private noteSetting(st: StatementInfo): void {
    if (st.kind === StatementKind.Discard) return;
    const m = /^\s*(?:set|reset)\s+(local\s+|session\s+)?(?:time\s+zone\b|"?([a-z_][a-z0-9_.]*)"?)/i.exec(st.shape);
    const local = m?.[1]?.trim().toLowerCase() === 'local';
    if (local || this.txStatus !== Be.TransactionStatus.Idle || this.deferredBegin !== null) this.txOpaqueSettings = true;
    const name = m?.[2]?.toLowerCase();
    if (!local && (name === undefined ? m === null : !REPORTED_SETTINGS.has(name))) this.opaqueSettings = true;
  }

  /** CREATE TEMP TABLE adds a session temp table (until DROP, or the transaction's end with ON COMMIT DROP). */
  private noteTempTables(st: StatementInfo): void {
    const first = st.tables[0]!;
    if (TEMP_TABLE.test(st.shape)) {
      const name = first.startsWith('pg_temp.') ? first.slice(8) : first.slice(first.lastIndexOf('.') + 1);
      (this.tempTables ??= new Set()).add(name);
      if (/\bon\s+commit\s+drop\b/i.test(st.shape)) (this.txTempTables ??= []).push(name);
    } else if (this.tempTables !== null && /^\s*drop\s+table\b/i.test(st.shape)) {
      for (const t of st.tables) {
        if (t.startsWith('pg_temp.')) this.tempTables.delete(t.slice(8));
        else if (t.indexOf('.') < 0) this.tempTables.delete(t);
      }
    }
  }
  /** temp tables created ON COMMIT DROP in the open transaction */
  private txTempTables: string[] | null = null;

  private applyRoutingSetting(st: StatementInfo): void {
    const s = st.setting!;
    const field = s.name === 'prescient.account' ? 'account' : 'action';
    const target = s.local ? (this.localRouting ??= {}) : this.routing;
    if (s.value === null) delete target[field];
    else target[field] = s.value;
    // a session-wide SET inside a transaction also overrides a SET LOCAL made before it
    if (!s.local && this.localRouting) delete this.localRouting[field];
  }

  /** what plugins see of this session: fixed once the client has logged in, so built once */
  private info: SessionInfo | null = null;
  private sessionInfo(): SessionInfo {
    return (this.info ??= Object.freeze({
      pid: this.pid, user: this.user, database: this.database, applicationName: this.applicationName, remote: this.remote,
      startupParams: this.startupParams,
    }));
  }

  private routingSettings(): ReadonlyMap<string, string> {
    const account = this.localRouting?.account ?? this.routing.account;
    const action = this.localRouting?.action ?? this.routing.action;
    if (account === undefined && action === undefined) return this.settings;
    const m = new Map(this.settings);
    if (account !== undefined) m.set('prescient.account', account);
    if (action !== undefined) m.set('prescient.action', action);
    return m;
  }

  /** onRequest for each unit, in order (the key plugins fill the shard key); the first answer or reject ends it. */
  private decideUnits(req: RoutedRequest, from: number): void {
    const plugins = this.plugins;
    if (plugins && plugins.hasRequestHooks) {
      const settings = this.routingSettings();
      const session = this.sessionInfo();
      const open = this.txStatus !== Be.TransactionStatus.Idle;
      const transaction = { open, wrote: open && this.txWrites.size > 0 };
      const settingsKnown = !this.opaqueSettings && !(open && this.txOpaqueSettings);
      const replay = req.units.length === 1 ? replayOf(req) : null;
      for (let i = from; i < req.units.length; i++) {
        const u = req.units[i]!;
        u.ctx ??= {
          session, sql: u.sql, protocol: req.simple ? 'simple' : 'extended', kind: requestKindOf(u.statements), analysis: u.statements,
          params: u.params, paramFormats: u.formats, resultFormats: u.resultFormats, settings, transaction, replay, settingsKnown,
        };
        const out = plugins.decideRequest(u.ctx);
        if (out !== undefined && typeof (out as Promise<unknown>).then === 'function') {
          this.block();
          (out as Promise<Awaited<typeof out>>).then((o) => {
            if (this.state === SessionState.Closed) return;
            this.waitingForServer = false;
            if (o === undefined) this.decideUnits(req, i + 1);
            else this.requestDecided(req, o);
            if (!this.waitingForServer) this.resume();
          }).catch((e: unknown) => this.fail(e));
          return;
        }
        if (out !== undefined) {
          this.requestDecided(req, out as NonNullable<Awaited<typeof out>>);
          return;
        }
      }
    }
    this.routeRequest(req);
  }

  private requestDecided(req: RoutedRequest, o: { answer: Buffer[] } | { reject: { code: string; message: string } }): void {
    if ('answer' in o) {
      if (req.simple) this.synthesize(Buffer.concat([...o.answer, Be.ReadyForQuery(this.txStatus)]));
      else this.synthesize(replayExtended(req, o.answer, this.txStatus, this.registerStatement));
      if (this.plugins?.hasResponseHooks) this.plugins.observeResponse({ request: req.units[0]?.ctx, durationMs: 0 });
      return;
    }
    this.refuse(req, o.reject.code as SqlState, o.reject.message, 'plugin');
  }

  /** An error for the whole request, in its place among the responses owed. */
  private refuse(req: RoutedRequest, code: SqlState, message: string, source: 'proxy' | 'plugin' = 'proxy'): void {
    const err = Be.ErrorResponse({ severity: 'ERROR', code, message });
    if (this.plugins?.hasErrorHooks) this.plugins.observeError({ code, message, source });
    if (req.simple || req.endsWithSync) this.synthesize(Buffer.concat([err, Be.ReadyForQuery(this.txStatus)]));
    else {
      this.synthesize(err);
      this.dropUntilSync = true;
    }
  }

  private routeRequest(req: RoutedRequest): void {
    const { catalog, router } = this.ctx;
    const server = this.server;
    const pinned = server !== null && this.pending.length === 0 && server.txStatus !== Be.TransactionStatus.Idle ? server.shard.name : undefined;
    const session = {
      account: this.localRouting?.account ?? this.routing.account,
      action: this.localRouting?.action ?? this.routing.action,
      startupAccount: this.settings.get('prescient.account'),
      pinned,
      tempTables: this.tempTables ?? undefined,
    };
    const snapshot = catalog.snapshot();
    let route: Route;
    try {
      if (req.units.length === 1) {
        const u = req.units[0]!;
        route = router.route({ statements: u.statements, params: u.params, session, key: u.ctx?.shardKey }, snapshot);
        if (this.ctx.versions !== null && route.kind === 'shard' && u.statements.some((st) => !st.readOnly)) req.writeKeys = [route.key];
      } else if (req.units.length === 0) {
        route = { kind: 'any', reason: 'no statement' };
      } else {
        const routes = req.units.map((u) => router.route({ statements: u.statements, params: u.params, session: { ...session, pinned: undefined }, key: u.ctx?.shardKey }, snapshot));
        route = router.combine(routes, pinned);
        if (this.ctx.versions !== null) {
          routes.forEach((r, i) => {
            if (r.kind === 'shard' && req.units[i]!.statements.some((st) => !st.readOnly)) (req.writeKeys ??= []).push(r.key);
          });
        }
      }
    } catch (e) {
      // the catalog has no active shard, …
      this.refuse(req, SqlState.ConnectionFailure, (e as Error).message);
      return;
    }
    if (req.prepareOnly && route.kind !== 'shard' && route.kind !== 'global') {
      // Parse (and Describe) without Bind runs nothing: it goes where the session is (each shard prepares on demand)
      route = { kind: 'any', reason: 'prepare only' };
    }
    const plugins = this.plugins;
    if (plugins?.hasRouteHooks && (route.kind === 'shard' || route.kind === 'global' || route.kind === 'any')) {
      const shard = route.kind === 'any' ? (server?.shard.name ?? route.prefer ?? this.homeShard()) : route.shard;
      const u = req.units[0];
      const out = plugins.decideRoute({
        request: u?.ctx ?? { session: this.sessionInfo(), sql: req.sql, protocol: req.simple ? 'simple' : 'extended', kind: RequestKind.Other, settings: this.settings },
        key: route.kind === 'shard' ? route.key : undefined, shard, reason: route.kind === 'shard' ? 'placement' : route.reason,
      });
      const apply = (o: Awaited<typeof out>): void => {
        if (o === undefined) this.act(req, route);
        else if ('reject' in o) this.refuse(req, o.reject.code as SqlState, o.reject.message, 'plugin');
        else this.act(req, { kind: 'global', shard: o.shard, reason: `plugin ${o.by}: ${o.reason}` });
      };
      if (out !== undefined && typeof (out as Promise<unknown>).then === 'function') {
        this.block();
        (out as Promise<Awaited<typeof out>>).then((o) => {
          if (this.state === SessionState.Closed) return;
          this.waitingForServer = false;
          apply(o);
          if (!this.waitingForServer) this.resume();
        }).catch((e: unknown) => this.fail(e));
        return;
      }
      apply(out as Awaited<typeof out>);
      return;
    }
    this.act(req, route);
  }

  /** Where a request that needs no particular shard runs: the last shard used, else the global shard. */
  private homeShard(): string {
    return this.lastShard ?? this.ctx.config.sharding.global_shard ?? this.ctx.config.shards[0]!.name;
  }

  private act(req: RoutedRequest, route: Route): void {
    if (route.kind === 'reject') {
      this.refuse(req, route.code, route.message);
      return;
    }
    const server = this.server;
    if (route.kind === 'fanout' || route.kind === 'broadcast') {
      if (server) {
        if (this.pending.length > 0 || this.toServer.length > 0) this.hold(req, route);
        else this.refuse(req, SqlState.FeatureNotSupported, `${route.kind === 'broadcast' ? 'DDL' : 'a read without a shard key'} needs every shard, but this session is on shard "${server.shard.name}" (open transaction, LISTEN or session pooling); run it outside the transaction`);
        return;
      }
      if (this.deferredBegin !== null) {
        this.refuse(req, SqlState.FeatureNotSupported, `${route.kind === 'broadcast' ? 'DDL' : 'a read without a shard key'} needs every shard and cannot run inside a transaction; ${route.kind === 'broadcast' ? 'run it outside the transaction' : 'add a shard key or run it outside the transaction'}`);
        return;
      }
      this.runOnShards(req, route);
      return;
    }
    const target = route.kind === 'any' ? (server?.shard.name ?? route.prefer ?? this.homeShard()) : route.shard;
    if (server) {
      if (server.shard.name === target) {
        this.forwardAll(req.frames, req);
        return;
      }
      if (this.pending.length > 0 || this.toServer.length > 0) {
        this.hold(req, route);
        return;
      }
      const why = this.pins.reason !== null ? this.pins.reason : this.ctx.config.pool.mode === 'session' ? 'session pooling keeps it there' : 'the open transaction is there';
      this.refuse(req, SqlState.FeatureNotSupported, `cross-shard request refused: this session is on shard "${server.shard.name}" (${why}), but the request goes to shard "${target}"`);
      return;
    }
    if (route.kind === 'any' && req.txControl === TxControl.Begin) {
      // the transaction's shard is known only at its first routed statement: answer BEGIN here, replay it there
      this.deferredBegin = req.simple ? req.sql : req.units[0]!.sql;
      this.txStatus = Be.TransactionStatus.InTransaction;
      this.synthesize(synthesizedResponse(req, ['BEGIN'], this.txStatus, this.registerStatement));
      return;
    }
    if (this.deferredBegin !== null && req.prepareOnly && route.kind === 'any' && req.frames.every((f) => (f.code === FrontendCode.Parse && f.payload[0] !== 0) || f.code === FrontendCode.Sync || f.code === FrontendCode.Flush)) {
      // PQprepare inside a transaction whose shard is not known yet: the statement is registered here and
      // prepared on the transaction's server at its first Bind (a syntax error then surfaces at Bind)
      this.synthesize(synthesizedResponse(req, [], this.txStatus, this.registerStatement));
      return;
    }
    if (this.deferredBegin !== null && req.simple && route.kind === 'any' && req.units.length === 1 && req.units[0]!.statements.every((st) => st.kind === StatementKind.Set && !st.parseError)) {
      // SET LOCAL lock_timeout … right after BEGIN: it waits with the BEGIN for the transaction's shard
      this.deferredSets.push(req.sql);
      this.synthesize(synthesizedResponse(req, req.units[0]!.statements.map(() => 'SET'), this.txStatus, this.registerStatement));
      return;
    }
    if (this.deferredBegin !== null && (req.txControl === TxControl.Commit || req.txControl === TxControl.Rollback)) {
      this.deferredSets = [];
      // a transaction that never touched a shard ends here
      this.deferredBegin = null;
      this.localRouting = null;
      this.txStatus = Be.TransactionStatus.Idle;
      this.synthesize(synthesizedResponse(req, [req.txControl === TxControl.Commit ? 'COMMIT' : 'ROLLBACK'], this.txStatus, this.registerStatement));
      return;
    }
    this.leaseOn(target, req);
  }

  /** The request waits until this server connection owes nothing; then it is routed again. */
  private hold(req: RoutedRequest, route: Route): void {
    this.heldRequest = { req, route };
    this.block();
    this.flushToServer();
  }

  private retryHeld(): void {
    const held = this.heldRequest!;
    this.heldRequest = null;
    this.waitingForServer = false;
    try {
      this.routeRequest(held.req);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (!this.waitingForServer) queueMicrotask(() => this.resume());
  }

  private leaseOn(target: string, req: RoutedRequest): void {
    const pool = this.poolOn(target);
    if (!pool) {
      this.refuse(req, SqlState.ConnectionFailure, `shard "${target}" is in the catalog but not configured in this proxy (shards: ${this.ctx.config.shards.map((s) => s.name).join(', ')})`);
      return;
    }
    const conn = pool.tryAcquire();
    if (conn) {
      this.startOn(conn, req);
      return;
    }
    this.block();
    this.waitingFor = target;
    pool.wait((err, c) => {
      this.waitingFor = null;
      if (this.state === SessionState.Closed) {
        if (c) pool.release(c);
        return;
      }
      this.waitingForServer = false;
      if (err || !c) this.refuse(req, err?.sqlState ?? SqlState.ConnectionFailure, err?.message ?? 'no server connection');
      else {
        try {
          this.startOn(c, req);
        } catch (e) {
          this.fail(e);
          return;
        }
      }
      this.resume();
    });
  }

  private startOn(conn: ServerConnection, req: RoutedRequest): void {
    this.attachServer(conn);
    this.lastShard = conn.shard.name;
    if (this.deferredBegin !== null) {
      const sql = this.deferredBegin;
      this.deferredBegin = null;
      this.pending.push({
        kind: Await.Query, hide: true, synth: undefined,
        onDone: (ok, err) => {
          if (!ok) logger.warn('a deferred BEGIN failed on the server', { pid: this.pid, shard: conn.shard.name, message: err?.get('M') });
        },
      });
      this.toServer.push(Fe.Query(sql));
      for (const set of this.deferredSets) {
        this.pending.push({
          kind: Await.Query, hide: true, synth: undefined,
          onDone: (ok, err) => {
            if (!ok) logger.warn('a deferred SET failed on the server', { pid: this.pid, shard: conn.shard.name, message: err?.get('M') });
          },
        });
        this.toServer.push(Fe.Query(set));
      }
      this.deferredSets = [];
    }
    this.forwardAll(req.frames, req);
  }

  private forwardAll(frames: Frame[], req?: RoutedRequest): void {
    if (req?.writeKeys) {
      // a write through this proxy: cached reads of its keys are stale from now on, and again when it commits
      const versions = this.ctx.versions!;
      for (const k of req.writeKeys) {
        versions.localWrite(k);
        this.txWrites.add(k);
      }
    }
    if (req && this.plugins !== null && this.plugins.hasResponseHooks) {
      // one onResponse per ReadyForQuery the request will get
      const n = req.simple ? 1 : frames.reduce((k, f) => k + (f.code === FrontendCode.Sync ? 1 : 0), 0);
      for (let i = 0; i < n; i++) this.responses.push({ request: req.units[0]?.ctx, start: performance.now() });
    }
    for (const f of frames) {
      if (this.state === SessionState.Closed) return;
      this.handleFrame(f);
    }
  }

  /** A fan-out read or a DDL broadcast: the request on every shard at once, replies merged. */
  private runOnShards(req: RoutedRequest, route: Extract<Route, { kind: 'fanout' | 'broadcast' }>): void {
    const statements = req.units.flatMap((u) => u.statements);
    if (route.kind === 'fanout') {
      const bad = statements.find((st) => st.merge?.unmergeable);
      if (bad) {
        this.refuse(req, SqlState.FeatureNotSupported, `a read without a shard key on ${bad.tables.join(', ')} goes to every shard, but its rows cannot be merged (${bad.merge!.unmergeable}): add a shard key (${this.ctx.config.sharding.account_column} = …, a /* account='…' */ comment, or SET prescient.account)`);
        return;
      }
    }
    const pools = route.shards.map((name) => this.poolOn(name));
    const missing = route.shards.find((_n, i) => pools[i] === undefined);
    if (missing !== undefined) {
      this.refuse(req, SqlState.ConnectionFailure, `shard "${missing}" is in the catalog but not configured in this proxy`);
      return;
    }
    let bytes: Buffer | null;
    try {
      bytes = this.shardBytes(req, route.kind === 'fanout' && statements.some((st) => st.merge?.aggregate?.rewrite));
    } catch (e) {
      this.refuse(req, SqlState.FeatureNotSupported, `cannot rewrite an aggregate for every shard: ${(e as Error).message}`);
      return;
    }
    if (bytes === null) {
      this.refuse(req, SqlState.FeatureNotSupported, 'a request for every shard must be one statement (simple query, or one Parse/Bind/Execute)');
      return;
    }
    const readies = req.simple ? 1 : req.frames.filter((f) => f.code === FrontendCode.Sync).length;
    if (readies === 0) {
      this.refuse(req, SqlState.FeatureNotSupported, 'a request for every shard must end with Sync');
      return;
    }
    this.block();
    this.waitingFor = route.shards.join(',');
    const run = async (): Promise<Buffer> => {
      const set = await ShardSet.acquire(pools as NonNullable<(typeof pools)[number]>[], 256 << 20);
      try {
        const settings = (conn: ServerConnection): string => settingsDiffSql(conn.setParams, this.settings);
        const prelude = async (): Promise<void> => {
          if (set.conns.every((c) => c.setParamsKey === this.settingsKey)) return;
          await set.exchange((c) => (c.setParamsKey === this.settingsKey ? null : Fe.Query(settings(c))), 1);
          for (const c of set.conns) {
            c.setParams = new Map(this.settings);
            c.setParamsKey = this.settingsKey;
          }
        };
        await prelude();
        if (route.kind === 'broadcast') return await this.broadcast(set, bytes, readies);
        const replies = await set.exchange(() => bytes, readies);
        return this.merged(replies, statements, req.units[0]?.params);
      } finally {
        set.release();
      }
    };
    run().then((out) => {
      this.waitingFor = null;
      if (this.state === SessionState.Closed) return;
      this.writeClient(out);
      this.resume();
    }, (e: unknown) => {
      this.waitingFor = null;
      if (this.state === SessionState.Closed) return;
      const err = e instanceof ProxyError ? e : new ProxyError('FANOUT_FAILED', (e as Error).message, SqlState.InternalError);
      this.waitingForServer = false;
      this.refuse(req, err.sqlState, err.message);
      this.resume();
    });
  }

  /** The request's bytes for a shard: named statements become unnamed ones (no server-side state is left behind). */
  private shardBytes(req: RoutedRequest, rewrite = false): Buffer | null {
    if (req.simple) {
      const f = req.frames[0]!;
      // avg → sum and count, a GROUP BY's LIMIT removed (the analyzer's shardText)
      return rewrite ? Fe.Query(shardText(f.payload.toString('utf8', 0, f.payload.length - 1))) : Buffer.from(f.frame);
    }
    const shardRest = (rest: Buffer): Buffer => {
      if (!rewrite) return rest;
      const end = rest.indexOf(0);
      return Buffer.concat([Buffer.from(shardText(rest.toString('utf8', 0, end)), 'utf8'), rest.subarray(end)]);
    };
    const out: Buffer[] = [];
    for (const f of req.frames) {
      switch (f.code) {
        case FrontendCode.Parse: {
          const p = decodeParse(f.payload);
          out.push(Fe.ParseRaw(UNNAMED, shardRest(p.rest)));
          break;
        }
        case FrontendCode.Bind: {
          const b = decodeBind(f.payload);
          if (b.statement !== '') {
            const stmt = this.statements.get(b.statement);
            if (!stmt) return null;
            if (!req.frames.some((x) => x.code === FrontendCode.Parse)) out.push(Fe.ParseRaw(UNNAMED, shardRest(stmt.server.rest)));
          }
          out.push(Fe.renameBind(f.payload, b.restOffset, UNNAMED));
          break;
        }
        case FrontendCode.Describe:
          out.push(f.payload[0] === 0x53 ? Fe.targetFrame(FrontendCode.Describe, 'S', '') : Buffer.from(f.frame));
          break;
        case FrontendCode.Close:
          break;
        default:
          out.push(Buffer.from(f.frame));
      }
    }
    // named Parses in the batch are remembered for later Binds on a single shard
    for (const f of req.frames) {
      if (f.code !== FrontendCode.Parse) continue;
      const p = decodeParse(f.payload);
      if (p.name !== '') this.statements.add(p.name, p.rest, p.query);
    }
    return Buffer.concat(out);
  }

  /** DDL on every shard inside a transaction each; committed only when every shard succeeded. */
  private async broadcast(set: ShardSet, bytes: Buffer, readies: number): Promise<Buffer> {
    await set.exchange(() => Fe.Query('BEGIN'), 1);
    const replies = await set.exchange(() => bytes, readies);
    const failed = replies.find((r) => r.error !== null);
    if (failed) {
      await set.exchange(() => Fe.Query('ROLLBACK'), 1);
      const code = failed.error!.get('C') ?? SqlState.InternalError;
      if (code === '25001' && replies.every((r) => r.error?.get('C') === '25001')) {
        // cannot run inside a transaction block (CREATE INDEX CONCURRENTLY, …): shard by shard, reported per shard
        const plain = await set.exchange(() => bytes, readies);
        const bad = plain.filter((r) => r.error !== null);
        if (bad.length === 0) return this.replyOf(plain[0]!);
        return this.shardError(bad, plain.length, bad.length < plain.length);
      }
      return this.shardError([failed], replies.length, false);
    }
    const commits = await set.exchange(() => Fe.Query('COMMIT'), 1);
    const badCommit = commits.filter((r) => r.error !== null);
    if (badCommit.length > 0) return this.shardError(badCommit, commits.length, badCommit.length < commits.length);
    await this.ctx.afterDdl?.();
    return this.replyOf(replies[0]!);
  }

  private replyOf(r: ShardReply): Buffer {
    // the shard's own ReadyForQuery reports its transaction; the client's view is the session's
    const frames = r.frames.map((f) => (f[0] === BackendCode.ReadyForQuery ? Be.ReadyForQuery(this.txStatus) : f));
    return Buffer.concat(frames);
  }

  private shardError(bad: ShardReply[], total: number, partial: boolean): Buffer {
    const f = bad[0]!.error!;
    const fields = new Map(f);
    const where = bad.map((r) => r.shard).join(', ');
    fields.set('M', `${f.get('M') ?? 'error'} (on shard ${where}${partial ? `; the statement WAS applied on the other ${total - bad.length} shard(s): fix and re-run it, or undo it there` : '; no shard applied it'})`);
    return Buffer.concat([Be.ErrorResponseFromFields(fields), Be.ReadyForQuery(this.txStatus)]);
  }

  /** Every shard's rows as one reply: shard 0's frames as the template, each result set's rows merged. */
  private merged(replies: ShardReply[], statements: StatementInfo[], params: (Buffer | null)[] | undefined): Buffer {
    const failed = replies.filter((r) => r.error !== null);
    if (failed.length > 0) return this.shardError(failed, replies.length, false);
    // split each reply into result sets: the frames from a RowDescription to its CommandComplete
    const sets = replies.map((r) => resultSets(r.frames));
    const out: Buffer[] = [];
    const template = replies[0]!.frames;
    let set = 0;
    for (let i = 0; i < template.length; i++) {
      const f = template[i]!;
      const code = f[0];
      if (code === BackendCode.DataRow) continue;
      if (code === BackendCode.ReadyForQuery) {
        out.push(Be.ReadyForQuery(this.txStatus));
        continue;
      }
      if (code === BackendCode.RowDescription) {
        // an aggregate's shards return avg as sum plus hidden counts: the client sees avg's own columns
        const agg = statements[Math.min(set, statements.length - 1)]?.merge?.aggregate;
        if (agg) {
          try {
            out.push(Be.frame(BackendCode.RowDescription, clientRowDescription(agg, f.subarray(5))));
          } catch (e) {
            return Buffer.concat([Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: (e as Error).message }), Be.ReadyForQuery(this.txStatus)]);
          }
          continue;
        }
      }
      if (code === BackendCode.CommandComplete && sets[0]![set]) {
        const spec = statements[Math.min(set, statements.length - 1)]?.merge ?? { orderBy: [], limit: null, unmergeable: null };
        const results = sets.map((s) => s[set] ?? { rowDescription: null, rows: [] });
        const m = mergeRows(spec, results, params);
        if ('error' in m) return Buffer.concat([Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: m.error }), Be.ReadyForQuery(this.txStatus)]);
        out.push(...m.rows);
        const tag = f.toString('latin1', 5, f.length - 1);
        out.push(tag.startsWith('SELECT ') ? Be.CommandComplete(`SELECT ${m.rows.length}`) : f);
        set++;
        continue;
      }
      out.push(f);
    }
    return Buffer.concat(out);
  }

  // ---------------------------------------------------------------- server lease

  /** Takes a server connection now (true) or queues for one and resumes later (false). */
  private leaseServer(): boolean {
    const pool = this.poolOn(this.ctx.firstShard)!;
    const conn = pool.tryAcquire();
    if (conn) {
      this.attachServer(conn);
      return true;
    }
    this.waitingForServer = true;
    this.socket.pause();
    pool.wait((err, c) => {
      this.waitingForServer = false;
      if (this.state === SessionState.Closed) {
        if (c) pool.release(c);
        return;
      }
      if (err || !c) {
        this.onLeaseFailed(err ?? new ProxyError('POOL_ERROR', 'no server connection', SqlState.ConnectionFailure));
        return;
      }
      this.resumeReading();
      this.attachServer(c);
      try {
        const held = this.heldFrame;
        this.heldFrame = null;
        if (held) this.forwardFrame(held);
        this.processClientFrames();
        this.flushToServer();
      } catch (e) {
        this.fail(e);
      }
    });
    return false;
  }

  private onLeaseFailed(err: ProxyError): void {
    if (this.state === SessionState.Connecting) {
      this.fail(new ProxyError(err.code, err.message, err.sqlState, 'FATAL'));
      return;
    }
    // the request that wanted a server gets the error; the session survives (as PgBouncer's query_wait_timeout does not)
    this.heldFrame = null;
    this.reader.drain();
    this.resumeReading();
    this.writeClient(Buffer.concat([
      Be.ErrorResponse({ severity: 'ERROR', code: err.sqlState, message: err.message }),
      Be.ReadyForQuery(this.txStatus),
    ]));
  }

  private attachServer(conn: ServerConnection): void {
    this.server = conn;
    this.usedServer = true;
    conn.owner = this;
    const logingIn = this.state === SessionState.Connecting;
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
          if (ok) this.finishLogin();
          else this.fail(new ProxyError('BAD_STARTUP_SETTING', err?.get('M') ?? 'invalid startup parameter', (err?.get('C') ?? SqlState.InvalidParameterValue) as SqlState, 'FATAL'));
        },
      });
      this.toServer.push(Fe.Query(sql || ''));
      this.flushToServer();
    }
  }

  /** Gives the server connection back when nothing is owed and no transaction is open. */
  private maybeRelease(): void {
    const server = this.server;
    if (!server || this.pending.length > 0 || server.txStatus !== Be.TransactionStatus.Idle || server.unsynced || server.desynced) return;
    if (this.pins.reason !== null || this.ctx.config.pool.mode === 'session' || this.state !== SessionState.Ready) return;
    if (this.toServer.length > 0 || this.heldFrame) return;
    this.detachServer();
    this.ctx.poolOf(server).release(server);
    if (this.ctx.shuttingDown) this.shutdownIdle();
  }

  private detachServer(): void {
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

  onServerData(chunk: Buffer): void {
    try {
      this.serverStream.push(chunk);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.flushRun();
    // released mid-chunk: whatever is left belonged to nobody (nothing is owed once released)
    if (!this.server) this.serverStream.reset();
    if (this.pipelineFull && this.pending.length < MAX_PENDING / 2) this.resumePipeline();
  }

  /** The server has answered half of what a pipelining client was owed: read it again. */
  private resumePipeline(): void {
    this.pipelineFull = false;
    if (this.state !== SessionState.Ready) return;
    this.resumeReading();
    try {
      this.processClientFrames();
    } catch (e) {
      this.fail(e);
    }
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
    this.curBuf = buf;
    this.curStart = start;
    this.curEnd = end;
    if (this.plugins !== null && this.plugins.hasBackendMessageHooks) this.observeFrame(code, buf, start, end);
    this.onServerFrame({ code, frame: buf.subarray(start, end), payload: buf.subarray(start + 5, end) });
  }

  /** the frame onServerFrame is looking at, as a range of the received chunk (so that forwarding it merges writes) */
  private curBuf: Buffer = Buffer.alloc(0);
  private curStart = 0;
  private curEnd = 0;
  private emitCurrent(): void {
    this.emitRange(this.curBuf, this.curStart, this.curEnd);
  }

  private onServerFrame(f: Frame): void {
    const code = f.code;
    const head = this.pending.peek();
    switch (code) {
      case BackendCode.ErrorResponse: {
        if (this.copyIn !== null) this.leaveCopyIn(true);
        if (head && head.hide && head.kind === Await.Query) {
          this.hiddenError = Be.decodeErrorFields(f.payload);
          logger.warn('error in an injected statement', { pid: this.pid, message: this.hiddenError.get('M') });
          return;
        }
        if (f.payload.indexOf('prescient_') >= 0) this.emit(this.clientNamesIn(f.payload, head));
        else this.emitCurrent();
        this.noteServerError(f.payload, head);
        if (this.plugins !== null && this.plugins.hasErrorHooks) {
          const fields = Be.decodeErrorFields(f.payload);
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
        if (this.pending.length === 0) this.skipUntilSync = true;
        return;
      }
      case BackendCode.ParameterStatus: {
        const [name, at] = readCString(f.payload, 0);
        const value = readCString(f.payload, at)[0];
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
            this.noteCommand(f.payload);
            this.emitCurrent();
          }
          return;
        }
        this.noteCommand(f.payload);
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
      if (head.onShape !== undefined) head.onShape(code === BackendCode.RowDescription ? f.payload : null);
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
    const frame = buf.subarray(start, end);
    this.plugins!.observeBackendMessage(code, frame);
    if (code === BackendCode.ErrorResponse && this.responses.length > 0) {
      const fields = Be.decodeErrorFields(frame.subarray(5));
      this.responses[0]!.error = { code: fields.get('C') ?? SqlState.InternalError, message: fields.get('M') ?? '' };
    } else if (code === BackendCode.CommandComplete && this.responses.length > 0) {
      const tag = frame.toString('latin1', 5, frame.length - 1);
      const n = Number(tag.slice(tag.lastIndexOf(' ') + 1));
      if (Number.isInteger(n)) this.responses[0]!.rows = (this.responses[0]!.rows ?? 0) + n;
    }
  }

  /** placement keys written since the transaction began (or by the autocommit statement in flight) */
  private readonly txWrites = new Set<string>();

  /** routed requests whose onResponse is owed, oldest first (only while a plugin has onResponse hooks) */
  private readonly responses: { request: RequestContext | undefined; start: number; rows?: number; error?: { code: string; message: string } }[] = [];

  private onReadyForQuery(buf: Buffer, start: number, end: number): void {
    const status = buf[start + 5]!;
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
      this.txStatus = status;
      if (status === Be.TransactionStatus.Idle && this.txWrites.size > 0) {
        // the writes are committed (or rolled back): bump again before the client sees ReadyForQuery
        for (const k of this.txWrites) this.ctx.versions?.localWrite(k);
        this.txWrites.clear();
      }
      if (this.plugins !== null && this.plugins.hasBackendMessageHooks) this.plugins.observeBackendMessage(BackendCode.ReadyForQuery, buf.subarray(start, end));
      this.emitRange(buf, start, end);
      if (p) this.settle(p, true);
      if (this.responses.length > 0) {
        const r = this.responses.shift()!;
        this.plugins?.observeResponse({ request: r.request, durationMs: performance.now() - r.start, rows: r.rows, error: r.error });
      }
    }
    this.emitSynthetic();
    if (status === Be.TransactionStatus.Idle) {
      if (this.localRouting !== null) this.localRouting = null;
      this.txOpaqueSettings = false;
      if (this.txTempTables !== null) {
        for (const t of this.txTempTables) this.tempTables?.delete(t);
        this.txTempTables = null;
      }
    }
    this.maybeRelease();
    // the held request is routed again once this server chunk is fully handled (it may take another server)
    if (this.heldRequest !== null && this.pending.length === 0) queueMicrotask(() => {
      if (this.heldRequest !== null && this.pending.length === 0 && this.state === SessionState.Ready) this.retryHeld();
    });
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
      this.opaqueSettings = false;
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

  private flushRun(): void {
    const buf = this.runBuf;
    if (buf === null) return;
    this.runBuf = null;
    if (this.runEnd === this.runStart) return;
    this.writeClient(this.runStart === 0 && this.runEnd === buf.length ? buf : buf.subarray(this.runStart, this.runEnd));
  }

  private writeClient(buf: Buffer): void {
    this.stats.bytesOut += buf.length;
    if (this.socket.write(buf) || this.writeBlocked) return;
    // backpressure: stop reading the server, and the client itself, until the client drains. A client that does not
    // read its answers is not read either (as Postgres, blocked on send, stops reading): answers Prescient makes
    // itself (a Sync with nothing in flight, errors) would otherwise queue without bound.
    this.writeBlocked = true;
    this.socket.pause();
    const server = this.server;
    if (server) {
      this.serverPaused = true;
      server.socket.pause();
    }
    this.socket.once('drain', () => {
      this.writeBlocked = false;
      if (server && this.serverPaused && this.server === server) {
        this.serverPaused = false;
        server.socket.resume();
      }
      this.resumeReading();
    });
  }

  /** Reads the client again, unless something still holds it: a lease, a full pipeline, a server or a client not draining. */
  private resumeReading(): void {
    if (this.state === SessionState.Closed || this.waitingForServer || this.pipelineFull || this.clientPaused || this.writeBlocked) return;
    this.socket.resume();
  }

  onServerClose(conn: ServerConnection): void {
    if (this.server !== conn) return;
    this.flushRun();
    this.server = null;
    this.copyIn = null;
    this.serverStream.reset();
    this.ctx.poolOf(conn).discard(conn);
    this.pending.clear();
    if (this.serverFatal) {
      // the client has the server's own FATAL (57P01 …): a second error would only confuse its driver
      logger.warn('server connection ended with a FATAL error while serving a client', { pid: this.pid, shard: conn.shard.name });
      this.close();
      return;
    }
    logger.warn('server connection lost while serving a client', { pid: this.pid, shard: conn.shard.name });
    this.fail(new ProxyError('SERVER_LOST', `server connection to shard "${conn.shard.name}" was lost`, SqlState.ConnectionFailure, 'FATAL'));
  }

  // ---------------------------------------------------------------- closing

  /** Sends an error to the client; FATAL errors close the session. */
  fail(e: unknown): void {
    if (this.state === SessionState.Closed) return;
    const err = e instanceof ProxyError ? e : new ProxyError('INTERNAL', (e as Error)?.message ?? String(e), SqlState.InternalError, 'FATAL');
    if (!(e instanceof ProxyError)) logger.error('internal error in session', { pid: this.pid, error: (e as Error)?.stack });
    this.flushRun();
    const msg = Be.ErrorResponse({ severity: err.severity, code: err.sqlState, message: err.message });
    if (err.severity === 'FATAL') {
      this.socket.end(msg);
      this.close();
    } else {
      this.writeClient(Buffer.concat([msg, Be.ReadyForQuery(this.txStatus)]));
    }
  }

  /** Called at shutdown, and after a release while shutting down: an idle client is told and closed. */
  shutdownIdle(): void {
    if (this.server || this.state === SessionState.Closed) return;
    this.fail(new ProxyError('ADMIN_SHUTDOWN', 'terminating connection due to administrator command', SqlState.AdminShutdown, 'FATAL'));
  }

  /** Ends the session (once): its server connection goes back or is closed, and it stops counting against
   * max_client_connections. `endSocket` false: the caller ends the socket itself later (a CancelRequest's). */
  close(endSocket = true): void {
    if (this.state === SessionState.Closed) return;
    const wasReady = this.state === SessionState.Ready;
    this.state = SessionState.Closed;
    this.clearLoginTimer();
    if (endSocket && !this.socket.destroyed) this.socket.end();
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
        logger.debug('closing a server connection its client left mid-request', { pid: this.pid, server: server.id, pending: this.pending.length, unsynced: server.unsynced, tx: String.fromCharCode(server.txStatus) });
        this.ctx.poolOf(server).discard(server);
      }
    } else if (this.usedServer && this.ctx.config.pool.reset_on_every_client) {
      const pool = this.poolOn(this.ctx.firstShard)!;
      const conn = pool.tryAcquire();
      if (conn) this.resetAndRelease(conn);
      // the shared connection is busy with another client: reset it when it comes back, or this client's state leaks
      else pool.wait((_err, c) => {
        if (c) this.resetAndRelease(c);
      });
    }
    this.ctx.forgetClient(this);
    if (this.plugins?.hasCloseHooks) this.plugins.observeClose({ durationMs: Date.now() - this.connectedAt });
  }

  /** Session mode (or a shared single-session backend): reset the server's session state before reuse. */
  private resetAndRelease(server: ServerConnection): void {
    // a late CancelRequest must not cancel the reset (then nothing would be reset)
    if (server.cancelling) return server.afterCancel(() => void (server.closed || this.resetAndRelease(server)));
    const pool = this.ctx.poolOf(server);
    const cfg = this.ctx.config.pool;
    const needsReset = (cfg.mode === 'session' || cfg.reset_on_every_client || this.pins.reason !== null) && cfg.reset_query;
    if (!needsReset) {
      pool.release(server);
      return;
    }
    let timer: NodeJS.Timeout | null = null;
    const resetter: ServerOwner = {
      onServerData: (chunk) => {
        reader.push(chunk);
        let f;
        while ((f = reader.next())) {
          if (f.code === BackendCode.ParameterStatus) {
            // the reset puts reported settings back to their defaults: the next login reports these values
            const [name, at] = readCString(f.payload, 0);
            server.params.set(name, readCString(f.payload, at)[0]);
          } else if (f.code === BackendCode.ReadyForQuery) {
            if (timer !== null) clearTimeout(timer);
            server.forgetStatements();
            server.setParams = new Map();
            server.setParamsKey = '';
            server.txStatus = f.payload[0]!;
            if (server.txStatus === Be.TransactionStatus.Idle) pool.release(server);
            else pool.discard(server);
            return;
          }
        }
      },
      onServerClose: () => {
        if (timer !== null) clearTimeout(timer);
        pool.discard(server);
      },
    };
    const reader = new FrameReader(1 << 30);
    server.owner = resetter;
    server.write(Fe.Query(cfg.reset_query));
    // a reset that does not finish in time closes the connection; the pool opens a fresh one for whoever waits
    timer = setTimeout(() => {
      if (server.owner !== resetter) return;
      logger.warn('server reset timed out: connection closed', { server: server.id, shard: server.shard.name, timeoutMs: cfg.reset_timeout_ms });
      pool.discard(server);
    }, cfg.reset_timeout_ms);
    timer.unref();
  }
}
