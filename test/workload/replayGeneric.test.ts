// Tests the replay of services the catalogue does not model: a small S3/IAM trail through Prescient on two real shards — generic writes acknowledged, ledgered, verified, colocated with each account's write_log, logged under the events' own names.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, startProxy } from '../helpers/proxy.js';
import { RESOURCE_TABLES } from '../../workload/actions.js';
import { accountIdFor } from '../../workload/cloudtrail.js';
import { applySchema } from '../../workload/load.js';
import { replay } from '../../workload/replay.js';
import { verify } from '../../workload/verify.js';

requirePostgres(t);

const TABLES = ['accounts', ...RESOURCE_TABLES, 'write_log', 'generic_resources'];
const S3_USER = 'arn:aws:iam::111122223333:user/uploader';
const IAM_ADMIN = 'arn:aws:iam::111122223333:user/admin';

/** [identity, eventSource, eventName, readOnly (undefined: no field), requestParameters], in trail order */
const TRAIL: [string, string, string, boolean | undefined, Record<string, unknown> | null][] = [
  [S3_USER, 's3', 'CreateBucket', false, { bucketName: 'logs', Host: 's3.amazonaws.com' }],
  [S3_USER, 's3', 'PutObject', false, { bucketName: 'logs', key: 'a.txt' }],
  [S3_USER, 's3', 'GetObject', true, { bucketName: 'logs', key: 'a.txt' }],
  [S3_USER, 's3', 'PutObject', false, { bucketName: 'logs', key: 'a.txt' }], // the same object again: an upsert
  [S3_USER, 's3', 'PutObject', false, { bucketName: 'logs', key: 'b.txt' }],
  [S3_USER, 's3', 'ListBuckets', true, { Host: 's3.amazonaws.com' }],
  [S3_USER, 's3', 'HeadObject', undefined, { bucketName: 'logs', key: 'b.txt' }], // no readOnly: Head* reads
  [IAM_ADMIN, 'iam', 'CreateRole', false, { roleName: 'deployer', assumeRolePolicyDocument: '{}' }],
  [IAM_ADMIN, 'iam', 'AttachRolePolicy', false, { roleName: 'deployer', policyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }],
  [IAM_ADMIN, 'iam', 'GetRole', true, { roleName: 'deployer' }],
  [IAM_ADMIN, 'iam', 'ListRoles', true, null],
  [IAM_ADMIN, 'iam', 'PutRolePolicy', undefined, { roleName: 'deployer', policyName: 'inline' }], // no readOnly: Put* writes
  [IAM_ADMIN, 'ec2', 'DescribeInstances', true, null], // a catalogue action, beside the generic ones
];
const isWrite = (ro: boolean | undefined, name: string): boolean => ro === undefined ? !/^(Get|List|Describe|Head)/.test(name) : !ro;

const urlOf = (c: Cluster): string => `postgres://${c.user}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/app`;

