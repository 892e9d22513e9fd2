// FanOut owns a request that needs every shard (a read without a shard key, DDL on every shard): its bytes for each
// shard, running it on one connection per shard at once (ShardSet), and the replies merged into the one the client gets.
import type { ServerConnection } from '../connection/ServerConnection.js';
import type { Pool } from '../pool/Pool.js';
import * as Be from '../protocol/BackendMessage.js';
import * as Fe from '../protocol/FrontendEncoder.js';
import { decodeBind, decodeParse } from '../protocol/FrontendMessage.js';
import { BackendCode, FrontendCode } from '../protocol/MessageCode.js';
import { SqlState } from '../protocol/SqlState.js';
import type { StatementInfo } from '../analyzer/types.js';
import { shardText } from '../analyzer/Rewrite.js';
import type { Route } from '../router/Router.js';
import { mergeRows } from '../router/Merge.js';
import { clientRowDescription } from '../router/MergeAggregate.js';
import type { PreparedStatements } from './PreparedStatements.js';
import type { ProxyContext } from '../context/ProxyContext.js';
import { ErrorSource } from '../context/RequestCounters.js';
import type { RoutedRequest } from './RoutedRequest.js';
import { ShardSet, type ShardReply } from './ShardSet.js';
import { settingsDiffSql } from './startupParams.js';

const UNNAMED = Buffer.from([0]);
/** the most bytes of replies a fan-out holds before merging */
const MAX_REPLY_BYTES = 256 << 20;

/** What a fan-out reads of its session (nothing else: it never calls back into it). */
export interface FanOutSession {
  /** the client's prepared statements: named ones run as unnamed statements on the shards */
  readonly statements: PreparedStatements;
  /** the settings the client wants on any server connection, and their key */
  readonly settings: ReadonlyMap<string, string>;
  readonly settingsKey: string;
  /** the transaction status the client's ReadyForQuery reports */
  readonly txStatus: number;
}

export type FanOutRoute = Extract<Route, { kind: 'fanout' | 'broadcast' }>;

/** A request checked and ready to run on every shard of its route. */
export interface FanOutPlan {
  route: FanOutRoute;
  pools: Pool[];
  bytes: Buffer;
  /** ReadyForQuery messages each shard sends */
  readies: number;
  statements: StatementInfo[];
  params: (Buffer | null)[] | undefined;
}

/** Why a request cannot run on every shard: the client gets this error in its place. */
export interface FanOutRefusal {
  refuse: { code: SqlState; message: string };
}

/** A reply's result sets: each RowDescription's fields and the DataRow frames up to its CommandComplete. */
function resultSets(frames: readonly Buffer[]): { rowDescription: Buffer | null; rows: Buffer[] }[] {
  const sets: { rowDescription: Buffer | null; rows: Buffer[] }[] = [];
  let cur: { rowDescription: Buffer | null; rows: Buffer[] } | null = null;
  for (const f of frames) {
    const code = f[0];
    if (code === BackendCode.RowDescription) cur = { rowDescription: f.subarray(5), rows: [] };
    else if (code === BackendCode.DataRow) (cur ??= { rowDescription: null, rows: [] }).rows.push(f);
    else if (code === BackendCode.CommandComplete) {
      sets.push(cur ?? { rowDescription: null, rows: [] });
      cur = null;
    }
  }
  return sets;
}

export class FanOut {
  constructor(
    private readonly session: FanOutSession,
    private readonly ctx: ProxyContext,
  ) {}

  /** Checks a request for every shard and prepares its bytes; `poolOn` gives this client's pool on a shard. */
  plan(req: RoutedRequest, route: FanOutRoute, poolOn: (shard: string) => Pool | undefined): FanOutPlan | FanOutRefusal {
    const refuse = (code: SqlState, message: string): FanOutRefusal => ({ refuse: { code, message } });
    const statements = req.units.flatMap((u) => u.statements);
    if (route.kind === 'fanout') {
      const bad = statements.find((st) => st.merge?.unmergeable);
      if (bad) {
        return refuse(SqlState.FeatureNotSupported, `a read without a shard key on ${bad.tables.join(', ')} goes to every shard, but its rows cannot be merged (${bad.merge!.unmergeable}): add a shard key (${this.ctx.config.sharding.account_column} = …, a /* account='…' */ comment, or SET prescient.account)`);
      }
    }
    const pools = route.shards.map((name) => poolOn(name));
    const missing = route.shards.find((_n, i) => pools[i] === undefined);
    if (missing !== undefined) return refuse(SqlState.ConnectionFailure, `shard "${missing}" is in the catalog but not configured in this proxy`);
    let bytes: Buffer | null;
    try {
      bytes = this.shardBytes(req, route.kind === 'fanout' && statements.some((st) => st.merge?.aggregate?.rewrite));
    } catch (e) {
      return refuse(SqlState.FeatureNotSupported, `cannot rewrite an aggregate for every shard: ${(e as Error).message}`);
    }
    if (bytes === null) return refuse(SqlState.FeatureNotSupported, 'a request for every shard must be one statement (simple query, or one Parse/Bind/Execute)');
    const readies = req.simple ? 1 : req.frames.filter((f) => f.code === FrontendCode.Sync).length;
    if (readies === 0) return refuse(SqlState.FeatureNotSupported, 'a request for every shard must end with Sync');
    return { route, pools: pools as Pool[], bytes, readies, statements, params: req.units[0]?.params };
  }

