// Owns: the `prescient` command line (dist/proxy/cli.js): --help for every command, --version, unknown options refused with exit 2 and the usage, and a typo never starting the embedded database.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../scripts/testbed.js';
import { CLI } from './helpers/proxy.js';

interface Run { code: number | null; stdout: string; stderr: string }

function cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = tmpdir()): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, PRESCIENT_CONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d.toString()));
    p.stderr.on('data', (d) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

t.test('--help for every command prints its usage on stdout and exits 0', async (t) => {
  const cases: { args: string[]; usage: RegExp }[] = [
    { args: ['--help'], usage: /^usage: prescient <command>/ },
    { args: ['-h'], usage: /^usage: prescient <command>/ },
    { args: ['help'], usage: /^usage: prescient <command>/ },
    { args: [], usage: /^usage: prescient <command>/ },
    { args: ['start', '--help'], usage: /usage: prescient start \[--config FILE \| --config-if-exists FILE\] \[--data DIR\]/ },
    { args: ['healthcheck', '--help'], usage: /usage: prescient healthcheck \[--config FILE \| --config-if-exists FILE\]/ },
    { args: ['help', 'start'], usage: /usage: prescient start / },
    { args: ['shard-manager', '--help'], usage: /usage: prescient shard-manager --config FILE/ },
    { args: ['log', '--help'], usage: /usage: prescient log export/ },
    { args: ['log', 'export', '--help'], usage: /usage: prescient log export/ },
    { args: ['workload', '--help'], usage: /usage: prescient workload load[\s\S]*prescient workload run[\s\S]*prescient workload replay[\s\S]*prescient workload verify/ },
    ...['load', 'run', 'replay', 'verify'].map((sub) => ({ args: ['workload', sub, '--help'], usage: new RegExp(`usage: prescient workload ${sub} `) })),
    { args: ['versions', '--help'], usage: /usage: prescient versions install --config FILE/ },
    { args: ['versions', 'install', '-h'], usage: /usage: prescient versions install --config FILE/ },
    { args: ['train', '--help'], usage: /usage: prescient train / },
    { args: ['eval', '--help'], usage: /usage: prescient eval / },
  ];
  for (const c of cases) {
    const r = await cli(c.args);
    t.equal(r.code, 0, `${c.args.join(' ') || '(nothing)'}: exit 0 ${r.stderr}`);
    t.match(r.stdout, c.usage, `${c.args.join(' ') || '(nothing)'}: usage`);
    t.notMatch(r.stdout + r.stderr, /unknown/, `${c.args.join(' ') || '(nothing)'}: nothing unknown`);
  }
});

t.test('--version and -v print the version', async (t) => {
  for (const flag of ['--version', '-v']) {
    const r = await cli([flag]);
    t.equal(r.code, 0);
    t.equal(r.stdout, `prescient ${pkg.version}\n`);
  }
});

t.test('unknown commands, subcommands and options exit 2 with the usage on stderr', async (t) => {
  const cases: { args: string[]; message: RegExp; usage: RegExp }[] = [
    { args: ['frobnicate'], message: /unknown command "frobnicate"/, usage: /usage: prescient <command>/ },
    { args: ['--frob'], message: /unknown option "--frob"/, usage: /usage: prescient <command>/ },
    { args: ['start', '--conifg', 'x.yaml'], message: /unknown option "--conifg"/, usage: /usage: prescient start / },
    { args: ['start', 'x.yaml'], message: /unexpected argument "x.yaml"/, usage: /usage: prescient start / },
    { args: ['start', '--config'], message: /--config needs a value/, usage: /usage: prescient start / },
    { args: ['workload', 'run', '--target', 'postgres://x', '--agnets', '3'], message: /unknown option "--agnets"/, usage: /usage: prescient workload run / },
    { args: ['workload', 'frob'], message: /unknown subcommand "workload frob"/, usage: /usage: prescient workload load/ },
    { args: ['workload'], message: /"workload" needs a subcommand/, usage: /usage: prescient workload load/ },
    { args: ['versions', 'install', '--config', 'x.yaml', '--prune'], message: /unknown option "--prune"/, usage: /usage: prescient versions install/ },
    { args: ['versions'], message: /needs a subcommand/, usage: /usage: prescient versions install/ },
    { args: ['log', 'export', '--dri', 'x'], message: /unknown option "--dri"/, usage: /usage: prescient log export/ },
    { args: ['shard-manager', '--config', 'x.yaml', '--lead'], message: /unknown option "--lead"/, usage: /usage: prescient shard-manager/ },
    { args: ['train', '--synthetic', '--out', 'm.json', '--tress', '3'], message: /unknown option "--tress"/, usage: /usage: prescient train/ },
  ];
  for (const c of cases) {
    const r = await cli(c.args);
    t.equal(r.code, 2, `${c.args.join(' ')}: exit 2`);
    t.match(r.stderr, c.message, `${c.args.join(' ')}: says what is wrong`);
    t.match(r.stderr, c.usage, `${c.args.join(' ')}: and the usage`);
    t.equal(r.stdout, '', `${c.args.join(' ')}: nothing on stdout`);
  }
});

t.test('start --conifg (a typo) does not start the embedded database', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'prescient-cli-'));
  const port = await freePort();
  const r = await cli(['start', '--conifg', 'prescient.yaml'], { PRESCIENT_PORT: String(port) }, cwd);
  t.equal(r.code, 2);
  t.notOk(existsSync(join(cwd, '.data')), 'no embedded data dir was made');
  const listening = await new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  t.notOk(listening, 'nothing listens on the port');
});
