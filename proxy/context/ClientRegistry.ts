// ClientRegistry owns what the databases of one proxy share about clients: their contexts by name, pids, every client by pid (cancel routing), listen.max_client_connections, failed-login throttling, totals and request counters, and shutdown's drain.
import type { Config } from '../../config/schema.js';
import { workerOfPid, type WorkerPeers } from '../workers/WorkerPeers.js';
import type { ClientHandle } from './ClientHandle.js';
import { FailureThrottle } from '../auth/FailureThrottle.js';
import { logger } from '../logger.js';
import { RequestCounters } from './RequestCounters.js';

export class ClientRegistry<Context = unknown> {
  /** every registered client of every database, by pid (a CancelRequest finds its session here, whichever database) */
  readonly clients = new Map<number, ClientHandle>();
  readonly counters = { connections: 0, refused: 0, cancels: 0 };
  /** errors by SQLSTATE, routes by kind and key source, refusals: what the request path counts for the metrics, every database's */
  readonly requestCounters = new RequestCounters();
  /** totals of clients that have left (live clients are added on read) */
  readonly closedTotals = { queries: 0, bytesIn: 0, bytesOut: 0 };
  /** failed logins per source address (auth.failure_*), whichever database was asked for */
  readonly authFailures = new FailureThrottle(() => ({
    limit: this.config().auth.failure_limit,
    windowMs: this.config().auth.failure_window_ms,
    delayMs: this.config().auth.failure_delay_ms,
  }));
  /** RELOAD of the whole proxy (set by the Server when it serves several databases): a context's reload() goes here */
  reloadAll: (() => Promise<string>) | null = null;

  private readonly byName = new Map<string, Context>();
  private pidCounter = Math.floor(Math.random() * 1_000_000) + 1000;
  /** client connections with a session not closed yet, authenticated or not (counted against listen.max_client_connections) */
  private openSessions = 0;
  private stopping = false;
  private drainWaiters: (() => void)[] = [];

  /** `config`: the process-wide keys in effect (listen, auth), read at each use so RELOAD applies */
  constructor(
    private readonly config: () => Pick<Config, 'listen' | 'auth'>,
    readonly peers: WorkerPeers | null = null,
  ) {}

  /** A database's context under each of its names; a name taken already is refused. */
  register(names: readonly string[], context: Context): void {
    for (const n of names) if (this.byName.has(n)) throw new Error(`database "${n}" is registered twice`);
    for (const n of names) this.byName.set(n, context);
  }

  /** A database taken out (RELOAD of a file without it): its names serve no new client (3D000); its clients stay. */
  unregister(context: Context): void {
    for (const [n, c] of [...this.byName]) if (c === context) this.byName.delete(n);
  }

  /** The context serving database `name` (a name or an alias), if any. */
  context(name: string): Context | undefined {
    return this.byName.get(name);
  }

  /** Every registered context once, in registration order. */
  contexts(): Context[] {
    return [...new Set(this.byName.values())];
  }

  /** A client's pid (BackendKeyData), unique across databases; with several workers, pid % workers is this worker's index. */
  nextPid(): number {
    const count = this.peers?.count ?? 1;
    this.pidCounter = (this.pidCounter % Math.floor(0x7ffffff0 / count)) + 1;
    return this.pidCounter * count + (this.peers?.index ?? 0);
  }

  /** A new connection: false when listen.max_client_connections are open already (it is refused before any work). */
  openSession(): boolean {
    if (this.openSessions >= this.config().listen.max_client_connections) {
      this.counters.refused++;
      return false;
    }
    this.openSessions++;
    return true;
  }

  /** A connection counted by openSession whose session could not be started. */
  abandonSession(): void {
    this.openSessions--;
  }

  /** An authenticated client of any database: false when listen.max_client_connections clients are registered already. */
  admit(session: ClientHandle): boolean {
    if (this.clients.size >= this.config().listen.max_client_connections) {
      this.counters.refused++;
      return false;
    }
    this.clients.set(session.pid, session);
    this.counters.connections++;
    return true;
  }

  /** A session closed (registered or not): it no longer counts. */
  forget(session: ClientHandle): void {
    this.openSessions = Math.max(0, this.openSessions - 1);
    if (this.clients.get(session.pid) === session) {
      this.clients.delete(session.pid);
      this.closedTotals.queries += session.stats.queries;
      this.closedTotals.bytesIn += session.stats.bytesIn;
      this.closedTotals.bytesOut += session.stats.bytesOut;
    }
    this.checkDrained();
  }

  /** true once shutdown began: no new client is admitted, idle ones are closed */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** Shutdown begins for every database. */
  beginShutdown(): void {
    this.stopping = true;
  }

  /** Resolves once shutdown has begun and no client of any database is registered. */
  drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkDrained();
    });
  }

  private checkDrained(): void {
    if (!this.stopping || this.clients.size > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * A CancelRequest goes to the server connection running that client's request, or nowhere: a client with no
   * request in flight has nothing to cancel, and a cancel sent anyway would land on whatever that server connection
   * runs next. `done` runs once the server has taken it (Postgres closes the cancel connection then), so the client's
   * CancelRequest connection is closed when the cancel has reached the server, as with Postgres itself.
   */
  cancel(pid: number, secret: number, done: () => void = () => {}): void {
    // another worker's client (the CancelRequest's connection landed here): that worker checks the secret and cancels
    if (this.peers && workerOfPid(pid, this.peers.count) !== this.peers.index) {
      logger.debug('cancel request for another worker\'s client: passed on', { pid, worker: workerOfPid(pid, this.peers.count) });
      this.peers.sendCancel(pid, secret);
      done();
      return;
    }
    const session = this.clients.get(pid);
    if (!session || session.secret !== secret) {
      logger.debug('cancel request for unknown client', { pid });
      done();
      return;
    }
    this.counters.cancels++;
    const server = session.cancelTarget;
    if (!server) {
      logger.debug('cancel request for a client with no request in flight', { pid });
      done();
      return;
    }
    server.cancel(done);
  }
}
