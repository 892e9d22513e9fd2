// MessageCode owns the type bytes of the protocol's messages, named as in the Postgres docs (55.7).
export const FrontendCode = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  PasswordMessage: 0x70, // p (also SASLInitialResponse, SASLResponse, GSSResponse)
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const;
export type FrontendCode = (typeof FrontendCode)[keyof typeof FrontendCode];

/** Messages Postgres reads with PQ_SMALL_MESSAGE_LIMIT (postgres.c SocketBackend): a longer one is a protocol violation. */
export const SMALL_MESSAGE_LIMIT = 10000;
export const FRONTEND_SMALL_MESSAGES: ReadonlySet<number> = new Set([
  FrontendCode.Terminate, FrontendCode.Close, FrontendCode.Describe, FrontendCode.Execute, FrontendCode.Flush,
  FrontendCode.Sync, FrontendCode.CopyDone, FrontendCode.CopyFail,
]);

export const BackendCode = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;
export type BackendCode = (typeof BackendCode)[keyof typeof BackendCode];

/** Untyped startup-phase request codes (the Int32 after the length). */
export const StartupCode = {
  Protocol3: 196608,
  CancelRequest: 80877102,
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
} as const;
export type StartupCode = (typeof StartupCode)[keyof typeof StartupCode];

/** Authentication request subtypes (the Int32 of an 'R' message). */
export const AuthCode = {
  Ok: 0,
  CleartextPassword: 3,
  MD5Password: 5,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;
export type AuthCode = (typeof AuthCode)[keyof typeof AuthCode];

export const FRONTEND_CODES: ReadonlySet<number> = new Set(Object.values(FrontendCode));
