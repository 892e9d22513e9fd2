// AdminSession owns a session on the admin console database (`prescient`): its login answer, its queries answered by the proxy, and the database its per-database commands act on (USE name).
import * as Be from '../protocol/BackendMessage.js';
import type { Frame } from '../protocol/FrameReader.js';
import { decodeQuery } from '../protocol/FrontendMessage.js';
import { FrontendCode } from '../protocol/MessageCode.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { answerAdminQuery, type AdminCommand, type AdminSource } from '../admin/AdminConsole.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import type { SessionPort } from './SessionPort.js';

/** the database name of the admin console, as PgBouncer's `pgbouncer` */
export const ADMIN_DATABASE = 'prescient';

/** Who logged in to the console. */
export interface AdminLogin {
  user: string;
  applicationName: string;
  pid: number;
  secret: number;
}

export class AdminSession {
  /** answers keep their order even when one is asynchronous */
  private busy: Promise<void> = Promise.resolve();
  /** an extended-protocol message was refused: the rest of its batch is skipped until Sync */
  private batchFailed = false;

  /** the database whose per-database commands (SHOW PLACEMENT, MIGRATE, SHOW CACHE, …) this session runs: the first, until USE */
  private current: ProxyContext;
  /** USE name: a row of the console's table, so SHOW HELP and the error hint list it */
  private readonly use: AdminCommand = {
    name: 'USE',
    syntax: 'USE database',
    description: "the database this console session's per-database commands act on (SHOW PLACEMENT, MIGRATE, SHOW CACHE, SHOW CONFIG, …); the first configured one until then",
    run: (args) => {
      const name = args.trim().replace(/;$/, '').replace(/^["']|["']$/g, '');
      const target = this.ctx.registry.context(name);
      if (target === undefined) {
        const names = this.ctx.registry.contexts().map((c) => c.config.database);
        throw new ProxyError('UNKNOWN_DATABASE', `database "${name}" does not exist (databases: ${names.join(', ')})`, SqlState.InvalidCatalogName);
      }
      this.current = target;
      return { columns: ['database'], rows: [[target.config.database]], tag: 'USE' };
    },
  };

  constructor(
    private readonly port: SessionPort,
    private readonly ctx: ProxyContext,
  ) {
    this.current = ctx;
  }

  /** The console as this session sees it, read at each use: the current database's commands, and USE. */
  private readonly view: AdminSource = ((session: AdminSession): AdminSource => ({
    pools: () => session.currentSource().pools(),
    clients: () => session.currentSource().clients(),
    shards: () => session.currentSource().shards(),
    stats: () => session.currentSource().stats(),
    get extra() {
      return session.currentSource().extra;
    },
    get commands() {
      return [...(session.currentSource().commands ?? []), session.use];
    },
  }))(this);

  private currentSource(): AdminSource {
    return this.current.adminSource!;
  }

  /** The answer to a successful authentication: only admin users get in (42501 for others). */
  welcome(login: AdminLogin): Buffer {
    if (!this.ctx.findAdmin(login.user)) {
      throw new ProxyError('NOT_ADMIN', `user "${login.user}" is not an admin of the "${ADMIN_DATABASE}" console (admin.users)`, SqlState.InsufficientPrivilege, 'FATAL');
    }
    const params: [string, string][] = [
      ['server_version', '15.0 (Prescient admin console)'], ['server_encoding', 'UTF8'], ['client_encoding', 'UTF8'],
      ['DateStyle', 'ISO, MDY'], ['integer_datetimes', 'on'], ['standard_conforming_strings', 'on'],
      ['application_name', login.applicationName], ['TimeZone', 'UTC'], ['is_superuser', 'off'],
    ];
    return Buffer.concat([
      Be.AuthenticationOk,
      ...params.map(([k, v]) => Be.ParameterStatus(k, v)),
      Be.BackendKeyData(login.pid, login.secret),
      Be.ReadyForQuery(Be.TransactionStatus.Idle),
    ]);
  }

  /** One request frame (Terminate is the session's): simple queries are answered in order; the extended protocol gets one error per batch. */
  onFrame(f: Frame): void {
    const code = f.code;
    let reply: () => Promise<Buffer> | Buffer;
    if (code === FrontendCode.Query) {
      const sql = decodeQuery(f.payload);
      const source = this.current.adminSource ? this.view : undefined;
      reply = () => (source ? answerAdminQuery(sql, source) : Buffer.concat([
        Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: 'the admin console is not available' }),
        Be.ReadyForQuery(Be.TransactionStatus.Idle),
      ]));
    } else if (code === FrontendCode.Sync) {
      this.batchFailed = false;
      reply = () => Be.ReadyForQuery(Be.TransactionStatus.Idle);
    } else if (code === FrontendCode.Flush || this.batchFailed) {
      return;
    } else {
      this.batchFailed = true;
      reply = () => Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: 'the admin console answers the simple query protocol only' });
    }
    this.busy = this.busy.then(async () => {
      const out = await reply();
      if (!this.port.closed) this.port.write(out);
    }).catch((e) => this.port.fail(e));
  }
}
