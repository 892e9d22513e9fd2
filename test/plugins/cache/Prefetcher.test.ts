// Tests for plugins/cache/Prefetcher.ts with a fixed model and a fake connection: a read is prefetched only once its
// action asked for it twice (a fill, or a fill and a hit), the queue runs the highest priority first and holds a read
// once, and a prefetched entry is stored under the token taken before the read.
import t from 'tap';
import { Prefetcher, type PrefetchIo, type RecordedRead } from '../../../plugins/cache/Prefetcher.js';
import { ResultCache } from '../../../plugins/cache/ResultCache.js';
import type { Predictor } from '../../../proxy/prediction/Predictor.js';

const CONFIG = { enabled: true, threshold: 0.3, min_used_share: 0.5, slice_max_rows: 200, top: 3, max_concurrency: 1, deadline_ms: 10_000, criticality: {}, retrain_s: 10 };
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

t.test('a kind of prefetch whose entries are left unused is held back (one in 8 still sent); one that is used keeps being sent', async (t) => {
  const cache = new ResultCache(1_000_000, 100_000, 0);
  const io = fakeIo();
  let token = 1;
  const pf = new Prefetcher(CONFIG, cache, { token: () => token, version: () => 0 }, io, fixed({ DescribeVolumes: 0.9 }));
  const r = read('by-state');
  pf.recordRead('acct-1', 'DescribeVolumes', r);
  pf.noteHit('acct-1', 'DescribeVolumes', 'by-state');
  /** one CreateVolume → prefetch round; `use`: the client reads the entry (a hit), else a write moves the token (wasted) */
  const round = async (use: boolean): Promise<void> => {
    pf.observeAction('acct-1', 'CreateVolume');
    pf.actionEnded('acct-1', 'CreateVolume');
    await settle();
    if (use) cache.get('by-state', token, 'volume');
    token++;
    cache.lookup('by-state', token, 'volume'); // the stale entry leaves: counted wasted if never read
  };
  for (let i = 0; i < 6; i++) await round(false);
  const sentWasted = io.ran.length;
  t.ok(sentWasted < 6, `after its entries went unused, fewer were sent (${sentWasted} of 6)`);
  io.ran.length = 0;
  for (let i = 0; i < 16; i++) await round(false);
  t.ok(io.ran.length >= 1 && io.ran.length <= 3, `held back, but one in 8 still sent to learn again (${io.ran.length} of 16)`);
  t.ok(pf.summary().heldBack >= 13, `held back counted (${pf.summary().heldBack})`);
  // after an action whose successors' entries are used: sent every time
  io.ran.length = 0;
  const used = async (): Promise<void> => {
    pf.observeAction('acct-1', 'AttachVolume');
    pf.actionEnded('acct-1', 'AttachVolume');
    await settle();
    cache.get('by-state', token, 'volume');
    token++;
    cache.lookup('by-state', token, 'volume');
  };
  for (let i = 0; i < 10; i++) await used();
  t.equal(io.ran.length, 10, 'another kind (after AttachVolume), whose entries are used, is sent every time');
});

t.test('a client asking for a read whose prefetch is on its way waits for it (and no longer than twice its backend time and 10 ms)', async (t) => {
  const cache = new ResultCache(1_000_000, 100_000, 0);
  let release: (() => void) | null = null;
  const io: PrefetchIo = {
    read: async () => {
      await new Promise<void>((r) => (release = r));
      return [COMPLETE];
    },
  };
  const pf = new Prefetcher(CONFIG, cache, { token: () => 1, version: () => 0 }, io, fixed({ DescribeVolumes: 0.9 }));
  // a slow read (10 s expected): the wait cannot run out while the test looks
  pf.recordRead('acct-1', 'DescribeVolumes', read('by-state', 10_000_000));
  pf.noteHit('acct-1', 'DescribeVolumes', 'by-state');
  t.equal(pf.inflight('by-state'), undefined, 'nothing on its way yet');
  pf.observeAction('acct-1', 'CreateVolume');
  pf.actionEnded('acct-1', 'CreateVolume');
  const end = Date.now() + 2000;
  while (pf.inflight('by-state') === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  const waiting = pf.inflight('by-state');
  t.ok(waiting !== undefined, 'the read is on its way');
  let done = false;
  void waiting!.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 2));
  t.notOk(done, 'the client waits while it is on its way');
  release!();
  await waiting;
  t.ok(cache.has('by-state', 1), 'and finds it stored when it ends');
  // a read that does not end: the wait ends on its own (2 × 1 ms + 10 ms)
  pf.observeAction('acct-1', 'CreateVolume');
  cache.lookup('by-state', 2, 'volume');
  const pf2 = new Prefetcher(CONFIG, new ResultCache(1_000_000, 100_000, 0), { token: () => 1, version: () => 0 }, { read: () => new Promise(() => {}) }, fixed({ DescribeVolumes: 0.9 }));
  pf2.recordRead('acct-1', 'DescribeVolumes', read('by-state', 1000));
  pf2.noteHit('acct-1', 'DescribeVolumes', 'by-state');
  pf2.observeAction('acct-1', 'CreateVolume');
  pf2.actionEnded('acct-1', 'CreateVolume');
  while (pf2.inflight('by-state') === undefined && Date.now() < end + 2000) await new Promise((r) => setTimeout(r, 2));
  await pf2.inflight('by-state');
  t.pass('the wait for a read that never ends ended');
  t.ok(pf.summary().joined >= 1, 'waits counted');
});
