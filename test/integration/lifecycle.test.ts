// Owns: the proxy's lifecycle under real clients — graceful SIGTERM/SIGINT and bounded memory for a slow reader.
import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { startProxy, APP_USER } from '../helpers/proxy.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { ScramClientSession } from '../../proxy/auth/scram.js';
import { FrameReader } from '../../proxy/protocol/FrameReader.js';

requirePostgres(t);

const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

t.test('lifecycle', async (t) => {
  const clusters = await withClusters(t, 1, { users: [] });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    await t.test(`${signal}: stop accepting, let the open transaction finish, then exit 0`, async (t) => {
      const proxy = await startProxy(t, clusters, { pool: { mode: 'transaction', size: 4 }, shutdown: { timeout_ms: 10000 } });
      const cfg = { host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' };
      const busy = new pg.Client(cfg);
      const idle = new pg.Client(cfg);
      await busy.connect();
      await idle.connect();
      busy.on('error', () => {});
      const idleError = new Promise<Error>((resolve) => idle.on('error', resolve));
      await busy.query('create table if not exists shutdown_t (id int)');
      await busy.query('begin');
      await busy.query('insert into shutdown_t values (1)');
      const exited = proxy.stop(signal);
      // the idle client is told and closed
      const e = (await idleError) as Error & { code?: string };
      t.equal(e.code, '57P01', 'idle client gets admin shutdown');
      // new connections are refused
      const late = new pg.Client(cfg);
      await t.rejects(late.connect(), 'no new connections during shutdown');
      // the open transaction still completes
      await busy.query('insert into shutdown_t values (2)');
      await busy.query('commit');
      t.equal(await exited, 0, 'exit code 0');
      const direct = new pg.Client({ host: clusters[0]!.host, port: clusters[0]!.port, user: 'postgres', password: clusters[0]!.password, database: 'app' });
      await direct.connect();
      const r = await direct.query('select count(*)::int as n from shutdown_t');
      t.ok(r.rows[0].n >= 2, 'the committed rows are there');
      await direct.query('truncate shutdown_t');
      await direct.end();
      await busy.end().catch(() => {});
    });
  }

  await t.test('a client that reads slowly keeps proxy memory bounded (backpressure)', async (t) => {
    const proxy = await startProxy(t, clusters, { pool: { mode: 'transaction', size: 2 } });
    const sock = net.connect({ host: proxy.host, port: proxy.port });
    sock.on('error', () => {});
    const reader = new FrameReader(1 << 30);
    let scram: ScramClientSession | null = null;
    let ready = false;
    let rows = 0;
    let bytes = 0;
    let done = false;
    const onFrame = (code: number, payload: Buffer): void => {
      if (code === 0x52) {
        const kind = payload.readInt32BE(0);
        if (kind === 10) {
          scram = new ScramClientSession(APP_USER.password);
          sock.write(Fe.SASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
        } else if (kind === 11) sock.write(Fe.SASLResponse(scram!.serverFirst(payload.toString('utf8', 4))));
      } else if (code === 0x5a) {
        if (!ready) ready = true;
        else done = true;
      } else if (code === 0x44) rows++;
    };
    sock.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      reader.push(chunk);
      let f;
      while ((f = reader.next())) onFrame(f.code, f.payload);
    });
    await new Promise<void>((resolve) => sock.on('connect', resolve));
    sock.write(Fe.StartupMessage({ user: APP_USER.name, database: 'app' }));
    while (!ready) await new Promise((r) => setTimeout(r, 20));
    const before = rssKb(proxy.proc.pid!);
    // about 400 MB of rows, and the client stops reading
    sock.write(Fe.Query("select g, repeat('x', 2000) from generate_series(1, 200000) g"));
    await new Promise((r) => setTimeout(r, 300));
    sock.pause();
    await new Promise((r) => setTimeout(r, 3000));
    const during = rssKb(proxy.proc.pid!);
    t.ok(during - before < 100 * 1024, `proxy RSS grew ${(during - before) / 1024} MB while the client was not reading (limit 100 MB)`);
    t.ok(rows < 200000, 'the client had not read everything yet');
    sock.resume();
    while (!done) await new Promise((r) => setTimeout(r, 50));
    t.equal(rows, 200000, 'every row arrived once the client read again');
    t.ok(bytes > 400_000_000, `${bytes} bytes received`);
    await new Promise<void>((resolve) => {
      sock.on('close', () => resolve());
      sock.end(Fe.Terminate);
    });
  });
});
