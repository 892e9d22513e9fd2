// ShardSchema owns the `prescient` schema on a shard (DESIGN.md §5): per-key versions, their history, the version triggers, install/upgrade and reading versions.
//
// What is on a shard after installShardSchema (schema version 3):
//   prescient.schema_version  one row: the number of install steps applied (STEPS below; append only)
//   prescient.key_versions    shard_key → version (bigint, only grows), updated_at; fillfactor 50 (room for HOT
//                             updates: each write updates a row of it)
//   prescient.version_history one row per (transaction, key) bump, with the writing transaction's id (xid8)
//   prescient.pending_bumps   UNLOGGED, transient: the keys a running transaction has written so far (one row per
//                             transaction, deleted at its commit)
//   prescient.on_write_<oid>() per versioned table, its plpgsql trigger function, generated at install with the
//                             table's account column and domain in static SQL (triggerFunctionBody), SECURITY DEFINER
//                             (writers need no rights on the schema); replaced, with its triggers, when its text
//                             differs from the generated one; dropped when no trigger calls it any more
//   prescient.flush_bumps()   the commit-time half: a DEFERRABLE INITIALLY DEFERRED constraint trigger on pending_bumps
//   per versioned table four statement-level AFTER triggers calling the table's function (arguments: account column,
//   domain, for the reader):
//     prescient_versions_insert   AFTER INSERT   REFERENCING NEW TABLE
//     prescient_versions_update   AFTER UPDATE   REFERENCING OLD TABLE, NEW TABLE (old and new account both count)
//     prescient_versions_delete   AFTER DELETE   REFERENCING OLD TABLE
//     prescient_versions_truncate AFTER TRUNCATE (no rows: the key `*_<domain>`)
//   (Postgres allows transition tables only on a trigger with a single event, hence three row-event triggers.)
//   Versions 1 and 2 had one shared prescient.on_write() that built its query with EXECUTE format(…) per statement;
//   installing version 3 moves the triggers of every listed table to the table's own function (on_write() stays,
//   unused).
//
// Per statement, the trigger computes the distinct keys `<account>::text || '_' || <domain>` of the rows the statement
// touched (rows whose account column is NULL have no key) and adds them to the transaction's pending_bumps row — its
// own row, so no lock another transaction waits for: the first write of the transaction inserts it (`on conflict
// (txid) do nothing`), which queues the flush — a constraint trigger is FOR EACH ROW, so one row per transaction is
// one flush per transaction —, later statements merge their keys into it (only when they add one). At commit,
// flush_bumps deletes the row and bumps each key once: one key (the common case) by an UPDATE of its key_versions row
// (an INSERT … ON CONFLICT for a new key), one version_history row and one pg_notify; several keys in ONE statement,
// sorted (C collation): `insert … on conflict (shard_key) do update set version = key_versions.version + 1
// returning`, appended to version_history, `pg_notify('prescient_versions', '<key> <version>')` per key. So a key is
// bumped once per writing transaction.
//   Why at commit, not per statement (schema version 1 did it per statement): a key_versions row lock taken by a
//   statement is held to commit, after the statement's own row locks; T1 (row 1, then key K) and T2 (row 2, waits for
//   K) deadlock as soon as T1 goes on to row 2 — a deadlock the application does not have without the trigger. Taken
//   at commit, when the transaction waits for nothing else, and in sorted order, key locks cannot close a cycle.
//   Rolled back (or rolled back to a savepoint): the pending keys go with it — no bump, no notification. NOTIFY is
//   delivered at commit. `SET CONSTRAINTS ALL IMMEDIATE` makes the flush run at the end of each statement instead
//   (the version-1 behaviour, deadlock included).
//   Why a table and not a transaction-local setting (set_config(…, true)) for the pending keys: any writer can SET or
//   RESET such a setting and so drop its own bumps (a stale cache), a per-row constraint trigger on the versioned
//   table to queue the flush without a pending row would queue one event per written row (memory for bulk writes),
//   and measured, the setting was not cheaper than the unlogged row.
//   No SET search_path on the SECURITY DEFINER functions (from version 3): it costs a GUC save and restore per call;
//   instead every function, operator, type and collation they use is qualified with pg_catalog, and the only
//   unqualified relations are the trigger's transition tables (which resolve before any schema).
//
// Key `*_<domain>` (TRUNCATE): every key of the domain is invalid at once — a cache must drop (or stop trusting)
// every entry of that domain, whatever its account; VersionTracker turns it into a per-domain token.
//
// Costs worth knowing (scripts/bench-triggers.ts measures them): every writing transaction takes NOTIFY's
// commit-time lock, which serializes the commits of all notifying transactions of the database (with
// synchronous_commit on, across the WAL flush: no group commit between them); two transactions writing the same key
// serialize at their commits; INSERT … ON CONFLICT DO UPDATE and MERGE fire the INSERT and UPDATE triggers (still
// one bump per key per transaction); version_history grows with every write (prune it by `at` or `txid` as
// retention requires); a transaction that wrote a versioned table cannot PREPARE TRANSACTION (it NOTIFYs).
import type pg from 'pg';
import type { Config } from '../../config/schema.js';
import { VersionsError, VersionsErrorCode } from './VersionsError.js';

