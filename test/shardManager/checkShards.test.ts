// Owns: checkShards — what moves need on a shard, each gap named: a user with every privilege passes; one with only
// SELECT is told which privileges it lacks; a missing table and a shard without a user are named.
import t from 'tap';
import { requirePostgres, directQuery, withClusters } from '../helpers/pg.js';
import { ConfigSchema } from '../../config/schema.js';
import { checkShards } from '../../proxy/shardManager/checkShards.js';

requirePostgres(t);

const [c] = await withClusters(t, 1);
await directQuery(c!, `create table volumes (account_id text not null, id serial, primary key (account_id, id));
  create role weak login password 'weak-secret'; grant select on volumes to weak`);

const config = (user: string | undefined, password: string | undefined, tables = ['volumes']) =>
  ConfigSchema.parse({
    database: 'app',
    users: [{ name: 'app', password: 'x' }],
    shards: [{ name: 's0', host: c!.host, port: c!.port, database: 'app', user, password }],
    sharding: { account_column: 'account_id', domains: { volume: { tables } } },
  });

const cases: [string, ReturnType<typeof config>, RegExp[]][] = [
  ['the cluster owner: nothing missing', config(c!.user, c!.password), []],
  ['a user with SELECT only', config('weak', 'weak-secret'), [/weak can neither create schema prescient/, /weak lacks INSERT, UPDATE, DELETE, TRIGGER on volumes/]],
  ['a table the shard does not have', config(c!.user, c!.password, ['volumes', 'snapshots']), [/table snapshots does not exist/]],
];
for (const [name, cfg, want] of cases) {
  t.test(name, async (t) => {
    const gaps = await checkShards(cfg);
    t.equal(gaps.length, want.length, gaps.join('; ') || 'no gaps');
    want.forEach((re, i) => t.match(gaps[i], re));
  });
}
