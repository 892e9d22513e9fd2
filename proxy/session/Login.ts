// Login owns a client's way in: the start-up packet (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage), TLS,
// authentication (ClientAuth) and the start-up and authentication timeouts; the session hears only the outcomes.
import type tls from 'node:tls';
import type { Frame } from '../protocol/FrameReader.js';
import { decodeStartupPacket } from '../protocol/FrontendMessage.js';
import { FrontendCode } from '../protocol/MessageCode.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { ClientAuth } from './ClientAuth.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import type { SessionPort } from './SessionPort.js';
import { logger } from '../logger.js';

export const LoginPhase = { Startup: 'startup', Authentication: 'authentication' } as const;
export type LoginPhase = (typeof LoginPhase)[keyof typeof LoginPhase];

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

/** Who the client says it is (its StartupMessage). */
export interface StartupRequest {
  user: string;
  database: string;
  applicationName: string;
  params: ReadonlyMap<string, string>;
}

/** The one way the login reaches the session that owns it. */
export interface LoginOwner extends SessionPort {
  readonly pid: number;
  readonly remote: string;
  /** the client's address (failed logins are throttled per address) */
  readonly remoteAddress: string;
  /** raw bytes to the client before it is logged in */
  send(bytes: Buffer | string): void;
  /** bytes the client sent that are not read yet (none may follow an SSLRequest) */
  readonly unread: number;
  /** the client asked for TLS and was told 'S': the session reads and writes through TLS from now on */
  upgradeToTls(secure: tls.SecureContext): void;
  /** a CancelRequest: the session ends once the cancel is sent */
  cancel(pid: number, secret: number): void;
  /** the StartupMessage: the session takes the client's identity; returns true for the admin console database */
  started(request: StartupRequest): boolean;
  /** the password (or SCRAM exchange) checked out */
  authenticated(): void;
  /** no start-up packet or no authentication in time: closed without a word, as Postgres */
  timedOut(): void;
}

export class Login {
  private timer: NodeJS.Timeout | null = null;
  private auth: ClientAuth | null = null;
  private tlsUpgraded = false;
  private user = '';

  constructor(
    private readonly owner: LoginOwner,
    private readonly ctx: ProxyContext,
  ) {
    this.arm(LoginPhase.Startup);
  }

  /** A start-up packet (a Terminate before any closes silently, as Postgres: the session's). */
  onStartupPacket(payload: Buffer): void {
    const pkt = decodeStartupPacket(payload);
    switch (pkt.kind) {
      case 'SSLRequest': {
        const secure = this.ctx.secureContext;
        if (!secure || this.tlsUpgraded) {
          this.owner.send('N');
          return;
        }
        if (this.owner.unread > 0) {
          throw new ProxyError('SSL_PIPELINED', 'received unencrypted data after SSL request', SqlState.ProtocolViolation, 'FATAL');
        }
        this.owner.send('S');
        this.tlsUpgraded = true;
        this.owner.upgradeToTls(secure);
        return;
      }
      case 'GSSENCRequest':
        this.owner.send('N');
        return;
      case 'CancelRequest':
        this.owner.cancel(pkt.pid, pkt.secret);
        return;
      case 'StartupMessage': {
        const user = pkt.params.get('user') ?? '';
        const request: StartupRequest = {
          user, database: pkt.params.get('database') || user, applicationName: pkt.params.get('application_name') ?? '', params: pkt.params,
        };
        if (!user) throw new ProxyError('NO_USER', 'no PostgreSQL user name specified in startup packet', SqlState.InvalidAuthorizationSpecification, 'FATAL');
        refuseReplication(pkt.params.get('replication'));
        this.user = user;
        const admin = this.owner.started(request);
        this.arm(LoginPhase.Authentication);
        // the admin console takes admin users; a known ordinary user authenticates, then is refused with 42501
        const account = admin ? (this.ctx.findAdmin(user) ?? this.ctx.findUser(user)) : this.ctx.findUser(user);
        this.auth = new ClientAuth(this.ctx, user, account, (buf) => this.owner.send(buf), () => this.onAuthenticated(), (e) => this.owner.fail(e), this.owner.remoteAddress);
        this.auth.start();
        return;
      }
    }
  }

  /** A message while authenticating: only a password response (or SASL data) is expected. */
  onAuthMessage(f: Frame): void {
    if (f.code !== FrontendCode.PasswordMessage) {
      throw new ProxyError('AUTH_EXPECTED', `expected password response, got message type '${String.fromCharCode(f.code)}'`, SqlState.ProtocolViolation, 'FATAL');
    }
    this.auth!.onMessage(f.payload);
  }

  /** The session ended or moved on: no timeout fires any more. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private onAuthenticated(): void {
    this.auth = null;
    this.stop();
    this.owner.authenticated();
  }

  /** listen.startup_timeout_ms, then listen.auth_timeout_ms (Postgres: authentication_timeout for both) */
  private arm(phase: LoginPhase): void {
    this.stop();
    const listen = this.ctx.config.listen;
    const ms = phase === LoginPhase.Startup ? listen.startup_timeout_ms : listen.auth_timeout_ms;
    if (!ms) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.owner.closed) return;
      // as Postgres: the client is told nothing (it may not even be speaking the protocol), the connection is closed
      logger.info(phase === LoginPhase.Startup ? 'incomplete startup packet: timeout' : 'canceling authentication due to timeout', {
        pid: this.owner.pid, remote: this.owner.remote, user: this.user || undefined, timeoutMs: ms,
      });
      this.owner.timedOut();
    }, ms);
    this.timer.unref();
  }
}
