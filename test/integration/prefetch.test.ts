// Owns: predictive prefetch as users run it — an account alternating CreateVolume and DescribeVolumes (extended
// protocol, in transactions, as the workload's agents do): the online model learns that DescribeVolumes follows, the
// end of each CreateVolume prefetches its read, the client's read is then a hit on the prefetched entry — and every
// read returns exactly the rows written so far (a prefetch never serves data older than the client's own write, nor
// older than a write made on the shard directly).
import t from 'tap';
import pg from 'pg';
import { requirePostgres, directQuery, withClusters } from '../helpers/pg.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, connected, startProxy } from '../helpers/proxy.js';

requirePostgres(t);

const [cluster] = await withClusters(t, 1);
await directQuery(cluster!, 'create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))');
await directQuery(cluster!, 'create table disks (account_id text not null, id text not null, state text not null, primary key (account_id, id))');
const ADMIN = { name: 'admin', password: 'admin-secret' };
const proxy = await startProxy(t, [cluster!], {
  admin: { users: [ADMIN] },
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes'] }, disk: { tables: ['disks'], actions: ['CreateDisk', 'DescribeDisks'] } } },
  cache: { enabled: true, prefetch: { enabled: true, threshold: 0.5, retrain_s: 1, deadline_ms: 2000 } },
  action_log: { enabled: true, flush_ms: 50 },
});

