// Tests for proxy/connection/ServerConnection.ts against a real Postgres: connect and authenticate with SCRAM (with
// SASLprep), md5, cleartext password and trust users; the failures a login can meet; the state a fresh connection
// starts in; the prepared-statement LRU (useStatement / endBatch / evictStatements / forgetStatements); bytes and close
// going to the owner; an idle connection closing on a server's FATAL; destroy, terminate and cancel.
import t from 'tap';
import net from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import { freePort } from '../../scripts/testbed.js';
import { ServerConnection, type ServerOwner } from '../../proxy/connection/ServerConnection.js';
import { FrameReader } from '../../proxy/protocol/FrameReader.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { decodeErrorFields } from '../../proxy/protocol/BackendMessage.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';
import { ProxyError } from '../../proxy/protocol/SqlState.js';
import type { ShardConfig } from '../../config/schema.js';

requirePostgres(t);

const APP = { user: 'app', password: 'app-secret' };
const [cluster] = (await withClusters(t, 1, { users: [{ name: APP.user, password: APP.password }] })) as [Cluster];

/** Users that log in with each method: pg_hba.conf gets a line per user ahead of the cluster's scram-sha-256 default. */
const USERS = {
  scram: { user: 'app', password: 'app-secret', method: 'scram-sha-256' },
  saslprep: { user: 'prepped', password: 'I\u00ADX', method: 'scram-sha-256' }, // a soft hyphen SASLprep maps to nothing
  md5: { user: 'md5user', password: 'md5-secret', method: 'md5' },
  cleartext: { user: 'pwuser', password: 'pw-secret', method: 'password' },
  trust: { user: 'trustuser', password: '', method: 'trust' },
  rejected: { user: 'rejected', password: 'whatever', method: 'reject' },
} as const;

async function superuser<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'app' });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

await superuser(async (c) => {
  await c.query(`set password_encryption = 'md5'`);
  await c.query(`create role md5user login password 'md5-secret'`);
  await c.query(`set password_encryption = 'scram-sha-256'`);
  await c.query(`create role prepped login password 'I\u00ADX'`);
  await c.query(`create role pwuser login password 'pw-secret'`);
  await c.query(`create role trustuser login`);
  await c.query(`create role rejected login password 'whatever'`);
  const hba = path.join(cluster.dataDir, 'pg_hba.conf');
  const lines = Object.values(USERS).filter((u) => u.user !== 'app').map((u) => `host all ${u.user} 127.0.0.1/32 ${u.method}`);
  await writeFile(hba, lines.join('\n') + '\n' + (await readFile(hba, 'utf8')));
  const before = (await c.query<{ t: string }>('select pg_conf_load_time()::text as t')).rows[0]!.t;
  await c.query('select pg_reload_conf()');
  // the postmaster reloads on its own time: a backend started after it has the new load time
  await until('pg_hba.conf to be reloaded', () => superuser(async (n) => (await n.query<{ t: string }>('select pg_conf_load_time()::text as t')).rows[0]!.t !== before));
});

const shard: ShardConfig = { name: 's0', host: cluster.host, port: cluster.port, database: 'app', user: 'app', password: APP.password };
const opened: ServerConnection[] = [];
t.teardown(() => opened.forEach((c) => c.destroy()));

