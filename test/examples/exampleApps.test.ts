// Owns: tests of the examples' stand-in apps — each one's own shell loop, run for a few rounds through a real Prescient with the example's sharding on two real Postgres shards.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { runCommand } from '../../scripts/testbed.js';
import { directQuery, findPgBin, requirePostgres, withClusters } from '../helpers/pg.js';
import { startProxy } from '../helpers/proxy.js';

requirePostgres(t);

const examples = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples');
const ROUNDS = 20;

interface App {
  name: string;
  /** the bash script the example's app container runs */
  script: string;
  env: Record<string, string>;
  config: Record<string, any>;
}

function apps(): App[] {
  const compose = parseYaml(readFileSync(join(examples, 'compose', 'compose.yaml'), 'utf8'));
  const deployment = parseYaml(readFileSync(join(examples, 'kubernetes', 'deployment.yaml'), 'utf8'));
  const k8sApp = deployment.spec.template.spec.containers.find((c: any) => c.name === 'app');
  return [
    {
      name: 'compose',
      script: (compose.services.app.command[0] as string).replaceAll('$$', '$'), // compose's escape for a literal $
      env: compose.services.app.environment,
      config: parseYaml(readFileSync(join(examples, 'compose', 'prescient.yaml'), 'utf8')),
    },
    {
      name: 'kubernetes',
      script: k8sApp.args[0],
      env: { ...Object.fromEntries(k8sApp.env.map((e: any) => [e.name, e.value])), HOSTNAME: 'app-7d9f' },
      config: parseYaml(readFileSync(join(examples, 'kubernetes', 'prescient.yaml'), 'utf8')),
    },
  ];
}

for (const app of apps()) {
  t.test(`examples/${app.name}: the app's loop through Prescient, accounts spread over both shards`, async (t) => {
    const clusters = await withClusters(t, 2);
    // the example's users, pool and sharding; shards, ports and the catalog are the test's own
    const proxy = await startProxy(t, clusters, { users: app.config.users, pool: app.config.pool, sharding: app.config.sharding });
    const env = {
      ...process.env,
      ...app.env,
      PGHOST: proxy.host,
      PGPORT: String(proxy.port),
      PGPASSFILE: '/dev/null',
      PATH: `${dirname(findPgBin('psql'))}:${process.env.PATH}`,
      ROUNDS: String(ROUNDS),
      PAUSE: '0',
    };
    const r = await runCommand('bash', ['-c', app.script], { env, timeoutMs: 120000 });
    t.equal(r.code, 0, 'the loop ends with exit code 0', { stderr: r.stderr });
    t.equal(r.stderr.trim(), '', 'no errors from psql', { stderr: r.stderr });
    const counts = r.stdout.split('\n').filter((l) => / has \d+ notes$/.test(l));
    t.equal(counts.length, ROUNDS, 'one read per round', { stdout: r.stdout });
    if (app.name === 'compose') {
      const merged = r.stdout.split('\n').filter((l) => l.startsWith('all shards: '));
      t.same(merged, ['all shards: 10 notes', 'all shards: 20 notes'], 'every tenth round: the count from both shards, merged');
    }
    const perShard = await Promise.all(clusters.map(async (c) => (await directQuery<{ account_id: string; n: string }>(c, 'select account_id, count(*) n from notes group by 1')).rows));
    const total = perShard.flat().reduce((sum, row) => sum + Number(row.n), 0);
    t.equal(total, ROUNDS, 'every write landed on a shard');
    const accounts = perShard.map((rows) => rows.map((row) => row.account_id));
    t.same(accounts[0]!.filter((a) => accounts[1]!.includes(a)), [], "no account's rows are split between the shards");
    t.ok(accounts.every((a) => a.length > 0), 'both shards hold accounts', { accounts });
  });
}
