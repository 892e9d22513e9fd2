// Owns: unit tests for FailureThrottle (proxy/auth/FailureThrottle.ts): per-address failure counting with an injected clock.
import t from 'tap';
import { FailureThrottle } from '../../proxy/auth/FailureThrottle.js';

t.test('failures past the limit in the window are delayed; the window ends; other addresses are not affected', async (t) => {
  let now = 1000;
  const th = new FailureThrottle(() => ({ limit: 3, windowMs: 60_000, delayMs: 1000 }), () => now);
  t.same([1, 2, 3].map(() => th.fail('10.0.0.1')), [0, 0, 0], 'the first 3 failures are answered at once');
  t.equal(th.fail('10.0.0.1'), 1000, 'the 4th is delayed');
  t.equal(th.fail('10.0.0.1'), 1000, 'and the 5th');
  t.equal(th.fail('10.0.0.2'), 0, 'another address is not');
  t.equal(th.failures('10.0.0.1'), 5);
  now += 60_000;
  t.equal(th.failures('10.0.0.1'), 0, 'the window has ended');
  t.equal(th.fail('10.0.0.1'), 0, 'a new window starts at once');
});

t.test('limit 0 delays from the first failure; delay 0 never delays', async (t) => {
  t.equal(new FailureThrottle(() => ({ limit: 0, windowMs: 1000, delayMs: 50 })).fail('a'), 50);
  const none = new FailureThrottle(() => ({ limit: 0, windowMs: 1000, delayMs: 0 }));
  t.equal(none.fail('a'), 0);
});

t.test('the table is bounded: the least recently failed address is forgotten', async (t) => {
  const th = new FailureThrottle(() => ({ limit: 1, windowMs: 60_000, delayMs: 1 }), () => 0, 100);
  th.fail('keep');
  for (let i = 0; i < 99; i++) th.fail(`a${i}`);
  th.fail('keep'); // refreshed: now the most recent
  for (let i = 0; i < 50; i++) th.fail(`b${i}`);
  t.equal(th.size, 100, 'never more than maxAddresses');
  t.equal(th.failures('keep'), 2, 'a recently failing address is kept');
  t.equal(th.failures('a0'), 0, 'the oldest are forgotten');
});
