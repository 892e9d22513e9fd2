// SystemCatalog owns which statements read only Postgres' own catalogs (pg_catalog, information_schema) and which of those read per-server state (pg_stat_*, pg_locks, pg_backend_pid(), …).
import type { SystemScope } from './types.js';

// libpg-query's JSON tree, walked loosely
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The relations of pg_catalog (tables and views of Postgres 15, plus the ones later versions added). An unqualified
 * name among these resolves to pg_catalog: Postgres searches pg_catalog before the search_path unless told otherwise.
 */
const PG_CATALOG_RELATIONS: ReadonlySet<string> = new Set([
  'pg_aggregate', 'pg_aios', 'pg_am', 'pg_amop', 'pg_amproc', 'pg_attrdef', 'pg_attribute', 'pg_auth_members',
  'pg_authid', 'pg_available_extension_versions', 'pg_available_extensions', 'pg_backend_memory_contexts', 'pg_cast',
  'pg_class', 'pg_collation', 'pg_config', 'pg_constraint', 'pg_conversion', 'pg_cursors', 'pg_database',
  'pg_db_role_setting', 'pg_default_acl', 'pg_depend', 'pg_description', 'pg_enum', 'pg_event_trigger',
  'pg_extension', 'pg_file_settings', 'pg_foreign_data_wrapper', 'pg_foreign_server', 'pg_foreign_table', 'pg_group',
  'pg_hba_file_rules', 'pg_ident_file_mappings', 'pg_index', 'pg_indexes', 'pg_inherits', 'pg_init_privs',
  'pg_language', 'pg_largeobject', 'pg_largeobject_metadata', 'pg_locks', 'pg_matviews', 'pg_namespace', 'pg_opclass',
  'pg_operator', 'pg_opfamily', 'pg_parameter_acl', 'pg_partitioned_table', 'pg_policies', 'pg_policy',
  'pg_prepared_statements', 'pg_prepared_xacts', 'pg_proc', 'pg_publication', 'pg_publication_namespace',
  'pg_publication_rel', 'pg_publication_tables', 'pg_range', 'pg_replication_origin', 'pg_replication_origin_status',
  'pg_replication_slots', 'pg_rewrite', 'pg_roles', 'pg_rules', 'pg_seclabel', 'pg_seclabels', 'pg_sequence',
  'pg_sequences', 'pg_settings', 'pg_shadow', 'pg_shdepend', 'pg_shdescription', 'pg_shmem_allocations',
  'pg_shmem_allocations_numa', 'pg_shseclabel', 'pg_stat_activity', 'pg_stat_all_indexes', 'pg_stat_all_tables',
  'pg_stat_archiver', 'pg_stat_bgwriter', 'pg_stat_checkpointer', 'pg_stat_database', 'pg_stat_database_conflicts',
  'pg_stat_gssapi', 'pg_stat_io', 'pg_stat_progress_analyze', 'pg_stat_progress_basebackup',
  'pg_stat_progress_cluster', 'pg_stat_progress_copy', 'pg_stat_progress_create_index', 'pg_stat_progress_vacuum',
  'pg_stat_recovery_prefetch', 'pg_stat_replication', 'pg_stat_replication_slots', 'pg_stat_slru', 'pg_stat_ssl',
  'pg_stat_subscription', 'pg_stat_subscription_stats', 'pg_stat_sys_indexes', 'pg_stat_sys_tables',
  'pg_stat_user_functions', 'pg_stat_user_indexes', 'pg_stat_user_tables', 'pg_stat_wal', 'pg_stat_wal_receiver',
  'pg_stat_xact_all_tables', 'pg_stat_xact_sys_tables', 'pg_stat_xact_user_functions', 'pg_stat_xact_user_tables',
  'pg_statio_all_indexes', 'pg_statio_all_sequences', 'pg_statio_all_tables', 'pg_statio_sys_indexes',
  'pg_statio_sys_sequences', 'pg_statio_sys_tables', 'pg_statio_user_indexes', 'pg_statio_user_sequences',
  'pg_statio_user_tables', 'pg_statistic', 'pg_statistic_ext', 'pg_statistic_ext_data', 'pg_stats', 'pg_stats_ext',
  'pg_stats_ext_exprs', 'pg_subscription', 'pg_subscription_rel', 'pg_tables', 'pg_tablespace', 'pg_timezone_abbrevs',
  'pg_timezone_names', 'pg_transform', 'pg_trigger', 'pg_ts_config', 'pg_ts_config_map', 'pg_ts_dict', 'pg_ts_parser',
  'pg_ts_template', 'pg_type', 'pg_user', 'pg_user_mapping', 'pg_user_mappings', 'pg_views', 'pg_wait_events'
]);

