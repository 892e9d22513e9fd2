// Integration tests: node-postgres (and a raw protocol client) through a real Prescient in transaction mode
// against a real Postgres 15 cluster — parameters, named statements across server connections, cursors,
// cancel, LISTEN/NOTIFY, errors in transactions and in extended-protocol batches.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, connOf, psql, withClusters } from '../helpers/pg.js';
import { APP_USER, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import {
  RawClient, bind, commandTag, dataRowText, errorFields, execute, flush, frameName, parse, renderFrames, sendCancel, sync,
  type Frame,
} from '../helpers/rawClient.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';

requirePostgres(t);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const codes = (frames: Frame[]): string => frames.map((f) => frameName(f.code)).join(',');

const [cluster] = await withClusters(t, 1);
const setup = await psql(['-c', `
  create table items (id int primary key, name text not null, tags text[], doc jsonb);
  insert into items select g, 'item ' || g, array['t' || g, null], jsonb_build_object('n', g) from generate_series(1, 20) g;
  create table nums (n int primary key);
  insert into nums select generate_series(1, 1050);
`], connOf(cluster!));
if (setup.code !== 0) throw new Error(`setup failed: ${setup.stderr}`);

// the main proxy: transaction pooling over 3 server connections
const proxy = await startProxy(t, [cluster!], { pool: { mode: 'transaction', size: 3, queue_timeout_ms: 20000 } });

function clientConfig(p: ProxyHandle, extra: Partial<pg.ClientConfig> = {}): pg.ClientConfig {
  return { host: p.host, port: p.port, user: APP_USER.name, password: APP_USER.password, database: 'app', ...extra };
}

/** A connected pg.Client through `p`; ended when the test ends. */
async function connect(tt: { teardown(fn: () => unknown): void }, p: ProxyHandle = proxy, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client(clientConfig(p, extra));
  c.on('error', () => {});
  await c.connect();
  tt.teardown(() => c.end().catch(() => {}));
  return c;
}
async function connectMany(tt: { teardown(fn: () => unknown): void }, n: number, p: ProxyHandle = proxy, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client[]> {
  return Promise.all(Array.from({ length: n }, () => connect(tt, p, extra)));
}
async function rawConnect(tt: { teardown(fn: () => unknown): void }, p: ProxyHandle = proxy): Promise<RawClient> {
  const c = await RawClient.connect({ host: p.host, port: p.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  tt.teardown(() => c.close());
  return c;
}
async function expectPgError(p: Promise<unknown>, code: string): Promise<pg.DatabaseError> {
  try {
    await p;
  } catch (e) {
    const err = e as pg.DatabaseError;
    if (err.code !== code) throw new Error(`expected SQLSTATE ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  throw new Error(`expected SQLSTATE ${code}, but the query succeeded`);
}

t.test('parameterized queries (text, int, null, arrays, json, bytea, int8) from 24 concurrent clients', async (t) => {
  const clients = await connectMany(t, 24);
  const unicode = 'héllo wörld ✓ 𝄞 日本語 \'quoted\' "dq" \\ back';
  let checked = 0;
  await Promise.all(clients.map(async (c, ci) => {
    for (let i = 0; i < 8; i++) {
      const n = ci * 100 + i;
      let r = await c.query('select $1::text as s, length($1::text) as len', [`${unicode} ${n}`]);
      t.equal(r.rows[0].s, `${unicode} ${n}`);
      r = await c.query('select $1::int + $2::int as v', [n, 1]);
      t.equal(r.rows[0].v, n + 1);
      r = await c.query('select $1::text is null as isnull, $1::text as v, $2::int as w', [null, null]);
      t.same(r.rows[0], { isnull: true, v: null, w: null });
      r = await c.query('select $1::int[] as a, $2::text[] as b, array_length($2::text[], 1) as blen', [[1, null, n], ['a', 'b,c', '"q"', null, '']]);
      t.same(r.rows[0], { a: [1, null, n], b: ['a', 'b,c', '"q"', null, ''], blen: 5 });
      const doc = { n, nested: { arr: [1, 'two', null, true], s: unicode } };
      r = await c.query('select $1::jsonb as j, $2::json as k, $1::jsonb -> \'nested\' -> \'arr\' ->> 1 as two', [doc, JSON.stringify([doc])]);
      t.same(r.rows[0], { j: doc, k: [doc], two: 'two' });
      r = await c.query('select $1::bytea as b, $2::int8 as big', [Buffer.from([0, 1, 2, 255, n & 0xff]), '9007199254740993']);
      t.same(r.rows[0], { b: Buffer.from([0, 1, 2, 255, n & 0xff]), big: '9007199254740993' });
      r = await c.query('select name, tags, doc from items where id = $1', [(n % 20) + 1]);
      t.same(r.rows[0], { name: `item ${(n % 20) + 1}`, tags: [`t${(n % 20) + 1}`, null], doc: { n: (n % 20) + 1 } });
      checked++;
    }
  }));
  t.equal(checked, 24 * 8);
});

t.test('a named prepared statement reused by 24 clients lands on different server connections', async (t) => {
  const clients = await connectMany(t, 24);
  const allPids = new Set<number>();
  const pidsPerClient: Set<number>[] = clients.map(() => new Set());
  let wrong = 0;
  let runs = 0;
  await Promise.all(clients.map(async (c, ci) => {
    for (let i = 0; i < 15; i++) {
      const x = ci * 1000 + i;
      const inTx = i % 3 === 1;
      if (inTx) await c.query('begin');
      const r = await c.query({ name: 'get_one', text: 'select $1::int + 1 as v, pg_backend_pid() as pid', values: [x] });
      if (inTx) {
        // the statement is used again in the same transaction (same server connection)
        const r2 = await c.query({ name: 'get_one', text: 'select $1::int + 1 as v, pg_backend_pid() as pid', values: [x + 1] });
        if (r2.rows[0].v !== x + 2 || r2.rows[0].pid !== r.rows[0].pid) wrong++;
        await c.query('commit');
      }
      runs++;
      if (r.rows.length !== 1 || r.rows[0].v !== x + 1) wrong++;
      allPids.add(r.rows[0].pid);
      pidsPerClient[ci]!.add(r.rows[0].pid);
      if (i % 4 === 0) await sleep(Math.random() * 5);
    }
  }));
  t.equal(runs, 24 * 15);
  t.equal(wrong, 0, 'every result is right');
  t.ok(allPids.size > 1, `ran on ${allPids.size} distinct server backends`);
  t.ok(allPids.size <= 3, 'never more backends than the pool size');
  const hopped = pidsPerClient.filter((s) => s.size > 1).length;
  t.ok(hopped > 0, `${hopped} of 24 clients ran their statement on more than one backend (re-prepared by the proxy)`);
  // the server-side statements carry the proxy's shared names
  const c = clients[0]!;
  const names = await c.query(`select name from pg_prepared_statements where statement = 'select $1::int + 1 as v, pg_backend_pid() as pid'`);
  t.ok(names.rows.length <= 1);
  for (const row of names.rows) t.match(row.name, /^prescient_\d+$/);
});

t.test('the same statement name with different text on two clients: each client gets its own', async (t) => {
  const [a, b, c] = await connectMany(t, 3);
  const noise = await connectMany(t, 6);
  let stop = false;
  // other clients keep the 3 server connections busy so a and b move between them
  const noiseP = Promise.all(noise.map(async (n) => {
    while (!stop) await n.query('select pg_sleep(0.002)');
  }));
  const errors: string[] = [];
  await Promise.all([
    (async () => {
      for (let i = 0; i < 40; i++) {
        const r = await a!.query({ name: 'dup', text: 'select $1::int * 10 as v', values: [i] });
        if (r.rows[0].v !== i * 10) errors.push(`a[${i}] got ${JSON.stringify(r.rows[0])}`);
      }
    })(),
    (async () => {
      for (let i = 0; i < 40; i++) {
        const r = await b!.query({ name: 'dup', text: `select $1::text || '-b' as v, 'b' as who`, values: [String(i)] });
        if (r.rows[0].v !== `${i}-b` || r.rows[0].who !== 'b') errors.push(`b[${i}] got ${JSON.stringify(r.rows[0])}`);
      }
    })(),
    (async () => {
      // same text as a's statement under another name: shares the server-side statement
      for (let i = 0; i < 40; i++) {
        const r = await c!.query({ name: 'other', text: 'select $1::int * 10 as v', values: [i + 1] });
        if (r.rows[0].v !== (i + 1) * 10) errors.push(`c[${i}] got ${JSON.stringify(r.rows[0])}`);
      }
    })(),
  ]);
  stop = true;
  await noiseP;
  t.same(errors, [], 'no client ever ran another client\'s statement');
});

t.test('cursor: Execute with a row limit, in batches of 100', async (t) => {
  t.test('named portal inside BEGIN, one Sync per batch (5 concurrent clients)', async (t) => {
    const clients = await Promise.all(Array.from({ length: 5 }, () => rawConnect(t)));
    await Promise.all(clients.map(async (c, ci) => {
      t.equal(codes(await c.query('begin')), 'CommandComplete,ReadyForQuery');
      c.send(parse('', 'select n, $1::int as client from nums order by n', [23]), bind({ portal: 'cur', params: [String(ci)] }), execute('cur', 100), sync());
      let frames = await c.readUntilReady();
      t.equal(frames[0]!.code, BackendCode.ParseComplete);
      t.equal(frames[1]!.code, BackendCode.BindComplete);
      const rows: number[] = [];
      let suspended = 0;
      let tag = '';
      for (let batch = 0; ; batch++) {
        if (batch > 0) {
          c.send(execute('cur', 100), sync());
          frames = await c.readUntilReady();
        }
        const data = frames.filter((f) => f.code === BackendCode.DataRow);
        t.ok(data.length <= 100, 'no more than maxRows rows per Execute');
        for (const f of data) {
          const [n, client] = dataRowText(f);
          rows.push(Number(n));
          if (client !== String(ci)) t.fail(`row of another client: ${client}`);
        }
        const last = frames[frames.length - 1]!;
        t.equal(last.code, BackendCode.ReadyForQuery);
        t.equal(String.fromCharCode(last.payload[0]!), 'T', 'still in the transaction');
        const end = frames[frames.length - 2]!;
        if (end.code === BackendCode.PortalSuspended) {
          suspended++;
          t.equal(data.length, 100);
          continue;
        }
        t.equal(frameName(end.code), 'CommandComplete', renderFrames(frames.slice(-3)));
        tag = commandTag(end);
        break;
      }
      t.equal(suspended, 10, '10 full batches were suspended');
      t.equal(tag, 'SELECT 50', 'the last batch completes the portal');
      t.equal(rows.length, 1050, 'all rows fetched');
      t.same(rows, Array.from({ length: 1050 }, (_, i) => i + 1), 'in order, none lost or repeated');
      t.equal(codes(await c.query('commit')), 'CommandComplete,ReadyForQuery');
    }));
  });

  t.test('unnamed portal without a transaction, Execute + Flush (as pg-cursor does)', async (t) => {
    const c = await rawConnect(t);
    c.send(parse('', 'select n from nums where n <= 250 order by n'), bind(), execute('', 100), flush());
    let frames = await c.readUntil((f) => f.code === BackendCode.PortalSuspended || f.code === BackendCode.CommandComplete);
    t.equal(codes(frames.slice(0, 2)), 'ParseComplete,BindComplete');
    let total = frames.filter((f) => f.code === BackendCode.DataRow).length;
    let rounds = 1;
    while (frames[frames.length - 1]!.code === BackendCode.PortalSuspended) {
      c.send(execute('', 100), flush());
      frames = await c.readUntil((f) => f.code === BackendCode.PortalSuspended || f.code === BackendCode.CommandComplete);
      total += frames.filter((f) => f.code === BackendCode.DataRow).length;
      rounds++;
    }
    t.equal(commandTag(frames[frames.length - 1]!), 'SELECT 50');
    t.equal(total, 250);
    t.equal(rounds, 3);
    c.send(sync());
    const z = await c.readUntilReady();
    t.equal(codes(z), 'ReadyForQuery');
    t.same((await c.rows('select count(*) from nums')), [['1050']], 'the session works afterwards');
  });

  t.test('pg Query with rows: 100 (Execute + Flush loop inside node-postgres)', async (t) => {
    const clients = await connectMany(t, 4);
    await Promise.all(clients.map(async (c) => {
      const r = await c.query({ text: 'select n from nums order by n', rows: 100 } as pg.QueryConfig);
      t.equal(r.rows.length, 1050);
      t.equal(r.rows[1049].n, 1050);
      const after = await c.query('select 1 as one');
      t.equal(after.rows[0].one, 1);
    }));
  });
});

/**
 * Sends a CancelRequest, and again every 700 ms while `running` is unsettled (a cancel that reaches the server
 * before the query does is lost, as with Postgres itself). Returns how many were sent.
 */
async function cancelUntilSettled(running: Promise<unknown>, pid: number, secret: number): Promise<number> {
  let settled = false;
  const done = running.then(() => { settled = true; }, () => { settled = true; });
  let sent = 0;
  while (!settled && sent < 10) {
    await sendCancel(proxy.host, proxy.port, pid, secret);
    sent++;
    await Promise.race([sleep(700), done]);
  }
  return sent;
}

t.test('cancel a running query with the BackendKeyData the proxy gave', async (t) => {
  t.test('node-postgres client, CancelRequest sent on a raw connection', async (t) => {
    const c = await connect(t);
    const key = c as unknown as { processID: number; secretKey: number };
    t.ok(key.processID, 'got a pid');
    const running = expectPgError(c.query('select pg_sleep(30)'), '57014');
    await sleep(300);
    const started = Date.now();
    const sent = await cancelUntilSettled(running, key.processID, key.secretKey);
    t.comment(`${sent} CancelRequest(s) sent`);
    const err = await running;
    const took = Date.now() - started;
    t.ok(took < 5000, `cancelled after ${took} ms`);
    t.match(err.message, /canceling statement due to user request/);
    t.equal((await c.query('select 2 as v')).rows[0].v, 2, 'the client works after the cancel');
  });

  t.test('raw client: its own key cancels, a wrong secret does not', async (t) => {
    const c = await rawConnect(t);
    t.ok(c.pid !== 0);
    // wrong secret: nothing happens, the query completes normally
    c.send(parse('', 'select pg_sleep(1.2)'), bind(), execute(), sync());
    await sleep(300);
    await sendCancel(proxy.host, proxy.port, c.pid, c.secret ^ 0x5a5a);
    let frames = await c.readUntilReady();
    t.equal(codes(frames), 'ParseComplete,BindComplete,DataRow,CommandComplete,ReadyForQuery', 'a wrong secret does not cancel');
    // another client's key does not cancel this one
    const other = await rawConnect(t);
    c.send(parse('', 'select pg_sleep(1.2)'), bind(), execute(), sync());
    await sleep(300);
    await sendCancel(proxy.host, proxy.port, other.pid, other.secret);
    frames = await c.readUntilReady();
    t.equal(codes(frames), 'ParseComplete,BindComplete,DataRow,CommandComplete,ReadyForQuery', 'another client\'s key does not cancel');
    // the right key cancels
    c.send(parse('', 'select pg_sleep(30)'), bind(), execute(), sync());
    const cancelled = c.readUntilReady(10000);
    await sleep(300);
    const started = Date.now();
    await cancelUntilSettled(cancelled, c.pid, c.secret);
    frames = await cancelled;
    const err = frames.find((f) => f.code === BackendCode.ErrorResponse);
    t.ok(err, renderFrames(frames));
    t.equal(errorFields(err!).get('C'), '57014');
    t.ok(Date.now() - started < 5000);
    t.same(await c.rows('select 3'), [['3']]);
  });

  t.test('a cancel for an idle client does not hit whoever uses its former server connection', async (t) => {
    const idle = await rawConnect(t);
    const busy = await connect(t);
    const p = busy.query('select pg_sleep(1.5) as slept');
    await sleep(400);
    await sendCancel(proxy.host, proxy.port, idle.pid, idle.secret);
    const r = await p;
    t.same(r.rows, [{ slept: '' }]);
  });
});

t.test('LISTEN/NOTIFY', async (t) => {
  t.test('a listener receives notifications sent by another client', async (t) => {
    const [a, b] = await connectMany(t, 2);
    const got: pg.Notification[] = [];
    a!.on('notification', (n) => got.push(n));
    await a!.query('listen chan_one');
    await b!.query(`notify chan_one, 'payload ü 1'`);
    await b!.query('select pg_notify($1, $2)', ['chan_one', 'payload 2']);
    await b!.query(`notify other_chan, 'not for a'`);
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await sleep(20);
    t.same(got.map((n) => [n.channel, n.payload]), [['chan_one', 'payload ü 1'], ['chan_one', 'payload 2']]);
    // a keeps working while listening
    t.equal((await a!.query('select 5 as v')).rows[0].v, 5);
    await a!.query('unlisten chan_one');
    await b!.query(`notify chan_one, 'after unlisten'`);
    await sleep(300);
    t.equal(got.length, 2, 'nothing after UNLISTEN');
  });

  t.test('LISTEN pins the server connection; after UNLISTEN it is free again (pool size 1)', async (t) => {
    const one = await startProxy(t, [cluster!], { pool: { mode: 'transaction', size: 1, queue_timeout_ms: 1500 } });
    const [a, b] = await connectMany(t, 2, one);
    await a!.query('listen pinned');
    // b cannot get the only server connection while a listens
    const err = await expectPgError(b!.query('select 1'), '53300');
    t.match(err.message, /pool queue timeout/);
    const got: string[] = [];
    a!.on('notification', (n) => got.push(n.payload ?? ''));
    await a!.query(`notify pinned, 'self'`);
    const deadline = Date.now() + 3000;
    while (got.length < 1 && Date.now() < deadline) await sleep(20);
    t.same(got, ['self'], 'the listener gets its own notification');
    await a!.query('unlisten pinned');
    const r = await b!.query('select 42 as v');
    t.equal(r.rows[0].v, 42, 'another client can run queries once the listener unlistened');
    // and the connection keeps moving between the two
    for (let i = 0; i < 5; i++) {
      t.equal((await a!.query('select $1::int as v', [i])).rows[0].v, i);
      t.equal((await b!.query('select $1::int as v', [i])).rows[0].v, i);
    }
  });

  t.test('UNLISTEN * also unpins', async (t) => {
    const one = await startProxy(t, [cluster!], { pool: { mode: 'transaction', size: 1, queue_timeout_ms: 1500 } });
    const [a, b] = await connectMany(t, 2, one);
    await a!.query('listen x1');
    await a!.query('listen x2');
    await a!.query('unlisten *');
    t.equal((await b!.query('select 1 as v')).rows[0].v, 1);
  });

  // Known proxy bug (reported, not fixed here): ClientSession.noteCommand clears `listening` on any UNLISTEN
  // command tag, so `UNLISTEN one_channel` unpins a session that still listens on another channel. Its
  // server connection then goes back to the pool: the listener loses its notifications and whoever gets
  // that connection next receives them. The assertions are marked todo until the proxy tracks channels.
  const UNLISTEN_TODO = {};
  t.test('UNLISTEN of one channel while still listening on another keeps the session pinned', async (t) => {
    const [a, b] = await connectMany(t, 2);
    const gotA: string[] = [];
    const gotB: string[] = [];
    a!.on('notification', (n) => gotA.push(`${n.channel}:${n.payload}`));
    b!.on('notification', (n) => gotB.push(`${n.channel}:${n.payload}`));
    await a!.query('listen keep_a');
    await a!.query('listen keep_b');
    await a!.query('unlisten keep_a');
    // b likely takes the connection a released (the pool hands out the most recently released one)
    await b!.query(`notify keep_b, 'for a'`);
    const deadline = Date.now() + 2000;
    while (gotA.length + gotB.length < 1 && Date.now() < deadline) await sleep(20);
    await sleep(200);
    t.comment(`a received ${JSON.stringify(gotA)}, b received ${JSON.stringify(gotB)}`);
    t.same(gotA, ['keep_b:for a'], 'a still listens on keep_b', UNLISTEN_TODO);
    t.same(gotB, [], 'b never listened', UNLISTEN_TODO);
    await a!.query('unlisten *');
  });
});

t.test('errors inside a transaction, then ROLLBACK', async (t) => {
  const clients = await connectMany(t, 10);
  const bystanders = await connectMany(t, 6);
  let stop = false;
  const bystanderErrors: string[] = [];
  let bystanderRuns = 0;
  const bystanderP = Promise.all(bystanders.map(async (c) => {
    while (!stop) {
      try {
        const r = await c.query('select count(*)::int as n from items where id <= 20');
        if (r.rows[0].n !== 20) bystanderErrors.push(`saw ${r.rows[0].n} rows`);
        bystanderRuns++;
      } catch (e) {
        bystanderErrors.push((e as Error).message);
      }
    }
  }));
  await Promise.all(clients.map(async (c, ci) => {
    for (let i = 0; i < 5; i++) {
      const id = 1000 + ci * 10 + i;
      await c.query('begin');
      await c.query('insert into items (id, name) values ($1, $2)', [id, `tx ${id}`]);
      await expectPgError(c.query('select 1/0'), '22012');
      await expectPgError(c.query('select 1'), '25P02');
      await expectPgError(c.query('select $1::int', [1]), '25P02');
      await c.query('rollback');
      const r = await c.query('select count(*)::int as n from items where id = $1', [id]);
      t.equal(r.rows[0].n, 0, 'the insert was rolled back');
    }
  }));
  // a failed transaction left behind by a client that disconnects is not handed to anyone else
  const quitter = await connect(t);
  await quitter.query('begin');
  await expectPgError(quitter.query('select 1/0'), '22012');
  await quitter.end();
  await sleep(100);
  stop = true;
  await bystanderP;
  t.same(bystanderErrors, [], 'clients outside the failing transactions never saw an error');
  t.ok(bystanderRuns > 10, `${bystanderRuns} bystander queries ran meanwhile`);
  // savepoints: an error rolled back to a savepoint keeps the transaction usable
  const c = clients[0]!;
  await c.query('begin');
  await c.query('insert into items (id, name) values (2000, $1)', ['sp']);
  await c.query('savepoint s1');
  await expectPgError(c.query('insert into items (id, name) values (2000, $1)', ['dup']), '23505');
  await c.query('rollback to savepoint s1');
  t.equal((await c.query('select name from items where id = 2000')).rows[0].name, 'sp');
  await c.query('rollback');
  t.equal((await c.query('select count(*)::int as n from items where id = 2000')).rows[0].n, 0);
});

t.test('a query error in an extended batch does not break the next queries', async (t) => {
  t.test('node-postgres: bad parameter, bad named statement, then good ones', async (t) => {
    const c = await connect(t);
    await expectPgError(c.query('select $1::int as v', ['not a number']), '22P02');
    t.equal((await c.query('select $1::int as v', ['7'])).rows[0].v, 7);
    await expectPgError(c.query({ name: 'broken', text: 'selec $1::int', values: [1] }), '42601');
    t.equal((await c.query({ name: 'fine', text: 'select $1::int * 2 as v', values: [21] })).rows[0].v, 42);
    await expectPgError(c.query({ name: 'fails_at_run', text: 'select 10 / $1::int as v', values: [0] }), '22012');
    t.equal((await c.query({ name: 'fails_at_run', text: 'select 10 / $1::int as v', values: [5] })).rows[0].v, 2, 'the statement survives a run-time error');
    t.equal((await c.query('select 1 as v')).rows[0].v, 1);
  });

  t.test('node-postgres pipeline mode: one failing query among many in flight', async (t) => {
    const clients = await connectMany(t, 6, proxy, { pipeline: true } as Partial<pg.ClientConfig>);
    await Promise.all(clients.map(async (c, ci) => {
      for (let round = 0; round < 5; round++) {
        const ps = Array.from({ length: 12 }, (_, i) => {
          if (i === 4) return c.query('select 1/0 as boom').then(() => 'ok', (e: pg.DatabaseError) => e.code);
          if (i === 8) return c.query({ name: 'p_named', text: 'select $1::int + 100 as v', values: [i] }).then((r) => r.rows[0].v);
          return c.query('select $1::int as v, $2::text as s', [i, `c${ci}`]).then((r) => `${r.rows[0].v}/${r.rows[0].s}`);
        });
        const results = await Promise.all(ps);
        const expected = Array.from({ length: 12 }, (_, i) => (i === 4 ? '22012' : i === 8 ? 108 : `${i}/c${ci}`));
        t.same(results, expected, `client ${ci} round ${round}`);
      }
    }));
  });

  t.test('raw client: error mid-batch skips to Sync; the next batch in the same write runs', async (t) => {
    const c = await rawConnect(t);
    // a named statement the proxy already prepared on some server connection
    c.send(parse('ok_stmt', 'select $1::int * 3'), sync());
    t.equal(codes(await c.readUntilReady()), 'ParseComplete,ReadyForQuery');
    c.send(
      parse('', 'select 1/0'), bind(), execute(),
      parse('ok_stmt', 'select $1::int * 3'), bind({ statement: 'ok_stmt', params: ['5'] }), execute(), sync(),
      parse('', 'select 2'), bind(), execute(), sync(),
      bind({ statement: 'ok_stmt', params: ['7'] }), execute(), sync(),
    );
    const first = await c.readUntilReady();
    t.equal(codes(first), 'ParseComplete,ErrorResponse,ReadyForQuery', renderFrames(first));
    t.equal(errorFields(first[1]!).get('C'), '22012');
    const second = await c.readUntilReady();
    t.equal(codes(second), 'ParseComplete,BindComplete,DataRow,CommandComplete,ReadyForQuery');
    t.same(dataRowText(second[2]!), ['2']);
    const third = await c.readUntilReady();
    t.equal(codes(third), 'BindComplete,DataRow,CommandComplete,ReadyForQuery');
    t.same(dataRowText(third[1]!), ['21']);
    // an error from Bind (bad parameter) and from Parse (syntax) likewise
    c.send(bind({ statement: 'ok_stmt', params: ['x'] }), execute(), sync(), parse('', 'selec'), bind(), execute(), sync(), parse('', 'select 4'), bind(), execute(), sync());
    t.equal(codes(await c.readUntilReady()), 'ErrorResponse,ReadyForQuery');
    t.equal(codes(await c.readUntilReady()), 'ErrorResponse,ReadyForQuery');
    const last = await c.readUntilReady();
    t.equal(codes(last), 'ParseComplete,BindComplete,DataRow,CommandComplete,ReadyForQuery');
    t.same(dataRowText(last[2]!), ['4']);
  });
});
