// Owns: integration tests for client TLS to Prescient, client authentication methods (SCRAM, md5, stored SCRAM
// verifier, trust) and Prescient's own authentication to Postgres servers (md5, scram-sha-256, password, trust).
import t from 'tap';
import pg from 'pg';
import tls from 'node:tls';
import type net from 'node:net';
import { formatScramVerifier, makeScramVerifier } from '../../proxy/auth/scram.js';
import { freePort } from '../../scripts/testbed.js';
import { requirePostgres, psql, withClusters, type Cluster, type TeardownCapable } from '../helpers/pg.js';
import { APP_USER, connectError, connected, newClient, startProxy } from '../helpers/proxy.js';
import { hasOpenssl, selfSignedCert } from '../helpers/tls.js';
import { RawClient, errorFields, startupMessage } from '../helpers/rawClient.js';
import { AuthCode, BackendCode } from '../../proxy/protocol/MessageCode.js';


requirePostgres(t);

interface Endpoint {
  host: string;
  port: number;
}

/** The socket pg talks over (a TLSSocket after SSL negotiation). */
function streamOf(c: pg.Client): net.Socket {
  return (c as unknown as { connection: { stream: net.Socket } }).connection.stream;
}

const conninfo = (ep: Endpoint, user: string, extra = ''): string =>
  `host=${ep.host} port=${ep.port} user=${user} dbname=app connect_timeout=10 ${extra}`.trim();

/** psql with a full conninfo string (so sslmode etc. can be given); -w: never prompt for a password. */
function psqlConn(info: string, sql: string, password?: string): ReturnType<typeof psql> {
  // the helper's -h/-p/-U/-d flags come first; a later -d with a conninfo string overrides them all
  const host = /hostaddr=(\S+)/.exec(info)?.[1] ?? /host=(\S+)/.exec(info)![1]!;
  const port = Number(/port=(\d+)/.exec(info)![1]);
  return psql(['-w', '-At', '-d', info, '-c', sql], { host, port, user: /user=(\S+)/.exec(info)![1]!, password, database: 'app' });
}

const [cluster] = (await withClusters(t, 1)) as [Cluster];

// ------------------------------------------------------------------------------------------------

const opensslMissing = (await hasOpenssl()) ? false : 'openssl not found';

