// Tests for proxy/session/RoutedRequest.ts: which requests are exactly one BEGIN, COMMIT or ROLLBACK (txControlOf).
import t from 'tap';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import { TxControl, txControlOf } from '../../proxy/session/RoutedRequest.js';

await Analyzer.init();
const analyzer = new Analyzer({ accountColumn: 'account_id' });

const cases: [string, TxControl][] = [
  ['begin', TxControl.Begin],
  ['START TRANSACTION ISOLATION LEVEL SERIALIZABLE', TxControl.Begin],
  ['commit', TxControl.Commit],
  ['END', TxControl.Commit],
  ['commit work;', TxControl.Commit],
  ['/* c */ commit -- x', TxControl.Commit],
  ['commit and no chain', TxControl.Commit],
  ['commit and chain', TxControl.None],
  ["commit prepared 'g'", TxControl.None],
  ["prepare transaction 'g'", TxControl.None],
  ['rollback', TxControl.Rollback],
  ['ABORT', TxControl.Rollback],
  ['rollback transaction', TxControl.Rollback],
  ['rollback and no chain', TxControl.Rollback],
  ['rollback and chain', TxControl.None],
  ["rollback prepared 'g'", TxControl.None],
  ['rollback to savepoint s', TxControl.None],
  ['savepoint s', TxControl.None],
  ['commit; select 1', TxControl.None],
  ['select 1', TxControl.None],
  ['commit garbage', TxControl.None],
];

t.test('txControlOf', async (t) => {
  for (const [sql, want] of cases) t.equal(txControlOf([{ sql, statements: analyzer.analyze(sql) }]), want, sql);
  t.equal(txControlOf([]), TxControl.None, 'no unit');
});