async function connect(identity = APP, sh: ShardConfig = shard, timeoutMs = 10_000): Promise<ServerConnection> {
  const c = await ServerConnection.connect(sh, identity, timeoutMs);
  opened.push(c);
  return c;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function backendAlive(pid: number): Promise<boolean> {
  return superuser(async (c) => (await c.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 1);
}

/** An owner that gathers frames and resolves when `stop` (a backend code) arrives or the connection closes. */
function owner(stop: number = BackendCode.ReadyForQuery): ServerOwner & { frames: { code: number; payload: Buffer }[]; done: Promise<'frame' | 'close'>; closes: number } {
  const reader = new FrameReader(1 << 30);
  let resolve!: (v: 'frame' | 'close') => void;
  const o = {
    frames: [] as { code: number; payload: Buffer }[],
    closes: 0,
    done: new Promise<'frame' | 'close'>((r) => (resolve = r)),
    onServerData(chunk: Buffer): void {
      reader.push(chunk);
      let f;
      while ((f = reader.next())) {
        o.frames.push({ code: f.code, payload: Buffer.from(f.payload) });
        if (f.code === stop) resolve('frame');
      }
    },
    onServerClose(): void {
      o.closes++;
      resolve('close');
    },
  };
  return o;
}

const codes = (fs: { code: number }[]): string => fs.map((f) => String.fromCharCode(f.code)).join('');

t.test('every authentication method the server asks for', async (t) => {
  for (const [name, u] of Object.entries(USERS)) {
    if (name === 'rejected') continue;
    const c = await connect({ user: u.user, password: u.password });
    t.ok(c.pid > 0 && c.secret !== 0, `${name}: BackendKeyData read (pid ${c.pid})`);
    t.equal(c.user, u.user, `${name}: logged in as ${u.user}`);
    t.equal(c.params.get('session_authorization'), u.user, `${name}: the server says so`);
    t.equal(c.params.get('application_name'), 'prescient', `${name}: application_name sent`);
    t.ok(c.params.has('server_version') && c.params.get('client_encoding') === 'UTF8', `${name}: ParameterStatus kept`);
    // the server really used that method for this user
    const method = await superuser(async (s) => (await s.query(`select auth_method from pg_hba_file_rules where $1 = any(user_name) limit 1`, [u.user])).rows[0]?.auth_method ?? 'scram-sha-256');
    t.equal(method, u.method, `${name}: pg_hba says ${u.method}`);
    c.terminate();
  }
});

t.test('a fresh connection starts idle, synced, unowned, with no statements', async (t) => {
  const before = Date.now();
  const c = await connect();
  t.equal(c.txStatus, 0x49, "txStatus 'I'");
  t.equal(c.unsynced, false);
  t.equal(c.desynced, false);
  t.equal(c.closed, false);
  t.equal(c.cancelling, false);
  t.equal(c.owner, null);
  t.equal(c.poolKey, '');
  t.same([c.prepared.size, c.parsed.size, c.shapes.size, c.setParams.size], [0, 0, 0, 0]);
  t.ok(c.lastUsed >= before - 1000 && c.lastUsed <= Date.now(), 'lastUsed is about now');
  const d = await connect();
  t.not(d.id, c.id, 'ids are distinct');
  t.not(d.pid, c.pid, 'separate backends');
  c.terminate();
  d.terminate();
});

t.test('login failures: the server\'s SQLSTATE, or a connect error, as a ProxyError', async (t) => {
  const refused = await freePort();
  // not Postgres: a listener that accepts and never speaks, to reach the connect timeout
  const silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const held: net.Socket[] = [];
  silent.on('connection', (s) => held.push(s));
  t.teardown(() => {
    held.forEach((s) => s.destroy());
    silent.close();
  });
  const silentPort = (silent.address() as net.AddressInfo).port;
  const cases: { name: string; identity: { user: string; password: string }; shard?: Partial<ShardConfig>; timeoutMs?: number; code: string; sqlState: string; message: RegExp }[] = [
    { name: 'wrong SCRAM password', identity: { user: 'app', password: 'nope' }, code: 'SERVER_STARTUP_ERROR', sqlState: '28P01', message: /shard "s0" \(server user "app"\).*password authentication failed/ },
    { name: 'wrong md5 password', identity: { user: 'md5user', password: 'nope' }, code: 'SERVER_STARTUP_ERROR', sqlState: '28P01', message: /password authentication failed/ },
    { name: 'wrong cleartext password', identity: { user: 'pwuser', password: 'nope' }, code: 'SERVER_STARTUP_ERROR', sqlState: '28P01', message: /password authentication failed/ },
    { name: 'SASLprep: the unmapped password differs', identity: { user: 'prepped', password: 'I-X' }, code: 'SERVER_STARTUP_ERROR', sqlState: '28P01', message: /password authentication failed/ },
    { name: 'unknown user', identity: { user: 'nobody', password: 'x' }, code: 'SERVER_STARTUP_ERROR', sqlState: '28P01', message: /"nobody"/ },
    { name: 'pg_hba reject', identity: { user: 'rejected', password: 'whatever' }, code: 'SERVER_STARTUP_ERROR', sqlState: '28000', message: /rejects connection/ },
    { name: 'unknown database', identity: APP, shard: { database: 'nope' }, code: 'SERVER_STARTUP_ERROR', sqlState: '3D000', message: /"nope" does not exist/ },
    { name: 'nothing listening', identity: APP, shard: { port: refused }, code: 'SERVER_CONNECT_FAILED', sqlState: '08001', message: /cannot connect to shard "s0"/ },
    { name: 'no answer within the timeout', identity: APP, shard: { port: silentPort }, timeoutMs: 150, code: 'SERVER_CONNECT_TIMEOUT', sqlState: '08001', message: /timed out connecting to shard "s0"/ },
  ];
  for (const k of cases) {
    try {
      const c = await connect(k.identity, { ...shard, ...k.shard }, k.timeoutMs ?? 10_000);
      t.fail(`${k.name}: connected (pid ${c.pid})`);
    } catch (e) {
      t.type(e, ProxyError, `${k.name}: a ProxyError`);
      const pe = e as ProxyError;
      t.same([pe.code, pe.sqlState], [k.code, k.sqlState], `${k.name}: ${k.code} ${k.sqlState}`);
      t.match(pe.message, k.message, `${k.name}: message`);
    }
  }
  t.ok(held.length >= 1, 'the timeout case reached the silent listener');
});

t.test('prepared-statement LRU', async (t) => {
  // steps: `use NAME`, `end` (a Sync went out), `forget`, `evict MAX = NAMES` (returned), `parsed = NAMES` (in LRU order),
  // `prepared NAME` (its ParseComplete came, with a shape), `known = NAMES` (prepared and shapes)
  const cases: { name: string; steps: string[] }[] = [
    { name: 'under the limit nothing is evicted', steps: ['use a', 'use b', 'end', 'evict 3 =', 'parsed = a b'] },
    { name: 'at the limit the least recently used goes', steps: ['use a', 'use b', 'use c', 'end', 'evict 3 = a', 'parsed = b c'] },
    { name: 'a use makes a statement the most recent', steps: ['use a', 'use b', 'use c', 'use a', 'end', 'evict 3 = b', 'parsed = c a'] },
    { name: 'over the limit: enough go to leave room for one', steps: ['use a', 'use b', 'use c', 'use d', 'use e', 'end', 'evict 3 = a b c', 'parsed = d e'] },
    { name: 'statements of the current batch are never evicted', steps: ['use a', 'use b', 'use c', 'evict 3 =', 'parsed = a b c'] },
    { name: 'only those outside the batch go, even if that leaves no room', steps: ['use x', 'end', 'use a', 'use b', 'evict 2 = x', 'parsed = a b'] },
    { name: 'endBatch frees them', steps: ['use a', 'use b', 'evict 2 =', 'end', 'evict 2 = a', 'parsed = b'] },
    { name: 'max 0 means no limit', steps: ['use a', 'use b', 'end', 'evict 0 =', 'parsed = a b'] },
    { name: 'eviction drops the prepared name and its shape too', steps: ['use a', 'prepared a', 'use b', 'prepared b', 'end', 'evict 2 = a', 'known = b'] },
    { name: 'forgetStatements drops everything', steps: ['use a', 'prepared a', 'use b', 'forget', 'parsed =', 'known ='] },
    { name: 'forgetStatements ends the batch too', steps: ['use a', 'forget', 'add a', 'evict 1 = a'] },
  ];
  const conn = await connect();
  for (const k of cases) {
    conn.forgetStatements();
    conn.endBatch();
    for (const step of k.steps) {
      const [verb, ...rest] = step.split(' ');
      const names = (s: string[]): string[] => s.filter((x) => x !== '' && x !== '=');
      switch (verb) {
        case 'use': conn.useStatement(rest[0]!); break;
        case 'end': conn.endBatch(); break;
        case 'forget': conn.forgetStatements(); break;
        case 'add': conn.parsed.add(rest[0]!); break; // a name in parsed without a use in this batch
        case 'prepared': conn.prepared.add(rest[0]!); conn.shapes.set(rest[0]!, 'shape'); break;
        case 'evict': t.same(conn.evictStatements(Number(rest[0])), names(rest.slice(1)), `${k.name}: ${step}`); break;
        case 'parsed': t.same([...conn.parsed], names(rest), `${k.name}: ${step}`); break;
        case 'known': t.same([[...conn.prepared], [...conn.shapes.keys()]], [names(rest), names(rest)], `${k.name}: ${step}`); break;
        default: throw new Error(`bad step ${step}`);
      }
    }
  }
  conn.terminate();
});

t.test('an owner gets the server\'s bytes; without one they are not lost to anyone', async (t) => {
  const c = await connect();
  const o = owner();
  c.owner = o;
  t.equal(c.write(Fe.Query("select 6 * 7 as answer")), true, 'write goes to the socket');
  t.equal(await o.done, 'frame');
  t.equal(codes(o.frames), 'TDCZ', 'RowDescription, DataRow, CommandComplete, ReadyForQuery');
  t.equal(o.frames[1]!.payload.subarray(6).toString(), '42');
  c.terminate();
});

t.test('reads reuse one buffer while the owner keeps nothing; a chunk the owner keeps is never written over', async (t) => {
  const c = await connect();
  // a large answer comes in many reads
  const query = Fe.Query("select repeat('x', 200) || i as v from generate_series(1, 4000) i");
  const seen: { memory: ArrayBufferLike; offset: number }[] = [];
  const run = (keep: boolean): Promise<Buffer[]> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      seen.length = 0;
      c.owner = {
        onServerData(chunk: Buffer): boolean {
          seen.push({ memory: chunk.buffer, offset: chunk.byteOffset });
          chunks.push(keep ? chunk : Buffer.from(chunk));
          const all = Buffer.concat(chunks);
          if (all.length >= 6 && all[all.length - 6] === BackendCode.ReadyForQuery) resolve(chunks);
          return keep;
        },
        onServerClose() {},
      };
      c.write(query);
    });
  const copied = Buffer.concat(await run(false));
  t.ok(seen.length > 3, `${seen.length} reads`);
  t.equal(new Set(seen.map((x) => x.memory)).size, 1, 'owner kept nothing: every read went into the same buffer');
  const kept = Buffer.concat(await run(true));
  t.equal(new Set(seen.map((x) => x.memory)).size, seen.length, 'owner kept each chunk: each read went into a new buffer');
  t.ok(kept.equals(copied), 'the kept chunks are intact after later reads (same bytes as the copied run)');
  c.terminate();
});

