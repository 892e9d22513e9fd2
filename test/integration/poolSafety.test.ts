// Owns: the pool's safety rules, each a defect found by fuzzing (issue 9), as the exact message sequences that showed
// it: a server connection goes back to the pool only when Prescient saw it idle after a Sync it sent; resets time
// out; one client's DISCARD ALL / DEALLOCATE ALL / Bind of a name it never prepared costs nobody else anything;
// statement text passes as bytes; pipelining is bounded; more clients than server connections with pgbench -M prepared.
import t from 'tap';
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { requirePostgres, findPgBin, withClusters, type Cluster, type TeardownCapable } from '../helpers/pg.js';
import { runCommand } from '../../scripts/testbed.js';
import { APP_USER, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import {
  RawClient, bind, commandTag, copyData, copyDone, dataRowText, errorFields, execute, flush, parse, query, sync, describe, type Frame,
} from '../helpers/rawClient.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';
import { PoolMode } from '../../config/schema.js';

requirePostgres(t);

const [cluster] = (await withClusters(t, 1)) as [Cluster];
const ADMIN = { name: 'admin', password: 'admin-secret' };

function direct(): pg.Client {
  const c = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'app' });
  c.on('error', () => {});
  return c;
}

async function sql(text: string): Promise<pg.QueryResult> {
  const c = direct();
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

function raw(proxy: ProxyHandle, user = APP_USER, database = 'app'): Promise<RawClient> {
  return RawClient.connect({ host: proxy.host, port: proxy.port, user: user.name, password: user.password, database });
}

const codes = (frames: Frame[]): string => frames.map((f) => String.fromCharCode(f.code)).join('');
const errorCode = (frames: Frame[]): string | undefined => {
  const e = frames.find((f) => f.code === BackendCode.ErrorResponse);
  return e ? errorFields(e).get('C') : undefined;
};

/** SHOW POOLS on the admin console: the first pool's row as name → value. */
async function pools(proxy: ProxyHandle): Promise<Map<string, string>> {
  const admin = await raw(proxy, ADMIN, 'prescient');
  try {
    const frames = await admin.query('SHOW POOLS');
    const desc = frames.find((f) => f.code === BackendCode.RowDescription)!;
    const names: string[] = [];
    let at = 2;
    for (let i = 0; i < desc.payload.readInt16BE(0); i++) {
      const end = desc.payload.indexOf(0, at);
      names.push(desc.payload.toString('utf8', at, end));
      at = end + 1 + 18;
    }
    const row = dataRowText(frames.find((f) => f.code === BackendCode.DataRow)!);
    return new Map(names.map((n, i) => [n, row[i] ?? '']));
  } finally {
    await admin.close();
  }
}

/** One server connection: the next client always gets the connection the previous one left. */
async function onePool(t: TeardownCapable, extra: Record<string, unknown> = {}): Promise<ProxyHandle> {
  return startProxy(t, [cluster], { pool: { mode: PoolMode.Transaction, size: 1, queue_timeout_ms: 4000, ...extra }, admin: { users: [ADMIN] } });
}

await sql('create table if not exists safety (id int primary key, note text)');

t.test('a client that leaves mid-request never hands its server state to the next client', async (t) => {
  const proxy = await onePool(t);
  const cases: { name: string; left: Buffer[]; owe: string; check: () => Promise<void> }[] = [
    {
      name: 'Parse/Bind/Execute of begin + Flush, then gone: the next autocommit insert is committed',
      left: [parse('', 'begin'), bind(), execute(), flush()],
      owe: '12C',
      check: async () => {
        const next = await raw(proxy);
        const frames = await next.query('insert into safety values (1, \'after begin\')');
        t.equal(errorCode(frames), undefined, 'insert answered');
        t.equal(frames.at(-1)!.payload[0], 0x49, 'ReadyForQuery says idle');
        await next.close();
        t.equal((await sql('select count(*)::int as n from safety where id = 1')).rows[0].n, 1, 'the row is there');
      },
    },
    {
      name: 'an INSERT with Flush and no Sync, then gone: rolled back, as against Postgres',
      left: [parse('', "insert into safety values (2, 'abandoned')"), bind(), execute(), flush()],
      owe: '12C',
      check: async () => {
        const next = await raw(proxy);
        t.equal(errorCode(await next.query('select 1')), undefined);
        await next.close();
        t.equal((await sql('select count(*)::int as n from safety where id = 2')).rows[0].n, 0, 'the abandoned insert is not committed');
      },
    },
    {
      name: 'a failing Parse + Flush, then gone: the next login is answered',
      left: [parse('', 'selec 1'), flush()],
      owe: 'E',
      check: async () => {
        const next = await raw(proxy);
        t.same(dataRowText((await next.query('select 7')).find((f) => f.code === BackendCode.DataRow)!), ['7']);
        await next.close();
      },
    },
    {
      // found by a million-input fuzz run: the Query cleared "unsynced", the server ignored it (skipping to Sync after
      // the Parse error), and the connection went back to the pool still skipping: the next client's Queries were
      // never answered (a client pipelining them without reading stayed listed for good)
      name: 'a failing Parse then a simple Query, no Sync, then gone: the next client is answered',
      left: [parse('', 'selec 1'), query('select 2')],
      owe: 'E',
      check: async () => {
        const next = await raw(proxy);
        t.same(await next.rows('select 8'), [['8']], 'the next client is answered');
        await next.close();
      },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const gone = await raw(proxy);
      gone.send(...c.left);
      const got = await gone.readUntil((f) => codes([f]) === c.owe.at(-1));
      t.equal(codes(got), c.owe, 'the server answered up to the Flush');
      gone.destroy();
      await c.check();
    });
  }
});

