// commandArgs owns the options `prescient train` and `prescient eval` share (read with proxy/parseArgs.ts): where the log comes from and the model knobs.
import type { ActionEvent } from './ActionEvent.js';
import { readActionLog } from './ActionEvent.js';
import { cloudTrailActions } from './cloudTrailActions.js';
import type { TrainOptions } from './Predictor.js';
import { syntheticLog } from './syntheticLog.js';
import { UsageError, type ParsedArgs } from '../parseArgs.js';

/** Options that take a value, mapped to the TrainOptions knob they set (numbers). */
export const KNOBS = { '--trees': 'trees', '--max-depth': 'maxDepth', '--max-features': 'maxFeatures', '--max-rows': 'maxRows', '--seed': 'seed' } as const;

export const SOURCE_USAGE = `  --log FILE         an action log (NDJSON, one ActionEvent per line: prescient log export writes one)
  --cloudtrail DIR   CloudTrail delivery files under DIR (.json/.json.gz, nested): each identity is an account
  --synthetic        a seeded synthetic log from the workload personas (--events N, --accounts N, --seed-log S)`;

export const KNOB_USAGE = `  --trees N --max-depth N --max-features F --max-rows N --seed N   forest knobs (defaults in docs/prediction.md)`;

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
