// Tests cloudtrail.ts: reading nested .json/.json.gz delivery files, skipping others, and the eventName → action mapping.
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { accountIdFor, byIdentity, mapEvent, mapStats, readCloudTrail, type ActionInfo } from '../../workload/cloudtrail.js';
import { ACTIONS } from '../../workload/actions.js';

const rec = (eventName: string, eventTime: string, arn: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  eventName,
  eventTime,
  eventSource: 'ec2.amazonaws.com',
  recipientAccountId: '111122223333',
  userIdentity: arn ? { arn, accountId: '111122223333' } : { type: 'AWSService', accountId: '444455556666', principalId: 'AIDAX' },
  requestParameters: { size: 8 },
  ...extra,
});

t.test('reads nested .json and .json.gz, skips other files with a warning, accepts a bare record array', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-ct-'));
  mkdirSync(join(dir, 'AWSLogs', '111122223333', 'us-east-1', '2023', '07', '10'), { recursive: true });
  const deep = join(dir, 'AWSLogs', '111122223333', 'us-east-1', '2023', '07', '10');
  writeFileSync(join(deep, 'a.json'), JSON.stringify({ Records: [rec('CreateVolume', '2023-07-10T12:00:02Z', 'arn:u1'), rec('DescribeVolumes', '2023-07-10T12:00:00Z', 'arn:u1')] }));
  writeFileSync(join(deep, 'b.json.gz'), gzipSync(JSON.stringify({ Records: [rec('RunInstances', '2023-07-10T12:00:01Z', 'arn:u2'), rec('ListBuckets', '2023-07-10T12:00:03Z', null, { eventSource: 's3.amazonaws.com', recipientAccountId: undefined })] })));
  writeFileSync(join(dir, 'bare.json'), JSON.stringify([rec('DescribeSnapshots', '2023-07-10T12:00:04Z', 'arn:u2')]));
  writeFileSync(join(dir, 'README.md'), '# not a trail');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ something: 'else' }));
  writeFileSync(join(dir, 'broken.json.gz'), 'not gzip');
  const warnings: string[] = [];
  const r = readCloudTrail(dir, (m) => warnings.push(m));
  t.equal(r.files, 3);
  t.equal(r.events.length, 5);
  t.same(r.events.map((e) => e.eventName), ['DescribeVolumes', 'RunInstances', 'CreateVolume', 'ListBuckets', 'DescribeSnapshots'], 'sorted by eventTime');
  t.equal(r.events[0]!.time, Date.parse('2023-07-10T12:00:00Z'));
  t.same(r.events[0]!.requestParameters, { size: 8 });
  const svc = r.events[3]!;
  t.equal(svc.identity, '444455556666:AIDAX', 'no arn → accountId:principalId');
  t.equal(svc.account, '444455556666', 'no recipientAccountId → userIdentity.accountId');
  t.equal(r.skipped.length, 3);
  t.equal(warnings.length, 3);
  t.match(warnings.join('\n'), /README\.md.*not \.json/);
  t.match(warnings.join('\n'), /config\.json.*no Records/);
  t.match(warnings.join('\n'), /broken\.json\.gz.*unreadable/);
  const g = byIdentity(r.events);
  t.same([...g.keys()].sort(), ['444455556666:AIDAX', 'arn:u1', 'arn:u2']);
  t.same(g.get('arn:u1')!.map((e) => e.eventName), ['DescribeVolumes', 'CreateVolume']);
  t.equal(accountIdFor('1', 'arn:u1'), accountIdFor('1', 'arn:u1'));
  t.not(accountIdFor('1', 'arn:u1'), accountIdFor('1', 'arn:u2'));
});

// The mapping rules against a small fixed action set.
const STANDIN: ActionInfo[] = [
  { name: 'DescribeAccountAttributes', domain: 'account', write: false },
  { name: 'DescribeVolumes', domain: 'volume', write: false },
  { name: 'CreateVolume', domain: 'volume', write: true },
  { name: 'ModifyVolume', domain: 'volume', write: true },
  { name: 'DescribeSnapshots', domain: 'snapshot', write: false },
  { name: 'ModifySnapshotAttribute', domain: 'snapshot', write: true },
  { name: 'DescribeInstances', domain: 'instance', write: false },
  { name: 'RunInstances', domain: 'instance', write: true },
];
const ec2 = (eventName: string): { eventName: string; eventSource: string } => ({ eventName, eventSource: 'ec2.amazonaws.com' });

t.test('mapping rules', async (t) => {
  const table: [string, string, string, string][] = [
    // eventName, eventSource, action, kind
    ['CreateVolume', 'ec2.amazonaws.com', 'CreateVolume', 'direct'],
    ['DescribeInstances', 'ec2.amazonaws.com', 'DescribeInstances', 'direct'],
    ['DescribeVolumeStatus', 'ec2.amazonaws.com', 'DescribeVolumes', 'generic'],
    ['ModifyVolumeAttribute', 'ec2.amazonaws.com', 'ModifyVolume', 'generic'],
    ['DeleteVolume', 'ec2.amazonaws.com', 'DescribeVolumes', 'generic'], // no Delete* volume write in this set → domain read
    ['CreateSnapshots', 'ec2.amazonaws.com', 'DescribeSnapshots', 'generic'],
    ['DescribeInstanceAttribute', 'ec2.amazonaws.com', 'DescribeInstances', 'generic'],
    ['DescribeRouteTables', 'ec2.amazonaws.com', 'DescribeAccountAttributes', 'generic'],
    ['CreateVpc', 'ec2.amazonaws.com', 'DescribeAccountAttributes', 'generic'],
    ['ListBuckets', 's3.amazonaws.com', 'DescribeAccountAttributes', 'generic'],
    ['PutParameter', 'ssm.amazonaws.com', 'DescribeAccountAttributes', 'generic'],
    ['CreateDBSnapshot', 'rds.amazonaws.com', 'DescribeAccountAttributes', 'generic'], // not ec2: no domain keyword
  ];
  for (const [eventName, eventSource, action, kind] of table) t.same(mapEvent({ eventName, eventSource }, STANDIN), { action, kind }, eventName);
  t.same(mapEvent(ec2('DescribeKeyPairs'), STANDIN), { action: 'DescribeAccountAttributes', kind: 'generic' }, 'domain without actions → account read');
  const s = mapStats([{ ...ec2('CreateVolume'), time: 0, identity: 'a', account: '1', requestParameters: null }, { ...ec2('DescribeVpcs'), time: 1, identity: 'b', account: '1', requestParameters: null }], STANDIN);
  t.same(s, { events: 2, identities: 2, direct: 1, generic: 1 });
});

t.test('with the real ACTIONS: EC2 names map directly, everything maps to a real action', async (t) => {
  const names = new Set(ACTIONS.map((a) => a.name));
  for (const a of ACTIONS) t.same(mapEvent(ec2(a.name), ACTIONS), { action: a.name, kind: 'direct' }, a.name);
  for (const n of ['DescribeRouteTables', 'ListBuckets', 'GetSecretValue', 'ModifySnapshotAttribute', 'DescribeInstanceAttribute', 'CreateVpc']) {
    const m = mapEvent({ eventName: n, eventSource: n === 'ListBuckets' ? 's3.amazonaws.com' : 'ec2.amazonaws.com' }, ACTIONS);
    t.ok(names.has(m.action), `${n} → ${m.action}`);
  }
  t.equal(mapEvent({ eventName: 'GetSecretValue', eventSource: 'secretsmanager.amazonaws.com' }, ACTIONS).kind, 'generic');
});
