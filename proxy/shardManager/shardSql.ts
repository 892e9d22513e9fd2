// shardSql owns how the shard manager talks to a shard's Postgres: a text-mode client as the shard's own user, quoting, a table's columns and primary key, and a key's fingerprint (row count + order-independent checksum).
import pg from 'pg';
import type { ShardConfig } from '../../config/schema.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';

export const ident = (name: string): string => name.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
/** One identifier, quoted (a name with a dot stays one name). */
export const quoteName = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const literal = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/** A client of the shard; values come back as the text Postgres prints (they go back in as that text, unchanged). */
export async function connectShard(s: ShardConfig, application = 'prescient-mover'): Promise<pg.Client> {
  if (s.user === undefined) throw new ProxyError('MOVE_NEEDS_USER', `moving data needs shards[].user on shard "${s.name}": a server user that can read and write every table of the domain`, SqlState.InvalidParameterValue);
  const c = new pg.Client({
    host: s.host, port: s.port, database: s.database, user: s.user, password: s.password, application_name: application, connectionTimeoutMillis: 5000,
    types: { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig,
  });
  c.on('error', () => {});
  await c.connect();
  return c;
}

export interface TableShape {
  /** quoted column names that take values (generated columns excluded), in order */
  columns: string[];
  /** primary-key column names as they are (unquoted); empty when the table has none */
  key: string[];
}

export async function tableShape(c: pg.Client, table: string): Promise<TableShape> {
  const cols = await c.query<{ c: string }>(
    `select quote_ident(attname) as c from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' order by attnum`,
    [table],
  );
  const key = await c.query<{ c: string }>(
    `select a.attname as c from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
     where i.indrelid = $1::regclass and i.indisprimary order by array_position(i.indkey::int2[], a.attnum)`,
    [table],
  );
  return { columns: cols.rows.map((r) => r.c), key: key.rows.map((r) => r.c) };
}

/**
 * `alias`'s rows of `account` whose primary key is one of `param`'s (a jsonb[] of keys as the capture trigger logs
 * them, e.g. {"account_id": "a", "id": 7}). Each key is read back as the table's own row type
 * (jsonb_populate_record) and looked up alone by the primary key's columns (an index probe); the rows are then taken
 * by their ctids (a TID scan). So a round costs its changed rows, not the key's every row, whatever the planner's
 * statistics say: a jsonb built from each row and compared scanned every row of the key, and a join with the keys
 * was planned, on a target whose statistics had not seen the key's copied rows yet, as a nested loop over those rows
 * re-reading the keys for each (minutes, for a 170,000-row tenant).
 */
export function keyIn(table: string, shape: TableShape, column: string, account: string, param = '$1', alias = 't'): string {
  const eq = shape.key.map((k) => `r.${quoteName(k)} = k.${quoteName(k)}`).join(' and ');
  const one = `select r.ctid from ${ident(table)} r where r.${quoteName(column)} = ${literal(account)} and ${eq}`;
  return `${alias}.ctid = any(array(select (${one}) from unnest(${param}::jsonb[]) j, jsonb_populate_record(null::${ident(table)}, j) k))`;
}

export interface Fingerprint {
  rows: number;
  sum: string;
}

/** The row count and an order-independent checksum of the key's rows of one table (sum of each row's hash). */
export async function fingerprint(c: pg.Client, table: string, column: string, account: string): Promise<Fingerprint> {
  return fingerprintWhere(c, table, `${ident(column)} = ${literal(account)}`);
}

/** The same over the rows of `table` (alias t) matching `where`. */
export async function fingerprintWhere(c: pg.Client, table: string, where: string, params: unknown[] = []): Promise<Fingerprint> {
  const r = await c.query<{ n: string; s: string }>(
    `select count(*)::text as n, coalesce(sum(hashtextextended(t::text, 0)), 0)::text as s from ${ident(table)} t where ${where}`,
    params,
  );
  return { rows: Number(r.rows[0]!.n), sum: r.rows[0]!.s };
}
