// Owns: tests of proxy/healthcheckCommand.ts — which /healthz it asks (the config start would use) and its exit codes against a real HTTP server standing in for the proxy's.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { healthcheckCommand, healthzUrl } from '../proxy/healthcheckCommand.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'prescient-healthcheck-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function configFile(httpYaml: string): string {
  const path = join(dir, `prescient-${n++}.yaml`);
  writeFileSync(
    path,
    `listen: { host: 127.0.0.1, port: 6432 }
database: app
users: [ { name: app, password: app-secret } ]
shards: [ { name: s0, host: 127.0.0.1, port: 5432, database: app, user: postgres, password: "" } ]
${httpYaml}
`,
  );
  return path;
}

function capture(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { out, text: () => text };
}

t.test('healthzUrl: the same config start would run with, else the embedded default', async (t) => {
  const file = configFile('http: { host: 0.0.0.0, port: 19931 }');
  const missing = join(dir, 'absent.yaml');
  const cases: { name: string; args: { config?: string; configIfExists?: string }; env: NodeJS.ProcessEnv; want: string }[] = [
    { name: '--config FILE', args: { config: file }, env: {}, want: 'http://127.0.0.1:19931/healthz' },
    { name: '--config-if-exists FILE (present)', args: { configIfExists: file }, env: {}, want: 'http://127.0.0.1:19931/healthz' },
    { name: '--config-if-exists FILE (absent): the embedded default', args: { configIfExists: missing }, env: {}, want: 'http://127.0.0.1:9930/healthz' },
    { name: 'no option: the embedded default', args: {}, env: {}, want: 'http://127.0.0.1:9930/healthz' },
    { name: 'PRESCIENT_CONFIG', args: { configIfExists: missing }, env: { PRESCIENT_CONFIG: file }, want: 'http://127.0.0.1:19931/healthz' },
    { name: 'PRESCIENT_HTTP_PORT overrides the port', args: { configIfExists: missing }, env: { PRESCIENT_HTTP_PORT: '19932' }, want: 'http://127.0.0.1:19932/healthz' },
    { name: 'a named http.host is asked there', args: { config: configFile('http: { host: 127.0.0.2, port: 19933 }') }, env: {}, want: 'http://127.0.0.2:19933/healthz' },
    { name: 'http.host :: is asked on ::1', args: { config: configFile('http: { host: "::", port: 19934 }') }, env: {}, want: 'http://[::1]:19934/healthz' },
  ];
  for (const c of cases) {
    const r = healthzUrl(c.args, c.env);
    t.equal('url' in r ? r.url.href : r.problem, c.want, c.name);
  }
  const problems: { name: string; args: { config?: string }; env: NodeJS.ProcessEnv; says: string }[] = [
    { name: 'http.enabled false', args: { config: configFile('http: { enabled: false }') }, env: {}, says: 'http.enabled is false' },
    { name: 'http.port 0', args: { config: configFile('http: { port: 0 }') }, env: {}, says: 'http.port is 0' },
    { name: 'a bad PRESCIENT_HTTP_PORT', args: {}, env: { PRESCIENT_HTTP_PORT: 'x' }, says: 'PRESCIENT_HTTP_PORT' },
  ];
  for (const c of problems) {
    const r = healthzUrl(c.args, c.env);
    t.ok('problem' in r && r.problem.includes(c.says), `${c.name}: no address, and why`, { found: r });
  }
});

/** What the stand-in endpoint does for each case. */
const Reply = { Ok: 'ok', Unavailable: 'unavailable', Silent: 'silent' } as const;
type Reply = (typeof Reply)[keyof typeof Reply];

t.test('exit codes against a real HTTP server standing in for /healthz', async (t) => {
  let reply: Reply = Reply.Ok;
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    if (reply === Reply.Ok) res.end('ok\n');
    else if (reply === Reply.Unavailable) res.writeHead(503).end('not ready\n');
    // Reply.Silent: never answers; the command gives up after its timeout
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const file = configFile(`http: { port: ${port} }`);

  const cases: { name: string; reply: Reply; args: string[]; code: number; says: string }[] = [
    { name: '200 ok: healthy', reply: Reply.Ok, args: ['--config', file], code: 0, says: 'healthy: GET' },
    { name: '503: unhealthy', reply: Reply.Unavailable, args: ['--config', file], code: 1, says: '503' },
    { name: 'no answer within --timeout-ms: unhealthy', reply: Reply.Silent, args: ['--config', file, '--timeout-ms', '300'], code: 1, says: 'no answer within 300 ms' },
  ];
  for (const c of cases) {
    reply = c.reply;
    const { out, text } = capture();
    const code = await healthcheckCommand(c.args, out, {});
    t.equal(code, c.code, `${c.name}: exit ${c.code}`);
    t.ok(text().includes(c.says), `${c.name}: says so`, { output: text() });
  }
  t.ok(paths.length >= 3 && paths.every((p) => p === '/healthz'), 'it asked /healthz each time', { paths });

  // nothing listening: refused, unhealthy
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const { out, text } = capture();
  t.equal(await healthcheckCommand(['--config', configFile(`http: { port: ${closedPort} }`)], out, {}), 1, 'nothing listening: exit 1');
  t.ok(text().startsWith('unhealthy'), 'nothing listening: says unhealthy', { output: text() });

  // the real CLI, as the image's HEALTHCHECK runs it (spawned asynchronously: this process serves the endpoint)
  reply = Reply.Ok;
  const cli = await run(['healthcheck', '--config-if-exists', file]);
  t.equal(cli.code, 0, 'prescient healthcheck --config-if-exists FILE: exit 0', cli);
  const usage = await run(['healthcheck', '--bogus']);
  t.equal(usage.code, 2, 'an unknown option: exit 2', usage);
  t.ok(usage.stderr.includes('usage: prescient healthcheck'), 'an unknown option: the usage', usage);
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const env = { ...process.env };
    delete env.PRESCIENT_CONFIG;
    delete env.PRESCIENT_HTTP_PORT;
    const child = spawn(process.execPath, [join(root, 'dist/proxy/cli.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}