/** SHOW PREFETCH on the admin console, as numbers. */
async function prefetchFigures(t: Parameters<typeof connected>[0], at: { host: string; port: number } = proxy): Promise<() => Promise<Record<string, number>>> {
  const admin = await connected(t, at, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  return async () =>
    Object.fromEntries(Object.entries((await admin.query({ text: 'SHOW PREFETCH', queryMode: 'simple' } as pg.QueryConfig)).rows[0]).map(([k, v]) => [k, Number(v)]));
}

t.test('the next action is learned, its read prefetched and hit, and never stale', async (t) => {
  const admin = await connected(t, proxy, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const q = (sql: string): Promise<pg.QueryResult> => admin.query({ text: sql, queryMode: 'simple' } as pg.QueryConfig);
  const c = await connected(t, proxy);
  const tag = (action: string): string => `/* account='acct-1',action='${action}' */ `;
  let written = 0;
  let wrong = 0;
  for (let i = 0; i < 60; i++) {
    await c.query('begin');
    await c.query(`${tag('CreateVolume')}insert into volumes (account_id, size) values ($1, $2)`, ['acct-1', i]);
    await c.query('commit');
    written++;
    if (i === 40) {
      // a write on the shard directly, not through Prescient: the version trigger moves the key's token
      await directQuery(cluster!, `insert into volumes (account_id, size) values ('acct-1', 1000)`);
      written++;
    }
    await new Promise((r) => setTimeout(r, 30)); // an agent's think time: the prefetch runs meanwhile
    await c.query('begin');
    const r = await c.query(`${tag('DescribeVolumes')}select count(*)::int as n from volumes where account_id = $1`, ['acct-1']);
    await c.query('commit');
    if (r.rows[0].n !== written) wrong++;
  }
  t.equal(wrong, 0, 'every DescribeVolumes saw every row written before it (no stale read)');
  const s = Object.fromEntries(Object.entries((await q('SHOW PREFETCH')).rows[0]).map(([k, v]) => [k, Number(v)]));
  t.ok(s.stored > 10, `prefetches stored (${s.stored} of ${s.issued} issued): ${JSON.stringify(s)}`);
  t.ok(s.used > 10, `prefetched entries hit by the client (${s.used}; wasted ${s.wasted})`);
  t.ok(s.saved_ms > 0, `backend time saved: ${s.saved_ms} ms`);
  t.ok(s.accuracy > 0.8, `rolling top-1 accuracy ${s.accuracy}`);
  const p = (await q(`SHOW PREDICTIONS FOR ACCOUNT 'acct-1'`)).rows;
  t.equal(p[0]?.action, 'CreateVolume', 'after DescribeVolumes, CreateVolume is predicted first');
  const cache = (await q('SHOW CACHE')).rows.find((r) => r.domain === 'volume');
  t.ok(Number(cache.hits) >= s.used, `cache hits ${cache.hits}`);
});

t.test('a forest trained from the exported action log (prescient train) is loaded at start and predicts the chain', async (t) => {
  const run = promisify(execFile);
  const dir = mkdtempSync(join(tmpdir(), 'prescient-model-'));
  await run(process.execPath, [CLI, 'log', 'export', '--config', proxy.configPath, '--out', join(dir, 'actions.ndjson')]);
  await run(process.execPath, [CLI, 'train', '--log', join(dir, 'actions.ndjson'), '--out', join(dir, 'model.json'), '--trees', '5']);
  const trained = await startProxy(t, [cluster!], {
    admin: { users: [ADMIN] },
    sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes'] }, disk: { tables: ['disks'], actions: ['CreateDisk', 'DescribeDisks'] } } },
    cache: { enabled: true, prefetch: { enabled: true, threshold: 0.5, model: join(dir, 'model.json') } },
  });
  t.match(trained.logs(), /"msg":"prefetch ready".*"model":"[^"]*model\.json"/, 'the model file is loaded');
  const admin = await connected(t, trained, { user: ADMIN.name, password: ADMIN.password, database: 'prescient' });
  const c = await connected(t, trained);
  await c.query(`/* account='acct-2',action='CreateVolume' */ insert into volumes (account_id, size) values ($1, 1)`, ['acct-2']);
  const p = (await admin.query({ text: `SHOW PREDICTIONS FOR ACCOUNT 'acct-2'`, queryMode: 'simple' } as pg.QueryConfig)).rows;
  t.equal(p[0]?.action, 'DescribeVolumes', `after CreateVolume the trained model predicts DescribeVolumes first (p ${p[0]?.probability})`);
});

t.test('online_model: forest — trained in a worker thread while the proxy serves, then used', async (t) => {
  const online = await startProxy(t, [cluster!], {
    admin: { users: [ADMIN] },
    sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes'] }, disk: { tables: ['disks'], actions: ['CreateDisk', 'DescribeDisks'] } } },
    cache: { enabled: true, prefetch: { enabled: true, threshold: 0.5, retrain_s: 1, online_model: 'forest' } },
  });
  const show = await prefetchFigures(t, online);
  const c = await connected(t, online);
  let written = 0;
  let wrong = 0;
  for (let i = 0; i < 80 && ((await show()).trainings < 3 || i < 40); i++) {
    await c.query(`/* account='acct-3',action='CreateVolume' */ insert into volumes (account_id, size) values ($1, $2)`, ['acct-3', i]);
    written++;
    await new Promise((r) => setTimeout(r, 30));
    const r = await c.query(`/* account='acct-3',action='DescribeVolumes' */ select count(*)::int as n from volumes where account_id = $1`, ['acct-3']);
    if (r.rows[0].n !== written) wrong++;
  }
  const s = await show();
  t.equal(wrong, 0, 'no stale read');
  t.ok(s.trainings >= 2, `the model was trained again while serving (${s.trainings} trainings, the last took ${s.trainMs} ms in the worker)`);
  t.ok(s.used > 0, `prefetched entries used (${s.used})`);
});

t.test("parameter mapping: the id CreateVolume returned is the id DescribeVolume asks for — prefetched before it asks", async (t) => {
  const show = await prefetchFigures(t);
  const before = await show();
  const c = await connected(t, proxy);
  let wrong = 0;
  for (let i = 0; i < 40; i++) {
    await c.query('begin');
    const ins = await c.query(`/* account='acct-4',action='CreateVolume' */ insert into volumes (account_id, size) values ($1, $2) returning id`, ['acct-4', i]);
    await c.query('commit');
    await new Promise((r) => setTimeout(r, 30));
    // a volume never read before: only its id from CreateVolume's result can say which read comes next
    const r = await c.query(`/* account='acct-4',action='DescribeVolumes' */ select id, size from volumes where account_id = $1 and id = $2`, ['acct-4', ins.rows[0].id]);
    if (r.rows[0]?.size !== i) wrong++;
  }
  const after = await show();
  t.equal(wrong, 0, 'every describe saw its new volume');
  t.ok(after.mapped - before.mapped > 20, `reads rebuilt with the id from CreateVolume's result (${after.mapped - before.mapped})`);
  t.ok(after.used - before.used > 20, `and hit by the client before it asked again (${after.used - before.used} used)`);
  t.ok(after.unsliceable - before.unsliceable >= 1, 'its slice was tried once and found unable to answer (the id is an int): the exact reads went on');
});


t.test('account slices: Describes of ids picked at random are answered from the account\'s rows prefetched in one read — always the rows Postgres has', async (t) => {
  const show = await prefetchFigures(t);
  const before = await show();
  const c = await connected(t, proxy);
  const ids: string[] = [];
  let seed = 7;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  let wrong = 0;
  const wrongs: string[] = [];
  for (let i = 0; i < 60; i++) {
    const account = i % 2 === 0 ? 'acct-5' : 'acct-6';
    const tag = (action: string): string => `/* account='${account}',action='${action}' */ `;
    await c.query('begin');
    const id = `d-${i}${i % 3 === 0 ? ' é' : ''}`;
    await c.query(`${tag('CreateDisk')}insert into disks values ($1, $2, $3)`, [account, id, ['available', 'in-use'][i % 2]]);
    await c.query('commit');
    ids.push(id);
    if (i === 30) await directQuery(cluster!, `update disks set state = 'deleted' where account_id = 'acct-5' and id = 'd-0 é'`);
    await new Promise((r) => setTimeout(r, 30)); // think time: the slice is read meanwhile
    // a few of the ids (each a new combination, never asked before), or a state filter, as the workload's Describes
    const mine = ids.filter((_, j) => j % 2 === i % 2);
    const pick = [mine[rand(mine.length)]!, mine[rand(mine.length)]!, 'd-none'];
    const [sql, params] = i % 3 === 2
      ? [`${tag('DescribeDisks')}select * from disks where account_id = $1 and state = $2 order by id limit 5`, [account, 'available']]
      : [`${tag('DescribeDisks')}select * from disks where account_id = $1 and id = any($2::text[])`, [account, pick]];
    const got = await c.query(sql, params);
    const want = await directQuery(cluster!, sql.replace('$1', `'${account}'`).replace('$2::text[]', `array[${pick.map((x) => `'${x}'`).join(',')}]`).replace('$2', "'available'"));
    const norm = (rows: unknown[]): string => JSON.stringify(rows.map((r) => JSON.stringify(r)).sort());
    if (norm(got.rows) !== norm(want.rows) || (i % 3 === 2 && JSON.stringify(got.rows) !== JSON.stringify(want.rows))) {
      wrong++;
      wrongs.push(`${i}: ${JSON.stringify(got.rows)} != ${JSON.stringify(want.rows)}`);
    }
  }
  const after = await show();
  t.equal(wrong, 0, `every Describe returned the rows Postgres has, in its order where it asks for one ${wrongs.slice(0, 3).join('; ')}`);
  t.ok(after.slices - before.slices > 20, `slices of the account's disks prefetched and stored (${after.slices - before.slices})`);
  t.ok(after.used - before.used > 20, `and answered the client's reads (${after.used - before.used} used)`);
});
