// builtins owns the registry of built-in plugins a config names by `name` (they live in plugins/, DESIGN.md §8).
import type { PrescientPlugin } from './api.js';
import { sqlcommenter } from '../../plugins/sqlcommenter.js';
import { columnRules } from '../../plugins/columnRules.js';
import { cachePlugin } from '../../plugins/cache/cachePlugin.js';
import { loadPlugin } from '../../plugins/load/loadPlugin.js';
import { actionLogPlugin } from '../../plugins/actionLog/actionLogPlugin.js';
import { tracingPlugin } from '../../plugins/tracing/tracingPlugin.js';

/** A built-in plugin: a factory, so every host gets its own instance. */
export type BuiltinPluginFactory = () => PrescientPlugin;

/**
 * Built-in plugins by name. `sqlcommenter` and `column-rules` derive the shard key (sharding.key_plugins);
 * `result-cache` is the version-checked cache (loaded when `cache.enabled`); `shard-load` counts load for the shard
 * manager (loaded when `shard_manager.enabled`); `action-log` appends each account's actions to the action log (loaded
 * when `action_log.enabled`); `tracing` makes OpenTelemetry spans (loaded when `telemetry.tracing.enabled`).
 */
export const builtinPlugins: ReadonlyMap<string, BuiltinPluginFactory> = new Map<string, BuiltinPluginFactory>([
  ['sqlcommenter', sqlcommenter],
  ['column-rules', columnRules],
  ['result-cache', cachePlugin],
  ['shard-load', loadPlugin],
  ['action-log', () => actionLogPlugin()],
  ['tracing', () => tracingPlugin()],
]);