t.test('twenty clients that LISTEN, fail a Parse and Flush, then leave: no server connection leaks', async (t) => {
  const proxy = await startProxy(t, [cluster], { pool: { mode: PoolMode.Transaction, size: 4, queue_timeout_ms: 4000 }, admin: { users: [ADMIN] } });
  for (let i = 0; i < 20; i++) {
    const c = await raw(proxy);
    await c.query('listen leak');
    c.send(parse('', 'selec 1'), flush());
    await c.readUntil((f) => f.code === BackendCode.ErrorResponse);
    c.destroy();
  }
  const ok = await raw(proxy);
  t.same(dataRowText((await ok.query('select 1')).find((f) => f.code === BackendCode.DataRow)!), ['1'], 'a new client is served');
  await ok.close();
  const p = await pools(proxy);
  t.ok(Number(p.get('server_active') ?? p.get('active') ?? '0') === 0, `no server connection active with no client (${JSON.stringify([...p])})`);
});

t.test('a reset that does not finish in time closes the server connection and the pool goes on', async (t) => {
  const proxy = await startProxy(t, [cluster], {
    pool: { mode: PoolMode.Session, size: 1, queue_timeout_ms: 8000, reset_query: 'select pg_sleep(30)', reset_timeout_ms: 300 },
  });
  const a = await raw(proxy);
  await a.query('select 1');
  await a.close();
  const b = await raw(proxy);
  t.same(dataRowText((await b.query('select 2')).find((f) => f.code === BackendCode.DataRow)!), ['2'], 'the next client gets a fresh connection');
  await b.close();
  t.match(proxy.logs(), /server reset timed out/);
});

