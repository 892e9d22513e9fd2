// Tests for proxy/prediction/AccountMarkov1.ts on fixed sequences: two accounts with opposite habits after the same action each get their own next action; a new account gets the shared one; a uniform account is not over-confident; probabilities sum to 1 over the full list; an account's old habit fades.
import t from 'tap';
import { AccountMarkov1, ACCOUNT_PRIOR } from '../../proxy/prediction/AccountMarkov1.js';
import type { ActionEvent } from '../../proxy/prediction/ActionEvent.js';

const ev = (account: string, action: string, t = 0): ActionEvent => ({ t, account, action });

/** `n` rounds of `chain` for `account`. */
function feed(m: AccountMarkov1, account: string, chain: string[], n: number): void {
  for (let i = 0; i < n; i++) for (const a of chain) m.add(ev(account, a));
}

t.test('each account its own next action after the same one; a new account the shared one', async (t) => {
  const m = new AccountMarkov1(10_000, 100);
  // acct-a always describes after creating; acct-b always attaches; acct-c (three times as busy) attaches too
  feed(m, 'acct-a', ['CreateVolume', 'DescribeVolumes'], 20);
  feed(m, 'acct-b', ['CreateVolume', 'AttachVolume'], 20);
  feed(m, 'acct-c', ['CreateVolume', 'AttachVolume'], 60);
  const top = (account: string): { action: string; p: number } => m.predict([ev(account, 'CreateVolume')], 3)[0]!;
  t.equal(top('acct-a').action, 'DescribeVolumes', 'acct-a: its own habit, though most accounts attach');
  t.ok(top('acct-a').p > 0.8, `with confidence (${top('acct-a').p.toFixed(3)})`);
  t.equal(top('acct-b').action, 'AttachVolume');
  t.equal(top('acct-new').action, 'AttachVolume', 'a new account: what accounts do (the shared model)');
  const shared = m.shared.predict([ev('acct-new', 'CreateVolume')], 3)[0]!;
  t.equal(top('acct-new').p, shared.p, 'exactly the shared probability');
});

t.test('the full list sums to 1; a uniform account is not over-confident', async (t) => {
  const m = new AccountMarkov1(10_000, 100);
  const next = ['A', 'B', 'C', 'D'];
  for (let i = 0; i < 40; i++) {
    m.add(ev('acct-u', 'S'));
    m.add(ev('acct-u', next[i % 4]!));
  }
  const all = m.predict([ev('acct-u', 'S')]);
  t.ok(Math.abs(all.reduce((s, p) => s + p.p, 0) - 1) < 1e-9, 'sums to 1');
  const four = all.filter((p) => next.includes(p.action));
  t.equal(four.length, 4);
  t.ok(four.every((p) => p.p < 0.3 && p.p > 0.2), `each of four equally likely next actions near 1/4: ${four.map((p) => p.p.toFixed(3)).join(', ')}`);
});

t.test("an account's new habit takes over from its old one; the prior weighs ACCOUNT_PRIOR transitions", async (t) => {
  const m = new AccountMarkov1(10_000, 100);
  feed(m, 'acct-h', ['Login', 'Read'], 30);
  feed(m, 'acct-h', ['Login', 'Write'], 30);
  t.equal(m.predict([ev('acct-h', 'Login')], 1)[0]!.action, 'Write', 'the recent habit wins (old counts halved)');
  const fresh = new AccountMarkov1(10_000, 100);
  fresh.add(ev('acct-x', 'Login'));
  fresh.add(ev('acct-x', 'Read'));
  const pShared = fresh.shared.probability('Login', 'Read');
  const got = fresh.predict([ev('acct-x', 'Login')]).find((p) => p.action === 'Read')!.p;
  t.ok(Math.abs(got - (1 + ACCOUNT_PRIOR * pShared) / (1 + ACCOUNT_PRIOR)) < 1e-12, 'one own transition against the prior');
});

t.test('at most maxAccounts accounts are kept, the least recently active forgotten first', async (t) => {
  const m = new AccountMarkov1(10_000, 2);
  feed(m, 'acct-1', ['X', 'Y'], 5);
  feed(m, 'acct-2', ['X', 'Z'], 5);
  feed(m, 'acct-3', ['X', 'W'], 5);
  // acct-1 is forgotten: it gets the shared answer
  t.same(m.predict([ev('acct-1', 'X')], 2), m.shared.predict([ev('acct-1', 'X')], 2));
  t.equal(m.predict([ev('acct-3', 'X')], 1)[0]!.action, 'W');
});
