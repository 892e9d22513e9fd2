// verifiers owns the SCRAM verifiers logins are checked against: one per configured secret (hashed once, cached, warmed in the background), a mock one per unknown user.
import { createHmac, randomBytes } from 'node:crypto';
import { makeScramVerifier, parseScramVerifier, type ScramVerifier } from './scram.js';
import type { Config, UserConfig } from '../../config/schema.js';

/** Iterations and salt length of a verifier made from a plaintext password (and of the mock verifier). */
const SCRAM_ITERATIONS = 4096;
const SCRAM_SALT_LEN = 16;
/** Configured secrets only; a bound that only reloads with ever-new passwords could reach. */
const MAX_CACHED_VERIFIERS = 10_000;

const verifierCache = new Map<string, ScramVerifier>();
/** A SCRAM verifier from a configured secret (a stored verifier, or a plaintext password hashed once). */
export function verifierFor(secret: string): ScramVerifier {
  let v = verifierCache.get(secret);
  if (!v) {
    v = parseScramVerifier(secret) ?? makeScramVerifier(secret, randomBytes(SCRAM_SALT_LEN), SCRAM_ITERATIONS);
    if (verifierCache.size >= MAX_CACHED_VERIFIERS) verifierCache.clear();
    verifierCache.set(secret, v);
  }
  return v;
}

/** Hashes the configured plaintext passwords in the background, so that a known user's first login costs no more than an unknown one's. */
export function warmVerifiers(config: Pick<Config, 'users'> & { admin?: { users?: UserConfig[] } }): void {
  const secrets = [...config.users, ...(config.admin?.users ?? [])].flatMap((u) => (u.password !== undefined ? [u.password] : []));
  const next = (): void => {
    const s = secrets.shift();
    if (s === undefined) return;
    verifierFor(s);
    setImmediate(next).unref();
  };
  setImmediate(next).unref();
}

/** Per-process secret behind the mock verifiers (Postgres: the cluster's mock authentication nonce). */
const mockNonce = randomBytes(32);
const mockHmac = (what: string, user: string): Buffer => createHmac('sha256', mockNonce).update(`${what}\0${user}`, 'utf8').digest();

/**
 * What an unknown user is answered with, as Postgres' scram_mock_salt: a salt that is the same on every attempt and
 * looks like a real one (same length and iterations), and keys no password matches. As cheap as a cached verifier.
 */
export function mockVerifier(user: string): ScramVerifier {
  return {
    iterations: SCRAM_ITERATIONS,
    salt: mockHmac('salt', user).subarray(0, SCRAM_SALT_LEN),
    storedKey: mockHmac('stored key', user),
    serverKey: mockHmac('server key', user),
  };
}
