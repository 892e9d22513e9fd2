#!/usr/bin/env -S node --max-semi-space-size=4 --optimize-for-size
// cli owns the `prescient` command line: its table of commands (usage, summary, options, module), --help and --version, and `prescient start`.
import { loadConfig, ConfigError, anchorPaths } from '../config/loadConfig.js';
import { configPath } from '../config/configPath.js';
import { Server } from './Server.js';
import { dirname, resolve as resolvePath } from 'node:path';
import { effectiveLevel, logger } from './logger.js';
import type { Config } from '../config/schema.js';
import cluster from 'node:cluster';
import { runPrimary } from './workers/runPrimary.js';
import { isPeerEnvelope, PeerMessage, workerPeersFromEnv } from './workers/WorkerPeers.js';
import { workerShare } from './workers/workerShare.js';
import { HttpListener } from './http/HttpListener.js';
import { parseArgs, UsageError, type ParsedArgs } from './parseArgs.js';
import { version } from './version.js';

/** One command of `prescient`: what `--help` prints and how it runs. */
interface CliCommand {
  /** the words after `prescient`: `start`, `workload run` */
  name: string;
  /** its usage lines, without `usage: ` (or, for a module that keeps its own, a loader of them) */
  usage: string | (() => Promise<string>);
  /** one line for `prescient --help` */
  summary: string;
  /** the options it takes (checked here, before the module loads); null: the module reads its own, strictly */
  options: { valued: readonly string[]; flags: readonly string[] } | null;
  /** loads its module and runs it: the exit code */
  run(args: string[], parsed: ParsedArgs | null): Promise<number>;
}

/** `prescient workload <sub>`: each subcommand is its own module exporting main(args) → exit code. */
const workload = (sub: string) => async (args: string[]): Promise<number> => ((await import(`../workload/${sub}.js`)) as { main(a: string[]): Promise<number> }).main(args);

/** Every command, in the order `prescient --help` lists them. */
const COMMANDS: readonly CliCommand[] = [
  {
    name: 'start', usage: 'prescient start [--config FILE | --config-if-exists FILE] [--data DIR]',
    summary: 'run the proxy; without a config file (--config, PRESCIENT_CONFIG, or --config-if-exists FILE when FILE exists), in front of an embedded Postgres (PGlite) on 127.0.0.1:6432 with its data in DIR (default .data/pglite)',
    options: { valued: ['--config', '--config-if-exists', '--data'], flags: [] }, run: async (_args, p) => (await start(p!), 0),
  },
  {
    name: 'healthcheck', usage: async () => (await import('./healthcheckCommand.js')).HEALTHCHECK_USAGE.replace(/^usage: /, ''),
    summary: "GET /healthz on the HTTP port of the config start would use: exit 0 when it answers 200 (the container image's HEALTHCHECK)",
    options: { valued: ['--config', '--config-if-exists', '--timeout-ms'], flags: [] }, run: async (args) => (await import('./healthcheckCommand.js')).healthcheckCommand(args),
  },
  {
    name: 'shard-manager', usage: 'prescient shard-manager --config FILE',
    summary: "the shard manager as a process of its own on the proxies' catalog: plans while it leads, settles moves of dead proxies",
    options: { valued: ['--config'], flags: [] }, run: async (args) => (await import('./shardManager/shardManagerCommand.js')).shardManagerCommand(args),
  },
  {
    name: 'log export', usage: 'prescient log export (--config FILE | --dir DIR) [--out FILE] [--since MS]',
    summary: 'the action log (action_log.enabled) as NDJSON, in time order',
    options: { valued: ['--config', '--dir', '--out', '--since'], flags: [] }, run: async (args) => (await import('./prediction/logCommand.js')).logCommand(['export', ...args]),
  },
  {
    name: 'workload load', usage: 'prescient workload load --target URL [--accounts 100] [--seed 1] [--alpha 0.9] [--xmin 3] [--max-resources 50000] [--batch 20000] [--per-account [--copy-min 100]]',
    summary: "load the control-plane workload's data",
    options: { valued: ['--target', '--accounts', '--seed', '--alpha', '--xmin', '--max-resources', '--batch', '--copy-min'], flags: ['--per-account'] }, run: workload('load'),
  },
  {
    name: 'workload run', usage: 'prescient workload run --target URL [--agents 8] [--duration 60s] [--zipf 1.1] [--seed 1] [--untagged] [--rate R] [--hot ACCOUNT:20%@30s] [--ledger FILE] [--log FILE] [--json FILE] [--accounts N] [--think-scale 1]',
    summary: 'run agents of the control-plane workload',
    options: { valued: ['--target', '--agents', '--duration', '--zipf', '--seed', '--rate', '--hot', '--ledger', '--log', '--json', '--accounts', '--think-scale'], flags: ['--untagged'] }, run: workload('run'),
  },
  {
    name: 'workload replay', usage: 'prescient workload replay --target URL --cloudtrail DIR [--speedup X] [--concurrency N] [--json FILE] [--ledger FILE] [--log FILE] [--schema] [--untagged]',
    summary: 'replay CloudTrail as workload actions',
    options: { valued: ['--target', '--cloudtrail', '--speedup', '--concurrency', '--json', '--ledger', '--log'], flags: ['--schema', '--untagged'] }, run: workload('replay'),
  },
  {
    name: 'workload verify', usage: 'prescient workload verify --ledger FILE [--ledger FILE2 …] --target URL [--target URL2 …]',
    summary: 'check the write ledger against the databases',
    options: { valued: ['--ledger', '--target'], flags: [] }, run: workload('verify'),
  },
  {
    name: 'versions install', usage: 'prescient versions install --config FILE [--no-prune]',
    summary: 'install the prescient schema and version triggers on every configured shard',
    options: { valued: ['--config'], flags: ['--no-prune'] }, run: async (args) => (await import('./versions/versionsCommand.js')).versionsCommand(['install', ...args]),
  },
  {
    name: 'train', usage: async () => (await import('./prediction/trainCommand.js')).TRAIN_USAGE.replace(/^usage: /, ''),
    summary: 'train a next-action model (random forest by default) on an action log and write the model file',
    options: null, run: async (args) => (await import('./prediction/trainCommand.js')).trainCommand(args),
  },
  {
    name: 'eval', usage: async () => (await import('./prediction/evalCommand.js')).EVAL_USAGE.replace(/^usage: /, ''),
    summary: 'score the next-action models (forest and baselines) on a time-ordered split of an action log',
    options: null, run: async (args) => (await import('./prediction/evalCommand.js')).evalCommand(args),
  },
];

