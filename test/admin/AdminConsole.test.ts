// Owns: the admin console (database `prescient`) through real clients: SHOW commands, refusals, protocol limits.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, withClusters, psql } from '../helpers/pg.js';
import { startProxy, APP_USER, connectError, newClient } from '../helpers/proxy.js';

requirePostgres(t);

const ADMIN = { name: 'admin', password: 'admin-secret' };

t.test('admin console', async (t) => {
  const clusters = await withClusters(t, 1, { users: [] });
  const proxy = await startProxy(t, clusters, { pool: { mode: 'transaction', size: 3 }, admin: { users: [ADMIN] } });
  const app = newClient(proxy);
  await app.connect();
  t.teardown(() => app.end().catch(() => {}));
  await app.query('select 1');
  await app.query('select 2');
  const admin = newClient(proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  await admin.connect();
  t.teardown(() => admin.end().catch(() => {}));

  const cases: { sql: string; columns: string[]; check: (rows: Record<string, string>[]) => void }[] = [
    { sql: 'SHOW POOLS', columns: ['shard', 'pool_mode', 'size', 'server_total'], check: (rows) => {
      t.equal(rows.length, 1);
      t.equal(rows[0]!.shard, 's0');
      t.equal(rows[0]!.pool_mode, 'transaction');
      t.equal(rows[0]!.size, '3');
    } },
    { sql: 'show shards', columns: ['name', 'host', 'port', 'database'], check: (rows) => {
      t.equal(rows[0]!.port, String(clusters[0]!.port));
    } },
    { sql: 'SHOW CLIENTS', columns: ['pid', 'user', 'database', 'status'], check: (rows) => {
      t.equal(rows.length, 1, 'the app client (admin sessions are not listed)');
      t.equal(rows[0]!.user, APP_USER.name);
      t.equal(rows[0]!.status, 'idle');
    } },
    { sql: 'SHOW STATS', columns: ['clients', 'queries', 'rss_mb', 'heap_used_mb', 'external_mb', 'event_loop_p99_ms', 'event_loop_max_ms'], check: (rows) => {
      const [p99, max] = [Number(rows[0]!.event_loop_p99_ms), Number(rows[0]!.event_loop_max_ms)];
      t.ok(p99 >= 0 && max >= p99 && max < 10_000, `event-loop delay in ms: p99 ${p99} <= max ${max}`);
      t.ok(Number(rows[0]!.queries) >= 2, 'queries counted');
      t.ok(Number(rows[0]!.rss_mb) > 10 && Number(rows[0]!.heap_used_mb) < Number(rows[0]!.rss_mb), 'memory in MB: the heap is part of the resident set');
    } },
  ];
  for (const c of cases) {
    const r = await admin.query(c.sql);
    for (const col of c.columns) t.ok(r.fields.some((f) => f.name === col), `${c.sql}: column ${col}`);
    c.check(r.rows as Record<string, string>[]);
  }

  await t.test('an unknown command is a 42601 error and the session goes on', async (t) => {
    await t.rejects(admin.query('SHOW NONSENSE'), { code: '42601' });
    const r = await admin.query('SHOW POOLS');
    t.equal(r.rows.length, 1);
  });

  await t.test('the extended protocol gets a clear error', async (t) => {
    await t.rejects(admin.query({ name: 'named', text: 'SHOW POOLS' } as pg.QueryConfig), { code: '0A000' });
    const r = await admin.query('SHOW STATS');
    t.equal(r.rows.length, 1, 'still usable after the error');
  });

  await t.test('psql reads it', async (t) => {
    const r = await psql(['-At', '-c', 'SHOW SHARDS'], { host: proxy.host, port: proxy.port, user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^s0\|127\.0\.0\.1\|/);
  });

  await t.test('refusals', async (t) => {
    const notAdmin = await connectError(proxy, { database: 'prescient' });
    t.equal(notAdmin.code, '42501', 'an ordinary user is refused');
    const wrong = await connectError(proxy, { user: ADMIN.name, password: 'nope', database: 'prescient' });
    t.equal(wrong.code, '28P01', 'a wrong admin password');
    const adminOnData = await connectError(proxy, { user: ADMIN.name, password: ADMIN.password, database: 'app' });
    t.equal(adminOnData.code, '28P01', 'admin users are not data-path users');
  });
});
