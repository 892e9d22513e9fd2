// ResultShape owns what a statement's result looks like to a driver: column count, names, types (from RowDescription).

/**
 * The shape of a Describe-statement answer: '' for NoData, else each column's name, type OID and typmod. Table OIDs
 * and column numbers are left out (a table re-created with the same columns keeps its shape), as Postgres' own
 * "cached plan must not change result type" check compares row types, not where they come from.
 */
export function resultShapeOf(rowDescription: Buffer | null): string {
  if (rowDescription === null || rowDescription.length < 2) return '';
  const n = rowDescription.readInt16BE(0);
  let at = 2;
  let shape = `${n}`;
  for (let i = 0; i < n && at < rowDescription.length; i++) {
    const end = rowDescription.indexOf(0, at);
    if (end < 0 || end + 19 > rowDescription.length) return `${shape}|malformed`;
    const name = rowDescription.toString('latin1', at, end);
    const type = rowDescription.readUInt32BE(end + 7);
    const typmod = rowDescription.readInt32BE(end + 13);
    shape += `|${name}\u0000${type}:${typmod}`;
    at = end + 19;
  }
  return shape;
}
