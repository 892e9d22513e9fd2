// Tests ActionEvent.ts: the NDJSON action log round trip, bad lines reported by number, grouping and collapsing repeats.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byAccount, collapseRepeats, formatActionEvent, parseActionLog, readActionLog, writeActionLog, type ActionEvent } from '../../proxy/prediction/ActionEvent.js';

const EVENTS: ActionEvent[] = [
  { t: 1_700_000_000_000, account: 'acct-1', action: 'DescribeVolumes', domain: 'volume', shard: 's0', backendUs: 412, rows: 3, ok: true, readOnly: true },
  { t: 1_700_000_000_500, account: 'acct-2', action: 'CreateVolume' },
  { t: 1_700_000_001_000, account: 'acct-1', action: 'CreateVolume', ok: false, readOnly: false },
];

t.test('a log written and read back is the same log', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'prescient-log-')), 'actions.ndjson');
  writeActionLog(path, EVENTS);
  t.same(readActionLog(path), EVENTS);
});

t.test('one line per event, fields in a fixed order, absent fields left out', async (t) => {
  t.equal(formatActionEvent({ action: 'A', account: 'x', t: 5, rows: 1 } as ActionEvent), '{"t":5,"account":"x","action":"A","rows":1}');
});

const BAD: [string, string, RegExp][] = [
  ['not JSON', '{"t":1,', /line 2: /],
  ['no time', '{"account":"a","action":"A"}', /line 2: t: expected a number/],
  ['empty account', '{"t":1,"account":"","action":"A"}', /line 2: account/],
  ['no action', '{"t":1,"account":"a"}', /line 2: action/],
  ['wrong type', '{"t":1,"account":"a","action":"A","rows":"3"}', /line 2: rows: expected a number/],
];
for (const [name, line, re] of BAD) {
  t.test(`a bad line is reported by its number: ${name}`, async (t) => {
    t.throws(() => parseActionLog(`{"t":0,"account":"a","action":"A"}\n${line}\n`), re);
  });
}

t.test('blank lines are skipped, unknown fields dropped', async (t) => {
  t.same(parseActionLog('\n{"t":1,"account":"a","action":"A","extra":1}\n\n'), [{ t: 1, account: 'a', action: 'A' }]);
});

t.test('byAccount groups in time order; collapseRepeats keeps the first of each run per account', async (t) => {
  const ev = (t: number, account: string, action: string): ActionEvent => ({ t, account, action });
  const log = [ev(3, 'a', 'X'), ev(1, 'a', 'X'), ev(2, 'b', 'X'), ev(4, 'a', 'Y'), ev(5, 'b', 'X'), ev(6, 'a', 'X')];
  t.same(byAccount(log).get('a')!.map((e) => e.t), [1, 3, 4, 6]);
  t.same(collapseRepeats(log).map((e) => `${e.account}${e.t}`), ['a1', 'b2', 'a4', 'a6']);
});
