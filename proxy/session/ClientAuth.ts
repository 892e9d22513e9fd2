// ClientAuth owns authenticating a client to Prescient: SCRAM-SHA-256 (default), md5 or trust.
import { randomBytes } from 'node:crypto';
import { ScramServerSession, makeScramVerifier, parseScramVerifier, type ScramVerifier } from '../auth/scram.js';
import { md5Verify } from '../auth/md5.js';
import * as Be from '../protocol/BackendMessage.js';
import { readCString } from '../protocol/FrontendMessage.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import type { ProxyContext } from './ProxyContext.js';
import type { UserConfig } from '../../config/schema.js';

const verifierCache = new Map<string, ScramVerifier>();
/** A SCRAM verifier from a configured secret (a stored verifier, or a plaintext password hashed once). */
function verifierFor(secret: string): ScramVerifier {
  let v = verifierCache.get(secret);
  if (!v) {
    v = parseScramVerifier(secret) ?? makeScramVerifier(secret);
    verifierCache.set(secret, v);
  }
  return v;
}

export class ClientAuth {
  private scram: ScramServerSession | null = null;
  private salt: Buffer | null = null;
  private step = 0;
  private readonly secret: string | undefined;
  private readonly method: 'scram-sha-256' | 'md5' | 'trust';
  private readonly known: boolean;

  constructor(
    ctx: ProxyContext,
    private readonly user: string,
    u: UserConfig | undefined,
    private readonly send: (b: Buffer) => void,
    private readonly done: () => void,
  ) {
    this.known = u !== undefined;
    this.secret = u?.password;
    this.method = u?.auth ?? ctx.config.auth.method;
  }

  private denied(): ProxyError {
    return new ProxyError('AUTH_FAILED', `password authentication failed for user "${this.user}"`, SqlState.InvalidPassword, 'FATAL');
  }

  start(): void {
    if (this.method === 'trust') {
      if (!this.known) throw new ProxyError('AUTH_FAILED', `role "${this.user}" does not exist`, SqlState.InvalidAuthorizationSpecification, 'FATAL');
      this.done();
      return;
    }
    if (this.method === 'md5') {
      this.salt = randomBytes(4);
      this.send(Be.AuthenticationMD5Password(this.salt));
      return;
    }
    // an unknown user still goes through the exchange (with a throw-away verifier), as Postgres does
    this.scram = new ScramServerSession(verifierFor(this.secret ?? randomBytes(16).toString('hex')));
    this.send(Be.AuthenticationSASL(['SCRAM-SHA-256']));
  }

  onMessage(payload: Buffer): void {
    if (this.method === 'md5') {
      const response = readCString(payload, 0)[0];
      if (!this.known || this.secret === undefined || parseScramVerifier(this.secret) || !md5Verify(this.user, this.secret, this.salt!, response)) throw this.denied();
      this.done();
      return;
    }
    const scram = this.scram!;
    try {
      if (this.step++ === 0) {
        const [mechanism, at] = readCString(payload, 0);
        if (mechanism !== 'SCRAM-SHA-256') throw new Error(`client selected an invalid SASL authentication mechanism "${mechanism}"`);
        const len = payload.readInt32BE(at);
        const data = payload.toString('utf8', at + 4, len < 0 ? at + 4 : at + 4 + len);
        this.send(Be.AuthenticationSASLContinue(scram.clientFirst(data)));
        return;
      }
      const result = scram.clientFinal(payload.toString('utf8'));
      if (!result.ok || !this.known) throw this.denied();
      this.send(Be.AuthenticationSASLFinal(result.serverFinal));
      this.done();
    } catch (e) {
      if (e instanceof ProxyError) throw e;
      throw new ProxyError('AUTH_MALFORMED', `malformed SCRAM message: ${(e as Error).message}`, SqlState.ProtocolViolation, 'FATAL');
    }
  }
}
