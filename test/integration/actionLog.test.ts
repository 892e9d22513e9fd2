// Owns: the action log as users run it — actions tagged by sqlcommenter through Prescient become one event each (a
// transaction's statements one event, autocommit statements one each), with domain, shard, rows and outcome, and
// `prescient log export` writes them as NDJSON in order.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requirePostgres, directQuery, withClusters } from '../helpers/pg.js';
import { CLI, connected, startProxy } from '../helpers/proxy.js';
import { parseActionLog } from '../../proxy/prediction/ActionEvent.js';

requirePostgres(t);

const clusters = await withClusters(t, 2);
for (const c of clusters) await directQuery(c, 'create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))');
const proxy = await startProxy(t, clusters, {
  sharding: { account_column: 'account_id', domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes', 'BadAction'] } } },
  action_log: { enabled: true, flush_ms: 50 },
});

t.test('each action one event, exported in order', async (t) => {
  const c = await connected(t, proxy);
  const tag = (action: string): string => `/* account='acct-1',action='${action}' */`;
  await c.query(`${tag('DescribeVolumes')} select count(*) from volumes where account_id = 'acct-1'`);
  await c.query('begin');
  await c.query(`${tag('CreateVolume')} insert into volumes (account_id, size) values ('acct-1', 1)`);
  await c.query(`${tag('CreateVolume')} insert into volumes (account_id, size) values ('acct-1', 2)`);
  await c.query('commit');
  await c.query(`${tag('DescribeVolumes')} select * from volumes where account_id = 'acct-1'`);
  await c.query(`${tag('BadAction')} select size / 0 from volumes where account_id = 'acct-1'`).catch(() => {});
  await c.query(`${tag('DescribeVolumes')} select * from volumes where account_id = 'acct-1'`);
  await c.end();
  await new Promise((r) => setTimeout(r, 300));
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'log', 'export', '--config', proxy.configPath]);
  const events = parseActionLog(stdout).filter((e) => e.account === 'acct-1');
  t.same(events.map((e) => e.action), ['DescribeVolumes', 'CreateVolume', 'DescribeVolumes', 'BadAction', 'DescribeVolumes'], 'one event per action, in order');
  const create = events[1]!;
  t.same([create.domain, create.rows, create.ok, create.readOnly], ['volume', 2, true, false], 'the transaction: both inserts, one event');
  t.ok(create.shard === 's0' || create.shard === 's1', `its shard (${create.shard})`);
  t.same([events[2]!.rows, events[2]!.readOnly], [2, true], 'a read: its rows');
  t.equal(events[3]!.ok, false, 'the failed action');
  t.ok(events.every((e, i) => i === 0 || e.t >= events[i - 1]!.t), 'in time order');
});
