// healthcheckCommand owns `prescient healthcheck`: GET /healthz on the HTTP port of the config the proxy runs with; exit 0 on 200, 1 otherwise (the image's HEALTHCHECK).
import http from 'node:http';
import { configPath } from '../config/configPath.js';
import { loadConfig } from '../config/loadConfig.js';
import { ConfigSchema } from '../config/schema.js';
import { parseArgs, UsageError } from './parseArgs.js';

export const HEALTHCHECK_USAGE = `usage: prescient healthcheck [--config FILE | --config-if-exists FILE] [--timeout-ms N]
  GET http://<http.host>:<http.port>/healthz of the config (the same file start would use: --config, PRESCIENT_CONFIG,
  --config-if-exists, else the embedded default's); a wildcard http.host is asked on loopback. PRESCIENT_HTTP_PORT
  overrides the port. Exit 0 on 200, 1 otherwise (or after --timeout-ms, default 2000).`;

const DEFAULT_TIMEOUT_MS = 2000;

/** The /healthz address for these arguments, or why there is none (HTTP listener off, no usable port). */
export function healthzUrl(args: { config?: string; configIfExists?: string }, env: NodeJS.ProcessEnv = process.env): { url: URL } | { problem: string } {
  const { path } = configPath(args, env);
  const httpConfig = path ? loadConfig(path).http : ConfigSchema.in.shape.http.parse(undefined);
  if (!httpConfig.enabled) return { problem: `http.enabled is false${path ? ` in ${path}` : ''}: there is no /healthz to ask` };
  let port = httpConfig.port;
  const override = env.PRESCIENT_HTTP_PORT;
  if (override !== undefined && override !== '') {
    port = Number(override);
    if (!/^\d+$/.test(override.trim()) || port > 65535) return { problem: `PRESCIENT_HTTP_PORT: expected a port number, got "${override}"` };
  }
  if (port === 0) return { problem: 'http.port is 0 (any free port): give the port the proxy listens on (PRESCIENT_HTTP_PORT)' };
  const host = httpConfig.host === '0.0.0.0' ? '127.0.0.1' : httpConfig.host === '::' ? '[::1]' : httpConfig.host.includes(':') ? `[${httpConfig.host}]` : httpConfig.host;
  return { url: new URL(`http://${host}:${port}/healthz`) };
}

/** GET url: the status code, or the error that stood in the way (refused, timed out). */
export function getStatus(url: URL, timeoutMs: number): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 200) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode, body: body.trim().slice(0, 200) }));
      res.on('error', (e) => resolve({ status: res.statusCode, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

/** Runs `prescient healthcheck …`; resolves with the exit code: 0 healthy, 1 not (Docker's meanings), 2 a usage error. */
export async function healthcheckCommand(args: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let target: ReturnType<typeof healthzUrl>;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  try {
    const p = parseArgs(args, ['--config', '--config-if-exists', '--timeout-ms'], ['--help', '-h']);
    if (p.flags.size > 0) {
      out.write(HEALTHCHECK_USAGE + '\n');
      return 0;
    }
    const t = p.values.get('--timeout-ms');
    if (t !== undefined) {
      timeoutMs = Number(t);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`--timeout-ms: expected a positive integer, got "${t}"`);
    }
    target = healthzUrl({ config: p.values.get('--config'), configIfExists: p.values.get('--config-if-exists') }, env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`prescient healthcheck: ${e.message}\n${HEALTHCHECK_USAGE}\n`);
    return 2;
  }
  if ('problem' in target) {
    out.write(`unhealthy: ${target.problem}\n`);
    return 1;
  }
  const url = target.url;
  const r = await getStatus(url, timeoutMs);
  const healthy = r.status === 200;
  const answer = [r.status, r.body, r.error && `(${r.error})`].filter((x) => x !== undefined && x !== '').join(' ');
  out.write(`${healthy ? 'healthy' : 'unhealthy'}: GET ${url.href} ${answer}\n`);
  return healthy ? 0 : 1;
}
