// Owns: integration tests for the login phase's limits and Postgres parity (issue 9 items 5, 6, 10, 11): start-up and
// authentication timeouts, unauthenticated sockets counted against max_client_connections, the mock SCRAM salt for
// unknown users, throttling of repeated failures per address, SASLprep on both sides, replication refused, a
// Terminate before the start-up packet, application_name, and SASLInitialResponse length checks. Raw wire clients.
import t from 'tap';
import net from 'node:net';
import { ScramClientSession } from '../../proxy/auth/scram.js';
import { freePort } from '../../scripts/testbed.js';
import { requirePostgres, psql, connOf, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { RawClient, errorFields, startupMessage, type Frame } from '../helpers/rawClient.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { AuthCode, BackendCode } from '../../proxy/protocol/MessageCode.js';

requirePostgres(t);

const [cluster] = (await withClusters(t, 1)) as [Cluster];

/** `listen` with a free port and the given keys. */
const listenWith = async (extra: Record<string, unknown>): Promise<Record<string, unknown>> => ({ host: '127.0.0.1', port: await freePort(), ...extra });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A SASLInitialResponse whose length word is `len` (the data's own length unless given). */
const saslInitial = (data: string, len?: number): Buffer => {
  const out = Fe.SASLInitialResponse('SCRAM-SHA-256', data);
  // type byte, Int32 length, 'SCRAM-SHA-256\0', then the data's Int32 length word
  if (len !== undefined) out.writeInt32BE(len, 5 + Buffer.byteLength('SCRAM-SHA-256') + 1);
  return out;
};

const authKind = (m: Frame | null): number | null => (m && m.code === BackendCode.Authentication ? m.payload.readInt32BE(0) : null);
const fields = (m: Frame | null): Record<string, string> => (m && m.code === BackendCode.ErrorResponse ? Object.fromEntries(errorFields(m)) : {});

/** Starts a login as `user` up to the server-first-message; returns the client, its SCRAM state and server-first. */
async function scramToServerFirst(proxy: ProxyHandle, user: string, password = 'whatever'): Promise<{ c: RawClient; scram: ScramClientSession; serverFirst: string }> {
  const c = await RawClient.open(proxy);
  c.send(startupMessage({ user, database: 'app' }));
  const sasl = await c.read();
  if (authKind(sasl) !== AuthCode.SASL) throw new Error(`expected AuthenticationSASL, got ${sasl?.code} ${JSON.stringify(fields(sasl))}`);
  const scram = new ScramClientSession(password);
  c.send(saslInitial(scram.clientFirst()));
  const cont = await c.read();
  if (authKind(cont) !== AuthCode.SASLContinue) throw new Error(`expected AuthenticationSASLContinue, got ${cont?.code} ${JSON.stringify(fields(cont))}`);
  return { c, scram, serverFirst: cont!.payload.toString('utf8', 4) };
}

/** A whole login (Terminate after it); rejects with the error fields. */
async function login(proxy: ProxyHandle, params: Record<string, string>, password: string): Promise<RawClient> {
  const c = await RawClient.open(proxy);
  await c.login({ database: 'app', ...params }, password);
  return c;
}

// ------------------------------------------------------------------------------------------------ item 5

t.test('start-up and authentication timeouts: silent, slowloris and stalled SCRAM sockets are closed without a word; honest logins work', async (t) => {
  const proxy = await startProxy(t, [cluster], { listen: await listenWith({ startup_timeout_ms: 1000, auth_timeout_ms: 1000 }) });
  const silent = await RawClient.open(proxy);
  t.equal(await silent.read(8000), null, 'a silent socket is closed and gets no message');

  // a start-up packet at one byte per 100 ms would take 6 s
  const slow = await RawClient.open(proxy);
  const pkt = startupMessage({ user: APP_USER.name, database: 'app', application_name: 'x'.repeat(20) });
  let sent = 0;
  while (!slow.closed && sent < pkt.length) {
    slow.send(pkt.subarray(sent, sent + 1));
    sent++;
    await sleep(100);
  }
  t.ok(slow.closed, `slowloris start-up packet cut after ${sent} of ${pkt.length} bytes`);
  t.equal(await slow.read(100), null, 'and it got no message');

  const stalled = await RawClient.open(proxy);
  stalled.send(startupMessage({ user: APP_USER.name, database: 'app' }));
  t.equal(authKind(await stalled.read()), AuthCode.SASL, 'AuthenticationSASL');
  t.equal(await stalled.read(8000), null, 'a client that never answers AuthenticationSASL is closed and told nothing');

  const mid = await scramToServerFirst(proxy, APP_USER.name);
  t.equal(await mid.c.read(8000), null, 'a client stalled after server-first-message is closed and told nothing');

  t.match(proxy.logs(), /incomplete startup packet: timeout/, 'the start-up timeout is logged');
  t.match(proxy.logs(), /canceling authentication due to timeout/, 'the authentication timeout is logged');

  const honest = await login(proxy, { user: APP_USER.name }, APP_USER.password);
  t.same(await honest.rows('select 42'), [['42']], 'an honest login is not cut');
  await sleep(1500);
  t.same(await honest.rows('select 43'), [['43']], 'nor is an authenticated session after the timeouts');
  honest.socket.destroy();
});

t.test('unauthenticated sockets count against max_client_connections: one more gets 53300 at once and is closed', async (t) => {
  const proxy = await startProxy(t, [cluster], { listen: await listenWith({ max_client_connections: 3 }) });
  const silent = await Promise.all([0, 1, 2].map(() => RawClient.open(proxy)));
  const extra = await RawClient.open(proxy);
  const m = await extra.read(5000);
  t.equal(m?.code, BackendCode.ErrorResponse, 'a fourth socket that sends nothing gets an ErrorResponse (after a grace of 1 s for its first bytes)');
  t.same([fields(m).S, fields(m).C, fields(m).M], ['FATAL', '53300', 'sorry, too many clients already']);
  t.ok(await extra.waitClosed(5000), 'and is closed');

  // libpq opens with SSLRequest (sslmode=prefer): it is told 'N', then 53300 for its start-up packet, so psql can show it
  const sslRequest = Buffer.alloc(8);
  sslRequest.writeInt32BE(8);
  sslRequest.writeInt32BE(80877103, 4);
  const libpqLike = await RawClient.open(proxy);
  libpqLike.send(sslRequest);
  const answer = await libpqLike.readBytes(1, 5000);
  libpqLike.send(startupMessage({ user: APP_USER.name, database: 'app' }));
  const refused = await libpqLike.read(5000);
  t.same([answer.toString('latin1'), refused?.code], ['N', BackendCode.ErrorResponse], "SSLRequest: 'N', then an ErrorResponse");
  t.same([fields(refused).C, fields(refused).M], ['53300', 'sorry, too many clients already'], '53300');
  t.ok(await libpqLike.waitClosed(5000), 'and is closed');
  t.equal(libpqLike.socketError, null, 'without a socket error');

  const refusedLogin = await RawClient.open(proxy);
  await t.rejects(refusedLogin.login({ user: APP_USER.name, database: 'app' }, APP_USER.password), /too many clients/, 'an honest login is refused while 3 silent sockets hold every slot');

  for (const s of silent) s.socket.destroy();
  let ok: RawClient | null = null;
  for (let i = 0; i < 50 && !ok; i++) {
    try {
      ok = await login(proxy, { user: APP_USER.name }, APP_USER.password);
    } catch {
      await sleep(100);
    }
  }
  t.ok(ok, 'slots free when the silent sockets leave');
  t.same(await ok!.rows('select 1'), [['1']]);
  ok!.socket.destroy();
});

t.test('CancelRequests free their slot: ten of them with max_client_connections 3, then an honest login works', async (t) => {
  // found chasing the fuzzer's RSS: a CancelRequest's session was marked closed without being forgotten, so each one
  // held a max_client_connections slot for good (after 1,000, every login got 53300)
  const proxy = await startProxy(t, [cluster], { listen: await listenWith({ max_client_connections: 3 }) });
  const cancel = Fe.CancelRequest(12345, 678);
  for (let i = 0; i < 10; i++) {
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: proxy.host, port: proxy.port }, () => s.write(cancel));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
  }
  const ok = await login(proxy, { user: APP_USER.name }, APP_USER.password);
  t.same(await ok.rows('select 1'), [['1']], 'a login after ten CancelRequests is served');
  ok.socket.destroy();
});

