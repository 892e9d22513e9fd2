// Owns: pgbench through Prescient in transaction mode — tpcb-like, simple-update, select-only × simple/extended/prepared.
import t from 'tap';
import { requirePostgres, withClusters, pgbench } from '../helpers/pg.js';
import { startProxy, APP_USER } from '../helpers/proxy.js';

requirePostgres(t);

const SCRIPTS = [
  { name: 'tpcb-like', args: [] as string[] },
  { name: 'simple-update', args: ['-N'] },
  { name: 'select-only', args: ['-S'] },
];
const MODES = ['simple', 'extended', 'prepared'];

t.test('pgbench through Prescient, transaction mode', async (t) => {
  const clusters = await withClusters(t, 1, { users: [] });
  const c = clusters[0]!;
  const direct = { host: c.host, port: c.port, user: c.user, password: c.password, database: 'app' };
  const init = await pgbench(['-i', '-s', '1', '-q'], direct);
  t.equal(init.code, 0, init.stderr);
  // pool smaller than the client count, so transactions move between server connections;
  // -j equals -c because pgbench prepares statements synchronously per client (a pgbench property)
  const proxy = await startProxy(t, clusters, { pool: { mode: 'transaction', size: 3 } });
  const conn = { host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' };
  for (const s of SCRIPTS) {
    for (const mode of MODES) {
      await t.test(`${s.name} -M ${mode}`, async (t) => {
        const r = await pgbench([...s.args, '-M', mode, '-c', '6', '-j', '6', '-t', '150', '--failures-detailed'], conn);
        t.equal(r.code, 0, r.stderr);
        const processed = /number of transactions actually processed: (\d+)/.exec(r.stdout);
        t.ok(processed, r.stdout);
        t.equal(Number(processed?.[1]), 900, 'every transaction processed');
        const failed = /number of failed transactions: (\d+)/.exec(r.stdout);
        t.equal(Number(failed?.[1] ?? 0), 0, 'zero failed transactions');
        t.notMatch(r.stderr, /error|abort/i, r.stderr);
      });
    }
  }
  await t.test('the books balance after the tpcb runs', async (t) => {
    const { psql } = await import('../helpers/pg.js');
    // pgbench truncates pgbench_history at each run, and -N skips tellers and branches; tpcb keeps these two equal
    const r = await psql(['-At', '-c', 'select (select sum(bbalance) from pgbench_branches) = (select sum(tbalance) from pgbench_tellers) and (select count(*) from pgbench_branches where bbalance <> 0) > 0'], direct);
    t.equal(r.stdout.trim(), 't', r.stderr);
  });
});
