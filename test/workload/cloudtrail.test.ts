// Tests cloudtrail.ts and trailResource.ts: reading nested .json/.json.gz delivery files (readOnly too), skipping others, and the event → catalogue action / generic read or write mapping.
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { accountIdFor, byIdentity, mapEvent, mapStats, readCloudTrail, type ActionInfo, type Mapping } from '../../workload/cloudtrail.js';
import { MAX_RESOURCE, resourceOf } from '../../workload/trailResource.js';
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
  writeFileSync(join(deep, 'a.json'), JSON.stringify({ Records: [rec('CreateVolume', '2023-07-10T12:00:02Z', 'arn:u1', { readOnly: 'false' }), rec('DescribeVolumes', '2023-07-10T12:00:00Z', 'arn:u1')] }));
  writeFileSync(join(deep, 'b.json.gz'), gzipSync(JSON.stringify({ Records: [rec('RunInstances', '2023-07-10T12:00:01Z', 'arn:u2'), rec('ListBuckets', '2023-07-10T12:00:03Z', null, { eventSource: 's3.amazonaws.com', recipientAccountId: undefined })] })));
  writeFileSync(join(dir, 'bare.json'), JSON.stringify([rec('DescribeSnapshots', '2023-07-10T12:00:04Z', 'arn:u2', { readOnly: true })]));
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
  t.same(r.events.map((e) => e.readOnly), [undefined, undefined, false, undefined, true], 'readOnly: boolean or "true"/"false", absent when absent');
  t.notOk('readOnly' in r.events[0]!, 'no readOnly key when the record has none');
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

type Want = Pick<Mapping, 'kind' | 'write' | 'service'> & { action?: string; resource?: string };
const want = (kind: Mapping['kind'], write: boolean, service: string, extra: { action?: string; resource?: string } = {}): Want => ({ kind, write, service, ...extra });

t.test('mapping rules (no readOnly in the record: the verb decides)', async (t) => {
  const table: [string, string, Want][] = [
    // eventName, eventSource, mapping
    ['CreateVolume', 'ec2.amazonaws.com', want('direct', true, 'ec2', { action: 'CreateVolume' })],
    ['DescribeInstances', 'ec2.amazonaws.com', want('direct', false, 'ec2', { action: 'DescribeInstances' })],
    ['DescribeVolumeStatus', 'ec2.amazonaws.com', want('mapped', false, 'ec2', { action: 'DescribeVolumes' })],
    ['ModifyVolumeAttribute', 'ec2.amazonaws.com', want('mapped', true, 'ec2', { action: 'ModifyVolume' })],
    ['DescribeInstanceAttribute', 'ec2.amazonaws.com', want('mapped', false, 'ec2', { action: 'DescribeInstances' })],
    ['DeleteVolume', 'ec2.amazonaws.com', want('generic', true, 'ec2')], // no Delete* volume write in this set → a generic write
    ['CreateSnapshots', 'ec2.amazonaws.com', want('generic', true, 'ec2')],
    ['DescribeKeyPairs', 'ec2.amazonaws.com', want('generic', false, 'ec2')], // a domain without a read action
    ['DescribeRouteTables', 'ec2.amazonaws.com', want('generic', false, 'ec2')],
    ['CreateVpc', 'ec2.amazonaws.com', want('generic', true, 'ec2')],
    ['CreateVpc', '', want('generic', true, 'ec2')], // no eventSource: ec2
    ['ListBuckets', 's3.amazonaws.com', want('generic', false, 's3')],
    ['HeadObject', 's3.amazonaws.com', want('generic', false, 's3')],
    ['PutParameter', 'ssm.amazonaws.com', want('generic', true, 'ssm')],
    ['CreateDBSnapshot', 'rds.amazonaws.com', want('generic', true, 'rds')], // not ec2: no domain keyword
  ];
  for (const [eventName, eventSource, m] of table) t.same(mapEvent({ eventName, eventSource }, STANDIN), m, `${eventName} (${eventSource || 'no source'})`);
  const s = mapStats([{ ...ec2('CreateVolume'), time: 0, identity: 'a', account: '1', requestParameters: null }, { ...ec2('DescribeVpcs'), time: 1, identity: 'b', account: '1', requestParameters: null }], STANDIN);
  t.same(s, { events: 2, identities: 2, direct: 1, mapped: 0, generic: 1, reads: 1, writes: 1, perService: { ec2: { events: 2, reads: 1, writes: 1, known: 1, generic: 1 } } });
});