t.test('one client cannot break or read another client\'s prepared statements', async (t) => {
  const proxy = await onePool(t);
  const owner = await raw(proxy);
  owner.send(parse('mine', "select 'owner secret'::text"), sync());
  t.equal(codes(await owner.readUntilReady()), '1Z');

  await t.test('DISCARD ALL and "select 1; deallocate all" from another client', async (t) => {
    for (const text of ['discard all', 'select 1; deallocate all']) {
      const other = await raw(proxy);
      t.equal(errorCode(await other.query(text)), undefined, `${text} runs`);
      await other.close();
      owner.send(bind({ statement: 'mine' }), execute(), sync());
      const frames = await owner.readUntilReady();
      t.equal(errorCode(frames), undefined, `the owner's statement still works after another client's ${text}`);
      t.same(dataRowText(frames.find((f) => f.code === BackendCode.DataRow)!), ['owner secret']);
    }
  });

  await t.test('a Bind of a server-side name the client never prepared is refused', async (t) => {
    const thief = await raw(proxy);
    for (const name of ['prescient_1', 'prescient_2', 'mine']) {
      thief.send(bind({ statement: name }), execute(), sync());
      const frames = await thief.readUntilReady();
      t.equal(errorCode(frames), '26000', `Bind of ${name}: 26000`);
      t.notOk(frames.some((f) => f.code === BackendCode.DataRow), 'no rows');
    }
    thief.send(describe('S', 'prescient_1'), sync());
    t.equal(errorCode(await thief.readUntilReady()), '26000', 'Describe too');
    for (const text of ['execute prescient_1', 'EXECUTE "prescient_1"', 'deallocate prescient_1', 'execute U&"\\0070rescient_1"']) {
      t.equal(errorCode(await thief.query(text)), '42939', `${text}: refused`);
    }
    await thief.close();
  });

  await t.test('DISCARD ALL from the owner resets its own statements', async (t) => {
    t.equal(errorCode(await owner.query('discard all')), undefined);
    owner.send(bind({ statement: 'mine' }), execute(), sync());
    t.equal(errorCode(await owner.readUntilReady()), '26000', 'gone for the client that discarded');
    owner.send(parse('mine', 'select 2'), bind({ statement: 'mine' }), execute(), sync());
    t.equal(codes(await owner.readUntilReady()), '12DCZ', 'and it can prepare the name again');
  });
  await owner.close();
});

t.test('SQL PREPARE / EXECUTE / DEALLOCATE act on the server connection, which the session keeps meanwhile', async (t) => {
  const proxy = await startProxy(t, [cluster], { pool: { mode: PoolMode.Transaction, size: 2 }, admin: { users: [ADMIN] } });
  const c = await raw(proxy);
  t.equal(commandTag((await c.query('prepare p (int) as select $1 + 1')).find((f) => f.code === BackendCode.CommandComplete)!), 'PREPARE');
  const other = await raw(proxy);
  await other.query('begin');
  await other.query('select 1'); // holds the other server connection, so a release would hand c a different one
  t.same(dataRowText((await c.query('execute p(41)')).find((f) => f.code === BackendCode.DataRow)!), ['42']);
  t.equal(commandTag((await c.query('deallocate p')).find((f) => f.code === BackendCode.CommandComplete)!), 'DEALLOCATE');
  await other.query('commit');
  await other.close();
  await c.close();
  // p is gone from every server connection
  const check = await raw(proxy);
  for (let i = 0; i < 2; i++) t.equal(errorCode(await check.query('execute p(1)')), '26000');
  await check.close();
});

t.test('a temporary table keeps its session on its server connection until it is dropped', async (t) => {
  const proxy = await startProxy(t, [cluster], { pool: { mode: PoolMode.Transaction, size: 2 }, admin: { users: [ADMIN] } });
  const a = await raw(proxy);
  await a.query('create temp table person (id int)');
  const b = await raw(proxy);
  t.equal(errorCode(await b.query('create temp table person (id int)')), undefined, 'another client creates its own');
  t.equal(errorCode(await a.query('insert into person values (1)')), undefined, 'the first still sees its table');
  await a.query('drop table person');
  await b.query('drop table person');
  await a.close();
  await b.close();
});

t.test('a temporary table made by CREATE TABLE … AS or SELECT … INTO keeps its session there too (their tag is SELECT n)', async (t) => {
  const cases = [
    { name: 'CREATE TEMP TABLE … AS', create: 'create temp table tas as select 1 as id', table: 'tas' },
    { name: 'CREATE TEMP TABLE … AS … WITH NO DATA', create: 'create temp table tnd as select 1 as id with no data', table: 'tnd' },
    { name: 'SELECT … INTO TEMP', create: 'select 1 as id into temp tinto', table: 'tinto' },
    { name: 'after another statement in the same query', create: 'select 2; create temporary table tmulti as select 1 as id', table: 'tmulti' },
  ];
  const proxy = await startProxy(t, [cluster], { pool: { mode: PoolMode.Transaction, size: 2 }, admin: { users: [ADMIN] } });
  for (const c of cases) {
    const a = await raw(proxy);
    t.equal(errorCode(await a.query(c.create)), undefined, `${c.name}: created`);
    const b = await raw(proxy);
    // b runs on the other server connection, and a's table is not there
    t.equal(errorCode(await b.query(`create temp table ${c.table} (id int)`)), undefined, `${c.name}: another client creates its own`);
    t.equal(errorCode(await a.query(`insert into ${c.table} values (1)`)), undefined, `${c.name}: the first still sees its table`);
    await a.close();
    await b.close();
  }
});

