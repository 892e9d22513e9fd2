// Tests for proxy/pool/Pool.ts with real ServerConnections to a real Postgres: acquire/release and reuse, the idle
// list's order, the wait queue served first-in first-out, the size bound with more waiters than connections, the queue
// timeout, release of a connection in an unknown state, discard replacing a connection, idle expiry on an injected
// clock, connections the server closed never handed out, connect failures, and close.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import { Pool, type PoolOptions } from '../../proxy/pool/Pool.js';
import type { ServerConnection, ServerIdentity } from '../../proxy/connection/ServerConnection.js';
import { ProxyError } from '../../proxy/protocol/SqlState.js';
import { logger } from '../../proxy/logger.js';
import type { ShardConfig } from '../../config/schema.js';

requirePostgres(t);

// the pool warns when it closes a connection in an unknown state: expected here, not worth the noise
logger.setLevel('error');

const APP: ServerIdentity = { user: 'app', password: 'app-secret' };
const [cluster] = (await withClusters(t, 1, { users: [{ name: APP.user, password: APP.password }] })) as [Cluster];
const shard: ShardConfig = { name: 's0', host: cluster.host, port: cluster.port, database: 'app', password: '' };

const pools: Pool[] = [];
/** every connection a test was handed: destroyed at the end, in use or not (close() ends only idle ones) */
const handed = new Set<ServerConnection>();
t.teardown(() => {
  pools.forEach((p) => p.close());
  handed.forEach((c) => c.destroy());
});

function pool(o: Partial<PoolOptions> = {}, now?: () => number, identity: ServerIdentity = APP): Pool {
  const p = new Pool(`s0/${identity.user}`, shard, identity, { size: 2, queueTimeoutMs: 0, idleTimeoutMs: 0, connectTimeoutMs: 10_000, ...o }, now);
  pools.push(p);
  return p;
}

/** Pool.acquire() as the callback the tests were written with: (error, null) or (null, connection), once. */
function waitFor(p: Pool, cb: (err: ProxyError | null, conn: ServerConnection | null) => void): void {
  p.acquire().then((c) => cb(null, c), (e: unknown) => cb(e as ProxyError, null));
}

/** One connection: an idle one at once, else through the wait queue. */
function acquire(p: Pool): Promise<ServerConnection> {
  const idle = p.tryAcquire();
  if (idle) return Promise.resolve(idle);
  return new Promise((resolve, reject) =>
    waitFor(p, (err, conn) => {
      if (err) return reject(err);
      handed.add(conn!);
      resolve(conn!);
    }),
  );
}

