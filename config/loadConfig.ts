// loadConfig owns reading a YAML config file and turning schema failures into errors that name the field.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string, readonly issues: string[] = []) {
    super(message);
    this.name = 'ConfigError';
  }
}

const pathOf = (path: readonly PropertyKey[]): string =>
  path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');

function describe(issue: z.core.$ZodIssue): string[] {
  // an unknown key is named by its own path (`pool.sise`), not by the object that holds it
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${pathOf([...issue.path, k])}: unknown key`);
  return [`${issue.path.length ? pathOf(issue.path) : '(root)'}: ${issue.message}`];
}

/** Validates a plain object; throws ConfigError listing every bad field. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.flatMap(describe);
    throw new ConfigError(`invalid ${source}:\n  ${issues.join('\n  ')}`, issues);
  }
  return result.data;
}

export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(e as Error).message}`);
  }
  return parseConfig(raw, `config file ${path}`);
}

/** Relative paths of the config (each database's catalog file, action log folder and prefetch model) are taken from `dir` (the config file's folder), not from wherever the process was started. */
export function anchorPaths(config: Config, dir: string): Config {
  for (const db of [config, ...Object.values(config.databases)]) {
    if (db.catalog.path !== undefined && !isAbsolute(db.catalog.path)) db.catalog.path = resolve(dir, db.catalog.path);
    if (!isAbsolute(db.action_log.dir)) db.action_log.dir = resolve(dir, db.action_log.dir);
    const model = db.cache.prefetch.model;
    if (model !== undefined && !isAbsolute(model)) db.cache.prefetch.model = resolve(dir, model);
  }
  const tracing = config.telemetry.tracing;
  if (!isAbsolute(tracing.file)) tracing.file = resolve(dir, tracing.file);
  return config;
}
