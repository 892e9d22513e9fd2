// Owns: integration tests for the errors Prescient reports to clients (malformed frames and startup packets,
// authentication failures, pool queue timeout, a server dying mid-query, max_client_connections, bad startup
// settings) and for client startup settings following a client across server connections.
import t from 'tap';
import pg from 'pg';
import { freePort, isPidAlive } from '../../scripts/testbed.js';
import { requirePostgres, psql, withClusters, type Cluster, type TeardownCapable } from '../helpers/pg.js';
import { APP_USER, connectError, connected, newClient, startProxy, type PgError, type ProxyHandle } from '../helpers/proxy.js';
import { RawClient, errorFields, query, rawFrame, startupMessage, type Frame } from '../helpers/rawClient.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';


requirePostgres(t);

const [cluster] = (await withClusters(t, 1)) as [Cluster];
const TRUST_USER = { name: 'raw', auth: 'trust' };

function alive(proxy: ProxyHandle): boolean {
  return proxy.proc.exitCode === null && proxy.proc.signalCode === null && isPidAlive(proxy.proc.pid!);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The fields of each ErrorResponse among `frames`. */
const errorsIn = (frames: readonly Frame[]): Record<string, string>[] =>
  frames.filter((f) => f.code === BackendCode.ErrorResponse).map((f) => Object.fromEntries(errorFields(f)));

function direct(extra: pg.ClientConfig = {}): pg.Client {
  const c = new pg.Client({
    host: cluster.host,
    port: cluster.port,
    user: cluster.user,
    password: cluster.password,
    database: 'app',
    connectionTimeoutMillis: 10_000,
    ...extra,
  });
  c.on('error', () => {});
  return c;
}

// ------------------------------------------------------------------------------------------------

t.test('malformed frames and startup packets: 08P01, connection closed, proxy unaffected', async (t) => {
  const port = await freePort();
  const proxy = await startProxy(t, [cluster], {
    listen: { host: '127.0.0.1', port, max_message_size: 4096 },
    users: [APP_USER, TRUST_USER],
    // the bystander holds one server connection all along; a session that leaked the other would make later logins time out
    pool: { mode: 'transaction', size: 2, queue_timeout_ms: 3000 },
  });
  const bystander = await connected(t, proxy);
  await bystander.query('begin');
  await bystander.query('select 1');

  const afterLogin: { name: string; bytes: Buffer; scram?: boolean; inTx?: boolean }[] = [
    { name: 'negative length', bytes: rawFrame('Q', Buffer.alloc(0), -5) },
    { name: 'negative length inside a transaction', bytes: rawFrame('Q', Buffer.alloc(0), -1), inTx: true },
    { name: 'unknown type inside a transaction', bytes: rawFrame('~', Buffer.alloc(0)), inTx: true, scram: true },
    {
      name: 'garbage pipelined right after a query',
      bytes: Buffer.concat([query('select pg_sleep(0.3)'), rawFrame(0, Buffer.alloc(8))]),
    },
    { name: 'length below 4', bytes: rawFrame('Q', Buffer.alloc(0), 3), scram: true },
    { name: 'length over max_message_size (header only)', bytes: rawFrame('Q', Buffer.alloc(0), 100_000) },
    { name: 'a real Query over max_message_size', bytes: query(`select '${'x'.repeat(5000)}'`), scram: true },
    { name: 'unknown message type byte', bytes: rawFrame('z', Buffer.from([1, 2, 3])) },
    { name: 'a PasswordMessage after login', bytes: Fe.PasswordMessage('secret'), scram: true },
  ];
  for (const c of afterLogin) {
    const raw = await RawClient.open(proxy);
    t.teardown(() => raw.destroy());
    if (c.scram) await raw.login({ user: APP_USER.name, database: 'app' }, APP_USER.password);
    else await raw.login({ user: TRUST_USER.name, database: 'app' });
    t.same(await raw.rows('select 41 + 1'), [['42']], `${c.name}: the session works before`);
    if (c.inTx) t.same(errorsIn(await raw.query('begin')), [], `${c.name}: begin`);
    raw.send(c.bytes);
    const m = await raw.read(5000);
    t.equal(m?.code, BackendCode.ErrorResponse, `${c.name}: ErrorResponse`);
    const f = m ? errorFields(m) : new Map<string, string>();
    t.equal(f.get('C'), '08P01', `${c.name}: SQLSTATE 08P01 (${f.get('M')})`);
    t.equal(f.get('S'), 'FATAL', `${c.name}: FATAL`);
    t.same([...f.keys()].filter((k) => !'SVCMDH'.includes(k)), [], `${c.name}: a well-formed ErrorResponse (no stray fields)`);
    t.ok(await raw.waitClosed(5000), `${c.name}: the proxy closed the connection`);
    t.ok(alive(proxy), `${c.name}: proxy still running`);
    t.same((await bystander.query('select 2 as n')).rows, [{ n: 2 }], `${c.name}: the other client keeps working`);
  }

  const badLen = (n: number, extra = 0): Buffer => {
    const b = Buffer.alloc(4 + extra);
    b.writeInt32BE(n | 0, 0);
    return b;
  };
  const startupCases: { name: string; bytes: Buffer; code: string }[] = [
    { name: 'startup length 4 (< 8)', bytes: badLen(4), code: '08P01' },
    { name: 'startup length 7 (< 8)', bytes: badLen(7, 3), code: '08P01' },
    { name: 'negative startup length', bytes: badLen(-1, 8), code: '08P01' },
    { name: 'huge startup length (2^31-1)', bytes: badLen(0x7fffffff, 12), code: '08P01' },
    { name: 'startup length over max_startup_packet (20000)', bytes: badLen(20000, 100), code: '08P01' },
    // Postgres itself answers an unsupported protocol version with 0A000 (feature_not_supported), not 08P01
    { name: 'protocol version 2.0', bytes: startupMessage({ user: 'app', database: 'app' }, 2, 0), code: '0A000' },
    { name: 'protocol version 4.0', bytes: startupMessage({ user: 'app', database: 'app' }, 4, 0), code: '0A000' },
  ];
  for (const c of startupCases) {
    const raw = await RawClient.open(proxy);
    t.teardown(() => raw.destroy());
    raw.send(c.bytes);
    const m = await raw.read(5000);
    t.equal(m?.code, BackendCode.ErrorResponse, `${c.name}: ErrorResponse`);
    const f = m ? errorFields(m) : new Map<string, string>();
    t.equal(f.get('C'), c.code, `${c.name}: SQLSTATE ${c.code} (${f.get('M')})`);
    t.equal(f.get('S'), 'FATAL', `${c.name}: FATAL`);
    t.ok(await raw.waitClosed(5000), `${c.name}: the proxy closed the connection`);
    t.ok(alive(proxy), `${c.name}: proxy still running`);
  }

  // a startup packet that is never completed is not an error (the client may be slow): no reply yet
  const slow = await RawClient.open(proxy);
  t.teardown(() => slow.destroy());
  slow.send(badLen(64, 4));
  t.equal(await slow.read(300).catch(() => 'timeout'), 'timeout', 'an incomplete startup packet just waits');
  slow.destroy();

  t.same((await bystander.query('select 3 as n')).rows, [{ n: 3 }], 'the bystander, still in its transaction, works');
  await bystander.query('commit');
  const late = await connected(t, proxy);
  t.same((await late.query('select 4 as n')).rows, [{ n: 4 }], 'a new client connects and queries afterwards');
  t.ok(alive(proxy), 'proxy still running at the end');
  t.notMatch(proxy.logs(), /internal error in session/, 'no internal errors logged');
});

// ------------------------------------------------------------------------------------------------

t.test('authentication errors: wrong password, unknown user (28P01), unknown database (3D000)', async (t) => {
  const proxy = await startProxy(t, [cluster]);
  const conn = { host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' };

  const ok = await psql(['-w', '-At', '-c', 'select 1'], conn);
  t.equal(ok.code, 0, `psql with the right password works: ${ok.stderr}`);

  const wrong = await psql(['-w', '-At', '-c', 'select 1'], { ...conn, password: 'not-the-password' });
  t.not(wrong.code, 0, 'psql with a wrong password fails');
  t.match(wrong.stderr, /password authentication failed for user "app"/, 'psql shows the 28P01 message');

  let e = await connectError(proxy, { password: 'not-the-password' });
  t.equal(e.code, '28P01', `pg, wrong password: ${e.message}`);
  t.match(e.message, /password authentication failed/);

  e = await connectError(proxy, { user: 'nobody', password: 'whatever' });
  t.equal(e.code, '28P01', `pg, unknown user: ${e.message}`);
  const unknownUser = await psql(['-w', '-At', '-c', 'select 1'], { ...conn, user: 'nobody', password: 'whatever' });
  t.not(unknownUser.code, 0, 'psql, unknown user fails');
  t.match(unknownUser.stderr, /password authentication failed for user "nobody"/);

  e = await connectError(proxy, { database: 'nope' });
  t.equal(e.code, '3D000', `pg, unknown database: ${e.message}`);
  t.match(e.message, /database "nope" does not exist/);
  const unknownDb = await psql(['-w', '-At', '-c', 'select 1'], { ...conn, database: 'nope' });
  t.not(unknownDb.code, 0, 'psql, unknown database fails');
  t.match(unknownDb.stderr, /database "nope" does not exist/);

  t.ok(alive(proxy), 'proxy still running');
  const after = await connected(t, proxy);
  t.same((await after.query('select 1 as n')).rows, [{ n: 1 }], 'a good client works afterwards');
});

// ------------------------------------------------------------------------------------------------

t.test('pool queue timeout: 53300 for the waiting request, the session survives', async (t) => {
  const proxy = await startProxy(t, [cluster], { pool: { mode: 'transaction', size: 1, queue_timeout_ms: 500 } });
  // both log in while the single server connection is free (the first login of its kind needs a server connection)
  const a = await connected(t, proxy);
  const b = await connected(t, proxy);
  await a.query('begin');
  await a.query('select 1');

  const started = Date.now();
  const err = (await b.query('select 1').then(
    () => null,
    (e: unknown) => e,
  )) as PgError | null;
  const waited = Date.now() - started;
  t.ok(err, 'B gets an error while A holds the only server connection');
  t.equal(err?.code, '53300', 'SQLSTATE 53300');
  t.match(err?.message ?? '', /pool queue timeout/, `message: ${err?.message}`);
  t.ok(waited >= 400 && waited < 5000, `B waited about queue_timeout_ms (${waited} ms)`);

  // a login like one answered before needs no server connection: it succeeds, and its first query waits like B's
  const c = await connected(t, proxy);
  const cErr = (await c.query('select 1').then(() => null, (e: unknown) => e)) as PgError | null;
  t.equal(cErr?.code, '53300', `a login while the pool is exhausted succeeds; its query: ${cErr?.message}`);

  t.same((await a.query('select 2 as n')).rows, [{ n: 2 }], 'A still in its transaction');
  await a.query('commit');
  t.same((await b.query('select 3 as n')).rows, [{ n: 3 }], "B's session works after A commits");
  t.same((await a.query('select 4 as n')).rows, [{ n: 4 }], 'and A too');
});

// ------------------------------------------------------------------------------------------------

t.test('a server that dies mid-query: the client gets 57P01/08xxx, new clients get a fresh server', async (t) => {
  const proxy = await startProxy(t, [cluster]);
  const victim = newClient(proxy);
  await victim.connect();
  t.teardown(() => victim.end().catch(() => {}));
  const ended = new Promise<void>((resolve) => victim.once('end', () => resolve()));
  const sleeping = victim.query('select pg_sleep(10)').then(
    () => null,
    (e: unknown) => e as PgError,
  );

  const su = direct();
  await su.connect();
  t.teardown(() => su.end().catch(() => {}));
  const find = `select pid from pg_stat_activity where query like '%pg_sleep(10)%' and pid <> pg_backend_pid() and state = 'active'`;
  let killedPid = 0;
  for (let i = 0; i < 100 && !killedPid; i++) {
    const r = await su.query<{ pid: number }>(find);
    if (r.rows.length > 0) killedPid = r.rows[0]!.pid;
    else await sleep(50);
  }
  t.ok(killedPid > 0, `found the server backend running pg_sleep (pid ${killedPid})`);
  const term = await su.query<{ t: boolean }>(
    `select pg_terminate_backend(pid) as t from pg_stat_activity where query like '%pg_sleep(10)%' and pid <> pg_backend_pid()`,
  );
  t.same(term.rows, [{ t: true }], 'terminated');

  const err = await sleeping;
  t.ok(err, 'the client query fails');
  const code = err?.code ?? '';
  t.ok(code === '57P01' || code.startsWith('08'), `SQLSTATE 57P01 or class 08 (got ${code}: ${err?.message})`);
  await Promise.race([ended, sleep(5000)]);
  t.ok(alive(proxy), 'proxy still running');

  const fresh = await connected(t, proxy);
  const r = await fresh.query<{ pid: number; n: number }>('select pg_backend_pid() as pid, 1 as n');
  t.equal(r.rows[0]!.n, 1, 'a new client runs select 1');
  t.not(r.rows[0]!.pid, killedPid, `served by a different server backend (${r.rows[0]!.pid})`);
  for (let i = 0; i < 5; i++) {
    const again = await fresh.query<{ pid: number }>('select pg_backend_pid() as pid');
    t.not(again.rows[0]!.pid, killedPid, 'the dead server connection is never handed out again');
  }

  // server connections that die while idle in the pool are dropped, not handed out (a server connection logs in as
  // 'prescient'; one that served a client who set no application_name has that client's '')
  const idle = await su.query<{ pid: number }>(
    `select pid from pg_stat_activity where application_name in ('prescient', '') and pid <> pg_backend_pid() and backend_type = 'client backend'`,
  );
  t.ok(idle.rows.length >= 1, `${idle.rows.length} idle server connection(s) in the pool`);
  await su.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name in ('prescient', '') and pid <> pg_backend_pid() and backend_type = 'client backend'`);
  for (let i = 0; i < 100; i++) {
    const left = await su.query(`select 1 from pg_stat_activity where pid = any($1)`, [idle.rows.map((r) => r.pid)]);
    if (left.rows.length === 0) break;
    await sleep(50);
  }
  await sleep(200);
  const afterIdleKill = await fresh.query<{ pid: number }>('select pg_backend_pid() as pid');
  t.notOk(idle.rows.some((r) => r.pid === afterIdleKill.rows[0]!.pid), 'the idle client gets a new server connection');
  t.ok(alive(proxy), 'proxy still running');
});

// ------------------------------------------------------------------------------------------------

t.test('max_client_connections: the third client gets 53300 too many clients', async (t) => {
  const port = await freePort();
  const proxy = await startProxy(t, [cluster], { listen: { host: '127.0.0.1', port, max_client_connections: 2 } });
  const c1 = newClient(proxy);
  await c1.connect();
  const c2 = await connected(t, proxy);
  const e = await connectError(proxy);
  t.equal(e.code, '53300', `third client refused: ${e.message}`);
  t.match(e.message, /too many clients/);
  const viaPsql = await psql(['-w', '-At', '-c', 'select 1'], {
    host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app',
  });
  t.not(viaPsql.code, 0, 'psql is refused too');
  t.match(viaPsql.stderr, /too many clients/);
  t.same((await c2.query('select 1 as n')).rows, [{ n: 1 }], 'admitted clients keep working');
  await c1.end();
  const c3 = await connected(t, proxy);
  t.same((await c3.query('select 2 as n')).rows, [{ n: 2 }], 'a slot frees when a client leaves');
  t.ok(alive(proxy), 'proxy still running');
});

// ------------------------------------------------------------------------------------------------

t.test("bad startup setting values: the login fails with the server's own error", async (t) => {
  const proxy = await startProxy(t, [cluster], { users: [APP_USER, TRUST_USER] });

  // what Postgres itself says for the same startup settings
  const directError = async (extra: pg.ClientConfig): Promise<PgError> => {
    const c = direct(extra);
    try {
      await c.connect();
    } catch (e) {
      return e as PgError;
    } finally {
      await c.end().catch(() => {});
    }
    throw new Error('direct connect unexpectedly succeeded');
  };

  for (const options of ['-c statement_timeout=bogus', '-c TimeZone=Nowhere/Bogus', '-c work_mem=-5']) {
    const want = await directError({ options });
    const e = await connectError(proxy, { options });
    t.equal(e.code, want.code, `options '${options}': same SQLSTATE as Postgres (${e.code}: ${e.message})`);
    t.match(e.code ?? '', /^22/, `options '${options}': class 22`);
    t.equal(e.message, want.message, 'same message as Postgres');
  }
  // an unknown parameter name: Postgres says 42704
  {
    const want = await directError({ options: '-c no_such_setting=1' });
    const e = await connectError(proxy, { options: '-c no_such_setting=1' });
    t.equal(e.code, want.code, `unknown setting: same SQLSTATE as Postgres (${e.code}: ${e.message})`);
  }

  // TimeZone as a startup parameter of its own (not inside options), with the raw client
  const raw = await RawClient.open(proxy);
  t.teardown(() => raw.destroy());
  const fields = await raw.login({ user: TRUST_USER.name, database: 'app', TimeZone: 'Nowhere/Bogus' }).then(
    () => null,
    (e: { fields?: Map<string, string> }) => e.fields ?? null,
  );
  t.equal(fields?.get('C'), '22023', `startup parameter TimeZone=Nowhere/Bogus: 22023 (${fields?.get('M')})`);
  t.equal(fields?.get('S'), 'FATAL');
  t.ok(await raw.waitClosed(5000), 'connection closed');

  const viaPsql = await psql(['-w', '-At', '-c', 'select 1'], {
    host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app',
    env: { PGOPTIONS: '-c statement_timeout=bogus' },
  });
  t.not(viaPsql.code, 0, 'psql with PGOPTIONS statement_timeout=bogus fails');
  t.match(viaPsql.stderr, /invalid value for parameter "statement_timeout"/);

  t.ok(alive(proxy), 'proxy still running');
  const good = await connected(t, proxy, { options: '-c statement_timeout=2500' });
  t.same((await good.query('show statement_timeout')).rows, [{ statement_timeout: '2500ms' }], 'a good client logs in and has its setting');
});

// ------------------------------------------------------------------------------------------------

t.test('client startup settings follow the client to whatever server serves it', async (t) => {
  const proxy = await startProxy(t, [cluster], { pool: { mode: 'transaction', size: 2 } });
  const specs = [
    { name: 'x', extra: { options: '-c search_path=myschema,public -c statement_timeout=1234', application_name: 'client-x' } },
    { name: 'y', extra: { options: '-c search_path=\\"Odd\\ Schema\\",other -c statement_timeout=4321 -c DateStyle=SQL,DMY', application_name: 'client-y' } },
    { name: 'z', extra: { application_name: 'client-z' } },
  ];
  const probe = async (c: pg.Client): Promise<{ timeout: string; path: string; app: string; datestyle: string; pid: number }> => {
    await c.query('begin');
    const timeout = (await c.query<{ statement_timeout: string }>('show statement_timeout')).rows[0]!.statement_timeout;
    const path = (await c.query<{ search_path: string }>('show search_path')).rows[0]!.search_path;
    const r = await c.query<{ app: string; datestyle: string; pid: number }>(
      `select current_setting('application_name') as app, current_setting('DateStyle') as datestyle, pg_backend_pid() as pid`,
    );
    await c.query('commit');
    // SET search_path TO 'a', 'b' (how a proxy must replay a list setting) shows 'a, b' where a startup
    // `-c search_path=a,b` shows 'a,b': same list, so compare the elements
    return { timeout, path: path.split(',').map((s) => s.trim()).join(','), ...r.rows[0]! };
  };

  const clients: { name: string; client: pg.Client; want: Omit<Awaited<ReturnType<typeof probe>>, 'pid'> }[] = [];
  for (const s of specs) {
    // ground truth: the same startup settings on a direct connection to Postgres
    const d = direct(s.extra);
    await d.connect();
    const { pid: _pid, ...want } = await probe(d);
    await d.end();
    clients.push({ name: s.name, client: await connected(t, proxy, s.extra), want });
  }
  t.equal(clients[0]!.want.timeout, '1234ms');
  t.equal(clients[0]!.want.app, 'client-x');
  t.equal(clients[0]!.want.path, 'myschema,public');
  t.equal(clients[1]!.want.path, '"Odd Schema",other');

  const pids = new Map<string, Set<number>>();
  const mismatches: string[] = [];
  let runs = 0;
  await Promise.all(
    clients.map(async ({ name, client, want }) => {
      const seen = new Set<number>();
      pids.set(name, seen);
      for (let i = 0; i < 60; i++) {
        const { pid, ...got } = await probe(client);
        seen.add(pid);
        runs++;
        if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${name}#${i} on ${pid}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
        // also a non-transaction statement now and then, to shuffle which server is free
        if (i % 7 === 0) await client.query('select pg_sleep(0.005)');
      }
    }),
  );
  t.equal(runs, 180, 'all transactions ran');
  t.same(mismatches.slice(0, 10), [], `every transaction saw its own client's settings (${mismatches.length} mismatches)`);
  for (const [name, seen] of pids) t.ok(seen.size >= 2, `client ${name} was served by ${seen.size} server connections`);
});
