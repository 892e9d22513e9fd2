// VersionsError owns the error type (and its codes) of versioned shards: the prescient schema on a shard and the proxy's version tracker.

export const VersionsErrorCode = {
  /** the shard's prescient schema is newer than this proxy knows how to use */
  SchemaTooNew: 'VERSIONS_SCHEMA_TOO_NEW',
  /** a table name, account column or domain that cannot be used in a trigger */
  InvalidArgument: 'VERSIONS_INVALID_ARGUMENT',
  /** a shard could not be reached or refused the statement */
  Shard: 'VERSIONS_SHARD',
} as const;
export type VersionsErrorCode = (typeof VersionsErrorCode)[keyof typeof VersionsErrorCode];

export class VersionsError extends Error {
  constructor(
    readonly code: VersionsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'VersionsError';
  }
}