  /** Runs a plan: one connection per shard, the client's settings first, then the request; the reply the client gets. */
  async run(plan: FanOutPlan): Promise<Buffer> {
    const set = await ShardSet.acquire(plan.pools, MAX_REPLY_BYTES);
    try {
      const { settings, settingsKey } = this.session;
      if (!set.conns.every((c) => c.setParamsKey === settingsKey)) {
        const diff = (conn: ServerConnection): string => settingsDiffSql(conn.setParams, settings);
        await set.exchange((c) => (c.setParamsKey === settingsKey ? null : Fe.Query(diff(c))), 1);
        for (const c of set.conns) {
          c.setParams = new Map(settings);
          c.setParamsKey = settingsKey;
        }
      }
      if (plan.route.kind === 'broadcast') return await this.broadcast(set, plan.bytes, plan.readies);
      const replies = await set.exchange(() => plan.bytes, plan.readies);
      return this.merged(replies, plan.statements, plan.params);
    } finally {
      set.release();
    }
  }

  /** The request's bytes for a shard: named statements become unnamed ones (no server-side state is left behind). */
  shardBytes(req: RoutedRequest, rewrite = false): Buffer | null {
    if (req.simple) {
      const f = req.frames[0]!;
      // avg → sum and count, a GROUP BY's LIMIT removed (the analyzer's shardText)
      return rewrite ? Fe.Query(shardText(f.payload.toString('utf8', 0, f.payload.length - 1))) : Buffer.from(f.frame);
    }
    const shardRest = (rest: Buffer): Buffer => {
      if (!rewrite) return rest;
      const end = rest.indexOf(0);
      return Buffer.concat([Buffer.from(shardText(rest.toString('utf8', 0, end)), 'utf8'), rest.subarray(end)]);
    };
    const out: Buffer[] = [];
    for (const f of req.frames) {
      switch (f.code) {
        case FrontendCode.Parse: {
          const p = decodeParse(f.payload);
          out.push(Fe.ParseRaw(UNNAMED, shardRest(p.rest)));
          break;
        }
        case FrontendCode.Bind: {
          const b = decodeBind(f.payload);
          if (b.statement !== '') {
            const stmt = this.session.statements.get(b.statement);
            if (!stmt) return null;
            if (!req.frames.some((x) => x.code === FrontendCode.Parse)) out.push(Fe.ParseRaw(UNNAMED, shardRest(stmt.server.rest)));
          }
          out.push(Fe.renameBind(f.payload, b.restOffset, UNNAMED));
          break;
        }
        case FrontendCode.Describe:
          out.push(f.payload[0] === 0x53 ? Fe.targetFrame(FrontendCode.Describe, 'S', '') : Buffer.from(f.frame));
          break;
        case FrontendCode.Close:
          break;
        default:
          out.push(Buffer.from(f.frame));
      }
    }
    // named Parses in the batch are remembered for later Binds on a single shard
    for (const f of req.frames) {
      if (f.code !== FrontendCode.Parse) continue;
      const p = decodeParse(f.payload);
      if (p.name !== '') this.session.statements.add(p.name, p.rest, p.query);
    }
    return Buffer.concat(out);
  }