/** The schema that holds the version tables on every shard. */
export const VERSIONS_SCHEMA = 'prescient';
/** The NOTIFY channel the trigger announces `<shard_key> <version>` on. */
export const VERSIONS_CHANNEL = 'prescient_versions';
/** The prefix of the account part of a TRUNCATE key: `*_<domain>` means every key of the domain. */
export const TRUNCATE_ACCOUNT = '*';

/** A versioned table: its name (optionally schema-qualified), the column holding the account id, its domain. */
export interface VersionedTable {
  table: string;
  accountColumn: string;
  domain: string;
}

export interface InstallResult {
  /** true when this call created the schema or applied upgrade steps */
  installed: boolean;
  /** the schema version now on the shard */
  schemaVersion: number;
  /** version triggers now in place on the listed tables (four per table found) */
  triggers: number;
  /** triggers this call created or replaced (0 when nothing changed: re-running is a no-op) */
  changed: number;
  /** version triggers dropped from tables no longer listed (only with prune) */
  removed: number;
  /** tables skipped (missing, not a table, no such account column), one line each */
  warnings: string[];
}

export interface InstallOptions {
  /** drop version triggers from tables that are not listed (default true: the config is the truth) */
  prune?: boolean;
  /** SET LOCAL lock_timeout for the install transaction (CREATE TRIGGER waits for writers), default 10 000 ms */
  lockTimeoutMs?: number;
  /** apply install steps only up to this schema version (tests of the upgrade path); default SHARD_SCHEMA_VERSION */
  upTo?: number;
}

const TRIGGER_FUNCTION = `${VERSIONS_SCHEMA}.on_write()`;
const TRIGGERS = [
  { name: 'prescient_versions_insert', event: 'insert', referencing: 'referencing new table as prescient_new' },
  { name: 'prescient_versions_update', event: 'update', referencing: 'referencing old table as prescient_old new table as prescient_new' },
  { name: 'prescient_versions_delete', event: 'delete', referencing: 'referencing old table as prescient_old' },
  { name: 'prescient_versions_truncate', event: 'truncate', referencing: '' },
] as const;

