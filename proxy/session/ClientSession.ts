// ClientSession owns one client connection: its socket, its state from start-up to close, and which piece handles each frame
// (login here, the admin console, the routed pipeline, the forwarder to the server connection).
import type net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { ServerConnection, ServerIdentity } from '../connection/ServerConnection.js';
import type { Pool } from '../pool/Pool.js';
import * as Be from '../protocol/BackendMessage.js';
import { FrameReader, type Frame } from '../protocol/FrameReader.js';
import { FRONTEND_CODES, FRONTEND_SMALL_MESSAGES, FrontendCode, SMALL_MESSAGE_LIMIT } from '../protocol/MessageCode.js';
import { ProxyError, SqlState, terminatedByAdministrator } from '../protocol/SqlState.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import { ErrorSource } from '../context/RequestCounters.js';
import { Login, type LoginOwner, type StartupRequest } from './Login.js';
import { ADMIN_DATABASE, AdminSession } from './AdminSession.js';
import { CLIENT_NOT_READING, Forwarder, MAX_PENDING, type ForwarderOwner } from './Forwarder.js';
import { RequestPipeline, type PipelineHost } from './RequestPipeline.js';
import { logger } from '../logger.js';
import type { SessionPlugins } from '../plugins/PluginHost.js';
import type { SessionInfo } from '../plugins/api.js';