const usageOf = async (c: CliCommand): Promise<string> => (typeof c.usage === 'string' ? c.usage : c.usage());

/** `prescient --help`: every command and what it does. */
function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'usage: prescient <command> [options]      (prescient <command> --help: its options)',
    '       prescient --version | --help',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
  ].join('\n');
}

/** The usage of the command `words` names (`workload`: each of its subcommands). */
async function usageFor(words: string): Promise<string> {
  const rows = COMMANDS.filter((c) => c.name === words || c.name.startsWith(words + ' '));
  const lines = await Promise.all(rows.map(async (c) => `${(await usageOf(c)).split('\n').map((l, i) => (i === 0 ? l : `  ${l}`)).join('\n')}\n           ${c.summary}`));
  return `usage: ${lines.join('\n       ')}`;
}

async function start(p: ParsedArgs): Promise<void> {
  const { path, source } = configPath({ config: p.values.get('--config'), configIfExists: p.values.get('--config-if-exists') });
  const dataDir = p.values.get('--data') ?? '.data/pglite';
  // the primary hands the workers the same command line
  const args = process.argv.slice(3);
  let config: Config;
  let stopEmbedded: (() => Promise<void>) | null = null;
  /** who may log in, for the start line (the embedded default's well-known users; nothing of a config file's) */
  let logins = '';
  if (path) {
    config = loadConfig(path);
  } else {
    const { embeddedConfig } = await import('./embedded/embeddedConfig.js');
    const embedded = await embeddedConfig(dataDir);
    config = embedded.config;
    stopEmbedded = embedded.stop;
    logins = `, ${embedded.logins}`;
  }
  if (config.workers > 1 && cluster.isPrimary) {
    // the primary only forks the workers and relays between them; each worker runs this function again
    process.exitCode = await runPrimary(config.workers, args);
    return;
  }
  const peers = workerPeersFromEnv();
  if (peers) {
    config = workerShare(config, peers.index, peers.count);
    logger.bind({ worker: peers.index });
  }
  // container-friendly overrides of the listen address
  if (process.env.PRESCIENT_HOST) config.listen.host = process.env.PRESCIENT_HOST;
  config.listen.port = envPort('PRESCIENT_PORT') ?? config.listen.port;
  config.http.port = envPort('PRESCIENT_HTTP_PORT') ?? config.http.port;
  // PRESCIENT_LOG_LEVEL wins over log.level
  logger.setLevel(effectiveLevel(config.log.level));
  logger.info(path ? 'configuration file' : 'no configuration file: the embedded default', { path, source });
  // last line of defence: a bug reached by one client's input must not take every other client down
  process.on('uncaughtException', lastResort('uncaught exception (the proxy keeps running)'));
  process.on('unhandledRejection', lastResort('unhandled rejection'));
  const configDir = path ? dirname(resolvePath(path)) : process.cwd();
  // the catalog file sits next to the config (or in the embedded data dir), not wherever the proxy was started
  anchorPaths(config, path ? configDir : dirname(resolvePath(dataDir)));
  // SIGHUP = the admin console's RELOAD (as PgBouncer and Postgres do); a bad file keeps the running config.
  // Heard from here on: one that comes while the proxy opens its catalog and plugins is answered once it listens.
  let server: Server | undefined;
  let listening = false;
  let reloadAsked = false;
  const reload = (): void => {
    if (!path) {
      logger.info('SIGHUP: nothing to reload (started without --config, in front of the embedded database)');
      return;
    }
    if (!listening || !server) {
      reloadAsked = true;
      return;
    }
    // success is logged by ProxyContext.reload ('configuration reloaded')
    server.reload().catch(
      (e: unknown) => logger.error('SIGHUP: reload failed, the previous configuration stays in effect', { error: (e as Error)?.message ?? String(e) }),
    );
  };
  process.on('SIGHUP', () => {
    logger.info('signal received', { signal: 'SIGHUP' });
    reload();
  });
  const running = await Server.open(config, {
    configDir,
    peers,
    reloadConfig: path
      ? () => {
          const next = anchorPaths(loadConfig(path), configDir);
          if (next.workers !== (peers?.count ?? 1)) logger.warn('workers: a new count takes effect at the next start', { running: peers?.count ?? 1, configured: next.workers });
          next.listen = config.listen;
          return peers ? workerShare(next, peers.index, peers.count) : next;
        }
      : undefined,
  });
  server = running;
  const addr = await running.listen();
  listening = true;
  // metrics, health and the dashboard; each worker serves its own figures, on http.port + its index (0 stays 0: any free port)
  const httpPort = config.http.port === 0 ? 0 : config.http.port + (peers?.index ?? 0);
  const httpListener = config.http.enabled
    ? await HttpListener.start(running.ctx, { host: config.http.host, port: httpPort }, version).catch((e: NodeJS.ErrnoException) => {
      // as a taken listen port: the proxy does not run without what its config asks for, and says how to change it
      throw new ConfigError(e.code === 'EADDRINUSE'
        ? `http.port: ${config.http.host}:${httpPort} is already in use (another prescient?); set http.port (or PRESCIENT_HTTP_PORT) to another port, or http.enabled: false`
        : `http: cannot listen on ${config.http.host}:${httpPort}: ${e.message}`);
    })
    : null;
  // one plain line on stdout once clients can connect (scripts wait for it); the log has the details
  if (!peers || peers.index === 0) process.stdout.write(`prescient: accepting connections on ${addr.address}:${addr.port} (database ${config.database}${logins})${httpListener ? `; dashboard and /metrics on http://${httpListener.address.address}:${httpListener.address.port}/` : ''}\n`);
  if (peers) {
    process.send?.({ t: PeerMessage.Listening, port: addr.port });
    // from the primary: another worker's client's CancelRequest, a RELOAD run elsewhere
    process.on('message', (m: unknown) => {
      if (!isPeerEnvelope(m)) return;
      if (m.t === PeerMessage.Cancel) running.ctx.cancel(m.pid, m.secret);
      else if (m.t === PeerMessage.Reload) reload();
    });
  }
  if (reloadAsked) reload();
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('signal received', { signal });
    running
      .shutdown()
      .then(() => httpListener?.close())
      .then(() => stopEmbedded?.())
      .then(() => process.exit(0), (e) => {
        logger.error('shutdown failed', { error: (e as Error).message });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR2', () => {
    for (const c of running.ctx.registry.clients.values()) logger.info('client', c.describe());
  });
}

/** A port number from the environment variable `name`, or undefined when it is not set. */
function envPort(name: string): number | undefined {
  const v = process.env[name];
  if (!v) return undefined;
  const port = Number(v);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${name}: expected a port number, got "${v}"`);
  return port;
}

/**
 * Reports an error that reached the top of the event loop. An error raised while reporting (the log stream died) is
 * not reported again: that would loop forever.
 */
let reporting = false;
function lastResort(what: string): (e: unknown) => void {
  return (e) => {
    if (reporting) return;
    reporting = true;
    try {
      logger.error(what, { error: (e as Error)?.stack ?? String(e) });
    } catch {
      // nowhere left to report it
    } finally {
      reporting = false;
    }
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const [first] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    // `prescient help workload` is `prescient workload --help`
    process.stdout.write((first === 'help' && argv.length > 1 ? await usageFor(argv.slice(1).join(' ')) : usage()) + '\n');
    return;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`prescient ${version}\n`);
    return;
  }
  // the longest command the words name: `workload run`, `start`
  const command = [...COMMANDS].sort((a, b) => b.name.length - a.name.length).find((c) => c.name.split(' ').every((w, i) => argv[i] === w));
  if (command === undefined) {
    const group = COMMANDS.some((c) => c.name.startsWith(first + ' '));
    const sub = argv[1];
    if (group && (sub === '--help' || sub === '-h')) {
      process.stdout.write(`${await usageFor(first)}\n`);
      return;
    }
    const what = group ? (sub === undefined ? `"${first}" needs a subcommand` : `unknown subcommand "${first} ${sub}"`) : `unknown ${first.startsWith('-') ? 'option' : 'command'} "${first}"`;
    process.stderr.write(`prescient: ${what}\n${group ? await usageFor(first) : usage()}\n`);
    process.exit(2);
  }
  const args = argv.slice(command.name.split(' ').length);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${await usageFor(command.name)}\n`);
    return;
  }
  let parsed: ParsedArgs | null = null;
  if (command.options !== null) {
    try {
      parsed = parseArgs(args, command.options.valued, command.options.flags);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`prescient ${command.name}: ${e.message}\n${await usageFor(command.name)}\n`);
      process.exit(2);
    }
  }
  process.exitCode = await command.run(args, parsed);
}

main().catch((e) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`prescient: ${e.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`prescient: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
