// ClientAuth owns authenticating a client to Prescient: SCRAM-SHA-256 (default), md5 or trust.
import { randomBytes } from 'node:crypto';
import { ScramServerSession, parseScramVerifier } from '../auth/scram.js';
import { mockVerifier, verifierFor } from '../auth/verifiers.js';
import { md5Verify } from '../auth/md5.js';
import * as Be from '../protocol/BackendMessage.js';
import { readCString } from '../protocol/FrontendMessage.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { logger } from '../logger.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import type { UserConfig } from '../../config/schema.js';

const malformed = (message: string): ProxyError => new ProxyError('AUTH_MALFORMED', message, SqlState.ProtocolViolation, 'FATAL');

export class ClientAuth {
  private scram: ScramServerSession | null = null;
  private salt: Buffer | null = null;
  private step = 0;
  /** a failed login whose answer is delayed: messages are ignored until it is sent */
  private held = false;
  private readonly secret: string | undefined;
  private readonly method: 'scram-sha-256' | 'md5' | 'trust';
  private readonly known: boolean;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly user: string,
    u: UserConfig | undefined,
    private readonly send: (b: Buffer) => void,
    private readonly done: () => void,
    /** sends a (delayed) failure; errors thrown from start()/onMessage() are the caller's to send */
    private readonly fail: (e: ProxyError) => void = () => {},
    private readonly address = '',
  ) {
    this.known = u !== undefined;
    this.secret = u?.password;
    this.method = u?.auth ?? ctx.config.auth.method;
  }

  /** A failed login: thrown at once, or, for an address with too many recent failures, sent late. */
  private deny(err: ProxyError): void {
    const delay = this.ctx.authFailures?.fail(this.address) ?? 0;
    logger.info('authentication failed', { user: this.user, address: this.address, method: this.method, reason: err.message, delayMs: delay });
    if (delay <= 0) throw err;
    this.held = true;
    setTimeout(() => this.fail(err), delay).unref();
  }

  private denied(): ProxyError {
    return new ProxyError('AUTH_FAILED', `password authentication failed for user "${this.user}"`, SqlState.InvalidPassword, 'FATAL');
  }

  start(): void {
    if (this.method === 'trust') {
      if (!this.known) {
        this.deny(new ProxyError('AUTH_FAILED', `role "${this.user}" does not exist`, SqlState.InvalidAuthorizationSpecification, 'FATAL'));
        return;
      }
      this.done();
      return;
    }
    if (this.method === 'md5') {
      // a fresh random salt for known and unknown users alike, as Postgres
      this.salt = randomBytes(4);
      this.send(Be.AuthenticationMD5Password(this.salt));
      return;
    }
    // an unknown user goes through the exchange with a mock verifier, as Postgres does
    const configured = this.known && this.secret !== undefined;
    this.scram = new ScramServerSession(configured ? verifierFor(this.secret!) : mockVerifier(this.user));
    this.send(Be.AuthenticationSASL(['SCRAM-SHA-256']));
  }

  onMessage(payload: Buffer): void {
    if (this.held) return;
    if (this.method === 'md5') {
      const response = readCString(payload, 0)[0];
      if (!this.known || this.secret === undefined || parseScramVerifier(this.secret) || !md5Verify(this.user, this.secret, this.salt!, response)) {
        this.deny(this.denied());
        return;
      }
      this.done();
      return;
    }
    const scram = this.scram!;
    try {
      if (this.step++ === 0) {
        // SASLInitialResponse: mechanism, Int32 length of the data (-1: none), data; checked as Postgres' pq_getmsg*
        const [mechanism, at] = readCString(payload, 0);
        if (mechanism !== 'SCRAM-SHA-256') throw new Error(`client selected an invalid SASL authentication mechanism "${mechanism}"`);
        if (payload.length - at < 4) throw malformed('insufficient data left in message');
        const len = payload.readInt32BE(at);
        if (len < -1 || len > payload.length - at - 4) throw malformed('insufficient data left in message');
        const end = at + 4 + Math.max(len, 0);
        if (end !== payload.length) throw malformed('invalid message format');
        const data = payload.toString('utf8', at + 4, end);
        this.send(Be.AuthenticationSASLContinue(scram.clientFirst(data)));
        return;
      }
      const result = scram.clientFinal(payload.toString('utf8'));
      if (!result.ok || !this.known) {
        this.deny(this.denied());
        return;
      }
      this.send(Be.AuthenticationSASLFinal(result.serverFinal));
      this.done();
    } catch (e) {
      if (e instanceof ProxyError) throw e;
      throw malformed(`malformed SCRAM message: ${(e as Error).message}`);
    }
  }
}
