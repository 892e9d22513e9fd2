// Tests for plugins/cache/Prefetcher.ts with a fixed model and a fake connection: a read is prefetched only once its
// action asked for it twice (a fill, or a fill and a hit), the queue runs the highest priority first and holds a read
// once, and a prefetched entry is stored under the token taken before the read.
import t from 'tap';
import { Prefetcher, type PrefetchIo, type RecordedRead } from '../../../plugins/cache/Prefetcher.js';
import { ResultCache } from '../../../plugins/cache/ResultCache.js';
import type { Predictor } from '../../../proxy/prediction/Predictor.js';

const CONFIG = { enabled: true, threshold: 0.3, top: 3, max_concurrency: 1, deadline_ms: 10_000, criticality: {}, retrain_s: 10 };
const COMPLETE = Buffer.from([0x43, 0, 0, 0, 13, ...Buffer.from('SELECT 1\0')]);

/** Always predicts these actions, with these probabilities. */
const fixed = (ps: Record<string, number>): Predictor => ({
  kind: 'fixed',
  predict: () => Object.entries(ps).map(([action, p]) => ({ action, p })).sort((a, b) => b.p - a.p),
  toJSON: () => ({ kind: 'fixed' }),
});

function read(key: string, backendUs = 100): RecordedRead {
  return { cacheKey: key, placementKey: 'acct-1_volume', domain: 'volume', user: 'app', request: Buffer.from(key), settings: new Map(), backendUs };
}

/** A connection that records what it ran and answers after the current turn. */
function fakeIo(): PrefetchIo & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    read: async (_pk, _user, request) => {
      ran.push(request.toString());
      await new Promise((r) => setImmediate(r));
      return [COMPLETE];
    },
  };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

t.test('a read asked once is not prefetched; asked twice it is, and stored under the token', async (t) => {
  const cache = new ResultCache(1_000_000, 100_000, 0);
  const io = fakeIo();
  const token = 7;
  const pf = new Prefetcher(CONFIG, cache, { token: () => token, version: () => 0 }, io, fixed({ DescribeVolumes: 0.9 }));
  pf.recordRead('acct-1', 'DescribeVolumes', read('by-state'));
  pf.observeAction('acct-1', 'CreateVolume');
  pf.actionEnded('acct-1');
  await settle();
  t.same(io.ran, [], 'asked once: not prefetched');
  pf.noteHit('acct-1', 'DescribeVolumes', 'by-state');
  pf.observeAction('acct-1', 'CreateVolume');
  pf.actionEnded('acct-1');
  await settle();
  t.same(io.ran, ['by-state'], 'asked twice (a fill and a hit): prefetched');
  t.ok(cache.has('by-state', token), 'stored under the token taken before the read');
  t.equal(pf.summary().stored, 1);
});

t.test('the highest priority first, each read once', async (t) => {
  const cache = new ResultCache(1_000_000, 100_000, 0);
  const io = fakeIo();
  const pf = new Prefetcher(CONFIG, cache, { token: () => 1, version: () => 0 }, io, fixed({ DescribeVolumes: 0.6, DescribeSnapshots: 0.35 }));
  for (let i = 0; i < 2; i++) {
    pf.recordRead('acct-1', 'DescribeSnapshots', read('snap-slow', 10_000));
    pf.recordRead('acct-1', 'DescribeVolumes', read('vol-fast', 100));
    pf.recordRead('acct-1', 'DescribeVolumes', read('vol-slow', 5_000));
  }
  pf.observeAction('acct-1', 'CreateVolume');
  pf.actionEnded('acct-1');
  pf.actionEnded('acct-1'); // queued again before they ran: still once each
  await settle();
  // priority = p × backend time: 0.35 × 10000 > 0.6 × 5000 > 0.6 × 100
  t.same(io.ran, ['snap-slow', 'vol-slow', 'vol-fast']);
});