t.test('statement text passes as bytes: LATIN1 client, invalid UTF-8', async (t) => {
  const proxy = await onePool(t);
  const c = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app', params: { client_encoding: 'LATIN1' } });
  const latin1 = Buffer.from("insert into safety values (10, 'caf\xe9')", 'latin1');
  const named = Buffer.concat([Buffer.from('P'), Buffer.alloc(4), Buffer.from('ins\0'), latin1, Buffer.from([0, 0, 0])]);
  named.writeInt32BE(named.length - 1, 1);
  c.send(named, bind({ statement: 'ins' }), execute(), sync());
  t.equal(errorCode(await c.readUntilReady()), undefined);
  t.equal((await sql('select note from safety where id = 10')).rows[0].note, 'café', 'é arrives as é');
  await c.close();

  const u = await raw(proxy);
  const bad = Buffer.concat([Buffer.from('P'), Buffer.alloc(4), Buffer.from('bad\0'), Buffer.from("select '"), Buffer.from([0xc3, 0x28]), Buffer.from("'\0"), Buffer.from([0, 0])]);
  bad.writeInt32BE(bad.length - 1, 1);
  u.send(bad, sync());
  t.equal(errorCode(await u.readUntilReady()), '22021', 'invalid UTF-8 is refused by Postgres, not replaced');
  const trailing = Buffer.concat([parse('t', 'select 1'), Buffer.from([0x41])]);
  trailing.writeInt32BE(trailing.length - 1, 1);
  u.send(trailing, sync());
  const frames = await u.readUntil((f) => f.code === BackendCode.ErrorResponse);
  t.equal(errorCode(frames), '08P01', 'a Parse with trailing bytes is malformed');
  u.destroy();
});

t.test('a client pipelining thousands of queries without reading costs bounded time and memory', async (t) => {
  const proxy = await onePool(t, { size: 2 });
  const greedy = await raw(proxy);
  const n = 50_000;
  const one = query('select 1');
  greedy.send(Buffer.concat(Array.from({ length: n }, () => one)));
  const start = Date.now();
  const honest = await raw(proxy);
  t.same(dataRowText((await honest.query('select 5')).find((f) => f.code === BackendCode.DataRow)!), ['5'], 'an honest client is served meanwhile');
  await honest.close();
  // every one of the greedy client's queries is answered, in order
  let ready = 0;
  while (ready < n) {
    const f = await greedy.next(30000);
    if (f.code === BackendCode.ReadyForQuery) ready++;
  }
  t.equal(ready, n, `${n} answers in ${Date.now() - start} ms`);
  await greedy.close();
});

t.test('pgbench -M prepared with more clients than server connections', { skip: !findPgBin('pgbench') && 'pgbench not found' }, async (t) => {
  const proxy = await startProxy(t, [cluster], { pool: { mode: PoolMode.Transaction, size: 4, queue_timeout_ms: 5000 } });
  const env = { ...process.env, PGPASSWORD: cluster.password };
  const init = await runCommand(findPgBin('pgbench'), ['-i', '-q', '-s', '1', '-h', cluster.host, '-p', String(cluster.port), '-U', cluster.user, 'app'], { env });
  t.equal(init.code, 0, init.stderr);
  for (const builtin of ['tpcb-like', 'simple-update']) {
    const r = await runCommand(findPgBin('pgbench'), ['-n', '-T', '3', '-c', '6', '-b', builtin, '-M', 'prepared', '-h', proxy.host, '-p', String(proxy.port), '-U', APP_USER.name, 'app'], {
      env: { ...process.env, PGPASSWORD: APP_USER.password },
    });
    t.equal(r.code, 0, `${builtin}: ${r.stderr.slice(-800)}`);
    t.match(r.stdout, /number of failed transactions: 0/);
  }
});

