// pipeline-relay owns the pipelining experiment of the benchmarks: a Node relay with no other logic that carries many clients' simple Queries over a few server connections, several clients' Queries in one write, answers split by ReadyForQuery — the least that cross-client pipelining can cost, to compare with the Node floor (one server connection per client).
//
// usage: node dist/scripts/pipeline-relay.js --port P --to HOST:PORT --user U --password PW --database DB [--servers N]
// It prints "listening on 127.0.0.1:P" once it accepts connections; SIGTERM closes it.
//
// Only what `pgbench -S -M simple` does is relayed: a client's start-up is answered here (trust, with the server's own
// ParameterStatus), each Query goes to the server connection with the fewest owed answers, and each client may have
// one Query in flight. Anything else (extended protocol, COPY, a transaction left open) is out of scope: it is an
// experiment to measure, not a proxy (docs/benchmarks.md, "Pipelining").

import net from 'node:net';
import { Args } from './lib/args.js';
import { ServerConnection, type ServerOwner } from '../proxy/connection/ServerConnection.js';
import { FrameReader } from '../proxy/protocol/FrameReader.js';
import * as Be from '../proxy/protocol/BackendMessage.js';
import { BackendCode, FrontendCode } from '../proxy/protocol/MessageCode.js';

const EMPTY = Buffer.alloc(0);

/** A client of the relay: its frames in, its answers out. */
class Client {
  readonly reader = new FrameReader(1 << 26, true);
  started = false;
  constructor(readonly socket: net.Socket) {}
}

/** One server connection carrying many clients' Queries: what is owed to whom, in order. */
class Lane implements ServerOwner {
  /** the client of each Query sent and not yet answered (ReadyForQuery), oldest first */
  private readonly owed: Client[] = [];
  private head = 0;
  /** Queries gathered this turn of the event loop: one write */
  private out: Buffer[] = [];
  private scheduled = false;
  /** bytes of a server frame cut across chunks */
  private rest: Buffer = EMPTY;

  constructor(readonly conn: ServerConnection) {
    conn.owner = this;
  }

  get inFlight(): number {
    return this.owed.length - this.head;
  }

  send(client: Client, query: Buffer): void {
    this.owed.push(client);
    this.out.push(query);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const out = this.out;
    this.out = [];
    this.conn.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  };

  /** Server bytes: each answer, up to and including its ReadyForQuery, goes to the client that asked, in runs. */
  onServerData(chunk: Buffer): void {
    const buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let at = 0;
    let runStart = 0;
    while (at + 5 <= buf.length) {
      const end = at + 1 + buf.readInt32BE(at + 1);
      if (end > buf.length) break;
      if (buf[at] === BackendCode.ReadyForQuery) {
        const client = this.owed[this.head++]!;
        client.socket.write(buf.subarray(runStart, end));
        runStart = end;
        if (this.head > 1024 && this.head * 2 > this.owed.length) {
          this.owed.splice(0, this.head);
          this.head = 0;
        }
      }
      at = end;
    }
    // frames of an answer not finished yet go to its client now; a cut frame waits for the rest of its bytes
    if (at > runStart) this.owed[this.head]?.socket.write(buf.subarray(runStart, at));
    this.rest = at < buf.length ? Buffer.from(buf.subarray(at)) : EMPTY;
  }

  onServerClose(): void {
    process.stderr.write('pipeline-relay: a server connection closed\n');
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const usage = 'usage: node dist/scripts/pipeline-relay.js --port P --to HOST:PORT --user U --password PW --database DB [--servers N]';
  const flags = new Args(process.argv.slice(2), { usage, values: ['port', 'to', 'user', 'password', 'database', 'servers'], booleans: [] });
  const to = flags.get('to') ?? '';
  const at = to.lastIndexOf(':');
  if (at <= 0) throw new Error('--to HOST:PORT is required');
  const shard = { name: 'pg', host: to.slice(0, at), port: Number(to.slice(at + 1)), database: flags.get('database') ?? 'app', password: '' };
  const identity = { user: flags.get('user') ?? 'postgres', password: flags.get('password') ?? '' };
  const lanes = await Promise.all(Array.from({ length: flags.int('servers', 2, 1) }, () => ServerConnection.connect(shard, identity, 10_000, 'pipeline-relay').then((c) => new Lane(c))));
  const params = Buffer.concat([...lanes[0]!.conn.params].map(([k, v]) => Be.ParameterStatus(k, v)));
  let pid = 1;
  const listener = net.createServer((socket) => {
    socket.setNoDelay(true);
    const client = new Client(socket);
    socket.on('data', (chunk: Buffer) => {
      client.reader.push(chunk);
      let f;
      while ((f = client.reader.next())) {
        if (!client.started) {
          const code = f.payload.readInt32BE(0);
          if (code === 80877103) {
            socket.write('N'); // SSLRequest: no TLS here
            continue;
          }
          client.started = true;
          client.reader.untyped = false;
          socket.write(Buffer.concat([Be.AuthenticationOk, params, Be.BackendKeyData(pid++, 0), Be.ReadyForQuery(Be.TransactionStatus.Idle)]));
          continue;
        }
        if (f.code === FrontendCode.Terminate) {
          socket.end();
          return;
        }
        if (f.code !== FrontendCode.Query) {
          socket.end(Be.ErrorResponse({ severity: 'FATAL', code: '0A000', message: 'pipeline-relay relays simple Queries only' }));
          return;
        }
        let lane = lanes[0]!;
        for (const l of lanes) if (l.inFlight < lane.inFlight) lane = l;
        // the frame is a slice of the chunk: the Query is copied once, into the lane's write
        lane.send(client, f.frame);
      }
    });
    socket.on('error', () => socket.destroy());
  });
  listener.listen(flags.int('port', 0, 0), '127.0.0.1', () => {
    const a = listener.address() as net.AddressInfo;
    process.stdout.write(`listening on 127.0.0.1:${a.port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(`pipeline-relay: ${(e as Error).message}\n`);
  process.exit(1);
});
