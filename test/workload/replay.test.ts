// Tests replay.ts end to end: the whole shared CloudTrail dataset replayed through Prescient on a real cluster, then the ledger verified.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { replay } from '../../workload/replay.js';
import { requirePostgres, withClusters, type Cluster } from '../helpers/pg.js';
import { APP_USER, CLI, startProxy } from '../helpers/proxy.js';
import { runCommand } from '../../scripts/testbed.js';
import { readCloudTrail } from '../../workload/cloudtrail.js';
import type { ReplaySummary } from '../../workload/replay.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataset = join(root, '..', 'shared', 'datasets', 'cloudtrail');

requirePostgres(t);
if (!existsSync(dataset)) {
  t.plan(0, `CloudTrail dataset not found at ${dataset} (expects shared/ beside the repo)`);
  process.exit(0);
}

const urlOf = (c: Cluster): string => `postgres://${c.user}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/app`;

t.test('replays the whole dataset through Prescient with --speedup 0: zero errors, every event replayed, ledger verifies', async (t) => {
  const [cluster] = await withClusters(t, 1);
  const admin = new pg.Client({ connectionString: urlOf(cluster!) });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query(readFileSync(join(root, 'workload', 'schema.sql'), 'utf8'));
  const proxy = await startProxy(t, [cluster!]);
  const target = `postgres://${APP_USER.name}:${APP_USER.password}@${proxy.host}:${proxy.port}/app`;

  const expected = readCloudTrail(dataset).events.length;
  t.ok(expected > 3000, `read ${expected} events`);

  const dir = mkdtempSync(join(tmpdir(), 'prescient-replay-'));
  const json = join(dir, 'replay.json');
  const ledger = join(dir, 'ledger.ndjson');
  const actionLog = join(dir, 'actions.ndjson');
  const r = await runCommand(process.execPath, [CLI, 'workload', 'replay', '--target', target, '--cloudtrail', dataset, '--speedup', '0', '--concurrency', '8', '--json', json, '--ledger', ledger, '--log', actionLog], { timeoutMs: 240_000 });
  t.equal(r.code, 0, r.code === 0 ? 'replay exits 0' : r.stdout + r.stderr);
  t.comment(r.stdout);
  const s = JSON.parse(readFileSync(json, 'utf8')) as ReplaySummary;
  t.equal(s.errors, 0, s.errorSamples.join('\n'));
  t.equal(s.replayed, expected);
  t.equal(s.mapping.events, expected);
  t.equal(s.mapping.direct + s.mapping.mapped + s.mapping.generic, expected);
  t.equal(s.mapping.reads + s.mapping.writes, expected);
  t.equal(Object.values(s.perAction).reduce((a, b) => a + b.count, 0), expected);
  t.equal(Object.values(s.perService).reduce((a, b) => a + b.events, 0), expected);
  // every readOnly: false record is a write (the dataset's records all carry readOnly), each one acknowledged
  const readOnlyFalse = readCloudTrail(dataset).events.filter((e) => e.readOnly === false).length;
  t.equal(s.mapping.writes, readOnlyFalse, `${readOnlyFalse} records say readOnly: false`);
  t.equal(s.writes, readOnlyFalse, `${s.writes} writes`);
  t.equal(s.reads, expected - readOnlyFalse);
  t.ok(s.perService.s3!.writes > 0 && s.perService.iam!.writes > 0, 's3 and iam writes replay as writes');
  t.equal(s.accounts, s.mapping.identities);
  // --log: a line per event, under its own name, readOnly as its record says
  const lines = readFileSync(actionLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; ok: boolean; readOnly: boolean; latencyMs: number });
  t.equal(lines.length, expected, 'a log line per event');
  t.equal(lines.filter((l) => l.readOnly === false).length, readOnlyFalse, 'readOnly: false on exactly the writes');
  t.ok(lines.every((l) => l.ok && l.latencyMs >= 0), 'each ok, with its latency');
  t.same(Object.fromEntries(Object.entries(lines.reduce<Record<string, number>>((m, l) => ((m[l.action] = (m[l.action] ?? 0) + 1), m), {})).sort()),
    Object.fromEntries(Object.entries(s.perAction).map(([k, v]) => [k, v.count]).sort()), 'the same actions as the summary');

  const dbWrites = await admin.query<{ n: string }>('select count(*)::text as n from write_log');
  t.equal(Number(dbWrites.rows[0]!.n), s.writes);
  const v = await runCommand(process.execPath, [CLI, 'workload', 'verify', '--ledger', ledger, '--target', urlOf(cluster!)]);
  t.equal(v.code, 0, v.code === 0 ? 'verify exits 0' : v.stdout + v.stderr);
  t.match(v.stdout, `verified ${s.writes} writes for `);
  t.match(v.stdout, ': 0 missing, 0 duplicated, 0 out of order');
  t.comment(v.stdout);
});

t.test('--speedup keeps each identity\'s relative timing', async (t) => {
  const [cluster] = await withClusters(t, 1);
  const admin = new pg.Client({ connectionString: urlOf(cluster!) });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query(readFileSync(join(root, 'workload', 'schema.sql'), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'prescient-replay-small-'));
  mkdirSync(join(dir, 'x'));
  const ev = (eventName: string, s: number, arn: string): Record<string, unknown> => ({
    eventName, eventSource: 'ec2.amazonaws.com', eventTime: new Date(Date.UTC(2023, 6, 10, 12, 0, s)).toISOString(), recipientAccountId: '1', userIdentity: { arn },
  });
  // u1 spans 10 s of trail time, u2 starts a day later (identities each start at replay start)
  writeFileSync(join(dir, 'x', 'a.json'), JSON.stringify({ Records: [ev('DescribeVolumes', 0, 'u1'), ev('CreateVolume', 5, 'u1'), ev('DescribeVolumes', 10, 'u1')] }));
  writeFileSync(join(dir, 'b.json'), JSON.stringify({ Records: [{ ...ev('RunInstances', 0, 'u2'), eventTime: '2023-07-11T12:00:00Z' }] }));
  const s = await replay({ target: urlOf(cluster!), cloudtrail: dir, speedup: 20 });
  t.equal(s.errors, 0, s.errorSamples.join('\n'));
  t.equal(s.replayed, 4);
  t.equal(s.writes, 2);
  t.ok(s.wallMs >= 480 && s.wallMs < 5000, `10 s of trail at speedup 20 took ${s.wallMs} ms`);
});
