// md5 owns Postgres' legacy MD5 password authentication: the salted response a client sends and its verification.
import { createHash, timingSafeEqual } from 'node:crypto';

const STORED_MD5_RE = /^md5[0-9a-f]{32}$/;

function md5hex(data: string | Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** The salted response for `salt`, given the inner hash md5hex(password + user). */
function saltedResponse(inner: string, salt: Buffer): string {
  return 'md5' + md5hex(Buffer.concat([Buffer.from(inner, 'utf8'), salt]));
}

/** What a client sends in PasswordMessage for AuthenticationMD5Password: 'md5' + md5hex(md5hex(password + user) + salt). */
export function md5PasswordHash(user: string, password: string, salt: Buffer): string {
  return saltedResponse(md5hex(password + user), salt);
}

/**
 * Checks a client's MD5 response. `passwordOrStoredMd5` is either the plaintext password or Postgres'
 * stored verifier ('md5' + md5hex(password + user)); like Postgres, anything shaped like a stored
 * verifier is treated as one.
 */
export function md5Verify(user: string, passwordOrStoredMd5: string, salt: Buffer, clientResponse: string): boolean {
  const inner = STORED_MD5_RE.test(passwordOrStoredMd5)
    ? passwordOrStoredMd5.slice(3)
    : md5hex(passwordOrStoredMd5 + user);
  const expected = Buffer.from(saltedResponse(inner, salt), 'utf8');
  const actual = Buffer.from(clientResponse, 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
