// builtins owns the registry of built-in plugins a config names by `name` (they live in plugins/, DESIGN.md §8).
import type { PrescientPlugin } from './api.js';

/** A built-in plugin: a factory, so every host gets its own instance. */
export type BuiltinPluginFactory = () => PrescientPlugin;

/** Built-in plugins by name. Empty until the first built-in (sqlcommenter key rules) arrives. */
export const builtinPlugins: ReadonlyMap<string, BuiltinPluginFactory> = new Map<string, BuiltinPluginFactory>();
