// AdminConsole owns the admin database `prescient`: its one table of commands (SHOW HELP and the unknown-command hint are made from it) and answering statements as plain result sets.
import * as Be from '../protocol/BackendMessage.js';
import { SqlState } from '../protocol/SqlState.js';

/** A result set: column names and text rows (null for SQL NULL). */
export interface AdminResult {
  columns: string[];
  rows: (string | number | boolean | null)[][];
  /** CommandComplete tag; default `SHOW` */
  tag?: string;
}

/** Runs one admin statement; `args` is what follows the command's name. */
export type AdminRun = (args: string) => AdminResult | Promise<AdminResult>;

/** One row of the console's table of commands. */
export interface AdminCommand {
  /** the words a statement starts with, upper case, single spaces: `SHOW POOLS` */
  name: string;
  /** how it is written, with its arguments: `PAUSE [shard]` */
  syntax: string;
  /** what it answers or does, in one line */
  description: string;
  run: AdminRun;
}

/** What the console can read; the server wires it to its live state. */
export interface AdminSource {
  pools(): AdminResult;
  clients(): AdminResult;
  shards(): AdminResult;
  stats(): AdminResult;
  /** extra commands (SHOW PLACEMENT, RELOAD, …) registered by other parts of the proxy, by name */
  extra?: Map<string, AdminRun>;
  /** the further commands with their syntax and description (an `extra` entry not here is listed by its name) */
  commands?: readonly AdminCommand[];
}

/**
 * The console's one table of commands: SHOW POOLS, CLIENTS, SHARDS, STATS and HELP, then `source.commands`, then any
 * `source.extra` entry not described there. A later row of the same name replaces an earlier one (a plugin's wins).
 */
export function adminCommands(source: AdminSource): AdminCommand[] {
  const table = new Map<string, AdminCommand>();
  const add = (c: AdminCommand): void => {
    table.delete(c.name);
    table.set(c.name, c);
  };
  add({ name: 'SHOW POOLS', syntax: 'SHOW POOLS', description: 'per (shard, server user) pool: mode, size, connections, clients active and waiting, paused', run: () => source.pools() });
  add({ name: 'SHOW CLIENTS', syntax: 'SHOW CLIENTS', description: 'one row per client: pid, user, database, address, state, server, queries, bytes', run: () => source.clients() });
  add({ name: 'SHOW SHARDS', syntax: 'SHOW SHARDS', description: "the catalog's shards: address, status, version, pool, explicit keys, epoch", run: () => source.shards() });
  add({ name: 'SHOW STATS', syntax: 'SHOW STATS', description: 'uptime, clients, connections, queries, bytes, memory, event-loop delay', run: () => source.stats() });
  add({ name: 'SHOW HELP', syntax: 'SHOW HELP', description: 'this list', run: () => ({ columns: ['command', 'syntax', 'description'], rows: adminCommands(source).map((c) => [c.name, c.syntax, c.description]) }) });
  for (const c of source.commands ?? []) add(c);
  const described = new Set((source.commands ?? []).map((c) => c.name));
  for (const [name, run] of source.extra ?? []) if (!described.has(name)) add({ name, syntax: name, description: 'added by a plugin', run });
  return [...table.values()];
}

function resultFrames(r: AdminResult): Buffer[] {
  const out = [Be.RowDescription(r.columns)];
  for (const row of r.rows) out.push(Be.DataRow(row.map((v) => (v === null || v === undefined ? null : String(v)))));
  out.push(Be.CommandComplete(r.tag ?? 'SHOW'));
  return out;
}

/** The hint of an error: the commands, by syntax, from the same table as SHOW HELP. */
export function adminHint(commands: readonly AdminCommand[]): string {
  return `admin commands: ${commands.map((c) => c.syntax).join(', ')}`;
}

function errorFrame(message: string, commands: readonly AdminCommand[], code: string = SqlState.SyntaxError): Buffer {
  return Be.ErrorResponse({ severity: 'ERROR', code, message, hint: code === SqlState.SyntaxError ? adminHint(commands) : undefined });
}

/** The command a statement names: the longest name it starts with (`SHOW PLACEMENT …` over a `SHOW P…`). */
function commandOf(upper: string, commands: readonly AdminCommand[]): AdminCommand | null {
  let best: AdminCommand | null = null;
  for (const c of commands) {
    if ((upper === c.name || upper.startsWith(c.name + ' ')) && (best === null || c.name.length > best.name.length)) best = c;
  }
  return best;
}

/** Answers one simple Query on the admin database: every statement in it, then ReadyForQuery. */
export async function answerAdminQuery(sql: string, source: AdminSource): Promise<Buffer> {
  const out: Buffer[] = [];
  const statements = sql.split(';').map((s) => s.trim()).filter(Boolean);
  if (statements.length === 0) out.push(Be.EmptyQueryResponse);
  for (const stmt of statements) {
    // the table again for each statement: one before it may have changed what the source serves (USE)
    const commands = adminCommands(source);
    const words = stmt.replace(/\s+/g, ' ');
    const command = commandOf(words.toUpperCase(), commands);
    if (!command) {
      out.push(errorFrame(`unknown admin command "${words}"`, commands));
      break; // as Postgres: the rest of a multi-statement query is skipped after an error
    }
    try {
      out.push(...resultFrames(await command.run(words.slice(command.name.length).trim())));
    } catch (e) {
      const code = (e as { sqlState?: string }).sqlState ?? SqlState.InternalError;
      out.push(errorFrame((e as Error).message, commands, code));
      break;
    }
  }
  out.push(Be.ReadyForQuery(Be.TransactionStatus.Idle));
  return Buffer.concat(out);
}