// ------------------------------------------------------------------------------------------------ item 6

t.test('an unknown user gets the same salt every time, shaped like a known user\'s', async (t) => {
  const proxy = await startProxy(t, [cluster]);
  const attrs = (serverFirst: string): { salt: Buffer; i: string } => {
    const a = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
    return { salt: Buffer.from(a.s!, 'base64'), i: a.i! };
  };
  const first = async (user: string): Promise<{ salt: Buffer; i: string }> => {
    const r = await scramToServerFirst(proxy, user);
    r.c.socket.destroy();
    return attrs(r.serverFirst);
  };
  const known1 = await first(APP_USER.name);
  const known2 = await first(APP_USER.name);
  const unknown1 = await first('nobody');
  const unknown2 = await first('nobody');
  const other = await first('nobody-else');
  t.same(known1, known2, 'a known user\'s salt does not change');
  t.same(unknown1.salt, unknown2.salt, 'an unknown user\'s salt does not change either');
  t.notSame(unknown1.salt, other.salt, 'each unknown user has its own');
  t.equal(unknown1.salt.length, known1.salt.length, 'same salt length');
  t.equal(unknown1.i, known1.i, 'same iteration count');

  // the exchange ends the same way for both: 28P01 for a wrong password
  for (const user of [APP_USER.name, 'nobody']) {
    const r = await scramToServerFirst(proxy, user, 'wrong');
    r.c.send(Fe.SASLResponse(r.scram.serverFirst(r.serverFirst)));
    const m = await r.c.read();
    t.same([fields(m).C, fields(m).M], ['28P01', `password authentication failed for user "${user}"`], `${user}: 28P01`);
  }
});

