// Owns: the workload end to end on a real cluster — load, then run agents directly and through Prescient, tagged and untagged.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { APP_USER, CLI, startProxy } from '../helpers/proxy.js';
import { runCommand } from '../../scripts/testbed.js';

requirePostgres(t);

const workload = (args: string[]) => runCommand(process.execPath, [CLI, 'workload', ...args], { timeoutMs: 120_000 });
const lines = (file: string): unknown[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

t.test('workload load + run, direct and through Prescient', async (t) => {
  const [c] = await withClusters(t, 1, { users: [] });
  const direct = `postgres://${c!.user}:${c!.password}@${c!.host}:${c!.port}/app`;
  const dir = mkdtempSync(join(tmpdir(), 'prescient-workload-'));

  const load = await workload(['load', '--target', direct, '--accounts', '50', '--seed', '3']);
  t.equal(load.code, 0, load.stderr);
  t.match(load.stdout, /loaded 50 accounts/);
  t.match(load.stdout, /rows\/s/);
  const again = await workload(['load', '--target', direct, '--accounts', '50', '--seed', '3']);
  t.equal(again.code, 0, 'loading again with the same seed is idempotent: ' + again.stderr);

  const proxy = await startProxy(t, [c!], { pool: { mode: 'transaction', size: 4 } });
  const viaProxy = `postgres://${APP_USER.name}:${APP_USER.password}@${proxy.host}:${proxy.port}/app`;
  const db = new pg.Client({ connectionString: direct });
  await db.connect();
  t.teardown(() => db.end());

  for (const [where, url] of [['direct', direct], ['prescient', viaProxy]] as const) {
    for (const tagged of [true, false]) {
      const name = `${where}-${tagged ? 'tagged' : 'untagged'}`;
      await t.test(name, async (t) => {
        const before = Number((await db.query('SELECT count(*) AS n FROM write_log')).rows[0].n);
        const f = { ledger: join(dir, `${name}.ledger`), log: join(dir, `${name}.log`), json: join(dir, `${name}.json`) };
        const r = await workload(['run', '--target', url, '--agents', '8', '--duration', '4s', '--seed', '11', '--ledger', f.ledger, '--log', f.log, '--json', f.json,
          ...(tagged ? [] : ['--untagged']), '--hot', 'acct-5:20%@2s']);
        t.equal(r.code, 0, r.stdout + r.stderr);
        t.match(r.stdout, /p99\.9 ms/);
        const report = JSON.parse(readFileSync(f.json, 'utf8'));
        t.equal(report.overall.errors, 0, 'zero errors');
        t.ok(report.overall.count > 100, `${report.overall.count} actions, ${report.overall.tps} tps`);
        t.equal(report.tagged, tagged);
        t.ok(Object.keys(report.actions).length >= 15, `${Object.keys(report.actions).length} actions exercised`);
        for (const [a, s] of Object.entries(report.actions) as [string, Record<string, number>][]) {
          t.hasStrict(Object.keys(s).sort(), ['count', 'errors', 'p50', 'p90', 'p99', 'p999', 'tps'], `${a}: per-action stats`);
        }
        const log = lines(f.log) as { ok: boolean; action: string }[];
        t.equal(log.length, report.overall.count + report.overall.errors, 'one log line per action');
        t.ok(log.every((l) => l.ok), 'every logged action ok');
        const ledger = lines(f.ledger) as { account: string; seq: number }[];
        const after = Number((await db.query('SELECT count(*) AS n FROM write_log')).rows[0].n);
        t.ok(ledger.length > 0, `${ledger.length} acknowledged writes`);
        t.equal(after - before, ledger.length, 'one write_log row per ledger entry');
        const dup = await db.query('SELECT account_id, seq FROM write_log GROUP BY 1, 2 HAVING count(*) > 1');
        t.equal(dup.rows.length, 0, 'no duplicate (account, seq)');
        // per account, the ledger seqs continue without gaps
        const byAcct = new Map<string, number[]>();
        for (const e of ledger) byAcct.set(e.account, [...(byAcct.get(e.account) ?? []), e.seq]);
        const gaps = [...byAcct.values()].filter((s) => s.some((x, i) => i > 0 && x !== s[i - 1]! + 1));
        t.equal(gaps.length, 0, 'ledger seqs are consecutive per account');
      });
    }
  }
});
