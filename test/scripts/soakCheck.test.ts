// Owns: soak:migration's pure checks — the done moves split into manual, planner (matched one for one with its log lines), add and drain; tenants with rows off their placement's shard, or none on it.
import t from 'tap';
import { classifyMoves, strayRows, type MoveRow } from '../../scripts/lib/soakCheck.js';

const row = (id: number, key: string, from: string, to: string, state = 'done'): MoveRow => ({ id: String(id), key, from, to, state, rows: '1', pause_ms: '1', elapsed_ms: '2', error: null });

t.test('moves by who started them', async (t) => {
  const rows = [
    row(1, 'a_d', 's0', 's2'), // manual
    row(2, 'b_d', 's0', 's1'), // planner
    row(3, 'b_d', 's0', 's1', 'failed'), // a planner move that failed takes its line
    row(4, 'b_d', 's0', 's1'), // the same again: no line left for it, and not from s1 nor to s4
    row(5, 'c_d', 's2', 's4'), // add
    row(6, 'e_d', 's1', 's4'), // add: from the shard drained later
    row(7, 'f_d', 's0', 's2'), // planner line for it, but one logged as not started: other
    row(8, 'd_d', 's1', 's3'), // drain
    row(9, 'g_d', 's1', 's4'), // drain: to the added shard, after the drain began
  ];
  const planner = [{ key: 'b_d', from: 's0', to: 's1' }, { key: 'b_d', from: 's0', to: 's1' }, { key: 'f_d', from: 's0', to: 's2' }];
  t.same(classifyMoves(rows, new Set([1]), planner, 's4', 's1', 8, ['f_d']), { done: 8, manual: 1, planner: 1, add: 2, drain: 2, other: 2 });
});

t.test('stray rows: off the placement, or missing from it', async (t) => {
  const placed = [{ account: 'a', shard: 's0' }, { account: 'b', shard: 's1' }, { account: 'c', shard: 's1' }];
  const clusters = [
    { shard: 's0', counts: new Map([['a', 3], ['b', 1]]) },
    { shard: 's1', counts: new Map([['b', 5]]) },
  ];
  t.same(strayRows(placed, clusters), [
    { account: 'b', shard: 's0', placed: 's1', rows: 1 },
    { account: 'c', shard: 's1', placed: 's1', rows: 0 },
  ]);
  t.same(strayRows(placed.slice(0, 1), [{ shard: 's0', counts: new Map([['a', 3]]) }]), [], 'a whole tenant on its shard: nothing');
});