t.test('the server closes an owned connection: the owner hears the FATAL and the close', async (t) => {
  const c = await connect();
  const o = owner(BackendCode.ErrorResponse);
  let poolHeard = 0;
  c.setCloseHandler(() => poolHeard++);
  c.owner = o;
  await superuser((s) => s.query('select pg_terminate_backend($1)', [c.pid]));
  await o.done;
  await until('the close', () => o.closes === 1);
  const err = o.frames.find((f) => f.code === BackendCode.ErrorResponse);
  t.equal(err && decodeErrorFields(err.payload).get('C'), '57P01', 'the owner got admin_shutdown');
  t.equal(c.closed, true);
  t.equal(c.owner, null, 'the owner is dropped');
  t.equal(poolHeard, 1, 'the close handler ran too');
});

t.test('an idle connection the server terminates is closed, its handler runs once', async (t) => {
  const c = await connect();
  let heard = 0;
  c.setCloseHandler((x) => {
    t.equal(x, c, 'the handler gets the connection');
    heard++;
  });
  await superuser((s) => s.query('select pg_terminate_backend($1)', [c.pid]));
  await until('the close handler', () => heard > 0);
  t.equal(c.closed, true);
  t.equal(heard, 1, 'once');
});

t.test('destroy and terminate: closed at once, idempotent, the backend goes away', async (t) => {
  for (const how of ['destroy', 'terminate'] as const) {
    const c = await connect();
    const pid = c.pid;
    let heard = 0;
    c.setCloseHandler(() => heard++);
    const o = owner();
    c.owner = o;
    c[how]();
    t.equal(c.closed, true, `${how}: closed at once`);
    c[how]();
    c.destroy();
    c.terminate();
    await until(`${how}: the socket close`, () => heard > 0);
    t.equal(heard, 1, `${how}: the close handler ran once`);
    t.equal(o.closes, 1, `${how}: the owner heard the close once`);
    await until(`${how}: the backend to exit`, async () => !(await backendAlive(pid)));
    t.pass(`${how}: backend ${pid} is gone`);
  }
});