t.test('TLS: sslmode=require works with a self-signed certificate; the pg socket is encrypted', { skip: opensslMissing }, async (t) => {
  const { cert, key } = await selfSignedCert(t);
  const port = await freePort();
  const proxy = await startProxy(t, [cluster], { listen: { host: '127.0.0.1', port, tls: { cert, key } } });

  const req = await psqlConn(conninfo(proxy, 'app', 'sslmode=require'), '\\conninfo', APP_USER.password);
  t.equal(req.code, 0, `psql sslmode=require connects: ${req.stderr}`);
  t.match(req.stdout, /SSL connection \(protocol: TLSv1\.[23]/, `psql reports an SSL connection: ${req.stdout.trim()}`);
  const q = await psqlConn(conninfo(proxy, 'app', 'sslmode=require'), 'select 40 + 2', APP_USER.password);
  t.equal(q.stdout.trim(), '42', 'psql sslmode=require runs a query');

  // the certificate is self-signed: verify-ca must fail without a root, and succeed with the cert as root
  const verify = await psqlConn(conninfo(proxy, 'app', 'sslmode=verify-ca sslrootcert=/dev/null'), 'select 1', APP_USER.password);
  t.not(verify.code, 0, 'sslmode=verify-ca without the root certificate fails');
  const verified = await psqlConn(conninfo(proxy, 'app', `sslmode=verify-ca sslrootcert=${cert}`), 'select 1', APP_USER.password);
  t.equal(verified.code, 0, `sslmode=verify-ca with the certificate as root works: ${verified.stderr}`);
  // verify-full checks the name: CN=localhost matches host=localhost (connecting to hostaddr 127.0.0.1)
  const full = await psqlConn(
    conninfo(proxy, 'app', `sslmode=verify-full sslrootcert=${cert}`).replace('host=127.0.0.1', 'host=localhost hostaddr=127.0.0.1'),
    'select 1',
    APP_USER.password,
  );
  t.equal(full.code, 0, `sslmode=verify-full with host=localhost works: ${full.stderr}`);

  const disabled = await psqlConn(conninfo(proxy, 'app', 'sslmode=disable'), '\\conninfo', APP_USER.password);
  t.equal(disabled.code, 0, 'sslmode=disable still connects in plain text');
  t.notMatch(disabled.stdout, /SSL connection/, 'and it is not encrypted');

  const c = await connected(t, proxy, { ssl: { rejectUnauthorized: false } });
  const s = streamOf(c);
  t.ok(s instanceof tls.TLSSocket, 'pg talks over a TLSSocket');
  t.equal((s as tls.TLSSocket).encrypted, true, 'encrypted');
  t.match((s as tls.TLSSocket).getProtocol() ?? '', /^TLSv1\.[23]$/, `protocol ${(s as tls.TLSSocket).getProtocol()}`);
  t.equal((s as tls.TLSSocket).getPeerCertificate().subject?.CN, 'localhost', 'the configured certificate is presented');
  t.same((await c.query('select 1 as n')).rows, [{ n: 1 }], 'queries work over TLS');
  // a larger result over TLS, many frames and TLS records
  const big = await c.query<{ n: number; s: string }>(`select g as n, repeat('x', 200) as s from generate_series(1, 5000) g`);
  t.equal(big.rows.length, 5000, 'a 5000-row result over TLS');
  t.equal(big.rows[4999]!.n, 5000);

  const wrong = await connectError(proxy, { ssl: { rejectUnauthorized: false }, password: 'nope' });
  t.equal(wrong.code, '28P01', 'a wrong password over TLS: 28P01');

  // data pipelined after SSLRequest in plain text is refused (CVE-2021-23214 style)
  const raw = await RawClient.open(proxy);
  t.teardown(() => raw.destroy());
  const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
  const startup = Buffer.from([0, 0, 0, 8, 0, 3, 0, 0]);
  raw.send(Buffer.concat([sslRequest, startup]));
  const m = await raw.read(5000);
  t.equal(m?.code, BackendCode.ErrorResponse, 'plain bytes pipelined after SSLRequest: an error, not S');
  t.equal(m ? errorFields(m).get('C') : undefined, '08P01', '08P01');
  t.ok(await raw.waitClosed(5000), 'and the connection is closed');

  // misbehaving TLS clients: garbage instead of a ClientHello, a hang-up after 'S', a reset mid-session
  const afterS = async (): Promise<RawClient> => {
    const r = await RawClient.open(proxy);
    t.teardown(() => r.destroy());
    r.send(sslRequest);
    // the answer is one unframed byte; what did not come within 2 s reads as ''
    const answer = await r.readBytes(1, 2000).catch(() => Buffer.alloc(0));
    t.equal(answer.toString('latin1'), 'S', 'the proxy accepts the SSLRequest');
    return r;
  };
  const garbage = await afterS();
  garbage.send(Buffer.from('this is not a TLS ClientHello\r\n'.repeat(10)));
  t.ok(await garbage.waitClosed(5000), 'garbage instead of a TLS handshake: the proxy closes the connection');
  const hangup = await afterS();
  hangup.destroy();
  const midSession = await afterS();
  const secure = tls.connect({ socket: midSession.socket, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', () => resolve()).once('error', reject));
  secure.write(startupMessage({ user: APP_USER.name, database: 'app' }));
  await new Promise((res) => setTimeout(res, 100));
  midSession.socket.resetAndDestroy(); // TCP RST under the TLS session
  secure.destroy();
  await new Promise((res) => setTimeout(res, 200));
  t.equal(proxy.proc.exitCode, null, 'proxy still running after misbehaving TLS clients');
  const again = await connected(t, proxy, { ssl: { rejectUnauthorized: false } });
  t.same((await again.query('select 2 as n')).rows, [{ n: 2 }], 'the proxy keeps serving TLS clients');
});

t.test('without TLS configured: sslmode=require fails, sslmode=prefer falls back to plain', async (t) => {
  const proxy = await startProxy(t, [cluster]);
  const req = await psqlConn(conninfo(proxy, 'app', 'sslmode=require'), 'select 1', APP_USER.password);
  t.not(req.code, 0, 'psql sslmode=require fails');
  t.match(req.stderr, /server does not support SSL/, req.stderr.trim());
  const prefer = await psqlConn(conninfo(proxy, 'app', 'sslmode=prefer'), '\\conninfo', APP_USER.password);
  t.equal(prefer.code, 0, `psql sslmode=prefer connects: ${prefer.stderr}`);
  t.notMatch(prefer.stdout, /SSL connection/, 'in plain text');

  const e = await connectError(proxy, { ssl: { rejectUnauthorized: false } });
  t.match(e.message, /does not support SSL/, `pg with ssl fails: ${e.message}`);
  const c = await connected(t, proxy);
  t.notOk(streamOf(c) instanceof tls.TLSSocket, 'pg without ssl: plain socket');
  t.same((await c.query('select 1 as n')).rows, [{ n: 1 }]);
});

// ------------------------------------------------------------------------------------------------

t.test('client authentication: SCRAM, md5, stored SCRAM verifier, trust', async (t) => {
  const md5User = { name: 'md5user', password: 'md5-secret' };
  const verifierUser = { name: 'verifier', password: 'verifier secret' };
  const trustUser = { name: 'trusted' };
  const proxy = await startProxy(t, [cluster], {
    users: [
      APP_USER,
      { name: md5User.name, password: md5User.password, auth: 'md5' },
      { name: verifierUser.name, password: formatScramVerifier(makeScramVerifier(verifierUser.password)) },
      { name: trustUser.name, auth: 'trust' },
    ],
  });

  const logins: { what: string; user: string; password?: string }[] = [
    { what: 'SCRAM (default method)', user: APP_USER.name, password: APP_USER.password },
    { what: 'md5', user: md5User.name, password: md5User.password },
    { what: 'stored SCRAM verifier', user: verifierUser.name, password: verifierUser.password },
    { what: 'trust', user: trustUser.name },
  ];
  for (const l of logins) {
    const r = await psql(['-w', '-At', '-c', 'select 40 + 2'], { host: proxy.host, port: proxy.port, user: l.user, password: l.password, database: 'app' });
    t.equal(r.code, 0, `${l.what}: psql logs in (${r.stderr.trim()})`);
    t.equal(r.stdout.trim(), '42', `${l.what}: psql query`);
    const c = await connected(t, proxy, { user: l.user, password: l.password ?? '' });
    t.same((await c.query('select 1 as n')).rows, [{ n: 1 }], `${l.what}: pg logs in and queries`);
    await c.end();
    if (l.password !== undefined) {
      const bad = await psql(['-w', '-At', '-c', 'select 1'], { host: proxy.host, port: proxy.port, user: l.user, password: l.password + 'x', database: 'app' });
      t.not(bad.code, 0, `${l.what}: psql with a wrong password fails`);
      t.match(bad.stderr, new RegExp(`password authentication failed for user "${l.user}"`), `${l.what}: psql shows the 28P01 message`);
      const e = await connectError(proxy, { user: l.user, password: l.password + 'x' });
      t.equal(e.code, '28P01', `${l.what}: pg with a wrong password: 28P01 (${e.message})`);
    }
  }

  // what each method looks like on the wire: the authentication request the proxy sends
  const authRequest = async (user: string): Promise<number> => {
    const raw = await RawClient.open(proxy);
    try {
      raw.send(startupMessage({ user, database: 'app' }));
      const m = await raw.read(5000);
      return m?.code === BackendCode.Authentication ? m.payload.readInt32BE(0) : -1;
    } finally {
      raw.destroy();
    }
  };
  t.equal(await authRequest(APP_USER.name), AuthCode.SASL, 'SCRAM user: AuthenticationSASL');
  t.equal(await authRequest(md5User.name), AuthCode.MD5Password, 'md5 user: AuthenticationMD5Password');
  t.equal(await authRequest(verifierUser.name), AuthCode.SASL, 'verifier user: AuthenticationSASL');
  t.equal(await authRequest(trustUser.name), AuthCode.Ok, 'trust user: AuthenticationOk at once');

  // raw logins with each method through the test's own client code too
  for (const l of logins) {
    const raw = await RawClient.open(proxy);
    t.teardown(() => raw.destroy());
    await raw.login({ user: l.user, database: 'app' }, l.password ?? '');
    t.same(await raw.rows('select 7'), [['7']], `${l.what}: raw login`);
    raw.destroy();
  }
});

// ------------------------------------------------------------------------------------------------

t.test("Prescient's own login to Postgres with each server auth method", async (t) => {
  const methods = ['md5', 'scram-sha-256', 'password', 'trust'] as const;
  const clusters = await Promise.all(methods.map((auth) => withClusters(t, 1, { auth }).then((cs) => cs[0]!)));
  for (const [i, auth] of methods.entries()) {
    const c = clusters[i]!;
    // the cluster really uses that method for TCP logins
    const hba = await psql(['-w', '-At', '-c', `select distinct auth_method from pg_hba_file_rules where type = 'host'`], {
      host: c.host, port: c.port, user: c.user, password: c.password, database: 'app',
    });
    t.equal(hba.stdout.trim(), auth, `${auth}: pg_hba uses ${auth} for host connections`);

    const proxy = await startProxy(t, [c]);
    const client = await connected(t, proxy);
    const r = await client.query<{ u: string; n: number }>('select current_user as u, 1 as n');
    t.same(r.rows, [{ u: 'postgres', n: 1 }], `${auth}: a query through the proxy works`);
    const p = await psql(['-w', '-At', '-c', 'select 6 * 7'], { host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
    t.equal(p.stdout.trim(), '42', `${auth}: psql through the proxy (${p.stderr.trim()})`);

    if (auth !== 'trust') {
      // a wrong shard password: the login fails with the server's error, the proxy survives
      const bad = await startProxy(t, [{ ...c, password: 'wrong' }]);
      const e = await connectError(bad);
      t.equal(e.code, '28P01', `${auth}: a wrong shard password gives the server's 28P01 (${e.message})`);
      t.equal(bad.proc.exitCode, null, `${auth}: proxy still running`);
    }
  }
});
