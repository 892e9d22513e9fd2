// Owns: the 30-second fuzz run in the test suite (scripts/fuzz/main.ts against a real Prescient and Postgres): no crash, no hang, no lost or phantom honest write, no leak.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../scripts/testbed.js';
import type { FuzzReport } from '../../scripts/fuzz/types.js';
import pg from 'pg';
import { requirePostgres, withClusters } from '../helpers/pg.js';
import { startProxy, APP_USER } from '../helpers/proxy.js';

requirePostgres(t);

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FUZZ = join(root, 'dist', 'scripts', 'fuzz', 'main.js');
const ADMIN = { name: 'admin', password: 'admin-secret' };
const SEED = '7';
/** the honest client runs on the server as a role of its own: a pool of its own that pinned fuzz sessions cannot take */
const HONEST = { name: 'honest', password: 'honest-secret', role: 'fuzz_honest' };

t.test('30 s of fuzzing: no crash, no hang, no lost or phantom write, the honest client never refused, no leak', async (t) => {
  const clusters = await withClusters(t, 1, { users: [] });
  const c = clusters[0]!;
  const direct = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: 'app' });
  await direct.connect();
  await direct.query(`create role ${HONEST.role} login password '${HONEST.password}'`);
  await direct.end();
  // a small pool so that one leaked or poisoned server connection shows; a queue timeout below the 5 s hang timeout
  const proxy = await startProxy(t, clusters, {
    pool: { mode: 'transaction', size: 4, queue_timeout_ms: 3000 },
    admin: { users: [ADMIN] },
    users: [APP_USER, { name: HONEST.name, password: HONEST.password, server_user: HONEST.role, server_password: HONEST.password }],
  });
  const json = join(mkdtempSync(join(tmpdir(), 'prescient-fuzz-test-')), 'report.json');
  const args = [
    FUZZ, '--seed', SEED, '--seconds', '30', '--inputs', '100000000', '--json', json, '--quiet',
    '--host', proxy.host, '--port', String(proxy.port), '--proxy-pid', String(proxy.proc.pid),
    '--pg-url', `postgres://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/app`,
    '--user', APP_USER.name, '--password', APP_USER.password, '--database', 'app',
    '--honest-user', HONEST.name, '--honest-password', HONEST.password,
    '--admin-user', ADMIN.name, '--admin-password', ADMIN.password,
  ];
  const run = await runCommand(process.execPath, args, { timeoutMs: 240_000 });
  t.comment(run.stdout);
  t.notOk(run.timedOut, 'the fuzzer finished');
  const report = JSON.parse(readFileSync(json, 'utf8')) as FuzzReport;

  t.ok(report.inputs >= 1000, `ran ${report.inputs} inputs (${Math.round(report.inputsPerSecond)}/s)`);
  for (const cat of ['startup', 'message', 'session']) t.ok((report.perCategory[cat] ?? 0) > 0, `${cat} inputs ran`);
  t.ok(Object.keys(report.corpus.sessions).some((s) => s.startsWith('pgbench-prepared')), 'pgbench -M prepared was recorded');
  t.same(report.crashes, [], 'no crash');
  t.equal(proxy.proc.exitCode, null, 'the proxy is still running');
  t.equal(report.outcomes.hang ?? 0, 0, `no hang: ${JSON.stringify(report.hangs.slice(0, 3))}`);
  t.equal(report.stalled, null, 'the proxy kept serving the honest client');
  t.ok(report.honest.acked > 0, `the honest client wrote (${report.honest.acked} acknowledged)`);
  t.same(report.honest.lost, [], 'no lost acknowledged write');
  t.same(report.honest.phantom, [], 'no phantom write');
  t.same(report.honest.duplicates, [], 'no duplicated write');
  t.equal(report.honest.foreign, 0, 'no row in the honest table the honest client did not write');
  t.equal(report.honest.refused, 0, 'the honest client was never refused');
  t.same(report.honest.errors, {}, `the honest client saw no error: ${report.honest.firstErrors.join('; ')}`);
  t.equal(report.poolError, null, 'SHOW POOLS answered');
  t.equal(report.leakedServerConnections, 0, `no leaked server connection: ${JSON.stringify(report.pools)}`);
  t.equal(report.finalCheck, 'ok', 'a new client is served at the end');
  t.ok(report.maxRssMb > 0 && report.maxRssMb <= 150, `max RSS ${report.maxRssMb} MB ≤ 150 MB`);
  t.same(report.failures, [], 'the fuzzer reports no failure');
  t.equal(run.code, report.failures.length ? 1 : 0, 'exit code matches the verdict');
});