  /** DDL on every shard inside a transaction each; committed only when every shard succeeded. */
  private async broadcast(set: ShardSet, bytes: Buffer, readies: number): Promise<Buffer> {
    await set.exchange(() => Fe.Query('BEGIN'), 1);
    const replies = await set.exchange(() => bytes, readies);
    const failed = replies.find((r) => r.error !== null);
    if (failed) {
      await set.exchange(() => Fe.Query('ROLLBACK'), 1);
      const code = failed.error!.get('C') ?? SqlState.InternalError;
      if (code === '25001' && replies.every((r) => r.error?.get('C') === '25001')) {
        // cannot run inside a transaction block (CREATE INDEX CONCURRENTLY, …): shard by shard, reported per shard
        const plain = await set.exchange(() => bytes, readies);
        const bad = plain.filter((r) => r.error !== null);
        if (bad.length === 0) return this.replyOf(plain[0]!);
        return this.shardError(bad, plain.length, bad.length < plain.length);
      }
      return this.shardError([failed], replies.length, false);
    }
    const commits = await set.exchange(() => Fe.Query('COMMIT'), 1);
    const badCommit = commits.filter((r) => r.error !== null);
    if (badCommit.length > 0) return this.shardError(badCommit, commits.length, badCommit.length < commits.length);
    await this.ctx.afterDdl?.();
    return this.replyOf(replies[0]!);
  }

  private replyOf(r: ShardReply): Buffer {
    // the shard's own ReadyForQuery reports its transaction; the client's view is the session's
    const frames = r.frames.map((f) => (f[0] === BackendCode.ReadyForQuery ? Be.ReadyForQuery(this.session.txStatus) : f));
    return Buffer.concat(frames);
  }

  private shardError(bad: ShardReply[], total: number, partial: boolean): Buffer {
    const f = bad[0]!.error!;
    this.ctx.requestCounters.error(ErrorSource.Server, f.get('C') ?? '');
    const fields = new Map(f);
    const where = bad.map((r) => r.shard).join(', ');
    fields.set('M', `${f.get('M') ?? 'error'} (on shard ${where}${partial ? `; the statement WAS applied on the other ${total - bad.length} shard(s): fix and re-run it, or undo it there` : '; no shard applied it'})`);
    return Buffer.concat([Be.ErrorResponseFromFields(fields), Be.ReadyForQuery(this.session.txStatus)]);
  }

  /** Every shard's rows as one reply: shard 0's frames as the template, each result set's rows merged. */
  private merged(replies: ShardReply[], statements: StatementInfo[], params: (Buffer | null)[] | undefined): Buffer {
    const failed = replies.filter((r) => r.error !== null);
    if (failed.length > 0) return this.shardError(failed, replies.length, false);
    // split each reply into result sets: the frames from a RowDescription to its CommandComplete
    const sets = replies.map((r) => resultSets(r.frames));
    const out: Buffer[] = [];
    const template = replies[0]!.frames;
    let set = 0;
    for (let i = 0; i < template.length; i++) {
      const f = template[i]!;
      const code = f[0];
      if (code === BackendCode.DataRow) continue;
      if (code === BackendCode.ReadyForQuery) {
        out.push(Be.ReadyForQuery(this.session.txStatus));
        continue;
      }
      if (code === BackendCode.RowDescription) {
        // an aggregate's shards return avg as sum plus hidden counts: the client sees avg's own columns
        const agg = statements[Math.min(set, statements.length - 1)]?.merge?.aggregate;
        if (agg) {
          try {
            out.push(Be.frame(BackendCode.RowDescription, clientRowDescription(agg, f.subarray(5))));
          } catch (e) {
            this.ctx.requestCounters.error(ErrorSource.Proxy, SqlState.FeatureNotSupported);
            return Buffer.concat([Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: (e as Error).message }), Be.ReadyForQuery(this.session.txStatus)]);
          }
          continue;
        }
      }
      if (code === BackendCode.CommandComplete && sets[0]![set]) {
        const spec = statements[Math.min(set, statements.length - 1)]?.merge ?? { orderBy: [], limit: null, unmergeable: null };
        const results = sets.map((s) => s[set] ?? { rowDescription: null, rows: [] });
        const m = mergeRows(spec, results, params);
        if ('error' in m) {
          this.ctx.requestCounters.error(ErrorSource.Proxy, SqlState.FeatureNotSupported);
          return Buffer.concat([Be.ErrorResponse({ severity: 'ERROR', code: SqlState.FeatureNotSupported, message: m.error }), Be.ReadyForQuery(this.session.txStatus)]);
        }
        out.push(...m.rows);
        const tag = f.toString('latin1', 5, f.length - 1);
        out.push(tag.startsWith('SELECT ') ? Be.CommandComplete(`SELECT ${m.rows.length}`) : f);
        set++;
        continue;
      }
      out.push(f);
    }
    return Buffer.concat(out);
  }
}
