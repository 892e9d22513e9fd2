// commandArgs owns the option parsing shared by `prescient train` and `prescient eval`: where the log comes from and the model knobs.
import type { ActionEvent } from './ActionEvent.js';
import { readActionLog } from './ActionEvent.js';
import { cloudTrailActions } from './cloudTrailActions.js';
import type { TrainOptions } from './Predictor.js';
import { syntheticLog } from './syntheticLog.js';

export class UsageError extends Error {}

/** Options that take a value, mapped to the TrainOptions knob they set (numbers). */
export const KNOBS = { '--trees': 'trees', '--max-depth': 'maxDepth', '--max-features': 'maxFeatures', '--max-rows': 'maxRows', '--seed': 'seed' } as const;

export const SOURCE_USAGE = `  --log FILE         an action log (NDJSON, one ActionEvent per line: prescient log export writes one)
  --cloudtrail DIR   CloudTrail delivery files under DIR (.json/.json.gz, nested): each identity is an account
  --synthetic        a seeded synthetic log from the workload personas (--events N, --accounts N, --seed-log S)`;

export const KNOB_USAGE = `  --trees N --max-depth N --max-features F --max-rows N --seed N   forest knobs (defaults in docs/prediction.md)`;

export interface ParsedArgs {
  values: Map<string, string>;
  flags: Set<string>;
}

/** Parses `--name value`, `--name=value` and flags; an option not in `valued` or `flags` is a UsageError. */
export function parseArgs(args: readonly string[], valued: readonly string[], flags: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { values: new Map(), flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (valued.includes(name)) {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      out.values.set(name, v);
    } else if (flags.includes(a)) out.flags.add(a);
    else throw new UsageError(`unknown option "${a}"`);
  }
  return out;
}

export const SOURCE_OPTIONS = ['--log', '--cloudtrail', '--events', '--accounts', '--seed-log'] as const;

/** The events of the one source the arguments name, and a label for it. */
export function readSource(p: ParsedArgs): { events: ActionEvent[]; source: string } {
  const given = [p.values.has('--log'), p.values.has('--cloudtrail'), p.flags.has('--synthetic')].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give exactly one of --log FILE, --cloudtrail DIR, --synthetic');
  const log = p.values.get('--log');
  if (log) return { events: readActionLog(log), source: `log ${log}` };
  const dir = p.values.get('--cloudtrail');
  if (dir) return { events: cloudTrailActions(dir), source: `cloudtrail ${dir}` };
  const events = num(p, '--events', 20000);
  const accounts = num(p, '--accounts', 200);
  const seed = p.values.get('--seed-log') ?? 'predict';
  return { events: syntheticLog({ events, accounts, seed }), source: `synthetic (${events} events, ${accounts} accounts, seed ${seed})` };
}

export function num(p: ParsedArgs, name: string, dflt: number): number {
  const v = p.values.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${name}: expected a number, got "${v}"`);
  return n;
}

/** The forest knobs given on the command line. */
export function trainOptions(p: ParsedArgs): TrainOptions {
  const o: TrainOptions = {};
  for (const [opt, knob] of Object.entries(KNOBS)) if (p.values.has(opt)) o[knob] = num(p, opt, 0);
  return o;
}