t.test('repeated failures from one address are answered late; a right password from it is not; the event loop is free', async (t) => {
  const delayMs = 2000;
  const proxy = await startProxy(t, [cluster], { auth: { failure_limit: 3, failure_delay_ms: delayMs } });
  // 30 wrong logins at once (half of them unknown users), each sending its proof at the same moment
  const attempts = await Promise.all(Array.from({ length: 30 }, (_, i) => scramToServerFirst(proxy, i % 2 ? 'nobody' : APP_USER.name, 'wrong')));
  const answers: { at: number; m: Frame | null }[] = [];
  const sentAt = Date.now();
  const done = attempts.map(async (a) => {
    a.c.send(Fe.SASLResponse(a.scram.serverFirst(a.serverFirst)));
    const m = await a.c.read(30_000);
    answers.push({ at: Date.now(), m });
  });
  // wait until the three failures within the limit are answered
  for (let i = 0; i < 100 && answers.length < 3; i++) await sleep(20);
  const good = await login(proxy, { user: APP_USER.name }, APP_USER.password);
  const goodAt = Date.now();
  t.same(await good.rows('select 7'), [['7']], 'a right password from the throttled address logs in');
  t.equal(answers.length, 3, 'while it did, only the 3 failures within the limit had been answered');
  await Promise.all(done);
  t.equal(answers.length, 30);
  t.ok(answers.every((a) => fields(a.m).C === '28P01'), 'every failure is 28P01');
  const late = answers.filter((a) => a.at > goodAt);
  t.equal(late.length, 27, '27 failures answered after the good login');
  t.ok(late.every((a) => a.at - sentAt >= delayMs - 100), `each at least ${delayMs} ms late`);
  good.socket.destroy();
  t.match(proxy.logs(), /"msg":"authentication failed".*"delayMs":2000/, 'a failure is logged with its delay');
});

// ------------------------------------------------------------------------------------------------ item 10

t.test('SASLprep: a password "IX-\\u2168" works for a shard user (Prescient logs into Postgres) and a Prescient user (psql logs in)', async (t) => {
  const password = 'IX-\u2168';
  const su = connOf(cluster);
  const made = await psql(['-At', '-c', "drop role if exists roman; create role roman login password U&'IX-\\2168'; grant all on schema public to roman"], su);
  t.equal(made.code, 0, `role created: ${made.stderr}`);
  const direct = await psql(['-w', '-At', '-c', 'select current_user'], { ...connOf(cluster), user: 'roman', password });
  t.equal(direct.stdout.trim(), 'roman', `psql logs into Postgres directly as roman: ${direct.stderr}`);

  const proxy = await startProxy(t, [cluster], {
    users: [APP_USER, { name: 'ix', password }],
    shards: [{ name: 's0', host: cluster.host, port: cluster.port, database: 'app', user: 'roman', password }],
  });
  const r = await psql(['-w', '-At', '-c', 'select current_user'], { host: proxy.host, port: proxy.port, user: 'ix', password, database: 'app' });
  t.equal(r.code, 0, `psql (libpq applies SASLprep) logs into Prescient as ix, and Prescient into Postgres as roman: ${r.stderr}`);
  t.equal(r.stdout.trim(), 'roman');
  const viaPrepared = await login(proxy, { user: 'ix' }, 'IX-IX');
  t.same(await viaPrepared.rows('select 1'), [['1']], 'the SASLprep\'d form "IX-IX" is the same password');
  viaPrepared.socket.destroy();
});