t.test('readOnly and requestParameters: generic reads and writes in the service, for the resource the request names', async (t) => {
  const table: [string, string, boolean | undefined, unknown, Want][] = [
    // eventName, eventSource, readOnly, requestParameters, mapping
    ['PutObject', 's3.amazonaws.com', false, { bucketName: 'logs', key: 'a/b.txt', Host: 'logs.s3.amazonaws.com' }, want('generic', true, 's3', { resource: 'logs/a/b.txt' })],
    ['GetObject', 's3.amazonaws.com', true, { bucketName: 'logs', key: 'a/b.txt' }, want('generic', false, 's3', { resource: 'logs/a/b.txt' })],
    ['CreateBucket', 's3.amazonaws.com', false, { bucketName: 'logs', Host: 's3.amazonaws.com' }, want('generic', true, 's3', { resource: 'logs' })],
    ['ListBuckets', 's3.amazonaws.com', true, { Host: 's3.amazonaws.com' }, want('generic', false, 's3')],
    ['CreateRole', 'iam.amazonaws.com', false, { roleName: 'deployer', assumeRolePolicyDocument: '{}' }, want('generic', true, 'iam', { resource: 'deployer' })],
    ['AttachRolePolicy', 'iam.amazonaws.com', false, { roleName: 'deployer', policyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }, want('generic', true, 'iam', { resource: 'deployer' })],
    ['CreatePolicyVersion', 'iam.amazonaws.com', false, { policyArn: 'arn:aws:iam::1:policy/p', setAsDefault: true }, want('generic', true, 'iam', { resource: 'arn:aws:iam::1:policy/p' })],
    ['GetUser', 'iam.amazonaws.com', true, null, want('generic', false, 'iam')],
    ['PutParameter', 'ssm.amazonaws.com', false, { name: '/app/db', type: 'SecureString' }, want('generic', true, 'ssm', { resource: '/app/db' })],
    ['CreateThing', 'iot.amazonaws.com', false, { thingName: 't-1', clientToken: 'x' }, want('generic', true, 'iot', { resource: 't-1' })], // any …Name field
    ['CreateThing', 'iot.amazonaws.com', false, { clientToken: 'x' }, want('generic', true, 'iot')], // a token names nothing
    // the record's readOnly wins over the verb
    ['ConsoleLogin', 'signin.amazonaws.com', false, null, want('generic', true, 'signin')],
    ['AssumeRole', 'sts.amazonaws.com', true, { roleArn: 'arn:aws:iam::1:role/r', roleSessionName: 's' }, want('generic', false, 'sts', { resource: 'arn:aws:iam::1:role/r' })],
    ['GetSecretValue', 'secretsmanager.amazonaws.com', false, { secretId: 's' }, want('generic', true, 'secretsmanager', { resource: 's' })],
    // no readOnly field: the verb decides
    ['GetSecretValue', 'secretsmanager.amazonaws.com', undefined, { secretId: 's' }, want('generic', false, 'secretsmanager', { resource: 's' })],
    ['CreateSecret', 'secretsmanager.amazonaws.com', undefined, { name: 's' }, want('generic', true, 'secretsmanager', { resource: 's' })],
    ['HeadBucket', 's3.amazonaws.com', undefined, { bucketName: 'logs' }, want('generic', false, 's3', { resource: 'logs' })],
    // ec2 events: a write with a same-verb catalogue action stays mapped; one without becomes a generic write
    ['ModifyVolumeAttribute', 'ec2.amazonaws.com', false, { volumeId: 'vol-1' }, want('mapped', true, 'ec2', { action: 'ModifyVolume' })],
    ['DescribeVolumeStatus', 'ec2.amazonaws.com', true, { volumeSet: {} }, want('mapped', false, 'ec2', { action: 'DescribeVolumes' })],
    ['ModifyInstanceAttribute', 'ec2.amazonaws.com', false, { instanceId: 'i-1' }, want('generic', true, 'ec2', { resource: 'i-1' })],
    ['CreateVpc', 'ec2.amazonaws.com', false, { cidrBlock: '10.0.0.0/16' }, want('generic', true, 'ec2')],
  ];
  for (const [eventName, eventSource, readOnly, requestParameters, m] of table) {
    const ev = readOnly === undefined ? { eventName, eventSource, requestParameters } : { eventName, eventSource, readOnly, requestParameters };
    t.same(mapEvent(ev, STANDIN), m, `${eventName} readOnly=${readOnly}`);
  }
  t.equal(resourceOf({ roleName: 'r'.repeat(500) })!.length, MAX_RESOURCE, 'long names are cut');
  t.equal(resourceOf('not an object'), undefined);
});

t.test('with the real ACTIONS: EC2 names map directly; the rest to a catalogue action or a generic read/write', async (t) => {
  for (const a of ACTIONS) t.same(mapEvent(ec2(a.name), ACTIONS), { kind: 'direct', action: a.name, write: a.write, service: 'ec2' }, a.name);
  const table: [string, string, boolean, Mapping['kind'], string | undefined][] = [
    // eventName, eventSource, readOnly, kind, catalogue action
    ['DescribeRouteTables', 'ec2.amazonaws.com', true, 'generic', undefined],
    ['ListBuckets', 's3.amazonaws.com', true, 'generic', undefined],
    ['GetSecretValue', 'secretsmanager.amazonaws.com', true, 'generic', undefined],
    ['ModifySnapshotAttribute', 'ec2.amazonaws.com', false, 'generic', undefined],
    ['DescribeInstanceAttribute', 'ec2.amazonaws.com', true, 'mapped', 'DescribeInstances'],
    ['AuthorizeSecurityGroupEgress', 'ec2.amazonaws.com', false, 'mapped', 'AuthorizeSecurityGroupIngress'],
    ['CreateVpc', 'ec2.amazonaws.com', false, 'generic', undefined],
  ];
  for (const [eventName, eventSource, readOnly, kind, action] of table) {
    const m = mapEvent({ eventName, eventSource, readOnly }, ACTIONS);
    t.equal(m.kind, kind, `${eventName}: ${kind}`);
    t.equal(m.action, action, `${eventName} → ${action ?? 'generic_resources'}`);
    t.equal(m.write, !readOnly, `${eventName}: write = !readOnly`);
  }
});
