// bench-predict measures the cost of one next-action prediction (forest and Markov-1): features, votes, the full predict(), and the online Markov-1's per-action update.
import { cloudTrailActions } from '../proxy/prediction/cloudTrailActions.js';
import { byAccount, type ActionEvent } from '../proxy/prediction/ActionEvent.js';
import { features, HISTORY_WINDOW } from '../proxy/prediction/features.js';
import { ForestPredictor } from '../proxy/prediction/ForestPredictor.js';
import { Markov1 } from '../proxy/prediction/Markov1.js';
import { OnlineMarkov1 } from '../proxy/prediction/OnlineMarkov1.js';
import { syntheticLog } from '../proxy/prediction/syntheticLog.js';

/** µs per call of `fn` over `inputs`: best of five passes after a warm-up. */
function usPer<T>(inputs: readonly T[], fn: (x: T) => unknown): number {
  for (const x of inputs.slice(0, 100)) fn(x);
  let best = Infinity;
  for (let pass = 0; pass < 5; pass++) {
    const t0 = performance.now();
    for (const x of inputs) fn(x);
    best = Math.min(best, ((performance.now() - t0) * 1000) / inputs.length);
  }
  return Math.round(best * 10) / 10;
}

function bench(name: string, events: ActionEvent[]): void {
  const forest = ForestPredictor.train(events);
  const markov = Markov1.fit(events);
  const histories: ActionEvent[][] = [];
  for (const seq of byAccount(events).values()) for (let i = 0; i < seq.length && histories.length < 2000; i += 3) histories.push(seq.slice(Math.max(0, i - HISTORY_WINDOW), i));
  const xs = histories.map((h) => features(h, forest.space));
  // the prefetcher's online model: one add (with an eviction once the 20,000-event window is full) per action
  const online = new OnlineMarkov1(20_000);
  for (const e of events) online.add(e);
  process.stdout.write(
    `| ${name} | ${forest.vocabulary.length} | ${forest.options.trees} | ${usPer(histories, (h) => features(h, forest.space))} | ${usPer(xs, (x) => forest.votes([x]))} | ${usPer(histories, (h) => forest.predict(h))} | ${usPer(histories, (h) => forest.predict(h, 3))} | ${usPer(histories, (h) => markov.predict(h))} | ${usPer(events, (e) => online.add(e))} | ${usPer(histories, (h) => online.predict(h, 3))} |\n`,
  );
}

process.stdout.write('| log | actions | trees | features µs | forest votes µs | forest predict() µs | forest predict(h, 3) µs | markov1 predict() µs | online markov1 add µs | online markov1 predict(h, 3) µs |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n');
bench('synthetic (20k events)', syntheticLog());
bench('CloudTrail invictus-ir', cloudTrailActions(process.argv[2] ?? '../shared/datasets/cloudtrail/invictus-ir-aws_dataset'));