t.test('an S3/IAM trail through Prescient on two shards: generic writes acknowledged, verified, colocated, under their own names', async (t) => {
  const clusters = await withClusters(t, 2);
  const dir = mkdtempSync(join(tmpdir(), 'prescient-replay-generic-'));
  const proxy = await startProxy(t, clusters, {
    catalog: { path: join(dir, 'catalog.db') },
    // one domain for every workload table, generic_resources too (REPLAY.md): a generic write's upsert and its write_log row stay on one shard
    sharding: { account_column: 'account_id', domains: { account: { tables: TABLES } } },
  });
  const target = `postgres://${APP_USER.name}:${APP_USER.password}@${proxy.host}:${proxy.port}/app`;
  const db = new pg.Client({ connectionString: target });
  await db.connect();
  t.teardown(() => db.end());
  await applySchema(db); // a DDL broadcast: every shard

  const records = TRAIL.map(([arn, svc, eventName, readOnly, requestParameters], i) => ({
    eventTime: new Date(Date.UTC(2023, 6, 10, 12, 0, i)).toISOString(), eventSource: `${svc}.amazonaws.com`, eventName,
    recipientAccountId: '111122223333', userIdentity: { arn, accountId: '111122223333' }, requestParameters,
    ...(readOnly === undefined ? {} : { readOnly }),
  }));
  const trail = mkdtempSync(join(dir, 'trail-'));
  writeFileSync(join(trail, 'trail.json'), JSON.stringify({ Records: records }));
  const ledger = join(dir, 'ledger.ndjson');
  writeFileSync(ledger, '');

  const s = await replay({ target, cloudtrail: trail, speedup: 0, concurrency: 4, ledger });
  const writes = TRAIL.filter(([, , name, ro]) => isWrite(ro, name));
  t.equal(s.errors, 0, s.errorSamples.join('\n'));
  t.equal(s.replayed, TRAIL.length);
  t.equal(s.writes, writes.length, `${s.writes} acknowledged writes`);
  t.ok(s.writes > 0);
  t.equal(s.reads, TRAIL.length - writes.length);
  t.same(s.perService, {
    s3: { events: 7, reads: 3, writes: 4, known: 0, generic: 7 },
    iam: { events: 5, reads: 2, writes: 3, known: 0, generic: 5 },
    ec2: { events: 1, reads: 1, writes: 0, known: 1, generic: 0 },
  });
  t.same(s.perTransaction, { 'generic write': 7, 'generic read': 5, DescribeInstances: 1 });
  t.same(s.perAction.PutObject, { count: 3, errors: 0 }, 'counted under the event\'s own name');

  // the ledger verifies against both shards (each write on one of them)
  const v = await verify([ledger], clusters.map(urlOf));
  t.ok(v.ok, JSON.stringify(v));
  t.equal(v.writes, writes.length);
  t.equal(v.unacknowledged, 0);

  const direct = await Promise.all(clusters.map(async (c) => {
    const d = new pg.Client({ connectionString: urlOf(c) });
    await d.connect();
    t.teardown(() => d.end());
    return d;
  }));
  const cases: [identity: string, service: string, resources: [string, string][]][] = [
    // identity, service, [resource, the last event that wrote it] by resource
    [S3_USER, 's3', [['logs', 'CreateBucket'], ['logs/a.txt', 'PutObject'], ['logs/b.txt', 'PutObject']]],
    [IAM_ADMIN, 'iam', [['deployer', 'PutRolePolicy']]],
  ];
  for (const [identity, service, resources] of cases) {
    const account = accountIdFor('111122223333', identity);
    const rows = await db.query('SELECT resource, attrs FROM generic_resources WHERE account_id = $1 AND service = $2 ORDER BY resource', [account, service]);
    t.same(rows.rows.map((r) => [r.resource, r.attrs.lastEvent]), resources, `${service}: one row per resource, upserted`);
    // write_log holds the real sequence of the account's writes, under the events' own names
    const log = await db.query('SELECT seq::int, action FROM write_log WHERE account_id = $1 ORDER BY seq', [account]);
    const expected = writes.filter(([arn]) => arn === identity).map(([, , name], i) => ({ seq: i + 1, action: name }));
    t.same(log.rows, expected, `${service}: write_log is ${expected.map((e) => e.action).join(', ')}`);
    // routed by account: the account's generic_resources and write_log rows are on the same single shard
    const holders: number[] = [];
    for (const [i, d] of direct.entries()) {
      const n = await d.query(
        'SELECT (SELECT count(*) FROM generic_resources WHERE account_id = $1)::int AS g, (SELECT count(*) FROM write_log WHERE account_id = $1)::int AS w', [account]);
      if (n.rows[0].g || n.rows[0].w) holders.push(i);
      if (n.rows[0].g || n.rows[0].w) t.ok(n.rows[0].g > 0 && n.rows[0].w > 0, `${account}: generic_resources and write_log together on s${i}`);
    }
    t.equal(holders.length, 1, `${account}: on one shard`);
  }
});