/** Install steps: step i brings the schema to version i + 1. Append only (a new step may `create or replace` the function). */
const STEPS: string[] = [
  `
  create table prescient.key_versions (
    shard_key text primary key,
    version bigint not null,
    updated_at timestamptz not null default now()
  );
  create table prescient.version_history (
    id bigserial primary key,
    shard_key text not null,
    version bigint not null,
    at timestamptz not null default now(),
    txid xid8 not null default pg_current_xact_id()
  );
  create index version_history_key on prescient.version_history (shard_key, version);
  create function prescient.on_write() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
  declare
    col text := TG_ARGV[0];
    suffix text := '_' || TG_ARGV[1];
    keys text[];
    n int;
  begin
    if TG_OP = 'TRUNCATE' then
      keys := array['*' || suffix];
    elsif TG_OP = 'INSERT' then
      execute format('select array_agg(k) from (select distinct (%1$I::text || %2$L) collate "C" as k'
                     ' from prescient_new where %1$I is not null) s', col, suffix) into keys;
    elsif TG_OP = 'UPDATE' then
      execute format('select array_agg(k) from (select (%1$I::text || %2$L) collate "C" as k from prescient_old where %1$I is not null'
                     ' union select (%1$I::text || %2$L) collate "C" from prescient_new where %1$I is not null) s', col, suffix) into keys;
    else
      execute format('select array_agg(k) from (select distinct (%1$I::text || %2$L) collate "C" as k'
                     ' from prescient_old where %1$I is not null) s', col, suffix) into keys;
    end if;
    if keys is null then
      return null;
    end if;
    -- one bump per key, rows locked in sorted order (no deadlock between two multi-key statements)
    with bumped as (
      insert into prescient.key_versions as kv (shard_key, version)
      select k, 1 from unnest(keys) as u(k) order by k collate "C"
      on conflict (shard_key) do update set version = kv.version + 1, updated_at = now()
      returning kv.shard_key, kv.version
    ), logged as (
      insert into prescient.version_history (shard_key, version) select b.shard_key, b.version from bumped b
    )
    select count(pg_notify('${VERSIONS_CHANNEL}', b.shard_key || ' ' || b.version)) into n from bumped b;
    return null;
  end $fn$;
  revoke all on function prescient.on_write() from public;
  `,
  // 2: keys collected per transaction, bumped at commit (see the header: no deadlock with the transaction's row locks)
  `
  create unlogged table prescient.pending_bumps (txid xid8 primary key, keys text[] not null);
  create or replace function prescient.on_write() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
  declare
    col text := TG_ARGV[0];
    suffix text := '_' || TG_ARGV[1];
    touched text[];
  begin
    if TG_OP = 'TRUNCATE' then
      touched := array['*' || suffix];
    elsif TG_OP = 'INSERT' then
      execute format('select array_agg(k) from (select distinct (%1$I::text || %2$L) collate "C" as k'
                     ' from prescient_new where %1$I is not null) s', col, suffix) into touched;
    elsif TG_OP = 'UPDATE' then
      execute format('select array_agg(k) from (select (%1$I::text || %2$L) collate "C" as k from prescient_old where %1$I is not null'
                     ' union select (%1$I::text || %2$L) collate "C" from prescient_new where %1$I is not null) s', col, suffix) into touched;
    else
      execute format('select array_agg(k) from (select distinct (%1$I::text || %2$L) collate "C" as k'
                     ' from prescient_old where %1$I is not null) s', col, suffix) into touched;
    end if;
    if touched is null then
      return null;
    end if;
    -- this transaction's own row: the first write inserts it (queueing the commit-time flush), later ones merge keys
    insert into prescient.pending_bumps as p (txid, keys) values (pg_current_xact_id(), touched)
    on conflict (txid) do update set keys = array(select distinct k from unnest(p.keys || excluded.keys) as u(k));
    return null;
  end $fn$;
  create function prescient.flush_bumps() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
  declare
    touched text[];
    n int;
  begin
    delete from prescient.pending_bumps where txid = NEW.txid returning pending_bumps.keys into touched;
    if touched is null then
      return null;
    end if;
    -- one bump per key, rows locked in sorted order (no deadlock between two committing transactions)
    with bumped as (
      insert into prescient.key_versions as kv (shard_key, version)
      select k, 1 from unnest(touched) as u(k) order by k collate "C"
      on conflict (shard_key) do update set version = kv.version + 1, updated_at = now()
      returning kv.shard_key, kv.version
    ), logged as (
      insert into prescient.version_history (shard_key, version) select b.shard_key, b.version from bumped b
    )
    select count(pg_notify('${VERSIONS_CHANNEL}', b.shard_key || ' ' || b.version)) into n from bumped b;
    return null;
  end $fn$;
  revoke all on function prescient.flush_bumps() from public;
  create constraint trigger prescient_flush_bumps after insert on prescient.pending_bumps
    deferrable initially deferred for each row execute function prescient.flush_bumps();
  `,
  // 3: per-table trigger functions with static SQL, generated at install (triggerFunctionBody below: no EXECUTE, their
  // plans are cached); no SET search_path on the SECURITY DEFINER functions (everything is schema-qualified instead:
  // the SET costs a GUC save/restore per call); a flush with a one-key fast path (three small statements, no sort)
  `
  alter table prescient.key_versions set (fillfactor = 50);
  create or replace function prescient.flush_bumps() returns trigger
  language plpgsql security definer as $fn$
  declare
    touched pg_catalog.text[];
    v pg_catalog.int8;
    n pg_catalog.int4;
  begin
    delete from prescient.pending_bumps as p where p.txid OPERATOR(pg_catalog.=) NEW.txid returning p.keys into touched;
    if touched is null then
      return null;
    end if;
    if pg_catalog.cardinality(touched) OPERATOR(pg_catalog.=) 1 then
      -- the common case (one account written): an existing key is one UPDATE by primary key
      update prescient.key_versions as kv set version = kv.version OPERATOR(pg_catalog.+) 1, updated_at = pg_catalog.now()
      where kv.shard_key OPERATOR(pg_catalog.=) touched[1] returning kv.version into v;
      if not found then
        insert into prescient.key_versions as kv (shard_key, version) values (touched[1], 1)
        on conflict (shard_key) do update set version = kv.version OPERATOR(pg_catalog.+) 1, updated_at = pg_catalog.now()
        returning kv.version into v;
      end if;
      insert into prescient.version_history (shard_key, version) values (touched[1], v);
      perform pg_catalog.pg_notify('${VERSIONS_CHANNEL}', touched[1] OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) v);
      return null;
    end if;
    -- several keys: one bump each, rows locked in sorted order (no deadlock between two committing transactions)
    with bumped as (
      insert into prescient.key_versions as kv (shard_key, version)
      select k, 1 from pg_catalog.unnest(touched) as u(k) order by k collate pg_catalog."C"
      on conflict (shard_key) do update set version = kv.version OPERATOR(pg_catalog.+) 1, updated_at = pg_catalog.now()
      returning kv.shard_key, kv.version
    ), logged as (
      insert into prescient.version_history (shard_key, version) select b.shard_key, b.version from bumped b
    )
    select pg_catalog.count(pg_catalog.pg_notify('${VERSIONS_CHANNEL}', b.shard_key OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) b.version))
    into n from bumped b;
    return null;
  end $fn$;
  `,
];
export const SHARD_SCHEMA_VERSION = STEPS.length;
/** From this schema version on, each table's triggers call a function generated for that table (before: prescient.on_write()). */
const PER_TABLE_FUNCTIONS_FROM = 3;
/** `prescient.on_write_<table oid>`: the generated trigger function of one table */
const TABLE_FUNCTION_PREFIX = 'on_write_';

