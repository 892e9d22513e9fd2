// Tests for proxy/auth/scram.ts: verifier format, server and client sessions, RFC 7677 vector, Postgres-made verifiers.
import t from 'tap';
import {
  ScramClientSession,
  ScramServerSession,
  formatScramVerifier,
  makeScramVerifier,
  parseScramVerifier,
} from '../../proxy/auth/scram.js';

// RFC 7677 section 3. (The server-final below is the RFC's; the variant
// "v=6rriTRBi23WpRR/wt9+/+xUmMFqGRcAu4dHH5J0lb34=" that shares its first 20 characters is not.)
const RFC = {
  user: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

// rolpassword values produced by PostgreSQL 18.6 (PGlite 0.5.14) with password_encryption = 'scram-sha-256'.
const POSTGRES_VERIFIERS = [
  {
    password: 'pencil',
    stored:
      'SCRAM-SHA-256$4096:5ate3IxPg7icgXR6Tc30ZQ==$Oe7XpfFrEsJLU4DwVoM/ZKvc/TRTu2osQm71x/wfm1g=:22Q/ypPOqoNkpNcgkG2nrClHuAio2aXtike6vL2FSdQ=',
  },
  {
    password: 'correct horse battery staple',
    stored:
      'SCRAM-SHA-256$4096:8J5IytZwj4ZTdxF/YM82iw==$05syDEeOFxjoiXDVKgtrVW6SA17n1N4roIZi3i4pXiw=:F5k53oCLnQmjyps5ejHhnaOZMzyRBcWVJzyTBrr2XDQ=',
  },
];

/** Runs a full exchange between our client and our server; returns the server's verdict. */
function exchange(serverPassword: string, clientPassword: string) {
  const server = new ScramServerSession(makeScramVerifier(serverPassword));
  const client = new ScramClientSession(clientPassword);
  const serverFirst = server.clientFirst(client.clientFirst());
  const result = server.clientFinal(client.serverFirst(serverFirst));
  return { client, result };
}

t.test('verifier format', async (t) => {
  t.test('parse inverts format', async (t) => {
    const v = makeScramVerifier('pencil', RFC.salt, 4096);
    const s = formatScramVerifier(v);
    t.match(s, /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    t.same(parseScramVerifier(s), v);
  });

  t.test('Postgres verifiers parse and re-format identically', async (t) => {
    for (const { stored } of POSTGRES_VERIFIERS) {
      const v = parseScramVerifier(stored);
      t.ok(v, stored);
      t.equal(formatScramVerifier(v!), stored);
    }
  });

  t.test('makeScramVerifier reproduces Postgres verifiers from password and salt', async (t) => {
    for (const { password, stored } of POSTGRES_VERIFIERS) {
      const pg = parseScramVerifier(stored)!;
      t.equal(formatScramVerifier(makeScramVerifier(password, pg.salt, pg.iterations)), stored, password);
    }
  });

  t.test('default salt is random and 16 bytes', async (t) => {
    const a = makeScramVerifier('x');
    const b = makeScramVerifier('x');
    t.equal(a.salt.length, 16);
    t.equal(a.iterations, 4096);
    t.not(a.salt.toString('hex'), b.salt.toString('hex'));
  });

  t.test('makeScramVerifier rejects bad parameters', async (t) => {
    t.throws(() => makeScramVerifier('x', RFC.salt, 0), RangeError);
    t.throws(() => makeScramVerifier('x', RFC.salt, 1.5), RangeError);
    t.throws(() => makeScramVerifier('x', Buffer.alloc(0)), RangeError);
  });

  const key = Buffer.alloc(32, 7).toString('base64');
  const bad: Array<[string, string]> = [
    ['empty', ''],
    ['md5 verifier', 'md553f48b7c4b76a86ce72276c5755f217d'],
    ['wrong mechanism', `SCRAM-SHA-1$4096:c2FsdA==$${key}:${key}`],
    ['zero iterations', `SCRAM-SHA-256$0:c2FsdA==$${key}:${key}`],
    ['non-numeric iterations', `SCRAM-SHA-256$abc:c2FsdA==$${key}:${key}`],
    ['bad salt base64', `SCRAM-SHA-256$4096:c2Fsd!==$${key}:${key}`],
    ['short stored key', `SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:${key}`],
    ['missing server key', `SCRAM-SHA-256$4096:c2FsdA==$${key}`],
    ['trailing junk', `SCRAM-SHA-256$4096:c2FsdA==$${key}:${key}$x`],
  ];
  for (const [name, s] of bad) {
    t.equal(parseScramVerifier(s), null, `rejects ${name}`);
  }
});

t.test('RFC 7677 test vector', async (t) => {
  t.test('server side', async (t) => {
    const server = new ScramServerSession(makeScramVerifier(RFC.password, RFC.salt, 4096), { nonce: RFC.serverNonce });
    t.equal(server.clientFirst(RFC.clientFirst), RFC.serverFirst);
    t.same(server.clientFinal(RFC.clientFinal), { ok: true, serverFinal: RFC.serverFinal });
  });

  t.test('client side', async (t) => {
    const client = new ScramClientSession(RFC.password, { nonce: RFC.clientNonce, user: RFC.user });
    t.equal(client.clientFirst(), RFC.clientFirst);
    t.equal(client.serverFirst(RFC.serverFirst), RFC.clientFinal);
    t.doesNotThrow(() => client.serverFinal(RFC.serverFinal));
  });

  t.test('client rejects a forged server signature', async (t) => {
    const client = new ScramClientSession(RFC.password, { nonce: RFC.clientNonce, user: RFC.user });
    client.clientFirst();
    client.serverFirst(RFC.serverFirst);
    t.throws(() => client.serverFinal('v=' + Buffer.alloc(32).toString('base64')), /server signature does not match/);
  });
});

t.test('client against verifiers made by Postgres', async (t) => {
  for (const { password, stored } of POSTGRES_VERIFIERS) {
    const server = new ScramServerSession(parseScramVerifier(stored)!);
    const client = new ScramClientSession(password);
    const result = server.clientFinal(client.serverFirst(server.clientFirst(client.clientFirst())));
    t.equal(result.ok, true, password);
    if (result.ok) t.doesNotThrow(() => client.serverFinal(result.serverFinal));
  }
});

t.test('round trip', async (t) => {
  const cases: Array<{ name: string; server: string; client: string; ok: boolean }> = [
    { name: 'matching password', server: 'hunter2', client: 'hunter2', ok: true },
    { name: 'empty password', server: '', client: '', ok: true },
    { name: 'non-ASCII password', server: 'pässwörd✓', client: 'pässwörd✓', ok: true },
    { name: 'wrong password', server: 'hunter2', client: 'hunter3', ok: false },
    { name: 'case differs', server: 'Secret', client: 'secret', ok: false },
  ];
  for (const c of cases) {
    const { client, result } = exchange(c.server, c.client);
    t.equal(result.ok, c.ok, c.name);
    if (result.ok) {
      t.match(result.serverFinal, /^v=[A-Za-z0-9+/]{43}=$/, `${c.name}: server-final shape`);
      t.doesNotThrow(() => client.serverFinal(result.serverFinal), `${c.name}: client accepts server signature`);
    }
  }
});

t.test('server accepts gs2 "y,," and ignores the client-first user name', async (t) => {
  const verifier = makeScramVerifier(RFC.password, RFC.salt, 4096);
  const server = new ScramServerSession(verifier, { nonce: RFC.serverNonce });
  // A client that supports channel binding but thinks the server doesn't; the c= data must echo "y,,".
  const bare = `n=,r=${RFC.clientNonce}`;
  const serverFirst = server.clientFirst(`y,,${bare}`);
  t.equal(serverFirst, RFC.serverFirst);
  // Build the proof by hand (RFC 5802 formulas) so this does not depend on ScramClientSession.
  const { createHash, createHmac, pbkdf2Sync } = await import('node:crypto');
  const salted = pbkdf2Sync(RFC.password, RFC.salt, 4096, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const withoutProof = `c=${Buffer.from('y,,').toString('base64')},r=${RFC.clientNonce}${RFC.serverNonce}`;
  const authMessage = `${bare},${serverFirst},${withoutProof}`;
  const sig = createHmac('sha256', createHash('sha256').update(clientKey).digest()).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]!));
  const result = server.clientFinal(`${withoutProof},p=${proof.toString('base64')}`);
  t.equal(result.ok, true);
});

