// Owns: workerShare — N workers' pool.size and max_client_connections add up to the configured ones (at least one each).
import t from 'tap';
import { shareOf, workerShare } from '../../proxy/workers/workerShare.js';
import { parseConfig } from '../../config/loadConfig.js';

t.test('shares add up to the total, first ones get the remainder', async (t) => {
  const cases: { total: number; count: number; want: number[] }[] = [
    { total: 20, count: 2, want: [10, 10] },
    { total: 21, count: 2, want: [11, 10] },
    { total: 10, count: 3, want: [4, 3, 3] },
    { total: 1000, count: 4, want: [250, 250, 250, 250] },
    // fewer than the workers: one each (said at start-up: the total is then the worker count)
    { total: 1, count: 2, want: [1, 1] },
  ];
  for (const c of cases) {
    const got = Array.from({ length: c.count }, (_, i) => shareOf(c.total, i, c.count));
    t.same(got, c.want, `${c.total} over ${c.count}`);
  }
});

t.test('workerShare splits pool.size and listen.max_client_connections, leaves the rest', async (t) => {
  const cfg = parseConfig({
    database: 'app',
    users: [{ name: 'app', password: 'x' }],
    shards: [{ name: 's0', host: '127.0.0.1', port: 5432, database: 'app' }],
    pool: { size: 9, queue_timeout_ms: 1234 },
    listen: { max_client_connections: 101 },
    workers: 2,
  });
  const w0 = workerShare(cfg, 0, 2);
  const w1 = workerShare(cfg, 1, 2);
  t.equal(w0.pool.size + w1.pool.size, 9);
  t.equal(w0.listen.max_client_connections + w1.listen.max_client_connections, 101);
  t.equal(w1.pool.queue_timeout_ms, 1234);
  t.equal(cfg.pool.size, 9, 'the config itself is not changed');
  t.equal(workerShare(cfg, 0, 1), cfg, 'one worker: the config as it is');
});