/**
 * The body of a table's generated trigger function (schema version 3 on): the account column and the domain are baked
 * into static SQL over the transition tables, so plpgsql plans each query once per session instead of EXECUTE's parse
 * and plan per statement. SECURITY DEFINER without SET search_path: every function, operator, type and collation is
 * schema-qualified and the only unqualified relations are the trigger's transition tables (which resolve before any
 * schema), so a writer's search_path cannot redirect anything. install compares this text with the installed one.
 */
export function triggerFunctionBody(t: Pick<VersionedTable, 'accountColumn' | 'domain'>): string {
  const col = quoteIdent(t.accountColumn);
  const key = `(${col}::pg_catalog.text OPERATOR(pg_catalog.||) ${sqlLiteral(`_${t.domain}`)})`;
  const keysOf = (transition: string): string => `select ${key} as k from ${transition} where ${col} is not null`;
  return `
declare
  touched pg_catalog.text[];
begin
  -- the distinct keys <account>::text || '_' || <domain> of the rows this statement touched (a NULL account: no key)
  if TG_OP OPERATOR(pg_catalog.=) 'INSERT' then
    touched := array(select distinct s.k from (${keysOf('prescient_new')}) s);
  elsif TG_OP OPERATOR(pg_catalog.=) 'UPDATE' then
    touched := array(select distinct s.k from (${keysOf('prescient_old')} union all ${keysOf('prescient_new')}) s);
  elsif TG_OP OPERATOR(pg_catalog.=) 'DELETE' then
    touched := array(select distinct s.k from (${keysOf('prescient_old')}) s);
  else
    touched := array[${sqlLiteral(`${TRUNCATE_ACCOUNT}_${t.domain}`)}::pg_catalog.text];
  end if;
  if pg_catalog.cardinality(touched) OPERATOR(pg_catalog.=) 0 then
    return null;
  end if;
  -- this transaction's own row: the first write inserts it (queueing the one commit-time flush), later ones merge keys
  insert into prescient.pending_bumps (txid, keys) values (pg_catalog.pg_current_xact_id(), touched) on conflict (txid) do nothing;
  if not found then
    update prescient.pending_bumps as p
    set keys = array(select distinct u.k from pg_catalog.unnest(p.keys OPERATOR(pg_catalog.||) touched) as u(k))
    where p.txid OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id() and not p.keys OPERATOR(pg_catalog.@>) touched;
  end if;
  return null;
end
`;
}

