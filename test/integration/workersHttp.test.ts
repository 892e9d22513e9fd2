// Owns: the HTTP listener with `workers: 2` — each worker serves its own /healthz and /metrics on http.port + its index, as docs/operations.md says.
import t from 'tap';
import net from 'node:net';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { connected, startProxy } from '../helpers/proxy.js';

requirePostgres(t);

/** Whether `port` on loopback can be listened on now. */
function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Two consecutive free ports (the kernel's pick, and the next one free too). */
async function freePair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    if (p < 65535 && (await free(p + 1))) return p;
  }
  throw new Error('no two consecutive free ports');
}

const [cluster] = await withClusters(t, 1, { users: [] });
const base = await freePair();
const proxy = await startProxy(t, [cluster!], { workers: 2, http: { enabled: true, host: '127.0.0.1', port: base } });

t.test('each worker listens on http.port + its index and answers /healthz and /metrics', async (t) => {
  const end = Date.now() + 20000;
  const listening = (): number[] => [...proxy.logs().matchAll(/"msg":"http listening".*?"port":(\d+)/g)].map((m) => Number(m[1])).sort();
  while (listening().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.same(listening(), [base, base + 1], 'the two workers on http.port and http.port + 1');
  // some traffic, so the metrics have figures
  const c = await connected(t, proxy);
  await c.query('select 1');
  for (const port of [base, base + 1]) {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.equal(health.status, 200, `/healthz on ${port}`);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    t.match(metrics, /# TYPE prescient_client_admitted_total counter/, `/metrics on ${port} serves that worker's figures`);
  }
});
