// Owns: WorkerPeers — a worker's place from PRESCIENT_WORKER, pids that name their worker, and the primary's relaying.
import t from 'tap';
import type { Worker } from 'node:cluster';
import { PeerMessage, routePeerMessage, workerOfPid, workerPeersFromEnv, type PeerEnvelope } from '../../proxy/workers/WorkerPeers.js';
import { ProxyContext, type ProxyContextParts } from '../../proxy/context/ProxyContext.js';
import type { Catalog } from '../../proxy/catalog/Catalog.js';
import type { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import type { PluginHost } from '../../proxy/plugins/PluginHost.js';
import type { AdminSource } from '../../proxy/admin/AdminConsole.js';
import { Router } from '../../proxy/router/Router.js';
import { parseConfig } from '../../config/loadConfig.js';

t.test('PRESCIENT_WORKER gives the index and count; anything else is no worker', async (t) => {
  const sent: PeerEnvelope[] = [];
  const send = (m: PeerEnvelope): void => void sent.push(m);
  const cases: { env: string | undefined; want: [number, number] | null }[] = [
    { env: '0/2', want: [0, 2] },
    { env: '3/4', want: [3, 4] },
    { env: '2/2', want: null },
    { env: '0/1', want: null },
    { env: 'x', want: null },
    { env: undefined, want: null },
  ];
  for (const c of cases) {
    const p = workerPeersFromEnv({ PRESCIENT_WORKER: c.env }, send);
    t.same(p ? [p.index, p.count] : null, c.want, String(c.env));
  }
  t.equal(workerPeersFromEnv({ PRESCIENT_WORKER: '0/2' }, null), null, 'no IPC channel: not a worker');
  const p = workerPeersFromEnv({ PRESCIENT_WORKER: '1/2' }, send)!;
  p.sendCancel(7, 99);
  p.reloadOthers();
  t.same(sent, [{ t: PeerMessage.Cancel, pid: 7, secret: 99 }, { t: PeerMessage.Reload }]);
});

t.test('the primary sends a cancel to the pid\'s worker and a reload to every other worker', async (t) => {
  const got: string[][] = [[], [], []];
  const workers = got.map((box) => ({ send: (m: PeerEnvelope) => void box.push(m.t === PeerMessage.Cancel ? `cancel ${m.pid}` : m.t) }) as unknown as Worker);
  routePeerMessage(workers[0]!, { t: PeerMessage.Cancel, pid: 3 * 1000 + 2, secret: 1 }, workers);
  routePeerMessage(workers[1]!, { t: PeerMessage.Reload }, workers);
  t.same(got, [[PeerMessage.Reload], [], ['cancel 3002', PeerMessage.Reload]]);
});

function context(peers: ProxyContextParts['peers']): ProxyContext {
  const cfg = parseConfig({ database: 'app', users: [{ name: 'app', password: 'x' }], shards: [{ name: 's0', host: '127.0.0.1', port: 5432, database: 'app' }] });
  const admin = (): AdminSource => ({ pools: () => ({ columns: [], rows: [] }), clients: () => ({ columns: [], rows: [] }), shards: () => ({ columns: [], rows: [] }), stats: () => ({ columns: [], rows: [] }) });
  return new ProxyContext({
    config: cfg, secureContext: null, catalog: { epoch: 1 } as unknown as Catalog, analyzer: {} as Analyzer, router: new Router(cfg),
    plugins: {} as PluginHost, versions: null, afterDdl: null, admin, peers,
  });
}

t.test('a worker\'s pids name it, and a cancel for another worker\'s pid goes there', async (t) => {
  const cancels: [number, number][] = [];
  const ctx = context({ index: 1, count: 3, sendCancel: (pid, secret) => void cancels.push([pid, secret]), reloadOthers: () => {} });
  for (let i = 0; i < 1000; i++) {
    const pid = ctx.nextPid();
    if (workerOfPid(pid, 3) !== 1 || pid <= 0 || pid > 0x7fffffff) t.fail(`pid ${pid} is not worker 1's`);
  }
  let done = 0;
  ctx.cancel(3 * 50 + 2, 42, () => done++);
  ctx.cancel(3 * 50 + 1, 43, () => done++); // its own: no such client here, nothing forwarded
  t.same(cancels, [[152, 42]]);
  t.equal(done, 2, 'the cancel connection is closed either way');
  const single = context(null);
  const a = single.nextPid();
  t.equal(single.nextPid(), a + 1, 'one worker: pids count up');
});
