// Owns: reshardPlan — adding a shard moves exactly the hashed keys the new shard wins (to it, pinned first); draining one
// moves exactly its keys, explicit ones too, each to its owner among the rest; explicit keys elsewhere stay put.
import t from 'tap';
import { ShardRing } from '../../proxy/catalog/ShardRing.js';
import { reshardPlan, type PlacedKey } from '../../proxy/shardManager/reshardPlan.js';

/** hashed keys placed where rendezvous over `ring` puts them */
const hashedOver = (ring: string[], n: number): PlacedKey[] => {
  const r = new ShardRing(ring);
  return Array.from({ length: n }, (_, i) => {
    const key = `acct-${i}_volume`;
    return { account: `acct-${i}`, domain: 'volume', key, shard: r.ownerName(key)!, explicit: false };
  });
};

t.test('table: which keys move, where to, and whether they are pinned first', async (t) => {
  const ring3 = new ShardRing(['s0', 's1', 's2']);
  // keys whose owner over s0..s2 is s2, and some that stay on s0 / s1
  const all = hashedOver(['s0', 's1'], 200);
  const wins = all.find((k) => ring3.ownerName(k.key) === 's2')!;
  const stays = all.find((k) => ring3.ownerName(k.key) === k.shard)!;
  const cases: { name: string; keys: PlacedKey[]; after: string[]; want: [string, string, string, boolean][] }[] = [
    { name: 'add: a hashed key the new shard wins moves to it, pinned', keys: [wins], after: ['s0', 's1', 's2'], want: [[wins.key, wins.shard, 's2', true]] },
    { name: 'add: a hashed key whose owner stays does not move', keys: [stays], after: ['s0', 's1', 's2'], want: [] },
    { name: 'add: an explicit key stays where it is placed, even if the new shard would win it', keys: [{ ...wins, explicit: true }], after: ['s0', 's1', 's2'], want: [] },
    { name: 'drain: an explicit key on the drained shard moves to its owner among the rest, not pinned', keys: [{ ...wins, shard: 's2', explicit: true }], after: ['s0', 's1'], want: [[wins.key, 's2', wins.shard, false]] },
    { name: 'drain: an explicit key on a shard that stays is left alone', keys: [{ ...stays, explicit: true }], after: [stays.shard], want: [] },
    { name: 'nothing to plan: no keys', keys: [], after: ['s0'], want: [] },
  ];
  for (const c of cases) {
    t.same(reshardPlan(c.keys, c.after).map((m) => [m.key, m.from, m.to, m.pin]), c.want, c.name);
  }
});

t.test('adding a shard moves exactly the keys whose rendezvous owner changed, all to the new shard (~1/n of them)', async (t) => {
  for (const [before, added] of [[['s0', 's1'], 's2'], [['s0', 's1', 's2'], 's3'], [['a'], 'b']] as [string[], string][]) {
    const keys = hashedOver(before, 3000);
    const after = [...before, added];
    const ring = new ShardRing(after);
    const changed = keys.filter((k) => ring.ownerName(k.key) !== k.shard).map((k) => k.key);
    const moves = reshardPlan(keys, after);
    t.same(moves.map((m) => m.key), changed, `${before.join('+')} + ${added}: the moves are the changed owners`);
    t.ok(moves.every((m) => m.to === added && m.pin), 'every one goes to the new shard, pinned first');
    const share = moves.length / keys.length;
    t.ok(Math.abs(share - 1 / after.length) < 0.04, `${(share * 100).toFixed(1)}% of the keys move (1/${after.length} expected)`);
  }
});

t.test('draining a shard moves exactly its keys, each to its owner over the rest; the others stay', async (t) => {
  const keys = hashedOver(['s0', 's1', 's2'], 3000);
  const rest = ['s0', 's2'];
  const moves = reshardPlan(keys, rest);
  const ring = new ShardRing(rest);
  t.same(moves.map((m) => m.key), keys.filter((k) => k.shard === 's1').map((k) => k.key), 'the keys of s1, and only they');
  t.ok(moves.every((m) => m.from === 's1' && m.to === ring.ownerName(m.key) && m.pin), 'each to its rendezvous owner over s0, s2, pinned first');
  t.ok(moves.some((m) => m.to === 's0') && moves.some((m) => m.to === 's2'), 'spread over both');
});
