#!/usr/bin/env -S node --max-semi-space-size=4 --optimize-for-size
// cli owns the `prescient` command line: `prescient start [--config FILE]`, and which module runs each other command.
import { loadConfig, ConfigError, anchorPaths } from '../config/loadConfig.js';
import { configPath } from '../config/configPath.js';
import { Server } from './Server.js';
import { dirname, resolve as resolvePath } from 'node:path';
import { logger } from './logger.js';
import type { Config } from '../config/schema.js';
import cluster from 'node:cluster';
import { runPrimary } from './workers/runPrimary.js';
import { isPeerEnvelope, PeerMessage, workerPeersFromEnv } from './workers/WorkerPeers.js';
import { workerShare } from './workers/workerShare.js';
import { HttpListener } from './http/HttpListener.js';
import { readFileSync } from 'node:fs';

const USAGE = `usage: prescient start [--config FILE | --config-if-exists FILE] [--data DIR]
       prescient shard-manager --config FILE
       prescient log export (--config FILE | --dir DIR) [--out FILE] [--since MS]
       prescient workload load|run|replay|verify [options]
       prescient versions install --config FILE
       prescient train --log FILE|--cloudtrail DIR|--synthetic --out FILE [--model KIND]
       prescient eval --log FILE|--cloudtrail DIR|--synthetic [--json FILE]
       prescient healthcheck [--config FILE | --config-if-exists FILE]
  start      run the proxy; without --config, in front of an embedded Postgres (PGlite) on 127.0.0.1:6432
  log        the action log (action_log.enabled): export it as NDJSON
  shard-manager  the shard manager as a process of its own on the proxies' catalog: plans while it leads, settles moves of dead proxies
  workload   the control-plane workload: load data, run agents, replay CloudTrail, verify the write ledger
  versions   install the prescient schema and version triggers on every configured shard
  train      train a next-action model (random forest by default) on an action log and write the model file
  eval       score the next-action models (forest and baselines) on a time-ordered split of an action log
  healthcheck  GET /healthz on the config's HTTP port: exit 0 when it answers 200 (the container image's HEALTHCHECK)`;

/** `prescient workload <sub>`: each subcommand is its own module exporting main(args) → exit code. */
const WORKLOAD_COMMANDS = ['load', 'run', 'replay', 'verify'] as const;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(name + '='));
  return eq?.slice(name.length + 1);
}

async function start(args: string[]): Promise<void> {
  const { path, source } = configPath({ config: arg(args, '--config'), configIfExists: arg(args, '--config-if-exists') });
  let config: Config;
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (path) {
    config = loadConfig(path);
  } else {
    const { embeddedConfig } = await import('./embedded/embeddedConfig.js');
    const embedded = await embeddedConfig(arg(args, '--data') ?? '.data/pglite');
    config = embedded.config;
    stopEmbedded = embedded.stop;
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
  logger.setLevel(config.log.level);
  logger.info(path ? 'configuration file' : 'no configuration file: the embedded default', { path, source });
  // last line of defence: a bug reached by one client's input must not take every other client down
  process.on('uncaughtException', lastResort('uncaught exception (the proxy keeps running)'));
  process.on('unhandledRejection', lastResort('unhandled rejection'));
  const configDir = path ? dirname(resolvePath(path)) : process.cwd();
  // the catalog file sits next to the config (or in the embedded data dir), not wherever the proxy was started
  anchorPaths(config, path ? configDir : dirname(resolvePath(arg(args, '--data') ?? '.data/pglite')));
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
  const httpListener = config.http.enabled ? await HttpListener.start(running.ctx, { host: config.http.host, port: httpPort }, packageVersion()) : null;
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
    for (const c of running.ctx.clients.values()) logger.info('client', c.describe());
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

/** package.json's version (dist/proxy/cli.js sits two folders below it), or 'unknown'. */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
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
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'start':
      await start(rest);
      return;
    case 'workload': {
      const [sub, ...args] = rest;
      if (!WORKLOAD_COMMANDS.includes(sub as (typeof WORKLOAD_COMMANDS)[number])) {
        process.stderr.write(`prescient workload: unknown subcommand "${sub ?? ''}" (one of ${WORKLOAD_COMMANDS.join(', ')})\n`);
        process.exit(2);
      }
      const mod = (await import(`../workload/${sub}.js`)) as { main(args: string[]): Promise<number> };
      process.exitCode = await mod.main(args);
      return;
    }
    case 'shard-manager': {
      const { shardManagerCommand } = await import('./shardManager/shardManagerCommand.js');
      process.exitCode = await shardManagerCommand(rest);
      return;
    }
    case 'log': {
      const { logCommand } = await import('./prediction/logCommand.js');
      process.exitCode = await logCommand(rest);
      return;
    }
    case 'versions': {
      const { versionsCommand } = await import('./versions/versionsCommand.js');
      process.exitCode = await versionsCommand(rest);
      return;
    }
    case 'train': {
      const { trainCommand } = await import('./prediction/trainCommand.js');
      process.exitCode = await trainCommand(rest);
      return;
    }
    case 'healthcheck': {
      const { healthcheckCommand } = await import('./healthcheckCommand.js');
      process.exitCode = await healthcheckCommand(rest);
      return;
    }
    case 'eval': {
      const { evalCommand } = await import('./prediction/evalCommand.js');
      process.exitCode = await evalCommand(rest);
      return;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return;
    default:
      process.stderr.write(`unknown command "${cmd}"\n${USAGE}\n`);
      process.exit(2);
  }
}

main().catch((e) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`prescient: ${e.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`prescient: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
