// pipelinableQuery owns which simple Queries may ride a pipeline (pool.pipeline > 1): one autocommit statement that cannot leave a transaction open or change what the session is (no BEGIN, SET, LISTEN, PREPARE, COPY, temporary table …).
import { tokenize } from '../analyzer/SessionLexer.js';
import { mentionsTemp } from './SessionPins.js';

/** statements that end in their own implicit transaction and leave no session state by their nature */
const FIRST_WORDS = new Set(['select', 'insert', 'update', 'delete', 'values', 'table', 'with']);
/** SELECT … INTO creates a table; with a reads-only first word, `into` is refused */
const READ_FIRST_WORDS = new Set(['select', 'values', 'table', 'with']);

/**
 * True for a Query payload (text + NUL) holding one statement whose first word is SELECT, INSERT, UPDATE, DELETE,
 * VALUES, TABLE or WITH (no SELECT … INTO), naming no temporary table; anything else, anything not lexed (an
 * unclosed quote) or several statements: false. Session-level side effects inside functions (set_config, advisory
 * locks) reach whoever uses the server connection next, as in any transaction pooling (docs/transaction-pooling.md).
 */
export function isPipelinableQuery(payload: Buffer): boolean {
  if (payload.length < 2 || mentionsTemp(payload)) return false;
  const tokens = tokenize(payload.toString('latin1', 0, payload.length - 1));
  if (tokens === null || tokens.length === 0) return false;
  const first = tokens[0]!;
  if (first.kind !== 'word' || !FIRST_WORDS.has(first.text)) return false;
  const reads = READ_FIRST_WORDS.has(first.text);
  let ended = false;
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'op' && t.text === ';') {
      ended = true;
      continue;
    }
    // a second statement after a ';'
    if (ended) return false;
    if (reads && t.kind === 'word' && t.text === 'into') return false;
  }
  return true;
}
