// Tests for proxy/auth/md5.ts: the client response formula and verification against plaintext and stored md5 passwords.
import { createHash } from 'node:crypto';
import t from 'tap';
import { md5PasswordHash, md5Verify } from '../../proxy/auth/md5.js';

const md5 = (data: Buffer): Buffer => createHash('md5').update(data).digest();

const user = 'postgres';
const password = 'secret';
const salt = Buffer.from([1, 2, 3, 4]);
// rolpassword produced by PostgreSQL 18.6 (PGlite 0.5.14) for ALTER ROLE postgres PASSWORD 'secret' with password_encryption = 'md5'.
const storedByPostgres = 'md553f48b7c4b76a86ce72276c5755f217d';

// Computed here step by step from bytes, independently of the implementation's string formula.
const inner = md5(Buffer.concat([Buffer.from(password), Buffer.from(user)])).toString('hex');
const expected = 'md5' + md5(Buffer.concat([Buffer.from(inner, 'ascii'), salt])).toString('hex');

t.test('known vector', async (t) => {
  t.equal('md5' + inner, storedByPostgres, 'inner hash is what Postgres stores');
  t.equal(md5PasswordHash(user, password, salt), expected);
  t.match(expected, /^md5[0-9a-f]{32}$/);
});

t.test('md5Verify', async (t) => {
  const cases: Array<{ name: string; secret: string; response: string; user?: string; salt?: Buffer; ok: boolean }> = [
    { name: 'plaintext password', secret: password, response: expected, ok: true },
    { name: 'stored md5 from Postgres', secret: storedByPostgres, response: expected, ok: true },
    { name: 'wrong plaintext password', secret: 'Secret', response: expected, ok: false },
    { name: 'stored md5 of another password', secret: 'md5' + '0'.repeat(32), response: expected, ok: false },
    { name: 'different salt', secret: password, response: expected, salt: Buffer.from([4, 3, 2, 1]), ok: false },
    { name: 'different user', secret: password, response: expected, user: 'alice', ok: false },
    { name: 'response is the unsalted stored hash', secret: password, response: storedByPostgres, ok: false },
    { name: 'upper-case response', secret: password, response: expected.toUpperCase(), ok: false },
    { name: 'truncated response', secret: password, response: expected.slice(0, -1), ok: false },
    { name: 'empty response', secret: password, response: '', ok: false },
  ];
  for (const c of cases) {
    t.equal(md5Verify(c.user ?? user, c.secret, c.salt ?? salt, c.response), c.ok, c.name);
  }
});

t.test('round trip with random salts', async (t) => {
  const { randomBytes } = await import('node:crypto');
  for (const [u, p] of [['alice', 'pässwörd'], ['bob', ''], ['carol', 'x'.repeat(200)]] as const) {
    const s = randomBytes(4);
    const response = md5PasswordHash(u, p, s);
    t.ok(md5Verify(u, p, s, response), `${u}: plaintext`);
    t.ok(md5Verify(u, 'md5' + md5(Buffer.from(p + u)).toString('hex'), s, response), `${u}: stored`);
  }
});