t.test('a re-Parse after a schema change reaches the server (shared statements are not reused stale)', async (t) => {
  const proxy = await onePool(t);
  await sql('drop table if exists rp; create table rp (name text); drop table if exists rq; create table rq (a int); insert into rq values (1)');
  const a = await raw(proxy);
  a.send(parse('ins', 'insert into rp (name) values ($1)'), bind({ statement: 'ins', params: ['x'] }), execute(), sync());
  t.equal(errorCode(await a.readUntilReady()), undefined, 'prepared while name is text');
  t.equal(errorCode(await a.query('drop table rp; create table rp (name integer)')), undefined, 'DDL through Prescient');
  const b = await raw(proxy);
  b.send(parse('ins', 'insert into rp (name) values ($1)'), bind({ statement: 'ins', params: ['5'] }), execute(), sync());
  t.equal(errorCode(await b.readUntilReady()), undefined, 'a new client\'s Parse of the same text is planned against the new table (no 42804)');

  const c = await raw(proxy);
  c.send(parse('s', 'select * from rq'), describe('S', 's'), bind({ statement: 's' }), execute(), sync());
  t.equal(errorCode(await c.readUntilReady()), undefined);
  await sql('alter table rq add column b int'); // DDL Prescient does not see
  c.send(bind({ statement: 's' }), execute(), sync());
  t.equal(errorCode(await c.readUntilReady()), '0A000', 'the old statement is stale, as Postgres says');
  c.send(Buffer.from([0x43, 0, 0, 0, 7, 0x53, 0x73, 0]), parse('s', 'select * from rq'), describe('S', 's'), bind({ statement: 's' }), execute(), sync());
  const frames = await c.readUntilReady();
  t.equal(errorCode(frames), undefined, 'the re-Parse reached the server');
  t.same(dataRowText(frames.find((f) => f.code === BackendCode.DataRow)!), ['1', null], 'rows of the new shape');
  for (const x of [a, b, c]) await x.close();
});

t.test('a statement prepared again on another server connection never returns rows of a shape the client was not described', async (t) => {
  // the postgres.js case: Parse + Describe once, then Bind/Execute only; transaction pooling moves it to another server
  // connection, where the same text (re-prepared by Prescient) has a new shape after DDL that Prescient did not see
  const proxy = await onePool(t, { size: 2 });
  await sql('drop table if exists shp; create table shp (a int); insert into shp values (1)');
  const a = await raw(proxy);
  a.send(parse('all', 'select * from shp'), describe('S', 'all'), parse('one', 'select a from shp'), describe('S', 'one'), sync());
  const described = await a.readUntilReady();
  t.equal(errorCode(described), undefined, 'prepared and described on the first server connection');
  await sql('alter table shp add column b int'); // DDL Prescient does not see
  // another client holds the first server connection, so the next transaction of `a` runs on a second one
  const holder = await raw(proxy);
  t.equal(errorCode(await holder.query('begin; select 1')), undefined, 'the holder keeps a server connection');
  a.send(bind({ statement: 'all' }), execute(), sync());
  const stale = await a.readUntilReady();
  t.equal(codes(stale).includes('D'), false, 'no row of the new shape reaches the client');
  t.equal(errorCode(stale), '0A000', 'the Bind gets Postgres\' own answer: cached plan must not change result type');
  a.send(bind({ statement: 'one' }), execute(), sync());
  const same = await a.readUntilReady();
  t.equal(errorCode(same), undefined, 'a statement whose shape did not change runs on the other server connection');
  t.same(dataRowText(same.find((f) => f.code === BackendCode.DataRow)!), ['1'], 'its row');
  a.send(bind({ statement: 'one' }), execute(), sync());
  t.equal(codes(await a.readUntilReady()), '2DCZ', 'and again, with no second check (BindComplete, DataRow, CommandComplete)');
  t.equal(errorCode(await holder.query('commit')), undefined);
  for (const x of [a, holder]) await x.close();
});

t.test('simple Queries sent after an extended-protocol error are owed nothing: the session keeps count and lets its server go', async (t) => {
  // found by the fuzzer: Postgres ignores every message until Sync after an error in an extended batch, simple Queries
  // too; Prescient waited for their answers, kept its server connection forever and later starved a probe
  const proxy = await onePool(t);
  const a = await raw(proxy);
  a.send(parse('', 'selec 1'), query('select 2'), query('select 3'), sync());
  const first = await a.readUntilReady();
  t.equal(errorCode(first), '42601', 'the Parse error');
  t.equal(codes(first).includes('T'), false, 'the Queries after it are not answered');
  const b = await raw(proxy);
  t.same(await b.rows('select 42'), [['42']], 'the only server connection went back to the pool');
  t.same(await a.rows('select 43'), [['43']], 'the first client is answered in order');
  for (const x of [a, b]) await x.close();
});