/** acquire() as a promise of what its callback got, counting calls. */
function waiter(p: Pool): { result: Promise<{ err: ProxyError | null; conn: ServerConnection | null }>; calls: () => number } {
  let n = 0;
  const result = new Promise<{ err: ProxyError | null; conn: ServerConnection | null }>((resolve) =>
    waitFor(p, (err, conn) => {
      n++;
      if (conn) handed.add(conn);
      resolve({ err, conn });
    }),
  );
  return { result, calls: () => n };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

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

const backendAlive = (pid: number): Promise<boolean> =>
  superuser(async (c) => (await c.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 1);

t.test('acquire opens a connection, release idles it, the next acquire reuses it', async (t) => {
  const p = pool();
  t.equal(p.tryAcquire(), null, 'an empty pool has nothing idle');
  const c = await acquire(p);
  t.equal(c.poolKey, 's0/app', 'the connection carries the pool key');
  t.equal(c.user, 'app', 'logged in as the pool\'s user');
  t.same([p.totalCount, p.activeCount, p.idleCount, p.waitingCount], [1, 1, 0, 0], 'one active');
  c.owner = { onServerData() {}, onServerClose() {} };
  p.release(c);
  t.equal(c.owner, null, 'release drops the owner');
  t.same([p.totalCount, p.activeCount, p.idleCount], [1, 0, 1], 'one idle');
  t.equal(p.tryAcquire(), c, 'the idle connection is handed out again');
  t.same([p.stats.opened, p.stats.acquired, p.stats.waited], [1, 2, 1]);
  p.release(c);
});

t.test('the idle list hands out the most recently released connection first', async (t) => {
  const p = pool({ size: 3 });
  const [a, b, c] = await Promise.all([acquire(p), acquire(p), acquire(p)]);
  t.equal(new Set([a, b, c]).size, 3, 'three connections');
  for (const x of [b!, a!, c!]) p.release(x);
  const ids = [p.tryAcquire(), p.tryAcquire(), p.tryAcquire(), p.tryAcquire()].map((x) => x?.id ?? null);
  t.same(ids, [c!.id, a!.id, b!.id, null], 'last in, first out');
  for (const x of [a!, b!, c!]) p.release(x);
});

t.test('waiters are served first in, first out', async (t) => {
  const p = pool({ size: 1 });
  const held = await acquire(p);
  const served: number[] = [];
  const done = Array.from({ length: 6 }, (_, i) =>
    new Promise<void>((resolve) => waitFor(p, (err, conn) => {
      if (conn) handed.add(conn);
      t.equal(err, null, `waiter ${i}: no error`);
      t.equal(conn, held, `waiter ${i}: the one connection`);
      served.push(i);
      // hand it on from a later turn, as a client finishing its request would
      setImmediate(() => {
        p.release(conn!);
        resolve();
      });
    })),
  );
  t.equal(p.waitingCount, 6);
  p.release(held);
  await Promise.all(done);
  t.same(served, [0, 1, 2, 3, 4, 5], 'in the order they came');
  t.same([p.stats.opened, p.totalCount, p.idleCount, p.waitingCount], [1, 1, 1, 0], 'still one connection, idle at the end');
});

t.test('more waiters than connections: never more than size opened, everyone served', async (t) => {
  const cases = [
    { size: 1, waiters: 4 },
    { size: 2, waiters: 7 },
    { size: 3, waiters: 3 },
    { size: 3, waiters: 12 },
  ];
  for (const k of cases) {
    const p = pool({ size: k.size });
    let holding = 0;
    let maxHolding = 0;
    let maxTotal = 0;
    const seen = new Set<ServerConnection>();
    const done = Array.from({ length: k.waiters }, () =>
      new Promise<void>((resolve, reject) => waitFor(p, (err, conn) => {
        if (err) return reject(err);
        handed.add(conn!);
        seen.add(conn!);
        holding++;
        maxHolding = Math.max(maxHolding, holding);
        maxTotal = Math.max(maxTotal, p.totalCount);
        setImmediate(() => {
          holding--;
          p.release(conn!);
          resolve();
        });
      })),
    );
    t.equal(p.totalCount, k.size < k.waiters ? k.size : k.waiters, `size ${k.size}, ${k.waiters} waiters: opening only what the bound allows`);
    t.equal(p.waitingCount, k.waiters, `size ${k.size}: all waiting`);
    await Promise.all(done);
    const label = `size ${k.size}, ${k.waiters} waiters`;
    t.ok(maxHolding <= k.size, `${label}: at most ${k.size} held at once (${maxHolding})`);
    t.ok(maxTotal <= k.size, `${label}: at most ${k.size} open (${maxTotal})`);
    // connections still opening when the last waiter was served go idle when they arrive
    await until(`${label}: every connection opened`, () => p.idleCount === p.totalCount);
    t.equal(p.stats.opened, Math.min(k.size, k.waiters), `${label}: opened`);
    t.ok(seen.size >= 1 && seen.size <= k.size, `${label}: ${seen.size} distinct connections handed out`);
    t.equal(p.idleCount, Math.min(k.size, k.waiters), `${label}: every opened connection idle at the end`);
  }
});

t.test('queue timeout: a 53300 error after queue_timeout_ms, the callback runs once', async (t) => {
  const p = pool({ size: 1, queueTimeoutMs: 100 });
  const held = await acquire(p);
  const first = waiter(p);
  const { err, conn } = await first.result;
  t.equal(conn, null);
  t.type(err, ProxyError);
  t.same([err!.code, err!.sqlState], ['POOL_QUEUE_TIMEOUT', '53300']);
  t.match(err!.message, /shard "s0" as user "app".*within 100 ms \(pool size 1\)/);
  t.equal(p.stats.timeouts, 1);
  // a waiter served in time: its timer is cleared, so a later waiter's timeout (after the first deadline) finds it called once
  const served = waiter(p);
  p.release(held);
  const got = await served.result;
  t.equal(got.conn, held, 'served before its timeout');
  const later = waiter(p);
  t.equal((await later.result).err?.code, 'POOL_QUEUE_TIMEOUT', 'a later waiter times out while the connection is held');
  t.equal(served.calls(), 1, 'the served waiter\'s callback ran once');
  t.equal(first.calls(), 1, 'so did the timed-out one\'s');
  t.equal(p.stats.timeouts, 2);
  p.release(held);
  t.same([p.idleCount, p.waitingCount], [1, 0], 'a timed-out waiter is skipped: the connection goes idle');
});

t.test('a waiter whose signal aborts (its client left) leaves the queue: not counted, not served, the next one is', async (t) => {
  const p = pool({ size: 1 });
  const held = await acquire(p);
  const gone = new AbortController();
  const leaving = p.acquire(gone.signal).then(() => 'served', (e: ProxyError) => e.code);
  const next = waiter(p);
  t.equal(p.waitingCount, 2, 'both wait');
  gone.abort();
  t.equal(await leaving, 'CLIENT_GONE', 'the aborted acquire rejects at once');
  t.equal(p.waitingCount, 1, 'and is no longer counted as waiting');
  p.release(held);
  t.equal((await next.result).conn, held, 'the connection goes to the waiter behind it');
  t.equal(p.waitingCount, 0);
  const already = new AbortController();
  already.abort();
  p.release(held);
  const h2 = await acquire(p);
  t.equal(await p.acquire(already.signal).then(() => 'served', (e: ProxyError) => e.code), 'CLIENT_GONE', 'an aborted signal never queues');
  t.equal(p.waitingCount, 0);
  p.release(h2);
});

t.test('release of a connection not seen idle after a Sync closes it instead of pooling it', async (t) => {
  const cases: { name: string; set: (c: ServerConnection) => void }[] = [
    { name: 'unsynced', set: (c) => void (c.unsynced = true) },
    { name: "txStatus 'T'", set: (c) => void (c.txStatus = 0x54) },
    { name: "txStatus 'E'", set: (c) => void (c.txStatus = 0x45) },
  ];
  for (const k of cases) {
    const p = pool({ size: 1 });
    const c = await acquire(p);
    const w = waiter(p);
    k.set(c);
    p.release(c);
    t.equal(c.closed, true, `${k.name}: closed`);
    const next = (await w.result).conn!;
    t.not(next, c, `${k.name}: the waiter gets a fresh connection`);
    t.not(next.pid, c.pid, `${k.name}: another backend`);
    t.same([next.txStatus, next.unsynced], [0x49, false], `${k.name}: the fresh one is clean`);
    t.same([p.stats.opened, p.stats.closedConns, p.totalCount], [2, 1, 1], `${k.name}: counted`);
    await until(`${k.name}: the old backend to exit`, async () => !(await backendAlive(c.pid)));
    p.release(next);
  }
});

t.test('discard closes a connection and a waiter gets a new one', async (t) => {
  const p = pool({ size: 1 });
  const c = await acquire(p);
  const w = waiter(p);
  t.equal(p.totalCount, 1, 'at the bound: the waiter waits');
  p.discard(c);
  t.equal(c.closed, true);
  const next = (await w.result).conn!;
  t.not(next, c, 'a replacement');
  t.same([p.stats.opened, p.stats.closedConns, p.totalCount], [2, 1, 1]);
  await until('the discarded backend to exit', async () => !(await backendAlive(c.pid)));
  t.equal(await backendAlive(next.pid), true, 'the replacement is alive');
  p.discard(next);
  t.same([p.totalCount, p.idleCount], [0, 0], 'without a waiter nothing is reopened');
  p.discard(next);
  t.equal(p.stats.closedConns, 2, 'discarding twice counts once');
});

t.test('idle expiry on an injected clock', async (t) => {
  const clock = { ms: 1_000_000 };
  const p = pool({ size: 3, idleTimeoutMs: 1000 }, () => clock.ms);
  const [a, b, c] = await Promise.all([acquire(p), acquire(p), acquire(p)]);
  p.release(a!); // at 0
  clock.ms += 600;
  p.release(b!); // at 600
  const steps: { at: number; idle: ServerConnection[] }[] = [
    { at: 1000, idle: [a!, b!] }, // exactly the timeout: not yet
    { at: 1001, idle: [b!] },
    { at: 1600, idle: [b!] },
    { at: 1601, idle: [] },
  ];
  for (const s of steps) {
    clock.ms = 1_000_000 + s.at;
    p.sweepIdle();
    t.equal(p.idleCount, s.idle.length, `at +${s.at} ms: ${s.idle.length} idle`);
    for (const x of [a!, b!]) t.equal(x.closed, !s.idle.includes(x), `at +${s.at} ms: connection ${x === a ? 'a' : 'b'} ${s.idle.includes(x) ? 'kept' : 'closed'}`);
  }
  t.equal(c!.closed, false, 'a connection in use is never expired');
  t.equal(p.totalCount, 1, 'the expired ones are forgotten');
  t.equal(p.stats.closedConns, 2);
  // a release renews lastUsed on the injected clock
  p.release(c!);
  clock.ms += 1000;
  p.sweepIdle();
  t.equal(c!.closed, false, 'released just now: kept');
  clock.ms += 1;
  p.sweepIdle();
  t.equal(c!.closed, true, 'then expired');
  await until('the expired backends to exit', async () => !(await backendAlive(a!.pid)) && !(await backendAlive(b!.pid)));

  const never = pool({ size: 1, idleTimeoutMs: 0 }, () => clock.ms);
  const d = await acquire(never);
  never.release(d);
  clock.ms += 365 * 86_400_000;
  never.sweepIdle();
  t.equal(d.closed, false, 'idle_timeout 0: never expired');
});

t.test('a connection the server closed is not handed out', async (t) => {
  const p = pool({ size: 3 });
  const [a, b, c] = await Promise.all([acquire(p), acquire(p), acquire(p)]);
  for (const x of [a!, b!, c!]) p.release(x);
  // the server ends a's backend while it is idle
  await superuser((s) => s.query('select pg_terminate_backend($1)', [a!.pid]));
  await until('the pool to forget it', () => p.totalCount === 2);
  t.equal(a!.closed, true);
  t.equal(p.idleCount, 2);
  // c is closed now but its socket's close event has not come yet: still in the idle list, skipped
  c!.destroy();
  t.equal(p.tryAcquire(), b, 'the live one');
  t.equal(p.tryAcquire(), null, 'nothing else');
  await until('the pool to forget the destroyed one', () => p.totalCount === 1);
  // a server restart of a backend in use: release of the closed connection does not pool it
  await superuser((s) => s.query('select pg_terminate_backend($1)', [b!.pid]));
  await until('b closed and forgotten', () => b!.closed && p.totalCount === 0);
  p.release(b!);
  t.same([p.idleCount, p.totalCount], [0, 0], 'nothing pooled, nothing counted');
  const fresh = await acquire(p);
  t.notOk([a, b, c].includes(fresh), 'the next acquire opens a new connection');
  t.equal(await backendAlive(fresh.pid), true);
  p.release(fresh);
});

t.test('a failed connect fails every waiter at once', async (t) => {
  const p = pool({ size: 1, queueTimeoutMs: 10_000 }, undefined, { user: 'app', password: 'wrong' });
  const ws = [waiter(p), waiter(p), waiter(p)];
  for (const [i, w] of ws.entries()) {
    const { err, conn } = await w.result;
    t.equal(conn, null);
    t.same([err?.code, err?.sqlState], ['SERVER_STARTUP_ERROR', '28P01'], `waiter ${i}: the server's error`);
  }
  t.same([p.stats.connectFailures, p.totalCount, p.waitingCount], [1, 0, 0], 'one attempt (size 1), nothing left');
  t.equal(ws.reduce((n, w) => n + w.calls(), 0), 3, 'each callback once');
});

t.test('close: idle connections end, waiters get 57P01, later releases and connects are closed', async (t) => {
  const p = pool({ size: 2 });
  const [a, b] = await Promise.all([acquire(p), acquire(p)]);
  const w = waiter(p);
  p.release(a!);
  t.equal((await w.result).conn, a, 'served before close');
  const queued = waiter(p);
  p.close();
  const q = await queued.result;
  t.same([q.err?.code, q.err?.sqlState], ['POOL_CLOSED', '57P01'], 'a queued waiter is told');
  const late = waiter(p);
  t.equal((await late.result).err?.code, 'POOL_CLOSED', 'wait() after close answers at once');
  p.release(a!);
  p.release(b!);
  t.same([a!.closed, b!.closed, p.idleCount], [true, true, 0], 'connections coming back are closed, not pooled');
  await until('both forgotten', () => p.totalCount === 0);

  // a connect in flight when the pool closes: the connection is closed when it arrives
  const p2 = pool({ size: 1 });
  const w2 = waiter(p2);
  p2.close();
  t.equal((await w2.result).err?.code, 'POOL_CLOSED');
  await until('the late connection to open and be closed', () => p2.stats.opened === 1 && p2.totalCount === 0);
  t.equal(p2.idleCount, 0);
});
