// scram owns SCRAM-SHA-256 (RFC 5802/7677 as Postgres speaks it): stored verifiers and the server and client sides of the exchange.
//
// Passwords are SASLprep'd (saslprep.ts) before hashing, on both sides, as libpq and the Postgres server do: a
// password SASLprep refuses is used raw.
// Channel binding (SCRAM-SHA-256-PLUS) is not supported.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprepPassword } from './saslprep.js';

export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Test hooks: fixed nonces (and a client user name) so known vectors can be replayed. */
export interface ScramServerOptions {
  nonce?: string;
}
export interface ScramClientOptions {
  nonce?: string;
  /** SCRAM user name sent in client-first; Postgres ignores it, so the default is `*`. */
  user?: string;
}

const KEY_LEN = 32;
const DEFAULT_SALT_LEN = 16;
const NONCE_BYTES = 18;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// printable ASCII except ',' (RFC 5802 "printable")
const NONCE_RE = /^[\x21-\x2b\x2d-\x7e]+$/;

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Strict base64 decode; null if `s` is not canonical padded base64. */
function decodeBase64(s: string): Buffer | null {
  return BASE64_RE.test(s) ? Buffer.from(s, 'base64') : null;
}

function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(saslprepPassword(password), salt, iterations, KEY_LEN, 'sha256');
}

function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64');
}

function checkNonce(nonce: string, what: string): string {
  if (!NONCE_RE.test(nonce)) throw new Error(`invalid SCRAM ${what} nonce`);
  return nonce;
}

/** Splits `a=x,b=y` into ordered [name, value] pairs; throws on anything that isn't `<letter>=`. */
function parseAttributes(msg: string, what: string): Array<[string, string]> {
  return msg.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw new Error(`malformed SCRAM ${what}: expected attribute, got "${part}"`);
    return [part[0]!, part.slice(2)];
  });
}

/** Takes the next attribute, which must be `name`. */
function expectAttr(attrs: Array<[string, string]>, name: string, what: string): string {
  const attr = attrs.shift();
  if (!attr || attr[0] !== name) throw new Error(`malformed SCRAM ${what}: expected "${name}=" attribute`);
  return attr[1];
}

function escapeUser(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function parseScramVerifier(s: string): ScramVerifier | null {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):([^:]+)$/.exec(s);
  if (!m) return null;
  const iterations = Number(m[1]);
  const salt = decodeBase64(m[2]!);
  const storedKey = decodeBase64(m[3]!);
  const serverKey = decodeBase64(m[4]!);
  if (!Number.isSafeInteger(iterations) || iterations < 1) return null;
  if (!salt || salt.length === 0) return null;
  if (storedKey?.length !== KEY_LEN || serverKey?.length !== KEY_LEN) return null;
  return { iterations, salt, storedKey, serverKey };
}

export function makeScramVerifier(
  password: string,
  salt: Buffer = randomBytes(DEFAULT_SALT_LEN),
  iterations = 4096,
): ScramVerifier {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError('SCRAM iterations must be a positive integer');
  if (salt.length === 0) throw new RangeError('SCRAM salt must not be empty');
  const salted = saltedPassword(password, salt, iterations);
  return {
    iterations,
    salt,
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  };
}

export function formatScramVerifier(v: ScramVerifier): string {
  return `SCRAM-SHA-256$${v.iterations}:${v.salt.toString('base64')}$${v.storedKey.toString('base64')}:${v.serverKey.toString('base64')}`;
}

/** Server side of one SCRAM-SHA-256 exchange: clientFirst() then clientFinal(). */
export class ScramServerSession {
  private readonly serverNonce: string;
  private state: { gs2Header: string; nonce: string; clientFirstBare: string; serverFirst: string } | null = null;
  private done = false;

  constructor(
    private readonly verifier: ScramVerifier,
    options: ScramServerOptions = {},
  ) {
    this.serverNonce = checkNonce(options.nonce ?? newNonce(), 'server');
  }

  /** Takes client-first-message (the SASLInitialResponse data), returns server-first-message. */
  clientFirst(data: string): string {
    if (this.state || this.done) throw new Error('unexpected SCRAM client-first-message');
    // gs2-header: cbind-flag "," [authzid] ","
    const m = /^([^,]*),([^,]*),(.*)$/s.exec(data);
    if (!m) throw new Error('malformed SCRAM client-first-message: missing GS2 header');
    const [flag, authzid, bare] = [m[1]!, m[2]!, m[3]!];
    if (flag.startsWith('p=')) throw new Error('SCRAM channel binding is not supported');
    if (flag !== 'n' && flag !== 'y') throw new Error(`malformed SCRAM client-first-message: bad channel-binding flag "${flag}"`);
    if (authzid !== '') throw new Error('SCRAM authorization identity is not supported');

    const attrs = parseAttributes(bare, 'client-first-message');
    if (attrs[0]?.[0] === 'm') throw new Error('SCRAM mandatory extensions are not supported');
    expectAttr(attrs, 'n', 'client-first-message'); // user name: Postgres uses the startup packet's, ignore
    const clientNonce = checkNonce(expectAttr(attrs, 'r', 'client-first-message'), 'client');

    const nonce = clientNonce + this.serverNonce;
    const serverFirst = `r=${nonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`;
    this.state = { gs2Header: `${flag},${authzid},`, nonce, clientFirstBare: bare, serverFirst };
    return serverFirst;
  }

