// Tests for proxy/router/KeyFence.ts: open keys pass at once, fenced keys wait and go on in order when opened, other keys never wait.
import t from 'tap';
import { KeyFence } from '../../proxy/router/KeyFence.js';

t.test('an open key passes at once; a fenced key waits until opened, in order', async (t) => {
  let clock = 1000;
  const fence = new KeyFence(() => clock);
  t.equal(fence.admit('acct-7_volume'), null, 'nothing fenced: no wait');
  fence.close('acct-7_volume');
  t.equal(fence.admit('acct-8_volume'), null, 'another key is not held');
  const order: number[] = [];
  const waits = [1, 2, 3].map((i) => fence.admit('acct-7_volume')!.then(() => order.push(i)));
  clock += 250;
  t.same(fence.fenced(), [{ key: 'acct-7_volume', closedMs: 250, waiting: 3 }], 'the console sees the hold');
  await new Promise((r) => setImmediate(r));
  t.same(order, [], 'nobody went on while fenced');
  fence.close('acct-7_volume');
  t.equal(fence.fenced()[0]!.closedMs, 250, 'closing again keeps the first close time');
  t.equal(fence.open('acct-7_volume'), 3, 'three waited');
  await Promise.all(waits);
  t.same(order, [1, 2, 3], 'they go on in the order they came');
  t.equal(fence.admit('acct-7_volume'), null, 'open again');
  t.equal(fence.open('acct-7_volume'), 0, 'opening an open key is harmless');
  t.same(fence.fenced(), []);
});