t.test('a Flush with a body is refused as Postgres refuses it, and the Queries after it are owed nothing', async (t) => {
  // found by a million-input fuzz run: Postgres answers a Flush that carries bytes with 08P01 and skips to Sync; a Flush
  // is owed nothing, so Prescient took the error for the next Query's, counted the skipped Queries as owed, and later
  // answers went to the wrong requests (the next probe of that client was never answered)
  const badFlush = Buffer.concat([Buffer.from('H'), Buffer.from([0, 0, 0, 13]), Buffer.from('select 1\0')]);
  const proxy = await onePool(t);
  const through = async (c: RawClient): Promise<string> => {
    c.send(query('select 1'), badFlush, query('select 2'), query('select 3'), sync(), query('select 4'));
    const out: Frame[] = [];
    for (let z = 0; z < 3; z++) out.push(...(await c.readUntilReady()));
    t.equal(errorCode(out), '08P01', 'the Flush is refused');
    t.same(dataRowText(out.filter((f) => f.code === BackendCode.DataRow).at(-1)!), ['4'], 'the Query after the Sync is answered');
    t.same(await c.rows('select 5'), [['5']], 'and the next one');
    return codes(out);
  };
  const pgClient = await RawClient.connect({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'app' });
  const want = await through(pgClient);
  await pgClient.close();
  const a = await raw(proxy);
  t.equal(await through(a), want, `the same responses as Postgres (${want})`);
  const b = await raw(proxy);
  t.same(await b.rows('select 6'), [['6']], 'the only server connection went back to the pool');
  for (const x of [a, b]) await x.close();
});

/** the proxy's resident set, from /proc (Linux) */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

t.test('a client that never reads its answers is not read either: answers Prescient makes itself stay bounded', async (t) => {
  // found by the fuzzer (RSS 169 MB): Syncs with nothing in flight are answered without a server; a client sending
  // megabytes of them and reading nothing made Prescient queue one small write per answer, without limit
  const proxy = await onePool(t);
  const pid = proxy.proc.pid!;
  const greedy = await raw(proxy);
  greedy.socket.pause(); // never reads again
  const before = rssMb(pid);
  const chunk = Buffer.concat(Array.from({ length: 20_000 }, () => sync())); // 100 kB of Syncs
  let sent = 0;
  const deadline = Date.now() + 8000;
  // write 16 MB, or as much as the proxy accepts in 8 s (a proxy that stops reading makes this client's writes back up)
  while (sent < 16 * 1024 * 1024 && Date.now() < deadline) {
    if (!greedy.socket.write(chunk)) await new Promise((r) => { greedy.socket.once('drain', r); setTimeout(r, 200); });
    sent += chunk.length;
  }
  await new Promise((r) => setTimeout(r, 500));
  const grew = rssMb(pid) - before;
  t.ok(grew < 40, `the proxy grew ${grew.toFixed(1)} MB while a client that reads nothing sent ${(sent / 1048576).toFixed(1)} MB of Syncs`);
  const honest = await raw(proxy);
  t.same(await honest.rows('select 6'), [['6']], 'an honest client is served meanwhile');
  await honest.close();
  greedy.socket.destroy();
});