  /** Takes client-final-message; verifies the proof and, if it is right, returns server-final-message. */
  clientFinal(data: string): { ok: true; serverFinal: string } | { ok: false } {
    const state = this.state;
    if (!state || this.done) throw new Error('unexpected SCRAM client-final-message');
    this.done = true;

    const proofAt = data.lastIndexOf(',p=');
    if (proofAt < 0) throw new Error('malformed SCRAM client-final-message: missing proof');
    const withoutProof = data.slice(0, proofAt);
    const proof = decodeBase64(data.slice(proofAt + 3));
    if (!proof || proof.length !== KEY_LEN) throw new Error('malformed SCRAM client-final-message: invalid proof');

    const attrs = parseAttributes(withoutProof, 'client-final-message');
    const cbind = decodeBase64(expectAttr(attrs, 'c', 'client-final-message'));
    if (!cbind) throw new Error('malformed SCRAM client-final-message: invalid channel-binding data');
    if (cbind.toString('utf8') !== state.gs2Header) throw new Error('SCRAM channel-binding data does not match the GS2 header');
    if (expectAttr(attrs, 'r', 'client-final-message') !== state.nonce) throw new Error('SCRAM nonce does not match');

    const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const clientKey = xor(proof, hmac(this.verifier.storedKey, authMessage));
    if (!safeEqual(sha256(clientKey), this.verifier.storedKey)) return { ok: false };
    return { ok: true, serverFinal: `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}` };
  }
}

/** Client side of one SCRAM-SHA-256 exchange against a Postgres server (no channel binding). */
export class ScramClientSession {
  private readonly clientNonce: string;
  private readonly clientFirstBare: string;
  private expectedServerSignature: Buffer | null = null;
  private step: 'first' | 'server-first' | 'server-final' | 'done' = 'first';

  constructor(
    private readonly password: string,
    options: ScramClientOptions = {},
  ) {
    this.clientNonce = checkNonce(options.nonce ?? newNonce(), 'client');
    this.clientFirstBare = `n=${escapeUser(options.user ?? '*')},r=${this.clientNonce}`;
  }

  /** The client-first-message to send in SASLInitialResponse. */
  clientFirst(): string {
    if (this.step !== 'first') throw new Error('SCRAM client-first-message already sent');
    this.step = 'server-first';
    return `n,,${this.clientFirstBare}`;
  }

  /** Takes server-first-message (AuthenticationSASLContinue), returns client-final-message. */
  serverFirst(data: string): string {
    if (this.step !== 'server-first') throw new Error('unexpected SCRAM server-first-message');
    this.step = 'server-final';

    const attrs = parseAttributes(data, 'server-first-message');
    if (attrs[0]?.[0] === 'm') throw new Error('SCRAM mandatory extensions are not supported');
    const nonce = checkNonce(expectAttr(attrs, 'r', 'server-first-message'), 'server');
    const salt = decodeBase64(expectAttr(attrs, 's', 'server-first-message'));
    const iterText = expectAttr(attrs, 'i', 'server-first-message');
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new Error('SCRAM server nonce does not start with the client nonce');
    }
    if (!salt || salt.length === 0) throw new Error('malformed SCRAM server-first-message: invalid salt');
    const iterations = /^\d+$/.test(iterText) ? Number(iterText) : NaN;
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw new Error('malformed SCRAM server-first-message: invalid iteration count');

    const salted = saltedPassword(this.password, salt, iterations);
    const clientKey = hmac(salted, 'Client Key');
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${data},${withoutProof}`;
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    this.expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Takes server-final-message (AuthenticationSASLFinal); throws unless the server proved it knows the verifier. */
  serverFinal(data: string): void {
    const expected = this.expectedServerSignature;
    if (this.step !== 'server-final' || !expected) throw new Error('unexpected SCRAM server-final-message');
    this.step = 'done';
    if (data.startsWith('e=')) throw new Error(`SCRAM authentication failed on the server: ${data.slice(2)}`);
    const m = /^v=([^,]*)(?:,.*)?$/s.exec(data);
    const signature = m ? decodeBase64(m[1]!) : null;
    if (!signature) throw new Error('malformed SCRAM server-final-message');
    if (!safeEqual(signature, expected)) throw new Error('SCRAM server signature does not match');
  }
}
