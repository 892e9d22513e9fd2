// types owns the shapes the fuzzer's parts share: an input, its outcome, and the run's report.

/** The three families of inputs (issue 9): start-up packets, frontend messages after login, recorded sessions. */
export type Category = 'startup' | 'message' | 'session';

/**
 * How the client ends an input (see docs/fuzzing.md, "What a hang is"):
 * - `probe`: the input is well framed; the client sends Sync + `select '<marker>'` and waits for the marker row
 *   (a proxy owes that answer, or a close, just as Postgres would give it);
 * - `await-close`: the input contains a frame with an impossible length; the proxy owes a close;
 * - `await-answer`: a complete start-up packet; the proxy owes some byte or a close;
 * - `disconnect`: the client writes the input and closes at once (e.g. mid-message);
 * - `linger`: the client writes, waits a few ms reading whatever comes, then closes;
 * - `no-read`: the client stops reading, writes the input many times over, then closes;
 * - `half-close`: the client writes the input and ends its side (FIN), then waits briefly for the close.
 */
export type Ending = 'probe' | 'await-close' | 'await-answer' | 'disconnect' | 'linger' | 'no-read' | 'half-close';

export interface FuzzInput {
  /** global index: the input is a pure function of (seed, index) */
  index: number;
  category: Category;
  /** sub-kind for the per-category histogram, e.g. `startup:length` or `session:pgbench-prepared` */
  kind: string;
  /** bytes to send (for message/session inputs: after a correct login) */
  bytes: Buffer;
  /** byte offsets at which the write is split into separate writes */
  cuts: number[];
  ending: Ending;
  /** ms to wait before closing, for `linger` */
  lingerMs: number;
}

export type Outcome =
  | 'answered' // bytes came back, no ErrorResponse
  | 'error' // at least one ErrorResponse, connection still open
  | 'error-closed' // ErrorResponse(s), then the proxy closed
  | 'closed' // the proxy closed without an ErrorResponse
  | 'silent' // nothing was owed, nothing came: the client closed (disconnect / linger / no-read)
  | 'hang' // owed an answer or a close and got neither within the hang timeout
  | 'lock-wait' // no answer in time because its backend waits for a lock another connected client's transaction holds (as against Postgres)
  | 'login-failed'; // the correct login before a message/session input failed (refused or timed out)

export interface InputResult {
  index: number;
  category: Category;
  kind: string;
  ending: Ending;
  outcome: Outcome;
  /** SQLSTATEs of every ErrorResponse seen (in order) */
  sqlstates: string[];
  /** the inputs sent earlier on the same connection (to reproduce with --only a,b,c) */
  history: number[];
  /** what the proxy owed and did not give, for hangs */
  detail?: string;
}

export interface HonestSummary {
  ops: number;
  acked: number;
  lost: number[];
  phantom: number[];
  duplicates: number[];
  foreign: number;
  unknownOutcome: number;
  errors: Record<string, number>;
  refused: number;
  maxLatencyMs: number;
  firstErrors: string[];
}

export interface PoolRow {
  shard: string;
  server_total: number;
  server_active: number;
  server_idle: number;
  cl_active: number;
  cl_waiting: number;
}

export interface FuzzReport {
  seed: string;
  inputs: number;
  seconds: number;
  inputsPerSecond: number;
  perCategory: Record<string, number>;
  perKind: Record<string, number>;
  outcomes: Record<string, number>;
  /** inputs and mean wall ms per ending */
  endings: Record<string, { inputs: number; meanMs: number }>;
  sqlstates: Record<string, number>;
  hangs: InputResult[];
  /** inputs not answered in time because Postgres made them wait for another connected client's lock */
  lockWaits: InputResult[];
  loginFailures: InputResult[];
  crashes: string[];
  maxRssMb: number;
  rssLimitMb: number;
  /** the last RSS maxima (each ≥ 2 MB above the one before) and the inputs running when each was sampled */
  rssRises: { rssMb: number; atInput: number; inFlight: string[]; memory?: string }[];
  honest: HonestSummary;
  pools: PoolRow[] | null;
  poolError: string | null;
  leakedServerConnections: number;
  leftoverClients: number;
  /** what SHOW CLIENTS says of them */
  leftoverClientRows: string[];
  finalCheck: string;
  corpus: { sessions: Record<string, number>; hash: string };
  hangDefinition: string;
  /** set when the run stopped early because the proxy stopped serving the honest client */
  stalled: string | null;
  failures: string[];
}