t.test('tampered nonce', async (t) => {
  t.test('server rejects a client-final whose nonce differs from server-first', async (t) => {
    const server = new ScramServerSession(makeScramVerifier(RFC.password, RFC.salt, 4096), { nonce: RFC.serverNonce });
    server.clientFirst(RFC.clientFirst);
    const tampered = RFC.clientFinal.replace('r=rOprNGfwEbeRWgbNEkqO%', 'r=rOprNGfwEbeRWgbNEkqX%');
    t.throws(() => server.clientFinal(tampered), /nonce does not match/);
  });

  const serverFirsts: Array<[string, string]> = [
    ['server nonce not prefixed by client nonce', RFC.serverFirst.replace('r=rOpr', 'r=XOpr')],
    ['server nonce equal to client nonce', `r=${RFC.clientNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`],
  ];
  for (const [name, msg] of serverFirsts) {
    t.test(`client rejects ${name}`, async (t) => {
      const client = new ScramClientSession(RFC.password, { nonce: RFC.clientNonce });
      client.clientFirst();
      t.throws(() => client.serverFirst(msg), /nonce/);
    });
  }
});

t.test('malformed client-first-message throws', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /GS2 header/],
    ['channel binding p=', 'p=tls-server-end-point,,n=,r=abc', /channel binding is not supported/],
    ['unknown cbind flag', 'x,,n=,r=abc', /channel-binding flag/],
    ['authzid', 'n,a=bob,n=,r=abc', /authorization identity/],
    ['missing r=', 'n,,n=', /expected "r="/],
    ['missing n=', 'n,,r=abc', /expected "n="/],
    ['mandatory extension', 'n,,m=ext,n=,r=abc', /mandatory extensions/],
    ['empty nonce', 'n,,n=,r=', /invalid SCRAM client nonce/],
    ['garbage attribute', 'n,,n=,junk', /expected attribute/],
  ];
  for (const [name, msg, err] of cases) {
    const server = new ScramServerSession(makeScramVerifier('pw', RFC.salt, 1));
    t.throws(() => server.clientFirst(msg), err, name);
  }
});

