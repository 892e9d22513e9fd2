// Owns: `prescient versions install --config FILE` end to end (dist/proxy/cli.js) and ensureShardSchemas over several shards.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import { CLI } from '../helpers/proxy.js';
import { runCommand, freePort } from '../../scripts/testbed.js';
import { ensureShardSchemas } from '../../proxy/versions/ensureShardSchemas.js';
import { parseConfig } from '../../config/loadConfig.js';
import { Logger } from '../../proxy/logger.js';
import { SHARD_SCHEMA_VERSION } from '../../proxy/versions/ShardSchema.js';

requirePostgres(t);

const quiet = new Logger('error');

async function sql(c: Cluster, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: c.host, port: c.port, database: 'app', user: c.user, password: c.password });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

t.test('versions install', async (t) => {
  const clusters = await withClusters(t, 2, { users: [] });
  const [a, b] = clusters as [Cluster, Cluster];
  await sql(a, 'create table volumes (account_id bigint, id bigint); create table snapshots (owner_id bigint, id bigint)');
  await sql(b, 'create table volumes (account_id bigint, id bigint)'); // no snapshots here
  const raw = {
    database: 'app',
    users: [{ name: 'app', password: 'x' }],
    shards: clusters.map((c, i) => ({ name: `s${i}`, host: c.host, port: c.port, database: 'app', user: c.user, password: c.password })),
    sharding: { domains: { volume: { tables: ['volumes'] } }, tables: { snapshots: { account_column: 'owner_id' } } },
  };
  const dir = mkdtempSync(join(tmpdir(), 'prescient-versions-'));
  const configPath = join(dir, 'prescient.yaml');
  writeFileSync(configPath, stringify(raw));
  const cli = (...args: string[]) => runCommand(process.execPath, [CLI, 'versions', ...args], { timeoutMs: 60_000 });

  const first = await cli('install', '--config', configPath);
  t.equal(first.code, 0, first.stderr);
  t.same(first.stdout.trim().split('\n'), [
    `s0: installed schema v${SHARD_SCHEMA_VERSION}, 8 triggers (8 created or replaced, 0 removed)`,
    `s1: installed schema v${SHARD_SCHEMA_VERSION}, 4 triggers (4 created or replaced, 0 removed); table snapshots does not exist on this shard: skipped`,
  ]);
  const second = await cli('install', '--config', configPath);
  t.equal(second.code, 0);
  t.match(second.stdout, /^s0: schema v\d+ up to date, 8 triggers \(0 created or replaced, 0 removed\)$/m, 'second run: nothing to do');

  // the triggers work with the configured columns and domains
  await sql(a, 'insert into snapshots values (5, 1); insert into volumes values (5, 1)');
  const keys = (await sql(a, 'select shard_key from prescient.key_versions order by 1')).rows.map((r) => r.shard_key);
  t.same(keys, ['5_snapshots', '5_volume'], 'snapshots is its own domain, keyed by owner_id');

  // the function the proxy calls at start does the same, and reports per shard
  const config = parseConfig(raw);
  const reports = await ensureShardSchemas(config, { log: quiet });
  t.same(reports.map((r) => [r.shard, r.result?.installed, r.result?.changed, r.error]), [
    ['s0', false, 0, undefined],
    ['s1', false, 0, undefined],
  ]);

  // an unreachable shard: a FAILED line and exit code 1, the other shard still done
  const dead = await freePort();
  writeFileSync(configPath, stringify({ ...raw, shards: [...raw.shards, { ...raw.shards[0], name: 'down', port: dead }] }));
  const partial = await cli('install', '--config', configPath);
  t.equal(partial.code, 1);
  t.match(partial.stdout, /^s0: schema v\d+ up to date/m);
  t.match(partial.stdout, /^down: FAILED .*ECONNREFUSED/m);

  const usage = await cli('frobnicate');
  t.equal(usage.code, 2);
  t.match(usage.stderr, /usage: prescient versions install/);
  const noConfig = await cli('install');
  t.equal(noConfig.code, 2);
  const badConfig = await cli('install', '--config', join(dir, 'nope.yaml'));
  t.equal(badConfig.code, 78, 'a config error exits like `prescient start`');
});
