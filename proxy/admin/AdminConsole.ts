// AdminConsole owns the admin database `prescient`: SHOW … statements answered by the proxy itself as plain result sets.
import * as Be from '../protocol/BackendMessage.js';
import { SqlState } from '../protocol/SqlState.js';

/** A result set: column names and text rows (null for SQL NULL). */
export interface AdminResult {
  columns: string[];
  rows: (string | number | boolean | null)[][];
  /** CommandComplete tag; default `SHOW` */
  tag?: string;
}

/** What the console can read; the server wires it to its live state. */
export interface AdminSource {
  pools(): AdminResult;
  clients(): AdminResult;
  shards(): AdminResult;
  stats(): AdminResult;
  /** extra commands (SHOW PLACEMENT, RELOAD, …) registered by other parts of the proxy */
  extra?: Map<string, (args: string) => AdminResult | Promise<AdminResult>>;
}

const COMMANDS = ['SHOW POOLS', 'SHOW CLIENTS', 'SHOW SHARDS', 'SHOW STATS', 'SHOW HELP'] as const;

function resultFrames(r: AdminResult): Buffer[] {
  const out = [Be.RowDescription(r.columns)];
  for (const row of r.rows) out.push(Be.DataRow(row.map((v) => (v === null || v === undefined ? null : String(v)))));
  out.push(Be.CommandComplete(r.tag ?? 'SHOW'));
  return out;
}

function errorFrame(message: string, code: string = SqlState.SyntaxError): Buffer {
  return Be.ErrorResponse({ severity: 'ERROR', code, message, hint: `admin commands: ${COMMANDS.join(', ')}` });
}

/** Answers one simple Query on the admin database: every statement in it, then ReadyForQuery. */
export async function answerAdminQuery(sql: string, source: AdminSource): Promise<Buffer> {
  const out: Buffer[] = [];
  const statements = sql.split(';').map((s) => s.trim()).filter(Boolean);
  if (statements.length === 0) out.push(Be.EmptyQueryResponse);
  for (const stmt of statements) {
    const words = stmt.replace(/\s+/g, ' ');
    const upper = words.toUpperCase();
    try {
      let r: AdminResult | null = null;
      if (upper === 'SHOW POOLS') r = source.pools();
      else if (upper === 'SHOW CLIENTS') r = source.clients();
      else if (upper === 'SHOW SHARDS') r = source.shards();
      else if (upper === 'SHOW STATS') r = source.stats();
      else if (upper === 'SHOW HELP') r = { columns: ['command'], rows: [...COMMANDS, ...(source.extra?.keys() ?? [])].map((c) => [c]) };
      else {
        for (const [prefix, fn] of source.extra ?? []) {
          if (upper === prefix || upper.startsWith(prefix + ' ')) {
            r = await fn(words.slice(prefix.length).trim());
            break;
          }
        }
      }
      if (!r) {
        out.push(errorFrame(`unknown admin command "${words}"`));
        break; // as Postgres: the rest of a multi-statement query is skipped after an error
      }
      out.push(...resultFrames(r));
    } catch (e) {
      out.push(errorFrame((e as Error).message, SqlState.InternalError));
      break;
    }
  }
  out.push(Be.ReadyForQuery(Be.TransactionStatus.Idle));
  return Buffer.concat(out);
}