/** pg_catalog views whose rows are the state of one server (its backends, locks, settings, statistics, sequences). */
const SERVER_VIEWS: ReadonlySet<string> = new Set([
  'pg_locks', 'pg_cursors', 'pg_prepared_statements', 'pg_prepared_xacts', 'pg_settings', 'pg_file_settings',
  'pg_hba_file_rules', 'pg_ident_file_mappings', 'pg_backend_memory_contexts', 'pg_replication_slots',
  'pg_replication_origin_status', 'pg_shmem_allocations', 'pg_shmem_allocations_numa', 'pg_aios', 'pg_sequences',
]);

/** Functions whose result is the state of the server (or of the session on it) that answers. */
const SERVER_FUNCTIONS: ReadonlySet<string> = new Set([
  'pg_backend_pid', 'pg_blocking_pids', 'pg_safe_snapshot_blocking_pids', 'pg_terminate_backend', 'pg_cancel_backend',
  'pg_postmaster_start_time', 'pg_conf_load_time', 'pg_is_in_recovery', 'pg_current_wal_lsn', 'pg_current_wal_insert_lsn',
  'pg_current_wal_flush_lsn', 'pg_last_wal_receive_lsn', 'pg_last_wal_replay_lsn', 'pg_listening_channels',
  'pg_notification_queue_usage', 'pg_my_temp_schema', 'pg_is_other_temp_schema', 'pg_trigger_depth', 'inet_server_addr',
  'inet_server_port', 'inet_client_addr', 'inet_client_port', 'current_setting', 'set_config', 'txid_current',
  'txid_current_if_assigned', 'txid_current_snapshot', 'pg_current_xact_id', 'pg_current_xact_id_if_assigned',
  'pg_current_snapshot', 'pg_reload_conf', 'pg_log_backend_memory_contexts', 'lastval', 'currval', 'nextval', 'setval',
]);

function isServerFunction(fn: string): boolean {
  return SERVER_FUNCTIONS.has(fn) || fn.startsWith('pg_stat_') || fn.includes('advisory');
}

/** The pg_catalog relation a table name (as the analyzer reports it) names, or null for anything else. */
function catalogRelation(table: string): string | null {
  const dot = table.indexOf('.');
  if (dot < 0) return PG_CATALOG_RELATIONS.has(table) ? table : null;
  return table.slice(0, dot) === 'pg_catalog' && table.indexOf('.', dot + 1) < 0 ? table.slice(dot + 1) : null;
}

/** Is this table name one of Postgres' own catalogs: pg_catalog (qualified, or a known unqualified name) or information_schema? */
export function isSystemTable(table: string): boolean {
  return catalogRelation(table) !== null || table.startsWith('information_schema.');
}

function callsServerFunction(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some(callsServerFunction);
  const o = node as Node;
  for (const key in o) {
    const v = o[key];
    if (key === 'FuncCall') {
      const names = v.funcname as Node[] | undefined;
      const fn = names?.[names.length - 1]?.String?.sval as string | undefined;
      if (fn !== undefined && isServerFunction(fn)) return true;
    }
    if (v !== null && typeof v === 'object' && callsServerFunction(v)) return true;
  }
  return false;
}

/**
 * A statement whose every table is a system catalog: 'server' when it reads per-server state (a pg_stat* view,
 * pg_locks, pg_settings, … or calls a function such as pg_backend_pid()), else 'catalog'. Null when it names no
 * table, or any other table (a join of a catalog with a user table routes by the user table).
 */
export function systemScope(stmt: unknown, tables: readonly string[]): SystemScope | null {
  if (tables.length === 0) return null;
  let server = false;
  for (const t of tables) {
    if (t.startsWith('information_schema.')) continue;
    const rel = catalogRelation(t);
    if (rel === null) return null;
    if (rel.startsWith('pg_stat') || SERVER_VIEWS.has(rel)) server = true;
  }
  return server || callsServerFunction(stmt) ? 'server' : 'catalog';
}
