// Owns: telling a lock wait from a proxy hang in the fuzzer (scripts/fuzz/explainHang.ts), against a real Prescient and Postgres: a wait for another connected client's row lock is a lock wait; a wait for a lock held outside the proxy, or no wait at all, stays a hang.
import t from 'tap';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster } from '../../helpers/pg.js';
import { APP_USER, startProxy } from '../../helpers/proxy.js';
import { RawClient, query } from '../../helpers/rawClient.js';
import { explainHang } from '../../../scripts/fuzz/explainHang.js';

requirePostgres(t);

const [cluster] = (await withClusters(t, 1)) as [Cluster];
const ADMIN = { name: 'admin', password: 'admin-secret' };
const db = { host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'app' };

const direct = new pg.Client(db);
await direct.connect();
await direct.query('create table if not exists locked (id int primary key, n int)');
await direct.query('insert into locked values (1, 0) on conflict do nothing');
await direct.end();

const proxy = await startProxy(t, [cluster], { pool: { mode: 'transaction', size: 4 }, admin: { users: [ADMIN] } });
const admin = { user: ADMIN.name, password: ADMIN.password };
const raw = (): Promise<RawClient> => RawClient.connect({ host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' });

/** A client whose UPDATE of row 1 waits (it is not answered): its local port. */
async function waiting(): Promise<{ c: RawClient; port: number }> {
  const c = await raw();
  c.send(query('update locked set n = n + 1 where id = 1'));
  await new Promise((r) => setTimeout(r, 300));
  return { c, port: c.socket.localPort ?? 0 };
}

const cases: { name: string; holder: 'proxy client' | 'outside the proxy' | 'nobody'; lockWait: boolean; says: RegExp }[] = [
  { name: 'the lock is held by another client of the proxy, still connected: a lock wait', holder: 'proxy client', lockWait: true, says: /waits for a lock .* client 127\.0\.0\.1:\d+/ },
  { name: 'the lock is held outside the proxy: still a hang', holder: 'outside the proxy', lockWait: false, says: /no client/ },
  { name: 'no lock wait at all: still a hang', holder: 'nobody', lockWait: false, says: /waits for no lock|holds no server connection/ },
];
for (const c of cases) {
  t.test(c.name, async (t) => {
    let release: () => Promise<void> = async () => {};
    if (c.holder === 'proxy client') {
      const h = await raw();
      await h.query('begin');
      await h.query('update locked set n = n + 1 where id = 1');
      release = async () => { await h.query('rollback'); await h.close(); };
    } else if (c.holder === 'outside the proxy') {
      const h = new pg.Client(db);
      await h.connect();
      await h.query('begin');
      await h.query('update locked set n = n + 1 where id = 1');
      release = async () => { await h.query('rollback'); await h.end(); };
    }
    const w = c.holder === 'nobody' ? await (async () => { const x = await raw(); await x.query('select 1'); return { c: x, port: x.socket.localPort ?? 0 }; })() : await waiting();
    const why = await explainHang(w.port, proxy, admin, db);
    t.equal(why.lockWait, c.lockWait, why.detail);
    t.match(why.detail, c.says);
    await release();
    w.c.destroy();
  });
}
