// Owns: the late-cancel race through the pool — a CancelRequest for one client's query must never cancel another
// client's query on the same server connection, nor a statement the client sent after it went idle.
//
// Deterministic: the shard is reached through a relay that, once armed, holds every NEW connection (the proxy's
// CancelRequest connection) for DELAY_MS before it reaches Postgres — as a cancel that is slow to connect (a loaded
// postmaster, TLS, a remote server) does. The pool's one server connection was opened before, so it is not slowed.
import t from 'tap';
import net from 'node:net';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { APP_USER, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { RawClient, errorFields, query as queryMsg, renderFrames, sendCancel, type Frame } from '../helpers/rawClient.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';
import { freePort } from '../../scripts/testbed.js';

requirePostgres(t);

const DELAY_MS = 400;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP relay to host:port; while `delay` is set, a new connection waits that long before it is relayed. */
async function relay(t: { teardown(fn: () => unknown): void }, host: string, port: number): Promise<{ port: number; delay: number; opened: number }> {
  const state = { port: await freePort(), delay: 0, opened: 0 };
  const sockets = new Set<net.Socket>();
  // half-open: the proxy's FIN after its CancelRequest must not close the relay's side before Postgres has answered
  const server = net.createServer({ allowHalfOpen: true }, (down) => {
    state.opened++;
    sockets.add(down);
    down.pause();
    const go = (): void => {
      const up = net.connect({ host, port });
      sockets.add(up);
      up.on('connect', () => {
        down.pipe(up);
        up.pipe(down);
        down.resume();
      });
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
      up.on('close', () => down.destroy());
      down.on('close', () => up.end());
    };
    if (state.delay > 0) setTimeout(go, state.delay);
    else go();
  });
  await new Promise<void>((resolve) => server.listen(state.port, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return state;
}

const errorOf = (frames: Frame[]): string | undefined => {
  const e = frames.find((f) => f.code === BackendCode.ErrorResponse);
  return e ? errorFields(e).get('C') : undefined;
};

const [cluster] = await withClusters(t, 1, { users: [] });
const r = await relay(t, cluster!.host, cluster!.port);
const proxy: ProxyHandle = await startProxy(t, [{ ...cluster!, port: r.port }], { pool: { mode: 'transaction', size: 1, queue_timeout_ms: 20000 } });
const connect = async (tt: { teardown(fn: () => unknown): void }): Promise<RawClient> => {
  const c = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  tt.teardown(() => c.close());
  return c;
};

// the pool's one server connection, opened before the relay slows new connections
{
  const warm = await RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });
  await warm.rows('select 1');
  await warm.close();
}

t.test('a late cancel for client A does not cancel client B\'s query on the server connection A gave back', async (t) => {
  const a = await connect(t);
  const b = await connect(t);
  r.delay = DELAY_MS;
  t.teardown(() => void (r.delay = 0));
  // A's query holds the pool's only server connection; B's waits for it
  a.send((queryMsg('select pg_sleep(0.3)')));
  const aDone = a.readUntilReady(10000);
  await sleep(50);
  b.send((queryMsg('select pg_sleep(1)')));
  const bDone = b.readUntilReady(10000);
  await sleep(50);
  // A cancels while its query runs; the cancel reaches Postgres only after A's query has finished and B's has begun
  const cancelled = sendCancel(proxy.host, proxy.port, a.pid, a.secret);
  const aFrames = await aDone;
  const bFrames = await bDone;
  await cancelled;
  t.equal(errorOf(bFrames), undefined, `B's query is not cancelled: ${renderFrames(bFrames)}`);
  // A's query ended before its cancel arrived: it completes, as it would against Postgres directly
  t.equal(errorOf(aFrames), undefined, `A's query completed: ${renderFrames(aFrames)}`);
  t.same(await a.rows('select 1'), [['1']], 'A works after');
  t.same(await b.rows('select 2'), [['2']], 'B works after');
  if (errorOf(bFrames)) t.comment(proxy.logs().split('\n').slice(-15).join('\n'));
});

t.test('a cancel for a client with no request in flight is not forwarded (its next statement is not cancelled)', async (t) => {
  const a = await connect(t);
  t.same(await a.rows('begin'), []);
  r.delay = DELAY_MS;
  t.teardown(() => void (r.delay = 0));
  const opened = r.opened;
  // idle in a transaction: the server connection stays A's, but nothing runs on it
  await sendCancel(proxy.host, proxy.port, a.pid, a.secret);
  const frames = await a.query(`select pg_sleep(${(DELAY_MS + 300) / 1000})`);
  t.equal(errorOf(frames), undefined, `the next statement is not cancelled: ${renderFrames(frames)}`);
  t.equal(r.opened, opened, 'no CancelRequest went to the server');
  t.same(await a.rows('commit'), []);
});

t.test('the right key still cancels a running query, and the client\'s CancelRequest closes once Postgres has it', async (t) => {
  const a = await connect(t);
  r.delay = DELAY_MS;
  t.teardown(() => void (r.delay = 0));
  a.send((queryMsg('select pg_sleep(30)')));
  const done = a.readUntilReady(15000);
  await sleep(200);
  const started = Date.now();
  await sendCancel(proxy.host, proxy.port, a.pid, a.secret);
  const waited = Date.now() - started;
  t.ok(waited >= DELAY_MS - 50, `the cancel connection closed after the server took the cancel (${waited} ms)`);
  const frames = await done;
  t.equal(errorOf(frames), '57014', 'cancelled');
  t.same(await a.rows('select 3'), [['3']]);
});