/** `"a"."b"` for `a.b`: each dotted part quoted as written (unquoted config names are the lower-case names the parser gives). */
export function quoteTableName(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new VersionsError(VersionsErrorCode.InvalidArgument, `table name "${table}": expected table or schema.table`);
  }
  return parts.map(quoteIdent).join('.');
}

export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new VersionsError(VersionsErrorCode.InvalidArgument, 'identifier with a NUL byte');
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(s: string): string {
  if (s.includes('\0')) throw new VersionsError(VersionsErrorCode.InvalidArgument, 'literal with a NUL byte');
  return `'${s.replace(/'/g, "''")}'`;
}

/** A string literal that reads the same whatever standard_conforming_strings is (E'…' when it holds a backslash). */
function sqlLiteral(s: string): string {
  return s.includes('\\') ? `E${quoteLiteral(s.replace(/\\/g, '\\\\'))}` : quoteLiteral(s);
}

/** `$prescient$`, or a variant of that tag the text does not contain, to dollar-quote it */
function dollarTag(text: string): string {
  let tag = '$prescient$';
  for (let i = 1; text.includes(tag); i++) tag = `$prescient${i}$`;
  return tag;
}

function unqualified(table: string): string {
  const dot = table.lastIndexOf('.');
  return dot < 0 ? table : table.slice(dot + 1);
}

/**
 * The versioned tables of a config, as the router sees them: every table of every `sharding.domains.<d>.tables`
 * (domain d), plus every `sharding.tables` key outside all domains (its own domain: the unqualified table name).
 * The account column is the per-table override, else `sharding.account_column`. Global tables are not versioned.
 */
export function tablesFromConfig(config: Pick<Config, 'sharding'>): VersionedTable[] {
  const s = config.sharding;
  const column = (t: string): string => s.tables[t]?.account_column ?? s.tables[unqualified(t)]?.account_column ?? s.account_column;
  const out: VersionedTable[] = [];
  const seen = new Set<string>();
  for (const [domain, d] of Object.entries(s.domains)) {
    for (const table of d.tables) {
      if (seen.has(table)) continue;
      seen.add(table);
      out.push({ table, accountColumn: column(table), domain });
    }
  }
  const global = new Set(s.global_tables);
  for (const table of Object.keys(s.tables)) {
    if (seen.has(table) || global.has(table)) continue;
    seen.add(table);
    out.push({ table, accountColumn: column(table), domain: unqualified(table) });
  }
  return out;
}

interface ExistingTrigger {
  /** the table's oid, as text */
  relid: string;
  name: string;
  args: string[];
  /** the trigger function's oid, as text */
  foid: string;
}

/** tgargs: each argument followed by a NUL byte */
function decodeArgs(raw: Buffer | string | null): string[] {
  if (raw === null) return [];
  const buf = typeof raw === 'string' ? Buffer.from(raw, 'binary') : raw;
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0) {
      out.push(buf.subarray(start, i).toString('utf8'));
      start = i + 1;
    }
  }
  return out;
}

/**
 * Installs or upgrades the prescient schema and (re)creates the version triggers on each listed table that exists,
 * in one transaction (serialized across concurrent installers by an advisory lock). Idempotent: a second run with
 * the same tables changes nothing. `client` must be idle (not in a transaction); it needs the right to create a
 * schema and to create triggers on the tables (their owner or a superuser).
 */