t.test('prepared statements on one server connection are bounded (pool.max_prepared_statements), least recently used closed first', async (t) => {
  const proxy = await onePool(t, { max_prepared_statements: 3 });
  const a = await raw(proxy);
  const value = (frames: Frame[]): string | null | undefined => {
    const row = frames.find((f) => f.code === BackendCode.DataRow);
    return row ? dataRowText(row)[0] : undefined;
  };
  for (let i = 1; i <= 8; i++) {
    a.send(parse(`s${i}`, `select ${i} as v`), bind({ statement: `s${i}` }), execute(), sync());
    t.equal(value(await a.readUntilReady()), String(i), `statement ${i} prepared and run`);
  }
  const count = await a.rows("select count(*) from pg_prepared_statements where name like 'prescient_%'");
  t.same(count, [['3']], 'the server connection holds 3 of the 8 (pool size 1: it is the same connection)');
  a.send(bind({ statement: 's1' }), execute(), sync());
  t.equal(value(await a.readUntilReady()), '1', 'a statement closed for room is prepared again where it is next used');
  // statements a batch uses are never closed for room inside it, even when the batch needs more than the bound
  a.send(
    bind({ portal: 'p2', statement: 's2' }), bind({ portal: 'p3', statement: 's3' }), bind({ portal: 'p4', statement: 's4' }),
    bind({ portal: 'p5', statement: 's5' }), execute('p2'), execute('p3'), execute('p4'), execute('p5'), sync(),
  );
  const batch = await a.readUntilReady();
  t.equal(errorCode(batch), undefined, 'four portals of four statements in one batch over a bound of 3');
  t.same(batch.filter((f) => f.code === BackendCode.DataRow).map((f) => dataRowText(f)[0]), ['2', '3', '4', '5'], 'each portal ran');
  const after = await a.rows("select count(*) from pg_prepared_statements where name like 'prescient_%'");
  t.ok(Number(after[0]![0]) <= 5, `and the bound holds again at the next statement (${after[0]![0]})`);
  await a.close();
});

t.test('a described statement bound while its server is in COPY IN does not hold the session: it notices its client leave', async (t) => {
  // found by the 1,000,000-input fuzz run (two sessions left holding their server connections): the shape check held a
  // Bind for a Describe that a server in COPY IN takes as an error and never answers, with the client's reading paused
  const proxy = await onePool(t, { size: 2 });
  await sql('drop table if exists shp_copy; create table shp_copy (a int)');
  const a = await raw(proxy);
  a.send(parse('s', 'select 1 as a'), describe('S', 's'), sync());
  t.equal(errorCode(await a.readUntilReady()), undefined, 'described on the first server connection');
  const holder = await raw(proxy);
  t.equal(errorCode(await holder.query('begin; select 1')), undefined, 'the holder keeps the first server connection');
  const b = await raw(proxy);
  b.send(parse('t', 'select 1 as a'), bind({ statement: 't' }), execute(), sync());
  t.equal(errorCode(await b.readUntilReady()), undefined, 'another client prepares the same text on the second connection (never described there)');
  await b.close();
  a.send(query('copy shp_copy from stdin'));
  t.equal((await a.next()).code, BackendCode.CopyInResponse, 'the first client is in COPY IN on the second connection');
  a.send(bind({ statement: 's' }), execute(), sync());
  await new Promise((r) => setTimeout(r, 300));
  // bytes the proxy has not read yet when the client leaves: a session that stopped reading never sees the close
  a.send(query('select 2'));
  await new Promise((r) => setTimeout(r, 100));
  a.socket.destroy();
  let active = '';
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 100));
    active = (await pools(proxy)).get('cl_active') ?? '';
    if (active === '1') break;
  }
  t.equal(active, '1', 'only the holder is left once the first client is gone');
  t.equal(errorCode(await holder.query('commit')), undefined);
  await holder.close();
});

