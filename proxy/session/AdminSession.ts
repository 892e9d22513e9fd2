// AdminSession owns a session on the admin console database (`prescient`): its login answer and its queries, answered by the proxy.
import * as Be from '../protocol/BackendMessage.js';
import type { Frame } from '../protocol/FrameReader.js';
import { decodeQuery } from '../protocol/FrontendMessage.js';
import { FrontendCode } from '../protocol/MessageCode.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { answerAdminQuery } from '../admin/AdminConsole.js';
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

  constructor(
    private readonly port: SessionPort,
    private readonly ctx: ProxyContext,
  ) {}

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
      const source = this.ctx.adminSource;
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
