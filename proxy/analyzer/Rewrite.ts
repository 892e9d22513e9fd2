// Rewrite owns the per-shard text of a fan-out aggregate SELECT: avg(args) becomes sum(args) with count(args) appended to the select list, and a GROUP BY's LIMIT is removed (every shard returns every group).
import { parseSync, scanSync } from 'libpg-query';
import { mergeableAggregate } from './Walk.js';

// libpg-query's JSON tree, walked loosely
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Token {
  start: number;
  end: number;
}

/** Keywords that end a select list at its own parenthesis depth. */
const CLAUSE = new Set(['from', 'into', 'where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'fetch', 'for', 'union', 'intersect', 'except']);

/** The prefix of the hidden count columns' names (the client never sees them). */
export const HIDDEN_COUNT = '__prescient_avg_count_';

interface Edit {
  at: number;
  end: number;
  text: string;
}

/**
 * The text each shard runs for `sql` (one or more statements, as the client sent it) when its top-level SELECTs are
 * merged as aggregates (MergeAggregate.rewrite): for each avg(args) [FILTER (…)] of a select list, `sum` in place of
 * `avg` (named `avg` when it had no alias) and `count(args) [FILTER (…)]` appended after the last entry, in the order of
 * the avg entries (MergeAggregateColumn.count); a LIMIT / FETCH FIRST after a GROUP BY removed. The shard's ORDER BY
 * is left as is (an order the merge does not rely on). Throws on a statement libpg-query does not parse.
 */
export function shardText(sql: string): string {
  const buf = Buffer.from(sql, 'utf8'); // parser and scanner locations are UTF-8 byte offsets
  const tree = parseSync(sql) as { stmts?: { stmt: Node; stmt_location?: number; stmt_len?: number }[] };
  const tokens = scanSync(sql).tokens as Token[];
  const word = (t: Token | undefined): string => (t === undefined ? '' : buf.toString('utf8', t.start, t.end).toLowerCase());
  const indexAt = (loc: number): number => {
    const i = tokens.findIndex((t) => t.start === loc);
    if (i < 0) throw new Error(`no token at byte ${loc}`);
    return i;
  };
  const matching = (open: number): number => {
    let depth = 0;
    for (let i = open; i < tokens.length; i++) {
      const w = word(tokens[i]);
      if (w === '(') depth++;
      else if (w === ')' && --depth === 0) return i;
    }
    throw new Error('unbalanced parentheses');
  };
  const edits: Edit[] = [];
  for (const st of tree.stmts ?? []) {
    const s = st.stmt.SelectStmt as Node | undefined;
    if (!s || (s.op && s.op !== 'SETOP_NONE')) continue;
    const stmtStart = st.stmt_location ?? 0;
    const stmtEnd = st.stmt_len ? stmtStart + st.stmt_len : buf.length;
    const targets = ((s.targetList ?? []) as Node[]).map((t) => t.ResTarget as Node);
    const hidden: string[] = [];
    for (const rt of targets) {
      const fc = rt?.val?.FuncCall as Node | undefined;
      if (!fc || mergeableAggregate(fc) !== 'avg') continue;
      let open = indexAt(fc.location as number);
      while (word(tokens[open]) !== '(') open++;
      const close = matching(open);
      let end = close;
      let filter = '';
      if (word(tokens[close + 1]) === 'filter') {
        end = matching(close + 2);
        filter = ' ' + buf.toString('utf8', tokens[close + 1]!.start, tokens[end]!.end);
      }
      const name = tokens[open - 1]!;
      edits.push({ at: name.start, end: name.end, text: 'sum' });
      if (typeof rt.name !== 'string') edits.push({ at: tokens[end]!.end, end: tokens[end]!.end, text: ' AS avg' });
      hidden.push(`count(${buf.toString('utf8', tokens[open]!.end, tokens[close]!.start)})${filter} AS ${HIDDEN_COUNT}${hidden.length + 1}`);
    }
    // the end of the select list: the first clause keyword at its depth after the last entry (not a label after AS)
    const last = targets[targets.length - 1];
    if (!last) continue;
    let i = indexAt(last.location as number);
    let depth = 0;
    let listEnd = tokens[i]!.end;
    for (; i < tokens.length && tokens[i]!.start < stmtEnd; i++) {
      const w = word(tokens[i]);
      if (w === '(' || w === '[') depth++;
      else if (w === ')' || w === ']') depth--;
      else if (depth === 0 && (w === ';' || (CLAUSE.has(w) && word(tokens[i - 1]) !== 'as'))) break;
      listEnd = tokens[i]!.end;
    }
    if (hidden.length) edits.push({ at: listEnd, end: listEnd, text: ', ' + hidden.join(', ') });
    if (((s.groupClause ?? []) as Node[]).length && s.limitCount) {
      let cut = -1;
      let stop = stmtEnd;
      depth = 0;
      for (; i < tokens.length && tokens[i]!.start < stmtEnd; i++) {
        const w = word(tokens[i]);
        if (w === '(' || w === '[') depth++;
        else if (w === ')' || w === ']') depth--;
        else if (depth === 0 && cut < 0 && (w === 'limit' || w === 'fetch')) cut = tokens[i]!.start;
        else if (depth === 0 && w === ';') { stop = tokens[i]!.start; break; }
      }
      if (cut >= 0) edits.push({ at: cut, end: stop, text: ' ' });
    }
  }
  if (edits.length === 0) return sql;
  edits.sort((a, b) => a.at - b.at);
  const parts: Buffer[] = [];
  let pos = 0;
  for (const e of edits) {
    parts.push(buf.subarray(pos, e.at), Buffer.from(e.text, 'utf8'));
    pos = e.end;
  }
  parts.push(buf.subarray(pos));
  return Buffer.concat(parts).toString('utf8');
}