t.test('malformed client-final-message throws', async (t) => {
  const nonce = `${RFC.clientNonce}${RFC.serverNonce}`;
  const proof = Buffer.alloc(32, 1).toString('base64');
  const cases: Array<[string, string, RegExp]> = [
    ['missing proof', `c=biws,r=${nonce}`, /missing proof/],
    ['bad proof base64', `c=biws,r=${nonce},p=not*base64`, /invalid proof/],
    ['short proof', `c=biws,r=${nonce},p=AAAA`, /invalid proof/],
    ['missing r=', `c=biws,p=${proof}`, /expected "r="/],
    ['missing c=', `r=${nonce},p=${proof}`, /expected "c="/],
    ['bad c= base64', `c=bi!s,r=${nonce},p=${proof}`, /channel-binding data/],
    ['c= is not the gs2 header', `c=${Buffer.from('y,,').toString('base64')},r=${nonce},p=${proof}`, /does not match the GS2 header/],
    ['channel binding data in c=', `c=${Buffer.from('p=tls-unique,,xyz').toString('base64')},r=${nonce},p=${proof}`, /GS2 header/],
  ];
  for (const [name, msg, err] of cases) {
    const server = new ScramServerSession(makeScramVerifier(RFC.password, RFC.salt, 4096), { nonce: RFC.serverNonce });
    server.clientFirst(RFC.clientFirst);
    t.throws(() => server.clientFinal(msg), err, name);
  }
});

t.test('malformed server messages throw on the client', async (t) => {
  const n = `${RFC.clientNonce}abc`;
  const serverFirsts: Array<[string, string, RegExp]> = [
    ['missing r=', 's=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096', /expected "r="/],
    ['missing salt', `r=${n},i=4096`, /expected "s="/],
    ['bad salt base64', `r=${n},s=W22Z!J0S,i=4096`, /invalid salt/],
    ['empty salt', `r=${n},s=,i=4096`, /invalid salt/],
    ['missing iterations', `r=${n},s=W22ZaJ0SNY7soEsUEjb6gQ==`, /expected "i="/],
    ['zero iterations', `r=${n},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`, /iteration count/],
    ['non-numeric iterations', `r=${n},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k`, /iteration count/],
    ['mandatory extension', `m=x,r=${n},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, /mandatory extensions/],
  ];
  for (const [name, msg, err] of serverFirsts) {
    const client = new ScramClientSession('pw', { nonce: RFC.clientNonce });
    client.clientFirst();
    t.throws(() => client.serverFirst(msg), err, name);
  }

  const serverFinals: Array<[string, string, RegExp]> = [
    ['server error', 'e=invalid-proof', /failed on the server: invalid-proof/],
    ['missing v=', 'x=abc', /malformed SCRAM server-final-message/],
    ['bad signature base64', 'v=!!!!', /malformed SCRAM server-final-message/],
  ];
  for (const [name, msg, err] of serverFinals) {
    const client = new ScramClientSession(RFC.password, { nonce: RFC.clientNonce, user: RFC.user });
    client.clientFirst();
    client.serverFirst(RFC.serverFirst);
    t.throws(() => client.serverFinal(msg), err, name);
  }
});

t.test('out-of-order calls throw', async (t) => {
  const server = new ScramServerSession(makeScramVerifier('pw', RFC.salt, 1));
  t.throws(() => server.clientFinal('c=biws,r=x,p=AAAA'), /unexpected SCRAM client-final-message/);
  server.clientFirst('n,,n=,r=abc');
  t.throws(() => server.clientFirst('n,,n=,r=abc'), /unexpected SCRAM client-first-message/);

  const client = new ScramClientSession('pw');
  t.throws(() => client.serverFirst(RFC.serverFirst), /unexpected SCRAM server-first-message/);
  t.throws(() => client.serverFinal(RFC.serverFinal), /unexpected SCRAM server-final-message/);
  client.clientFirst();
  t.throws(() => client.clientFirst(), /already sent/);
});

t.test('nonces are random, printable and comma-free', async (t) => {
  const a = new ScramClientSession('pw').clientFirst();
  const b = new ScramClientSession('pw').clientFirst();
  t.match(a, /^n,,n=\*,r=[\x21-\x2b\x2d-\x7e]{24}$/);
  t.not(a, b);
});
