// ShardSet owns running one request on several shards at once (fan-out reads, DDL broadcast): one server connection
// per shard, the same bytes to each, every reply collected whole up to its ReadyForQuery.
import type { Pool } from '../pool/Pool.js';
import type { ServerConnection, ServerOwner } from '../connection/ServerConnection.js';
import { FrameReader } from '../protocol/FrameReader.js';
import { BackendCode } from '../protocol/MessageCode.js';
import * as Be from '../protocol/BackendMessage.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';

/** One shard's reply to one exchange. */
export interface ShardReply {
  shard: string;
  /** whole backend frames, ReadyForQuery included */
  frames: Buffer[];
  /** the first ErrorResponse's fields, if any */
  error: Map<string, string> | null;
  /** transaction status of the last ReadyForQuery */
  txStatus: number;
}

export class ShardSet {
  private constructor(
    readonly conns: ServerConnection[],
    private readonly pools: Pool[],
    private readonly maxBytes: number,
  ) {}

  /** One connection from each pool, taken in order (so that two fan-outs cannot hold each other's shards crosswise). */
  static async acquire(pools: Pool[], maxBytes: number): Promise<ShardSet> {
    const conns: ServerConnection[] = [];
    try {
      for (const p of pools) conns.push(await p.acquire());
    } catch (e) {
      conns.forEach((c, i) => pools[i]!.release(c));
      throw e;
    }
    return new ShardSet(conns, pools, maxBytes);
  }

  /** Sends bytes(conn) to every connection and collects each reply until `readies` ReadyForQuery frames. */
  exchange(bytes: (conn: ServerConnection) => Buffer | null, readies: number): Promise<ShardReply[]> {
    let total = 0;
    return Promise.all(this.conns.map((conn) => new Promise<ShardReply>((resolve, reject) => {
      const out = bytes(conn);
      if (out === null) {
        resolve({ shard: conn.shard.name, frames: [], error: null, txStatus: conn.txStatus });
        return;
      }
      const reader = new FrameReader(1 << 30);
      const reply: ShardReply = { shard: conn.shard.name, frames: [], error: null, txStatus: Be.TransactionStatus.Idle };
      let seen = 0;
      const owner: ServerOwner = {
        onServerData: (chunk) => {
          total += chunk.length;
          if (total > this.maxBytes) {
            conn.owner = null;
            conn.destroy();
            reject(new ProxyError('FANOUT_TOO_LARGE', `the merged reply of all shards exceeds ${this.maxBytes} bytes: add a shard key or a LIMIT`, SqlState.ProgramLimitExceeded));
            return;
          }
          reader.push(chunk);
          let f;
          while ((f = reader.next())) {
            reply.frames.push(f.frame);
            if (f.code === BackendCode.ErrorResponse && reply.error === null) reply.error = Be.decodeErrorFields(f.payload);
            else if (f.code === BackendCode.ReadyForQuery) {
              reply.txStatus = f.payload[0]!;
              conn.txStatus = reply.txStatus;
              if (++seen === readies) {
                conn.unsynced = false;
                conn.owner = null;
                resolve(reply);
                return;
              }
            }
          }
        },
        onServerClose: () => reject(new ProxyError('SERVER_LOST', `server connection to shard "${conn.shard.name}" was lost`, SqlState.ConnectionFailure)),
      };
      conn.owner = owner;
      // until its last ReadyForQuery the connection is mid-request: a failure elsewhere must not pool it
      conn.unsynced = true;
      conn.write(out);
    })));
  }

  /** Gives the connections back: idle ones to their pools, anything else (mid-transaction, broken) is closed. */
  release(): void {
    this.conns.forEach((c, i) => {
      c.owner = null;
      const pool = this.pools[i]!;
      if (!c.closed && c.txStatus === Be.TransactionStatus.Idle && !c.unsynced) pool.release(c);
      else pool.discard(c);
    });
    this.conns.length = 0;
  }
}