export const SessionState = {
  Startup: 'startup',
  Authenticating: 'authenticating',
  Connecting: 'connecting',
  Ready: 'ready',
  Closed: 'closed',
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

export class ClientSession {
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
  /** start-up packet, TLS, authentication */
  private readonly login: Login;
  /** the routed request path (more than one shard, or plugins with request hooks): made at the first request */
  private pipeline: RequestPipeline | null = null;
  /** the conversation with the server connection */
  private readonly fw: Forwarder;
  private waitingForServer = false;
  /** the client has more responses owed than MAX_PENDING: its socket is paused until they drain */
  private pipelineFull = false;
  private writeBlocked = false;
  readonly stats = { queries: 0, bytesIn: 0, bytesOut: 0 };

  constructor(
    socket: net.Socket,
    /** the proxy's first database until the StartupMessage names one (before it: only top-level settings are read) */
    private ctx: ProxyContext,
  ) {
    this.socket = socket;
    this.pid = ctx.nextPid();
    this.secret = randomBytes(4).readInt32BE(0);
    this.fw = new Forwarder(this.port, ctx);
    this.reader = new FrameReader(ctx.config.listen.max_startup_packet, true);
    this.bindSocket(socket);
    this.login = new Login(this.port, ctx);
  }

  private readonly onData = (chunk: Buffer): void => this.onClientData(chunk);
  private readonly onError = (e: Error): void => {
    logger.debug('client socket error', { pid: this.pid, error: e.message });
    this.closeReason ??= `socket error: ${e.message}`;
    this.close();
  };
  private readonly onClose = (): void => {
    this.closeReason ??= 'client closed the connection';
    this.close();
  };
  /** why the session ended, for its disconnect line (the first reason given wins) */
  private closeReason: string | null = null;
  /** logged in (its connect line was written): its disconnect is logged too */
  private announced = false;

  /** the client's connect line (user, database, address, application_name); its disconnect line repeats them */
  private announce(): void {
    this.announced = true;
    logger.info('client connected', this.who());
  }

  private who(): Record<string, unknown> {
    return { pid: this.pid, user: this.user, database: this.database, address: this.remote, application_name: this.applicationName };
  }


  /** aborted at close(): the pool queues this session waits in let it go */
  private readonly closing = new AbortController();

  /**
   * What the session's pieces may ask of it: one object, seen by each piece through its own interface (Login's
   * LoginOwner, the forwarder's ForwarderOwner, the pipeline's PipelineHost, the admin console's SessionPort).
   */
  private readonly port: LoginOwner & ForwarderOwner & PipelineHost = (() => {
    const self = this;
    return {
      write: (buf: Buffer) => self.writeClient(buf),
      get clientQueued() { return self.socket.writableLength; },
      fail: (e: unknown) => self.fail(e),
      get closed() { return self.state === SessionState.Closed; },
      get closing() { return self.closing.signal; },
      get pid() { return self.pid; },
      get server() { return self.fw.server; },
      get owed() { return self.fw.pending.length; },
      get unsent() { return self.fw.toServer.length; },
      owesServer: () => self.fw.pending.length > 0 || self.fw.toServer.length > 0,
      get inCopy() { return self.fw.copyIn !== null && self.fw.copyIn.open && self.fw.server !== null; },
      get txStatus() { return self.fw.txStatus; },
      set txStatus(s: number) { self.fw.txStatus = s; },
      get waiting() { return self.waitingForServer; },
      set waiting(w: boolean) { self.waitingForServer = w; },
      get statements() { return self.fw.statements; },
      get settings() { return self.fw.settings; },
      get settingsKey() { return self.fw.settingsKey; },
      get plugins() { return self.plugins; },
      get pinReason() { return self.fw.pins.reason; },
      sessionInfo: () => self.sessionInfo(),
      poolOn: (shard: string) => self.poolOn(shard),
      synthesize: (bytes: Buffer) => self.fw.synthesize(bytes),
      get skipping() { return self.fw.skipUntilSync; },
      get dropping() { return self.fw.dropUntilSync; },
      set dropping(d: boolean) { self.fw.dropUntilSync = d; },
      forward: (f: Frame) => self.fw.handleFrame(f),
      sendHidden: (sql: string, failure: string) => self.fw.sendHidden(sql, failure),
      flush: () => self.fw.flushToServer(),
      attach: (conn: ServerConnection) => self.fw.attachServer(conn),
      block: () => self.block(),
      resume: () => self.resume(),
      get connecting() { return self.state === SessionState.Connecting; },
      get ready() { return self.state === SessionState.Ready; },
      get stats() { return self.stats; },
      unblock: () => self.unblock(),
      readMore: () => self.readMore(),
      pauseReading: () => { self.socket.pause(); },
      resumeReading: () => self.resumeReading(),
      leaseFailed: (err: ProxyError) => self.leaseFailed(err),
      loggedIn: () => self.finishLogin(),
      answered: () => {
        if (self.pipelineFull && self.fw.pending.length < MAX_PENDING / 2) self.resumePipeline();
      },
      shutdownIdle: () => self.shutdownIdle(),
      close: () => self.close(),
      get remote() { return self.remote; },
      get servedAs() { return (self.servedAsText ??= `${self.pid}@${self.socket.remotePort ?? '?'}`); },
      get remoteAddress() { return self.socket.remoteAddress ?? ''; },
      send: (bytes: Buffer | string) => { self.socket.write(bytes); },
      get unread() { return self.reader.pending; },
      upgradeToTls: (secure: tls.SecureContext) => self.upgradeToTls(secure),
      cancel: (pid: number, secret: number) => {
        // closed once the server has the cancel (as Postgres does), even if the client half-closed after sending it
        const socket = self.socket;
        socket.allowHalfOpen = true;
        self.ctx.cancel(pid, secret, () => socket.end());
        self.close(false);
      },
      started: (request: StartupRequest) => self.started(request),
      authenticated: () => self.onAuthenticated(),
      timedOut: () => {
        self.socket.destroy();
        self.close();
      },
    };
  })();

  /** the server connection serving this client now, if any */
  get server(): ServerConnection | null {
    return this.fw.server;
  }

  /** A request that wanted a server connection did not get one: it gets the error (the login, a FATAL one). */
  private leaseFailed(err: ProxyError): void {
    this.waitingForServer = false;
    if (this.state === SessionState.Connecting) {
      this.fail(new ProxyError(err.code, err.message, err.sqlState, 'FATAL'));
      return;
    }
    // the session survives (as PgBouncer's query_wait_timeout does not)
    this.ctx.requestCounters.error(ErrorSource.Proxy, err.sqlState);
    this.reader.drain();
    this.resumeReading();
    this.writeClient(Buffer.concat([
      Be.ErrorResponse({ severity: 'ERROR', code: err.sqlState, message: err.message }),
      Be.ReadyForQuery(this.fw.txStatus),
    ]));
  }

  /** for SHOW POOLS: the shard(s) this session waits for */
  get waitingFor(): string | null {
    return this.pipeline?.waitingFor ?? null;
  }


  private bindSocket(socket: net.Socket | tls.TLSSocket): void {
    socket.setNoDelay?.(true);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private servedAsText: string | null = null;

  /** A snapshot for SHOW CLIENTS and debugging. */
  describe(): Record<string, unknown> {
    return {
      pid: this.pid, user: this.user, state: this.state, server: this.fw.server?.id ?? null,
      serverTx: this.fw.server ? String.fromCharCode(this.fw.server.txStatus) : null, pending: this.fw.pending.length,
      waiting: this.waitingForServer, held: this.fw.heldFrame !== null, toServer: this.fw.toServer.length,
      skipUntilSync: this.fw.skipUntilSync, pinned: this.fw.pins.reason, readerPending: this.reader.pending,
    };
  }

  /** Why this session is where it is, in one line for SHOW CLIENTS' `detail` (what it owes, what holds its reading). */
  detail(): string {
    const held = [
      this.waitingForServer && 'lease', this.pipelineFull && 'pipeline', this.fw.clientPaused && 'server-not-draining',
      this.writeBlocked && 'client-not-reading', this.fw.heldFrame !== null && 'held-frame', this.fw.serverPaused && 'server-paused',
    ].filter(Boolean);
    const s = this.fw.server;
    return [
      `pending=${this.fw.pending.length}${this.fw.pending.length > 0 ? ` (${this.fw.pending.summary()})` : ''}`,
      held.length > 0 ? `held=${held.join('+')}` : '',
      this.socket.isPaused() ? 'reading=paused' : '',
      s ? `server_tx=${String.fromCharCode(s.txStatus)}${s.unsynced ? ' unsynced' : ''}${s.desynced ? ' desynced' : ''} backend=${s.pid} served=${s.served.join(',')}` : '',
      // what has not reached the server yet: frames gathered here, bytes queued in its socket; and whether it is read
      this.fw.toServer.length > 0 ? `to_server=${this.fw.toServer.length}` : '',
      s && s.socket.writableLength > 0 ? `server_unwritten=${s.socket.writableLength}` : '',
      s && s.socket.isPaused() ? 'server_socket=paused' : '',
      this.socket.writableLength > 0 ? `client_unwritten=${this.socket.writableLength}` : '',
      this.fw.skipUntilSync ? 'skip-to-sync' : '', this.fw.dropUntilSync ? 'drop-to-sync' : '',
      this.fw.pins.reason ? `pinned=${this.fw.pins.reason}` : '',
      this.fw.copyIn !== null ? `copy-in${this.fw.copyIn.open ? '' : '=ended'}` : '',
      this.socket.destroyed ? 'socket=destroyed' : '',
    ].filter(Boolean).join(' ');
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }
  get inTransaction(): boolean {
    return this.fw.server !== null;
  }
  /** the server connection running a request of this client now (a CancelRequest goes there), else null */
  get cancelTarget(): ServerConnection | null {
    // a Query riding a pipeline shares its backend with other clients' Queries: a cancel could stop one of theirs
    return this.fw.server !== null && this.fw.pending.length > 0 && this.fw.riding === null ? this.fw.server : null;
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
          this.login.onStartupPacket(f.payload);
          break;
        case SessionState.Authenticating:
          this.login.onAuthMessage(f);
          break;
        case SessionState.Ready:
          if (this.admin) this.onAdminFrame(f);
          else this.onRequestFrame(f);
          if (this.fw.pending.length >= MAX_PENDING) {
            // a client pipelining without reading: stop reading it until the server has answered half of what is owed
            this.pipelineFull = true;
            this.socket.pause();
          }
          break;
      }
    }
    if (this.fw.server && this.state === SessionState.Ready) this.fw.flushToServer();
  }


  private upgradeToTls(secure: tls.SecureContext): void {
    const plain = this.socket as net.Socket;
    // only the session's own listeners: the server's bookkeeping stays on the plain socket
    plain.off('data', this.onData);
    plain.off('close', this.onClose);
    plain.off('error', this.onError);
    const secureSocket = new tls.TLSSocket(plain, { isServer: true, secureContext: secure });
    this.socket = secureSocket;
    this.bindSocket(secureSocket);
  }

  /** The client's StartupMessage: who it is, the settings it wants, which database (true: the admin console). */
  private started(request: StartupRequest): boolean {
    this.startupParams = request.params;
    this.user = request.user;
    this.database = request.database;
    this.applicationName = request.applicationName;
    const admin = this.database === ADMIN_DATABASE;
    // the database's own context from here on: its pools, routing, plugins (the admin console covers every database)
    const ctx = admin ? this.ctx : this.ctx.database(this.database);
    if (ctx === undefined) {
      throw new ProxyError('UNKNOWN_DATABASE', `database "${this.database}" does not exist`, SqlState.InvalidCatalogName, 'FATAL');
    }
    this.ctx = ctx;
    this.fw.startup(request.params, ctx);
    // the same reader: bytes the client sent right behind the StartupMessage are kept
    this.reader.untyped = false;
    this.reader.maxMessageSize = this.ctx.config.listen.max_message_size;
    this.reader.limitSmall(FRONTEND_SMALL_MESSAGES, Math.min(SMALL_MESSAGE_LIMIT, this.ctx.config.listen.max_message_size));
    this.admin = admin ? new AdminSession(this.port, this.ctx) : null;
    this.state = SessionState.Authenticating;
    return this.admin !== null;
  }

  private onAuthenticated(): void {
    if (this.admin) {
      this.startAdmin();
      return;
    }
    if (this.ctx.shuttingDown) throw new ProxyError('SHUTTING_DOWN', 'the database system is shutting down', SqlState.CannotConnectNow, 'FATAL');
    if (!this.ctx.admitClient(this)) {
      throw new ProxyError('TOO_MANY_CLIENTS', 'sorry, too many clients already', SqlState.TooManyConnections, 'FATAL');
    }
    this.announce();
    for (const shard of this.ctx.config.shards) this.serverIdentityOn(shard.name);
    const host = this.ctx.plugins;
    if (host) {
      // a plugin whose createSessionHooks throws refuses the connection, naming the plugin
      this.plugins = host.createSession(this.sessionInfo());
      this.fw.plugins = this.plugins;
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
    this.fw.leaseServer();
  }

  /** Completes the login once a server connection has the client's settings. */
  private finishLogin(): void {
    const server = this.fw.server!;
    const out: Buffer[] = [];
    for (const [name, value] of server.params) out.push(Be.ParameterStatus(name, value));
    const report = Buffer.concat(out);
    this.ctx.rememberLogin(this.loginKey(), report);
    this.fw.flushRun();
    this.writeClient(Buffer.concat([report, Be.BackendKeyData(this.pid, this.secret), Be.ReadyForQuery(Be.TransactionStatus.Idle)]));
    this.state = SessionState.Ready;
    // frames the client sent before it saw ReadyForQuery wait in the reader
    if (this.reader.pending > 0) queueMicrotask(() => this.resumeAfterLogin());
  }

  /** The server identity and settings that decide what a login reports. */
  private loginKey(): string {
    return `${this.user}\u0000${this.fw.settingsKey}`;
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

  /** set for a session on the admin database `prescient`: answered by the proxy, never by a server */
  private admin: AdminSession | null = null;

  private startAdmin(): void {
    this.socket.write(this.admin!.welcome({ user: this.user, applicationName: this.applicationName, pid: this.pid, secret: this.secret }));
    this.state = SessionState.Ready;
    this.announce();
  }

  private onAdminFrame(f: Frame): void {
    if (f.code === FrontendCode.Terminate) {
      this.closeReason ??= 'client terminated';
      this.close();
    } else this.admin!.onFrame(f);
  }

  private onRequestFrame(f: Frame): void {
    const code = f.code;
    if (code === FrontendCode.Terminate) {
      this.closeReason ??= 'client terminated';
      this.close();
      return;
    }
    if (!FRONTEND_CODES.has(code) || code === FrontendCode.PasswordMessage) {
      throw new ProxyError('BAD_MESSAGE_TYPE', `invalid frontend message type ${code} ('${String.fromCharCode(code)}')`, SqlState.ProtocolViolation, 'FATAL');
    }
    if (this.ctx.routing) {
      if (this.pipeline === null) this.fw.observer = this.pipeline = new RequestPipeline(this.port, this.ctx);
      this.pipeline.collect(f);
      return;
    }
    this.fw.handleFrame(f);
  }

  // ---------------------------------------------------------------- routing (more than one shard, or plugins)

  /** the session's plugin hooks (none until authenticated) */
  private plugins: SessionPlugins | null = null;
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

  /** Stops reading the client until resume(). */
  private block(): void {
    this.waitingForServer = true;
    this.socket.pause();
  }

  private resume(): void {
    this.unblock();
    this.readMore();
  }

  /** The client may be read again (unless something else holds it). */
  private unblock(): void {
    this.waitingForServer = false;
    if (this.state === SessionState.Closed) return;
    this.resumeReading();
  }

  /** Processes what the client sent meanwhile (nothing while blocked again) and writes what it asks of the server. */
  private readMore(): void {
    if (this.state === SessionState.Closed) return;
    try {
      this.pipeline?.drainRequests();
      this.processClientFrames();
      this.fw.flushToServer();
    } catch (e) {
      this.fail(e);
    }
  }


  /** what plugins see of this session: fixed once the client has logged in, so built once */
  private info: SessionInfo | null = null;
  private sessionInfo(): SessionInfo {
    return (this.info ??= Object.freeze({
      pid: this.pid, user: this.user, database: this.database, applicationName: this.applicationName, remote: this.remote,
      startupParams: this.startupParams,
    }));
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

  private writeClient(buf: Buffer): void {
    this.stats.bytesOut += buf.length;
    if (this.socket.write(buf) || this.writeBlocked) return;
    // backpressure: stop reading the server, and the client itself, until the client drains. A client that does not
    // read its answers is not read either (as Postgres, blocked on send, stops reading): answers Prescient makes
    // itself (a Sync with nothing in flight, errors) would otherwise queue without bound.
    this.writeBlocked = true;
    this.socket.pause();
    const resumeServer = this.fw.pauseServer();
    this.socket.once('drain', () => {
      this.writeBlocked = false;
      resumeServer?.();
      this.resumeReading();
    });
  }

  /** Reads the client again, unless something still holds it: a lease, a full pipeline, a server or a client not draining. */
  private resumeReading(): void {
    if (this.state === SessionState.Closed || this.waitingForServer || this.pipelineFull || this.fw.clientPaused || this.writeBlocked) return;
    this.socket.resume();
  }

  // ---------------------------------------------------------------- closing

  /** Sends an error to the client; FATAL errors close the session. */
  fail(e: unknown): void {
    if (this.state === SessionState.Closed) return;
    const err = e instanceof ProxyError ? e : new ProxyError('INTERNAL', (e as Error)?.message ?? String(e), SqlState.InternalError, 'FATAL');
    if (!(e instanceof ProxyError)) logger.error('internal error in session', { pid: this.pid, error: (e as Error)?.stack });
    this.fw.flushRun();
    const msg = Be.ErrorResponse({ severity: err.severity, code: err.sqlState, message: err.message });
    if (err.severity === 'FATAL' || err.code === CLIENT_NOT_READING) this.closeReason ??= `${err.sqlState} ${err.message}`;
    else if (logger.enabled('info')) logger.info('query error', { pid: this.pid, sqlstate: err.sqlState, message: err.message, source: 'proxy' });
    if (err.code === CLIENT_NOT_READING) {
      // what it has not read would wait behind the error forever: the memory goes now
      this.socket.destroy();
      this.close();
      return;
    }
    this.ctx.requestCounters.error(ErrorSource.Proxy, err.sqlState);
    if (err.severity === 'FATAL') {
      this.socket.end(msg);
      this.close();
    } else {
      this.writeClient(Buffer.concat([msg, Be.ReadyForQuery(this.fw.txStatus)]));
    }
  }

  /** Called at shutdown, and after a release while shutting down: an idle client is told and closed. */
  shutdownIdle(): void {
    if (this.fw.server || this.state === SessionState.Closed) return;
    this.fail(terminatedByAdministrator());
  }

  /** Ends the session (once): its server connection goes back or is closed, and it stops counting against
   * max_client_connections. `endSocket` false: the caller ends the socket itself later (a CancelRequest's). */
  close(endSocket = true): void {
    if (this.state === SessionState.Closed) return;
    const wasReady = this.state === SessionState.Ready;
    this.state = SessionState.Closed;
    // a request of this client waiting for a server connection (PAUSE, a full pool) leaves the queue
    this.closing.abort();
    this.login.stop();
    if (endSocket && !this.socket.destroyed) this.socket.end();
    // keys its request or transaction used are free for a move (the server connection is closed or reset below)
    this.pipeline?.leaveKeys();
    this.fw.leave(wasReady);
    this.ctx.forgetClient(this);
    if (this.announced) {
      logger.info('client disconnected', {
        ...this.who(), duration_ms: Date.now() - this.connectedAt, queries: this.stats.queries, bytes_in: this.stats.bytesIn,
        bytes_out: this.stats.bytesOut, reason: this.closeReason ?? 'closed by the proxy',
      });
    }
    if (this.plugins?.hasCloseHooks) this.plugins.observeClose({ durationMs: Date.now() - this.connectedAt });
  }
}
