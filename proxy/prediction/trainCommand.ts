// trainCommand owns `prescient train`: train one model on a whole log and write the versioned model file.
import { byAccount } from './ActionEvent.js';
import './builtinPredictors.js';
import { KNOB_USAGE, KNOBS, readSource, SOURCE_OPTIONS, SOURCE_USAGE, trainOptions } from './commandArgs.js';
import { parseArgs, UsageError } from '../parseArgs.js';
import { modelFile, saveModel } from './ModelFile.js';
import { predictorFactory, predictorKinds } from './Predictor.js';

export const TRAIN_USAGE = `usage: prescient train --log FILE | --cloudtrail DIR | --synthetic --out FILE [--model KIND] [knobs]
  Trains a next-action model on every event of the log and writes the model file (JSON, versioned).
${SOURCE_USAGE}
  --out FILE         where to write the model
  --model KIND       forest (default), markov1, most-frequent, repeat-last, or a kind a plugin registered
${KNOB_USAGE}`;

export async function trainCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    out.write(TRAIN_USAGE + '\n');
    return 0;
  }
  try {
    const p = parseArgs(args, [...SOURCE_OPTIONS, '--out', '--model', ...Object.keys(KNOBS)], ['--synthetic']);
    const path = p.values.get('--out');
    if (!path) throw new UsageError('--out FILE is required');
    const kind = p.values.get('--model') ?? 'forest';
    if (!predictorKinds().includes(kind)) throw new UsageError(`--model: unknown kind "${kind}" (known: ${predictorKinds().join(', ')})`);
    const { events, source } = readSource(p);
    if (events.length === 0) {
      process.stderr.write(`prescient train: no events in ${source}\n`);
      return 1;
    }
    const t0 = performance.now();
    const model = predictorFactory(kind).train(events, trainOptions(p));
    const ms = Math.round(performance.now() - t0);
    const accounts = byAccount(events).size;
    const vocabulary = [...new Set(events.map((e) => e.action))];
    saveModel(path, modelFile(model, vocabulary, { source, events: events.length, accounts }));
    out.write(`${kind}: trained on ${events.length} events of ${accounts} accounts (${vocabulary.length} actions) from ${source} in ${ms} ms; wrote ${path}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`prescient train: ${e.message}\n${TRAIN_USAGE}\n`);
      return 2;
    }
    throw e;
  }
}