t.test('cancel: a cancel not sent yet is dropped by afterCancel; a sent one ends the query with 57014', async (t) => {
  const c = await connect();
  const o = owner();
  c.owner = o;
  c.write(Fe.Query('select pg_sleep(30)'));
  const running = (): Promise<boolean> => superuser(async (s) => (await s.query(`select 1 from pg_stat_activity where pid = $1 and state = 'active'`, [c.pid])).rowCount === 1);
  await until('the sleep to run', running);

  // the request is over as far as the pool knows: a CancelRequest still connecting is dropped, then fn runs
  const order: string[] = [];
  c.cancel(() => order.push('cancel closed'));
  t.equal(c.cancelling, true, 'cancelling while the CancelRequest is in flight');
  await new Promise<void>((r) => c.afterCancel(() => {
    order.push('afterCancel');
    r();
  }));
  t.same(order, ['cancel closed', 'afterCancel'], 'afterCancel ran once the cancel connection closed');
  t.equal(c.cancelling, false);
  t.equal(await running(), true, 'the dropped cancel never reached the server');
  t.notOk(o.frames.some((f) => f.code === BackendCode.ReadyForQuery || f.code === BackendCode.ErrorResponse), 'the query has not ended');

  // a cancel that is sent: Postgres cancels the query
  await new Promise<void>((r) => c.cancel(r));
  t.equal(await o.done, 'frame');
  const err = o.frames.find((f) => f.code === BackendCode.ErrorResponse);
  t.equal(err && decodeErrorFields(err.payload).get('C'), '57014', 'query_canceled');
  t.match(codes(o.frames), /^T?EZ$/, 'the query ended with the error');
  t.equal(c.closed, false, 'the connection stays usable');
  let ran = false;
  c.afterCancel(() => (ran = true));
  t.equal(ran, true, 'with nothing in flight, afterCancel runs at once');
  t.equal(c.closed, false, 'and the connection is kept (the cancel settled)');
  c.terminate();
});

t.test('after connect, only the connection\'s own listeners stay on the socket', async (t) => {
  const c = await connect();
  t.equal(c.socket.listenerCount('data'), 0, 'no data listener: reads go through onread into the reused buffer');
  t.equal(c.socket.listenerCount('close'), 1, 'close');
  t.equal(c.socket.listenerCount('error'), 1, 'error');
  c.terminate();
});
