// evalCommand owns `prescient eval`: every model on a time-ordered split of a log, plain and collapsed; a table on stdout, JSON on request.
import { writeFileSync } from 'node:fs';
import { KNOB_USAGE, KNOBS, readSource, SOURCE_OPTIONS, SOURCE_USAGE, trainOptions, num } from './commandArgs.js';
import { parseArgs, UsageError } from '../parseArgs.js';
import { evaluate, type EvalReport, type SplitReport } from './evaluate.js';

export const EVAL_USAGE = `usage: prescient eval --log FILE | --cloudtrail DIR | --synthetic [--json FILE] [--train-share X] [knobs]
  Trains every model (repeat-last, most-frequent, markov1, forest) on the first --train-share (0.7) of each
  account's events, in time order, and scores its next-action predictions on the rest: top-1, top-3, log loss,
  expected calibration error (10 bins), µs per predict. Then the same with repeated consecutive actions collapsed.
${SOURCE_USAGE}
  --json FILE        also write the report as JSON (models.forest.top3, …, collapsed.models.…)
${KNOB_USAGE}`;

const pct = (x: number): string => (Number.isFinite(x) ? (100 * x).toFixed(1) : '–');
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '–');

/** The report of one split as a Markdown table (what eval prints and docs/prediction.md quotes). */
export function describeSplit(r: SplitReport): string {
  const lines = [
    `${r.events} events, ${r.accounts} accounts, ${r.vocabulary} actions; train ${r.trainEvents}, test ${r.testEvents} (${r.unseenTestActions} with an action unseen in training)`,
    '| model | top-1 % | top-3 % | log loss | ECE | mean conf. | train ms | µs/predict |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [k, m] of Object.entries(r.models)) lines.push(`| ${k} | ${pct(m.top1)} | ${pct(m.top3)} | ${f3(m.logLoss)} | ${f3(m.ece)} | ${f3(m.meanConfidence)} | ${m.trainMs} | ${m.predictUs} |`);
  const c = r.forestCalibration;
  if (c) {
    const how = Number.isFinite(c.heldOutLogLoss) ? `fitted on ${c.heldOutRows} held-out rows` : `the default: only ${c.heldOutRows} held-out rows to fit on`;
    lines.push(`forest blend: forest votes ${c.weights.forest}, markov1 ${c.weights.markov1}, account window ${c.weights.history}, account transitions ${c.weights.own ?? 0}; temperature ${c.temperature} (${how})`);
  }
  return lines.join('\n');
}

export function describeReport(r: EvalReport): string {
  return [`source: ${r.source}`, '', 'plain:', describeSplit(r), '', 'collapsed (repeated consecutive actions removed):', describeSplit(r.collapsed)].join('\n');
}

export async function evalCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    out.write(EVAL_USAGE + '\n');
    return 0;
  }
  try {
    const p = parseArgs(args, [...SOURCE_OPTIONS, '--json', '--train-share', ...Object.keys(KNOBS)], ['--synthetic']);
    const share = num(p, '--train-share', 0.7);
    if (!(share > 0 && share < 1)) throw new UsageError('--train-share: expected a number between 0 and 1');
    const { events, source } = readSource(p);
    if (events.length === 0) {
      process.stderr.write(`prescient eval: no events in ${source}\n`);
      return 1;
    }
    const report = evaluate(events, source, { trainShare: share, train: trainOptions(p) });
    out.write(describeReport(report) + '\n');
    const json = p.values.get('--json');
    if (json) writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`prescient eval: ${e.message}\n${EVAL_USAGE}\n`);
      return 2;
    }
    throw e;
  }
}
