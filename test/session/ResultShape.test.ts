// Owns: resultShapeOf: what counts as a change of a statement's result shape (names, types, typmods; not table OIDs).
import t from 'tap';
import { resultShapeOf } from '../../proxy/session/ResultShape.js';

interface Col { name: string; table?: number; attnum?: number; type: number; typmod?: number }
function rowDescription(cols: Col[]): Buffer {
  const parts = [Buffer.from([cols.length >> 8, cols.length & 0xff])];
  for (const c of cols) {
    const f = Buffer.alloc(18);
    f.writeUInt32BE(c.table ?? 0, 0);
    f.writeInt16BE(c.attnum ?? 0, 4);
    f.writeUInt32BE(c.type, 6);
    f.writeInt16BE(-1, 10);
    f.writeInt32BE(c.typmod ?? -1, 12);
    f.writeInt16BE(0, 16);
    parts.push(Buffer.from(c.name + '\0', 'latin1'), f);
  }
  return Buffer.concat(parts);
}

const base: Col[] = [{ name: 'a', table: 16384, attnum: 1, type: 23 }];
const cases: { name: string; other: Col[] | null; same: boolean }[] = [
  { name: 'the same columns', other: base, same: true },
  { name: 'a re-created table (other OID and column number)', other: [{ name: 'a', table: 99999, attnum: 3, type: 23 }], same: true },
  { name: 'a column added', other: [...base, { name: 'b', type: 23 }], same: false },
  { name: 'a type changed', other: [{ name: 'a', table: 16384, attnum: 1, type: 25 }], same: false },
  { name: 'a typmod changed (varchar(10) → varchar(20))', other: [{ name: 'a', table: 16384, attnum: 1, type: 23, typmod: 24 }], same: false },
  { name: 'a column renamed', other: [{ name: 'z', table: 16384, attnum: 1, type: 23 }], same: false },
  { name: 'NoData', other: null, same: false },
];
for (const c of cases) {
  const other = c.other === null ? null : rowDescription(c.other);
  t.equal(resultShapeOf(other) === resultShapeOf(rowDescription(base)), c.same, c.name);
}
t.equal(resultShapeOf(null), resultShapeOf(Buffer.alloc(0)), 'NoData has one shape');
t.not(resultShapeOf(rowDescription(base).subarray(0, 5)), resultShapeOf(rowDescription(base)), 'a cut RowDescription is not the whole one');