export async function installShardSchema(client: pg.ClientBase, tables: VersionedTable[], opts: InstallOptions = {}): Promise<InstallResult> {
  const wanted = new Map<string, VersionedTable>();
  for (const t of tables) {
    if (!t.accountColumn || !t.domain) {
      throw new VersionsError(VersionsErrorCode.InvalidArgument, `table "${t.table}": account column and domain must not be empty`);
    }
    quoteTableName(t.table);
    const prev = wanted.get(t.table);
    if (prev && (prev.accountColumn !== t.accountColumn || prev.domain !== t.domain)) {
      throw new VersionsError(VersionsErrorCode.InvalidArgument, `table "${t.table}" listed twice with different settings`);
    }
    wanted.set(t.table, t);
  }
  const result: InstallResult = { installed: false, schemaVersion: 0, triggers: 0, changed: 0, removed: 0, warnings: [] };
  await client.query('begin');
  try {
    await client.query(`set local lock_timeout = ${Math.max(0, Math.floor(opts.lockTimeoutMs ?? 10_000))}`);
    await client.query('select pg_advisory_xact_lock(hashtext($1))', [`${VERSIONS_SCHEMA}.install`]);
    await client.query(`create schema if not exists ${VERSIONS_SCHEMA}`);
    await client.query(
      `create table if not exists ${VERSIONS_SCHEMA}.schema_version (id int primary key default 1 check (id = 1), version int not null)`,
    );
    const r = await client.query(`select version from ${VERSIONS_SCHEMA}.schema_version`);
    let v = r.rows.length ? Number(r.rows[0].version) : 0;
    if (v > STEPS.length) {
      throw new VersionsError(
        VersionsErrorCode.SchemaTooNew,
        `the ${VERSIONS_SCHEMA} schema on this shard is version ${v}, newer than this proxy supports (${STEPS.length})`,
      );
    }
    const target = Math.max(1, Math.min(STEPS.length, Math.floor(opts.upTo ?? STEPS.length)));
    for (; v < target; v++) {
      await client.query(STEPS[v]!);
      result.installed = true;
    }
    await client.query(
      `insert into ${VERSIONS_SCHEMA}.schema_version (id, version) values (1, $1) on conflict (id) do update set version = excluded.version`,
      [v],
    );
    result.schemaVersion = v;

    // every version trigger, whichever prescient function it calls (v1/v2: on_write(); v3 on: the table's own)
    const existingRows = (
      await client.query(
        `select t.tgrelid::text as relid, t.tgname, t.tgargs, t.tgfoid::text as foid
         from pg_catalog.pg_trigger t join pg_catalog.pg_proc p on p.oid = t.tgfoid
         where p.pronamespace = $1::regnamespace and t.tgname = any($2::text[]) and not t.tgisinternal`,
        [VERSIONS_SCHEMA, TRIGGERS.map((tr) => tr.name)],
      )
    ).rows as { relid: string; tgname: string; tgargs: Buffer | null; foid: string }[];
    const existing = new Map<string, ExistingTrigger>();
    for (const row of existingRows) {
      existing.set(`${row.relid}/${row.tgname}`, { relid: row.relid, name: row.tgname, args: decodeArgs(row.tgargs), foid: row.foid });
    }
    const keep = new Set<string>();
    const perTable = v >= PER_TABLE_FUNCTIONS_FROM;
    const sharedFunction = perTable ? undefined : String((await client.query('select $1::regprocedure::oid::text as oid', [TRIGGER_FUNCTION])).rows[0].oid);

    for (const t of wanted.values()) {
      const quoted = quoteTableName(t.table);
      const rel = (
        await client.query(
          `select c.oid::text as relid, c.relkind, c.oid::regclass::text as name,
                  exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attname = $2 and a.attnum > 0 and not a.attisdropped) as has_column
           from pg_catalog.pg_class c where c.oid = to_regclass($1)`,
          [quoted, t.accountColumn],
        )
      ).rows[0] as { relid: string; relkind: string; name: string; has_column: boolean } | undefined;
      if (!rel) {
        result.warnings.push(`table ${t.table} does not exist on this shard: skipped`);
        continue;
      }
      if (rel.relkind !== 'r' && rel.relkind !== 'p') {
        result.warnings.push(`${t.table} is not a table (relkind ${rel.relkind}): skipped`);
        continue;
      }
      if (!rel.has_column) {
        result.warnings.push(`table ${t.table} has no column ${t.accountColumn}: skipped`);
        continue;
      }
      const args = [t.accountColumn, t.domain];
      // the function the triggers must call; a table's function whose text differs (another column or domain, or the
      // body of another release) is replaced, and so are its triggers
      let fn = `${VERSIONS_SCHEMA}.on_write`;
      let fnOid = sharedFunction!;
      let fnReplaced = false;
      if (perTable) {
        fn = `${VERSIONS_SCHEMA}.${quoteIdent(TABLE_FUNCTION_PREFIX + rel.relid)}`;
        const body = triggerFunctionBody(t);
        const have = (
          await client.query(
            `select p.oid::text as oid, p.prosrc = $2 and p.prosecdef and p.proconfig is null and p.prolang = (select oid from pg_catalog.pg_language where lanname = 'plpgsql') as same
             from pg_catalog.pg_proc p where p.pronamespace = $3::regnamespace and p.proname = $1 and p.pronargs = 0`,
            [TABLE_FUNCTION_PREFIX + rel.relid, body, VERSIONS_SCHEMA],
          )
        ).rows[0] as { oid: string; same: boolean } | undefined;
        if (!have?.same) {
          const tag = dollarTag(body);
          await client.query(`create or replace function ${fn}() returns trigger language plpgsql security definer as ${tag}${body}${tag}`);
          await client.query(`revoke all on function ${fn}() from public`);
          await client.query(`comment on function ${fn}() is ${sqlLiteral(`the prescient version triggers of ${rel.name} (generated by installShardSchema)`)}`);
          fnReplaced = true;
        }
        fnOid = have?.oid ?? String((await client.query(`select '${fn}()'::regprocedure::oid::text as oid`)).rows[0].oid);
      }
      for (const trig of TRIGGERS) {
        const id = `${rel.relid}/${trig.name}`;
        keep.add(id);
        result.triggers++;
        const have = existing.get(id);
        if (have && !fnReplaced && have.foid === fnOid && have.args.length === 2 && have.args[0] === args[0] && have.args[1] === args[1]) continue;
        if (have) await client.query(`drop trigger ${quoteIdent(trig.name)} on ${quoted}`);
        await client.query(
          `create trigger ${quoteIdent(trig.name)} after ${trig.event} on ${quoted} ${trig.referencing}
           for each statement execute function ${fn}(${args.map(sqlLiteral).join(', ')})`,
        );
        result.changed++;
      }
    }
    if (opts.prune ?? true) {
      for (const [id, trig] of existing) {
        if (keep.has(id)) continue;
        const name = (await client.query('select $1::oid::regclass::text as name', [trig.relid])).rows[0].name as string;
        await client.query(`drop trigger ${quoteIdent(trig.name)} on ${name}`);
        result.removed++;
      }
    }
    // generated functions no trigger calls any more (their table dropped, or its triggers pruned)
    const orphans = (
      await client.query(
        `select p.oid::regprocedure::text as f from pg_catalog.pg_proc p
         where p.pronamespace = $1::regnamespace and p.proname ~ $2
           and not exists (select 1 from pg_catalog.pg_trigger t where t.tgfoid = p.oid)`,
        [VERSIONS_SCHEMA, `^${TABLE_FUNCTION_PREFIX}[0-9]+$`],
      )
    ).rows as { f: string }[];
    for (const o of orphans) await client.query(`drop function ${o.f}`);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
  return result;
}

/** The schema version on a shard (0 when the prescient schema is not installed). */
export async function shardSchemaVersion(client: pg.ClientBase): Promise<number> {
  const r = await client.query(`select to_regclass($1) is not null as present`, [`${VERSIONS_SCHEMA}.schema_version`]);
  if (!r.rows[0].present) return 0;
  const v = await client.query(`select version from ${VERSIONS_SCHEMA}.schema_version`);
  return v.rows.length ? Number(v.rows[0].version) : 0;
}

/** A bigint column value as a number when exact, else a bigint. */
function toVersion(v: string | number): bigint | number {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : BigInt(v);
}

/** Current versions of `keys` (all keys when omitted) on the shard; keys never written are absent. */
export async function readVersions(client: pg.ClientBase, keys?: string[]): Promise<Map<string, bigint | number>> {
  const r =
    keys === undefined
      ? await client.query(`select shard_key, version from ${VERSIONS_SCHEMA}.key_versions`)
      : await client.query(`select shard_key, version from ${VERSIONS_SCHEMA}.key_versions where shard_key = any($1::text[])`, [keys]);
  const out = new Map<string, bigint | number>();
  for (const row of r.rows as { shard_key: string; version: string }[]) out.set(row.shard_key, toVersion(row.version));
  return out;
}

/** The shard schema in one value: names and the operations above. */
export const ShardSchema = {
  schema: VERSIONS_SCHEMA,
  channel: VERSIONS_CHANNEL,
  version: SHARD_SCHEMA_VERSION,
  triggerNames: TRIGGERS.map((t) => t.name),
  install: installShardSchema,
  installedVersion: shardSchemaVersion,
  readVersions,
  tablesFromConfig,
} as const;
