// Tests OnlineMarkov1: at every step it predicts exactly what Markov1.fit learns from the same window of events.
import t from 'tap';
import type { ActionEvent } from '../../proxy/prediction/ActionEvent.js';
import { Markov1 } from '../../proxy/prediction/Markov1.js';
import { OnlineMarkov1 } from '../../proxy/prediction/OnlineMarkov1.js';
import { loadPredictor } from '../../proxy/prediction/Predictor.js';
import '../../proxy/prediction/builtinPredictors.js';
import { makeRng } from '../../workload/rng.js';

/** a log of `n` events over `accounts` accounts and `actions` actions, each account mostly following A→B→C… */
function randomLog(n: number, accounts: number, actions: number, seed: string): ActionEvent[] {
  const rng = makeRng(seed);
  const lastOf = new Map<string, number>();
  return Array.from({ length: n }, (_, i) => {
    const account = `acct-${rng.int(accounts)}`;
    const prev = lastOf.get(account);
    const a = prev !== undefined && rng.int(3) > 0 ? (prev + 1) % actions : rng.int(actions);
    lastOf.set(account, a);
    return { t: 1_700_000_000_000 + i, account, action: `A${a}` };
  });
}

const CASES = [
  { name: 'window larger than the log (nothing evicted)', n: 300, window: 1000, accounts: 5, actions: 4 },
  { name: 'small window, many evictions', n: 600, window: 37, accounts: 6, actions: 5 },
  { name: 'window of one event (no transitions at all)', n: 50, window: 1, accounts: 3, actions: 3 },
  { name: 'one account, window of two', n: 80, window: 2, accounts: 1, actions: 4 },
  { name: 'many accounts, actions that leave the window entirely', n: 2000, window: 150, accounts: 40, actions: 30 },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const log = randomLog(c.n, c.accounts, c.actions, c.name);
    const online = new OnlineMarkov1(c.window);
    let checked = 0;
    for (let i = 0; i < log.length; i++) {
      online.add(log[i]!);
      if (i % 7 !== 0 && i !== log.length - 1) continue;
      const windowEvents = log.slice(Math.max(0, i + 1 - c.window), i + 1);
      const batch = Markov1.fit(windowEvents);
      t.equal(online.length, windowEvents.length);
      // every history the proxy can ask about: each action as the last one, an unknown one, and none
      for (const last of [undefined, 'A-unknown', ...new Set(windowEvents.map((e) => e.action))]) {
        const history: ActionEvent[] = last === undefined ? [] : [{ t: 0, account: 'x', action: last }];
        const want = batch.predict(history);
        const got = online.predict(history);
        if (got.length !== want.length || got.some((p, k) => p.action !== want[k]!.action || Math.abs(p.p - want[k]!.p) > 1e-12)) {
          t.fail(`after event ${i}, last ${last}: online ${JSON.stringify(got.slice(0, 3))} vs batch ${JSON.stringify(want.slice(0, 3))}`);
          return;
        }
        checked++;
        // the prefetcher's call: its top few only
        for (const limit of [1, 3]) {
          const wantTop = batch.predict(history, limit);
          const gotTop = online.predict(history, limit);
          if (gotTop.length !== wantTop.length || gotTop.some((p, k) => p.action !== wantTop[k]!.action || Math.abs(p.p - wantTop[k]!.p) > 1e-12)) {
            t.fail(`after event ${i}, last ${last}, top ${limit}: online ${JSON.stringify(gotTop)} vs batch ${JSON.stringify(wantTop)}`);
            return;
          }
        }
      }
      t.same(loadPredictor(online.toJSON()).predict(log.slice(i, i + 1), 3), batch.predict(log.slice(i, i + 1), 3), 'its model file is the batch model');
    }
    t.ok(checked > 0, `${checked} predictions equal to Markov1.fit over the same window`);
  });
}

t.test('a window must hold at least one event', async (t) => {
  t.throws(() => new OnlineMarkov1(0), /window/);
});
