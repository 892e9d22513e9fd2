// configPath owns which config file a command runs with: --config, PRESCIENT_CONFIG, --config-if-exists, or none (the embedded default).
import { existsSync } from 'node:fs';

export interface ConfigPathOptions {
  /** `--config FILE`: this file, which must exist */
  config?: string;
  /** `--config-if-exists FILE`: this file when it exists, the embedded default without it (the container image's CMD) */
  configIfExists?: string;
}

export interface ConfigChoice {
  /** the file to load; undefined: run the embedded default */
  path: string | undefined;
  /** why, for the start-up log line: `--config`, `PRESCIENT_CONFIG`, `--config-if-exists` or the missing file */
  source: string;
}

/**
 * The config a command runs with. An explicit file (`--config`, then PRESCIENT_CONFIG) wins and must exist;
 * `--config-if-exists FILE` takes FILE only when it exists; otherwise no file: the embedded default.
 */
export function configPath(options: ConfigPathOptions, env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): ConfigChoice {
  if (options.config) return { path: options.config, source: '--config' };
  if (env.PRESCIENT_CONFIG) return { path: env.PRESCIENT_CONFIG, source: 'PRESCIENT_CONFIG' };
  const maybe = options.configIfExists;
  if (maybe && exists(maybe)) return { path: maybe, source: '--config-if-exists' };
  return { path: undefined, source: maybe ? `embedded default (${maybe} does not exist)` : 'embedded default (no --config)' };
}
