// Owns: the dashboard in a real headless Chromium against a real `prescient start` with traffic: the numbers the page
// shows (data-metric) equal SHOW POOLS and SHOW CACHE read through the admin console at the same moment, and a
// screenshot kept as the test's artifact.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { directQuery, requirePostgres, withClusters } from '../helpers/pg.js';
import { adminConsole, connected, startProxy } from '../helpers/proxy.js';

/** Debian's `chromium` (apt-get install -y chromium; .ci/run installs it), or another found on PATH. */
function findChromium(): string | null {
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) if (existsSync(p)) return p;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    for (const name of ['chromium', 'chromium-browser']) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

const chromium = findChromium();
if (chromium === null) {
  t.plan(0, 'chromium is not installed (apt-get install -y chromium; .ci/run installs it): the dashboard test needs a headless browser');
  process.exit(0);
}
requirePostgres(t);

const ADMIN = { name: 'admin', password: 'admin-secret' };
const clusters = await withClusters(t, 2);
for (const c of clusters) await directQuery(c, 'create table volumes (account_id text not null, id int not null, size int not null, primary key (account_id, id))');
const proxy = await startProxy(t, clusters, {
  admin: { users: [ADMIN] },
  // idle connections stay open: the figures compared must not move while the browser reads them
  pool: { mode: 'transaction', size: 4, idle_timeout_ms: 600_000 },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes'] } } },
  cache: { enabled: true, prefetch: { enabled: true, threshold: 0.5, deadline_ms: 2000 } },
  // load and hot keys on the page; nothing moves on its own during the test
  shard_manager: { enabled: true, moves: false },
});
const dir = mkdtempSync(join(tmpdir(), 'prescient-dashboard-'));
const url = `http://${proxy.host}:${proxy.httpPort}/`;
const run = promisify(execFile);
const admin = await adminConsole(t, proxy, ADMIN);

/** SHOW POOLS and SHOW CACHE as `pools.SHARD.USER.COLUMN` / `cache.DOMAIN.COLUMN` → value, the page's data-metric names. */
async function consoleFigures(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of (await admin('SHOW POOLS')).rows) for (const [k, v] of Object.entries(r)) out.set(`pools.${r.shard}.${r.user}.${k}`, String(v ?? ''));
  for (const r of (await admin('SHOW CACHE')).rows) for (const [k, v] of Object.entries(r)) out.set(`cache.${r.domain}.${k}`, String(v ?? ''));
  return out;
}

const same = (a: Map<string, string>, b: Map<string, string>): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** The headless browser's flags: its own profile folder, no sandbox (root), no GPU, the page's script run for `budget` ms of virtual time. */
const browser = (budget: number): string[] => ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${join(dir, 'profile')}`, `--virtual-time-budget=${budget}`];

t.test('the page shows what SHOW POOLS and SHOW CACHE show', async (t) => {
  // traffic: ten accounts over both shards, each creating then describing its volumes, the describes read twice
  const c = await connected(t, proxy);
  for (let round = 0; round < 6; round++) {
    for (let a = 1; a <= 10; a++) {
      const tag = (action: string): string => `/* account='acct-${a}',action='${action}' */ `;
      await c.query('begin');
      await c.query(`${tag('CreateVolume')}insert into volumes (account_id, id, size) values ($1, $2, $3)`, [`acct-${a}`, round, a]);
      await c.query('commit');
      for (let i = 0; i < 2; i++) {
        await c.query('begin');
        await c.query(`${tag('DescribeVolumes')}select id, size from volumes where account_id = $1 order by id`, [`acct-${a}`]);
        await c.query('commit');
      }
    }
  }
  await c.end();
  // the traffic has stopped; prefetches it started may still run: wait until two readings a second apart agree
  let before = await consoleFigures();
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await consoleFigures();
    if (same(now, before)) break;
    before = now;
  }
  const { stdout: dom } = await run(chromium, [...browser(5000), '--dump-dom', url], { timeout: 120_000, maxBuffer: 16 << 20 });
  const after = await consoleFigures();
  t.ok(same(before, after), 'the console read the same figures before and after the browser (the proxy was quiet)');
  const shown = new Map<string, string>();
  for (const m of dom.matchAll(/<(?:td|b)[^>]*\bdata-metric="([^"]+)"[^>]*>([^<]*)/g)) {
    shown.set(m[1]!.replace(/&amp;/g, '&'), m[2]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
  }
  t.match(dom, /"live"|>live</, 'the page read /api/status');
  const pools = [...after].filter(([k]) => k.startsWith('pools.'));
  const cache = [...after].filter(([k]) => k.startsWith('cache.'));
  t.ok(pools.length >= 2 * 13, `both shards' pools are on the page (${pools.length / 14} pools)`);
  t.ok(cache.some(([k, v]) => k === 'cache.volume.hits' && Number(v) > 0), 'the cache has hits');
  const missing: string[] = [];
  const differ: string[] = [];
  for (const [k, v] of [...pools, ...cache]) {
    if (!shown.has(k)) missing.push(k);
    else if (shown.get(k) !== v) differ.push(`${k}: page ${shown.get(k)}, console ${v}`);
  }
  t.same(missing, [], 'every SHOW POOLS / SHOW CACHE figure is on the page');
  t.same(differ, [], 'and each is the console\'s');
  t.equal(shown.get('cache.hit_ratio'), after.get('cache.*.hit_ratio'), 'the overview\'s hit ratio is SHOW CACHE\'s total');
  const waiting = pools.filter(([k]) => k.endsWith('.cl_waiting')).reduce((n, [, v]) => n + Number(v), 0);
  t.equal(shown.get('pools.cl_waiting'), String(waiting), 'clients waiting: the pools\' sum');
  t.ok(Number(shown.get('shards.s0.requests_per_s')) > 0 || Number(shown.get('shards.s1.requests_per_s')) > 0, 'load from SHOW LOAD');
  t.match(dom, /data-metric="hotspots\.placement\.acct-\d+_volume\.requests"/, 'hot keys from SHOW HOTSPOTS');
  t.ok(Number(shown.get('prefetch.predictions')) > 0, `predictions from SHOW PREFETCH (${shown.get('prefetch.predictions')})`);
});

t.test('a screenshot of the page is kept', async (t) => {
  const png = join(dir, 'dashboard.png');
  await run(chromium, [...browser(5000), '--window-size=1280,1100', `--screenshot=${png}`, url], { timeout: 120_000 });
  t.ok(existsSync(png) && statSync(png).size > 10_000, `screenshot at ${png}`);
  t.comment(`dashboard screenshot: ${png}`);
});
