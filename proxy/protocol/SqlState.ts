// SqlState owns the SQLSTATE codes Prescient sends to clients (names follow Appendix A of the Postgres docs).
export const SqlState = {
  ProtocolViolation: '08P01',
  ConnectionFailure: '08006',
  ConnectionException: '08000',
  SqlclientUnableToEstablishSqlconnection: '08001',
  InvalidAuthorizationSpecification: '28000',
  InvalidPassword: '28P01',
  InvalidCatalogName: '3D000',
  TooManyConnections: '53300',
  AdminShutdown: '57P01',
  CannotConnectNow: '57P03',
  QueryCanceled: '57014',
  FeatureNotSupported: '0A000',
  InternalError: 'XX000',
  InvalidParameterValue: '22023',
  UndefinedObject: '42704',
  InvalidSqlStatementName: '26000',
  DuplicatePreparedStatement: '42P05',
  ProgramLimitExceeded: '54000',
  SyntaxError: '42601',
  InsufficientPrivilege: '42501',
  ReservedName: '42939',
  ObjectInUse: '55006',
  LockNotAvailable: '55P03',
  DataCorrupted: 'XX001',
} as const;
export type SqlState = (typeof SqlState)[keyof typeof SqlState];

/** An error that carries a stable code for logs and, when a client sees it, a SQLSTATE. */
export class ProxyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly sqlState: SqlState = SqlState.InternalError,
    readonly severity: 'ERROR' | 'FATAL' = 'ERROR',
  ) {
    super(message);
    this.name = 'ProxyError';
  }
}

/** FATAL 57P01, as Postgres says it: what a client hears when an administrator ends it (shutdown, KILL). */
export function terminatedByAdministrator(): ProxyError {
  return new ProxyError('ADMIN_SHUTDOWN', 'terminating connection due to administrator command', SqlState.AdminShutdown, 'FATAL');
}