t.test('replication connections are refused at login with 0A000', async (t) => {
  const proxy = await startProxy(t, [cluster]);
  for (const value of ['database', 'true', 'on', '1']) {
    const c = await RawClient.open(proxy);
    c.send(startupMessage({ user: APP_USER.name, database: 'app', replication: value }));
    const m = await c.read();
    t.same([fields(m).S, fields(m).C, fields(m).M], ['FATAL', '0A000', 'Prescient does not support replication connections'], `replication=${value}`);
    t.ok(await c.waitClosed(5000), 'closed');
  }
  const bogus = await RawClient.open(proxy);
  bogus.send(startupMessage({ user: APP_USER.name, database: 'app', replication: 'sometimes' }));
  t.same(fields(await bogus.read()).C, '22023', 'an invalid replication value: 22023, as Postgres');
  const no = await login(proxy, { user: APP_USER.name, replication: 'false' }, APP_USER.password);
  t.same(await no.rows('select 1'), [['1']], 'replication=false is an ordinary connection');
  no.socket.destroy();
});

t.test('a Terminate before the start-up packet closes the connection silently', async (t) => {
  const proxy = await startProxy(t, [cluster]);
  const c = await RawClient.open(proxy);
  c.send(Fe.Terminate);
  t.equal(await c.read(5000), null, 'no message, the connection is closed');
  // split across two writes
  const s = await RawClient.open(proxy);
  s.send(Buffer.from([0x58, 0, 0, 0]));
  await sleep(50);
  s.send(Buffer.from([4]));
  t.equal(await s.read(5000), null, 'split: no message either');
  t.notMatch(proxy.logs(), /invalid startup packet length/);
});

t.test('application_name: a client that sets none sees "", one that sets it sees its own, on a shared server connection', async (t) => {
  const proxy = await startProxy(t, [cluster], { pool: { mode: 'transaction', size: 1 } });
  const check = async (params: Record<string, string>, want: string): Promise<void> => {
    const c = await login(proxy, { user: APP_USER.name, ...params }, APP_USER.password);
    t.equal(c.params.get('application_name'), want, `ParameterStatus application_name = ${JSON.stringify(want)}`);
    t.same(await c.rows('show application_name'), [[want]], 'show application_name');
    t.same(await c.rows('select application_name from pg_stat_activity where pid = pg_backend_pid()'), [[want]], 'pg_stat_activity');
    c.socket.destroy();
    await sleep(100);
  };
  await check({}, '');
  await check({ application_name: 'myapp' }, 'myapp');
  await check({}, '');
  await check({ options: '-c application_name=opt' }, 'opt');
});

// ------------------------------------------------------------------------------------------------ item 11

t.test('SASLInitialResponse: a data length past the message, or negative other than -1, is 08P01', async (t) => {
  const proxy = await startProxy(t, [cluster]);
  const data = 'n,,n=,r=abcdefghijkl';
  const cases: { name: string; frame: Buffer; message: string }[] = [
    { name: 'length past the message', frame: saslInitial(data, 1000), message: 'insufficient data left in message' },
    { name: 'length -5', frame: saslInitial(data, -5), message: 'insufficient data left in message' },
    // only the mechanism name: the same bytes as a PasswordMessage with that text
    { name: 'no length word', frame: Fe.PasswordMessage('SCRAM-SHA-256'), message: 'insufficient data left in message' },
    { name: 'bytes after the data', frame: saslInitial(data, data.length - 3), message: 'invalid message format' },
  ];
  for (const c of cases) {
    const r = await RawClient.open(proxy);
    r.send(startupMessage({ user: APP_USER.name, database: 'app' }));
    t.equal(authKind(await r.read()), AuthCode.SASL);
    r.send(c.frame);
    const m = await r.read();
    t.same([fields(m).S, fields(m).C, fields(m).M], ['FATAL', '08P01', c.message], c.name);
    t.ok(await r.waitClosed(5000), 'closed');
  }
  const fine = await login(proxy, { user: APP_USER.name }, APP_USER.password);
  fine.socket.destroy();
  t.pass('a well-formed SASLInitialResponse still logs in');
});

