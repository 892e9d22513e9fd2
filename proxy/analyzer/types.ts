// types owns the analyzer's public value types: StatementKind, KeyLocation, MergeSpec, StatementInfo, and the cached per-shape Template.
import type { SessionStatement } from './SessionStatements.js';

export const StatementKind = {
  Select: 'Select',
  Insert: 'Insert',
  Update: 'Update',
  Delete: 'Delete',
  Ddl: 'Ddl',
  Begin: 'Begin',
  Commit: 'Commit',
  Rollback: 'Rollback',
  Savepoint: 'Savepoint',
  Set: 'Set',
  Show: 'Show',
  Copy: 'Copy',
  Listen: 'Listen',
  Notify: 'Notify',
  Prepare: 'Prepare',
  Execute: 'Execute',
  Deallocate: 'Deallocate',
  Discard: 'Discard',
  Other: 'Other',
} as const;
export type StatementKind = (typeof StatementKind)[keyof typeof StatementKind];

/** Where a statement's account id sits: a literal value (bound from this statement's text) or a `$n` parameter. */
export type KeyLocation = { kind: 'literal'; value: string } | { kind: 'param'; index: number };

export interface Setting {
  /** `prescient.account` or `prescient.action` (lower-cased) */
  name: string;
  /** the value set; null for RESET / SET … TO DEFAULT */
  value: string | null;
  /** SET LOCAL */
  local: boolean;
}

export interface MergeSortKey {
  /** output column name when ORDER BY names a plain column ref (unqualified or alias.col) or an output alias */
  column: string | null;
  /** 1-based output position when ORDER BY uses a number */
  position: number | null;
  desc: boolean;
  /** Postgres default: NULLS LAST for ASC, NULLS FIRST for DESC */
  nullsFirst: boolean;
}

/**
 * How to merge the rows of a SELECT sent to every shard (UNION ALL, then ORDER BY, then LIMIT).
 * Bound specs are frozen and may be shared between statements: do not mutate. When `unmergeable` is set,
 * `orderBy` is empty and `limit` null.
 */
export interface MergeSpec {
  orderBy: MergeSortKey[];
  /** LIMIT n (literal, bound from this statement's literals) or LIMIT $k (param index), null = none; LIMIT ALL = null */
  limit: { value: number } | { param: number } | null;
  /** why rows from several shards cannot be merged into the answer Postgres would give; null = mergeable.
      e.g. 'aggregate function count', 'GROUP BY', 'DISTINCT', 'window function', 'OFFSET', 'UNION/INTERSECT/EXCEPT', 'ORDER BY expression' , 'FETCH/LIMIT expression', 'ORDER BY with COLLATE or USING' */
  unmergeable: string | null;
  /** set when the SELECT aggregates at its top level (aggregate functions or GROUP BY): how each shard's groups merge */
  aggregate?: MergeAggregate;
}

/** The aggregate functions a fan-out merges exactly (avg as sum and count per shard). */
export type MergeAggregateFunction = 'count' | 'sum' | 'min' | 'max' | 'avg';

/** One output column of an aggregate SELECT: a grouping column (any non-aggregate expression) or an aggregate function. */
export type MergeAggregateColumn =
  | { kind: 'group' }
  /** for avg: `name` is the output name the client sees, `count` the 0-based shard column holding count(args) (the shard computes sum(args) in place) */
  | { kind: 'aggregate'; fn: MergeAggregateFunction; name: string | null; count: number | null };

export interface MergeAggregate {
  /** one entry per output column the client sees, in order; shards return these plus `hidden` trailing columns */
  columns: readonly MergeAggregateColumn[];
  /** trailing shard columns the client does not see (count(args) of each avg) */
  hidden: number;
  /** GROUP BY present: zero rows merge to zero rows; without it, all shard rows merge to one */
  grouped: boolean;
  /** the shard text differs from the client's (avg → sum + count, a GROUP BY's LIMIT removed): see Rewrite.shardText */
  rewrite: boolean;
}

/**
 * A statement that reads only Postgres' own catalogs (pg_catalog, information_schema): 'catalog' when every shard
 * answers it alike, 'server' when it reads the state of the server that answers (pg_stat_activity, pg_locks,
 * pg_settings, pg_backend_pid(), …).
 */
export type SystemScope = 'catalog' | 'server';

export interface StatementInfo {
  kind: StatementKind;
  /** relations read or written, in order of appearance, deduplicated; CTE names excluded */
  tables: readonly string[];
  /** changes no data (SELECT without FOR UPDATE/SHARE, writable CTE, INTO or nextval/setval…; SHOW, SET, BEGIN/COMMIT/…, LISTEN, COPY … TO, EXPLAIN) */
  readOnly: boolean;
  /** a read-only SELECT with no volatile function, no locking clause, no writable CTE */
  cacheable: boolean;
  /** the account key; with multipleKeys, the first of an enumerable list (IN (a, b), VALUES rows), null for `= ANY(array)` */
  accountKey: KeyLocation | null;
  /** the statement names more than one account (different literals, different parameters, or an array) */
  multipleKeys: boolean;
  /** SET / RESET of prescient.account or prescient.action */
  setting?: Setting;
  tags: Readonly<Record<string, string>>;
  shape: string;
  /** how to merge this SELECT's rows when it goes to every shard; null for anything that is not a SELECT */
  merge: MergeSpec | null;
  /** set when every table the statement names is a system catalog (see SystemScope) */
  system?: SystemScope;
  /** what the statement does to session state (DEALLOCATE, PREPARE, LISTEN, temp tables, DROP TABLE, SET, COMMIT …) */
  session?: SessionStatement;
  parseError?: string;
}

/** A value in a cached template: literal number k (0-based; `neg` for a folded minus sign), a parameter, or a constant of the shape. */
export type ValueRef = { lit: number; neg?: boolean } | { param: number } | { value: string };

/** A sort key of a cached template: a MergeSortKey whose position may be one of the shape's literals (`ORDER BY 2`). */
export interface MergeSortKeyTemplate extends MergeSortKey {
  positionRef: ValueRef | null;
}

/** The merge part of a cached SELECT template; `fixed` when nothing depends on the statement's literals. */
export interface MergeTemplate {
  orderBy: readonly MergeSortKeyTemplate[];
  /** LIMIT / FETCH FIRST count; null = none (or LIMIT ALL / NULL) */
  limit: ValueRef | null;
  unmergeable: string | null;
  aggregate?: MergeAggregate;
  /** the bound spec shared by every statement of the shape, when no literal of it matters (set by the Analyzer) */
  fixed: MergeSpec | null;
  /** one-entry memo of the last binding: the literal texts it depended on, and the spec */
  lastKey: string | null;
  last: MergeSpec | null;
}

/** What the parse + walk of one shape produced; bound to each statement's literals on every use. */
export interface Template {
  kind: StatementKind;
  tables: readonly string[];
  readOnly: boolean;
  cacheable: boolean;
  /** candidate account key values (one per VALUES row / IN item / UNION arm); empty = none found */
  keys: ValueRef[];
  /** multiple keys regardless of values (e.g. `account_id = ANY($1)`) */
  multiple: boolean;
  setting?: { name: string; value: ValueRef | null; local: boolean };
  /** SELECT only */
  merge: MergeTemplate | null;
  system?: SystemScope;
  session?: SessionStatement;
  parseError?: string;
}