t.test('Syncs and Flushes a client sends while its server is in COPY IN are owed nothing (Postgres ignores them)', async (t) => {
  // found by the 1,000,000-input fuzz run (two sessions left with 4096 responses owed by an idle server): a server in
  // COPY IN ignores Sync and Flush, and takes any other message as the end of the COPY with an error; Prescient
  // expected a ReadyForQuery per Sync and kept count wrong for good
  await sql('drop table if exists safety_copy; create table safety_copy (a int)');
  const cases: { name: string; start: Buffer[]; during: Buffer[]; end: Buffer[]; uncertain?: boolean }[] = [
    { name: 'simple COPY, Syncs sent with it', start: [query('copy safety_copy from stdin'), sync(), flush(), sync()], during: [], end: [copyData('1\n'), copyDone()] },
    { name: 'simple COPY, Syncs sent once it started', start: [query('copy safety_copy from stdin')], during: [sync(), flush(), sync()], end: [copyData('2\n'), copyDone()] },
    { name: 'extended COPY (libpq: Sync with the Execute, another after CopyDone)', start: [parse('', 'copy safety_copy from stdin'), bind(), execute(), sync()], during: [], end: [copyData('3\n'), copyDone(), sync()] },
    { name: 'extended COPY, Syncs sent once it started', start: [parse('', 'copy safety_copy from stdin'), bind(), execute(), sync()], during: [sync(), sync()], end: [copyData('4\n'), copyDone(), sync()] },
    // any other message ends the COPY with an error, and Postgres the connection (protocol synchronization was lost)
    { name: 'a Parse during COPY', start: [query('copy safety_copy from stdin'), sync()], during: [parse('', 'select 1'), sync()], end: [] },
    { name: 'a Parse sent with the COPY', start: [query('copy safety_copy from stdin'), sync(), parse('', 'select 1'), sync()], during: [], end: [] },
    { name: 'a Query during extended COPY', start: [parse('', 'copy safety_copy from stdin'), bind(), execute(), sync()], during: [sync(), query('select 1')], end: [] },
    // which of the Syncs Postgres read before a data error it cannot say: the connection serves its client, then is closed
    { name: 'a data error in a COPY with Syncs sent into it', start: [query('copy safety_copy from stdin'), sync()], during: [sync()], end: [copyData('x\n'), copyDone()], uncertain: true },
  ];
  const proxy = await onePool(t);
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const run = async (client: RawClient): Promise<string> => {
        const seen: Frame[] = [];
        try {
          await exchange(client, seen);
        } catch (e) {
          // the connection ended: the errors that came before its end, by SQLSTATE
          return `${codes(seen)} closed after ${((e as Error).message.match(/"C":"\w+"/g) ?? []).join(' ')}`;
        }
        return codes(seen);
      };
      const exchange = async (client: RawClient, seen: Frame[]): Promise<void> => {
        client.send(...c.start);
        // up to CopyInResponse (or an error)
        for (;;) {
          const f = await client.next();
          seen.push(f);
          if (f.code === BackendCode.CopyInResponse || f.code === BackendCode.ReadyForQuery) break;
        }
        if (c.during.length > 0) {
          client.send(...c.during);
          await new Promise((r) => setTimeout(r, 100));
        }
        client.send(...c.end);
        seen.push(...(await client.readUntilReady()));
        // whatever else is owed arrives before the answer to this query
        client.send(query('select 7'));
        for (;;) {
          const f = await client.next();
          seen.push(f);
          if (f.code === BackendCode.DataRow) break;
        }
        seen.push(...(await client.readUntilReady()));
      };
      const viaDirect = await RawClient.connect({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'app' });
      const want = await run(viaDirect);
      await viaDirect.close();
      const a = await raw(proxy);
      t.equal(await run(a), want, 'the client sees what Postgres sends');
      if (c.uncertain) await a.close();
      const b = await raw(proxy);
      t.same(await b.rows('select 8'), [['8']], c.uncertain ? 'once the first client left, the next is served' : 'the only server connection went back to the pool while the first client stays');
      for (const x of [a, b]) await x.close();
    });
  }
});

t.test('a client that pipelines thousands of queries, never reads and vanishes is noticed and its server connection goes back', async (t) => {
  // the fuzzer's `no-read` ending (an input of 16 Queries written 256 times, then the socket destroyed): twice in
  // 1,000,000 inputs such a session stayed listed, owing 4,087 answers with its reading paused and its server idle
  const proxy = await onePool(t);
  for (const perInput of [16, 1, 64]) {
    const greedy = await raw(proxy);
    greedy.socket.pause(); // never reads
    const input = Buffer.concat(Array.from({ length: perInput }, () => query('select 1')));
    for (let i = 0; i < Math.ceil(4096 / perInput); i++) greedy.socket.write(input);
    await new Promise((r) => setTimeout(r, 50));
    greedy.socket.destroy();
    let listed = -1;
    for (let i = 0; i < 50 && listed !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      listed = Number((await pools(proxy)).get('cl_active') ?? -1);
    }
    t.equal(listed, 0, `${perInput} queries per write: no client session is left once the client vanished`);
    const honest = await raw(proxy);
    t.same(await honest.rows('select 5'), [['5']], 'the only server connection serves the next client');
    await honest.close();
  }
});
