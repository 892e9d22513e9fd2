// Tests ModelFile.ts and the train/eval commands: a saved model loads with identical predictions, versions are checked, the CLI's options and JSON.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { writeActionLog } from '../../proxy/prediction/ActionEvent.js';
import { evalCommand } from '../../proxy/prediction/evalCommand.js';
import { FEATURES_VERSION } from '../../proxy/prediction/features.js';
import { load, loadModel, MODEL_FORMAT, MODEL_FORMAT_VERSION } from '../../proxy/prediction/ModelFile.js';
import { syntheticLog } from '../../proxy/prediction/syntheticLog.js';
import { trainCommand } from '../../proxy/prediction/trainCommand.js';
import { byAccount } from '../../proxy/prediction/ActionEvent.js';
import { predictorFactory } from '../../proxy/prediction/Predictor.js';

const dir = mkdtempSync(join(tmpdir(), 'prescient-model-'));
const events = syntheticLog({ events: 1500, accounts: 30, seed: 'model-test' });
const logPath = join(dir, 'actions.ndjson');
writeActionLog(logPath, events);

function sink(): { stream: Writable; text: () => string } {
  let s = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((s += String(c)), cb()) }), text: () => s };
}

t.test('the synthetic log is seeded: same options, same log', async (t) => {
  t.same(syntheticLog({ events: 200, accounts: 10, seed: 's' }), syntheticLog({ events: 200, accounts: 10, seed: 's' }));
  t.equal(events.length, 1500);
});

for (const kind of ['forest', 'markov1', 'most-frequent', 'repeat-last']) {
  t.test(`train --model ${kind} → loadModel: identical predictions`, async (t) => {
    const out = join(dir, `${kind}.json`);
    const o = sink();
    t.equal(await trainCommand(['--log', logPath, '--out', out, '--model', kind, '--trees', '8', '--max-rows', '800'], o.stream), 0);
    t.match(o.text(), new RegExp(`^${kind}: trained on 1500 events`));
    const file = JSON.parse(readFileSync(out, 'utf8'));
    t.equal(file.format, MODEL_FORMAT);
    t.equal(file.formatVersion, MODEL_FORMAT_VERSION);
    t.equal(file.featuresVersion, FEATURES_VERSION);
    t.ok(file.vocabulary.includes('DescribeVolumes'));
    // training is seeded: the model in memory and the one read back from the file answer alike
    const a = predictorFactory(kind).train(events, { trees: 8, maxRows: 800 });
    const b = loadModel(out);
    for (const seq of [...byAccount(events).values()].slice(0, 5)) {
      for (const n of [0, 1, 7, seq.length]) t.same(a.predict(seq.slice(0, n)), b.predict(seq.slice(0, n)));
    }
    t.equal(b.kind, kind);
  });
}

const BAD_FILES: [string, (f: Record<string, unknown>) => void, RegExp][] = [
  ['another format', (f) => (f.format = 'x'), /not a prescient-action-model file/],
  ['a newer format version', (f) => (f.formatVersion = MODEL_FORMAT_VERSION + 1), /model format version/],
  ['another features version', (f) => (f.featuresVersion = FEATURES_VERSION + 1), /features version .*retrain/],
];
for (const [name, change, re] of BAD_FILES) {
  t.test(`load refuses ${name}`, async (t) => {
    const f = JSON.parse(readFileSync(join(dir, 'markov1.json'), 'utf8'));
    change(f);
    t.throws(() => load(f), re);
  });
}

const USAGE_ERRORS: [string, string[]][] = [
  ['an unknown option', ['--log', logPath, '--bogus']],
  ['no source', ['--json', join(dir, 'x.json')]],
  ['two sources', ['--log', logPath, '--synthetic']],
  ['a bad number', ['--log', logPath, '--trees', 'many']],
  ['a train share out of range', ['--log', logPath, '--train-share', '1.5']],
];
for (const [name, args] of USAGE_ERRORS) {
  t.test(`eval: ${name} exits 2`, async (t) => {
    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
    try {
      t.equal(await evalCommand(args, sink().stream), 2);
    } finally {
      process.stderr.write = write;
    }
    t.match(err, /usage: prescient eval/);
  });
}

t.test('train without --out exits 2', async (t) => {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    t.equal(await trainCommand(['--log', logPath], sink().stream), 2);
  } finally {
    process.stderr.write = write;
  }
});

t.test('--help prints the usage and exits 0', async (t) => {
  for (const cmd of [evalCommand, trainCommand]) {
    const o = sink();
    t.equal(await cmd(['--help'], o.stream), 0);
    t.match(o.text(), /^usage: prescient (eval|train)/);
  }
});

t.test('eval --json names the figures plainly, with a collapsed block of the same shape', async (t) => {
  const json = join(dir, 'eval.json');
  const o = sink();
  t.equal(await evalCommand(['--log', logPath, '--json', json, '--trees', '8', '--max-rows', '800'], o.stream), 0);
  const r = JSON.parse(readFileSync(json, 'utf8'));
  for (const block of [r, r.collapsed]) {
    for (const k of ['repeatLast', 'mostFrequent', 'markov1', 'forest']) {
      for (const m of ['top1', 'top3', 'logLoss', 'ece', 'predictUs']) t.type(block.models[k][m], 'number', `${k}.${m}`);
    }
  }
  t.ok(r.models.forest.top3 >= r.models.forest.top1);
  t.match(o.text(), /\| forest \|/);
  writeFileSync(join(dir, 'empty.ndjson'), '');
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    t.equal(await evalCommand(['--log', join(dir, 'empty.ndjson')], sink().stream), 1);
  } finally {
    process.stderr.write = write;
  }
});
