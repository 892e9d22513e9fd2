// types owns the analyzer's public value types: StatementKind, KeyLocation, StatementInfo, and the cached per-shape Template.

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
  parseError?: string;
}

/** A value in a cached template: literal number k (0-based; `neg` for a folded minus sign), a parameter, or a constant of the shape. */
export type ValueRef = { lit: number; neg?: boolean } | { param: number } | { value: string };

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
  parseError?: string;
}
