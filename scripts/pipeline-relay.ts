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
import { ServerConnection } from '../proxy/connection/ServerConnection.js';
import { FrameReader } from '../proxy/protocol/FrameReader.js';
import * as Be from '../proxy/protocol/BackendMessage.js';
import { FrontendCode } from '../proxy/protocol/MessageCode.js';
import { ServerPipeline, type PipelineOwner, type PipelineRider } from '../proxy/pool/ServerPipeline.js';

/** A client of the relay: its frames in, its answers out. */
class Client {
  readonly reader = new FrameReader(1 << 26, true);
  started = false;
  constructor(readonly socket: net.Socket) {}
}

/** A client's rides on a lane: its answers go straight to its socket, in order (the lane is Prescient's ServerPipeline). */
function riderOf(client: Client): PipelineRider {
  return {
    onServerData: (chunk: Buffer) => {
      client.socket.write(chunk);
    },
    onServerClose: () => {
      process.stderr.write('pipeline-relay: a server connection closed\n');
      process.exit(1);
    },
  };
}

/** the relay keeps its lanes for good: a lane with nothing owed simply waits for the next Query */
const keepLanes: PipelineOwner = { pipelineEmpty: () => {} };

async function main(): Promise<void> {
  const usage = 'usage: node dist/scripts/pipeline-relay.js --port P --to HOST:PORT --user U --password PW --database DB [--servers N]';
  const flags = new Args(process.argv.slice(2), { usage, values: ['port', 'to', 'user', 'password', 'database', 'servers'], booleans: [] });
  const to = flags.get('to') ?? '';
  const at = to.lastIndexOf(':');
  if (at <= 0) throw new Error('--to HOST:PORT is required');
  const shard = { name: 'pg', host: to.slice(0, at), port: Number(to.slice(at + 1)), database: flags.get('database') ?? 'app', password: '' };
  const identity = { user: flags.get('user') ?? 'postgres', password: flags.get('password') ?? '' };
  const lanes = await Promise.all(Array.from({ length: flags.int('servers', 2, 1) }, () => ServerConnection.connect(shard, identity, 10_000, 'pipeline-relay').then((c) => new ServerPipeline(c, '', keepLanes))));
  const params = Buffer.concat([...lanes[0]!.conn.params].map(([k, v]) => Be.ParameterStatus(k, v)));
  let pid = 1;
  const listener = net.createServer((socket) => {
    socket.setNoDelay(true);
    const client = new Client(socket);
    const rider = riderOf(client);
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
        for (const l of lanes) if (l.depth < lane.depth) lane = l;
        // the frame is a slice of the chunk: the Query is copied once, into the lane's write
        lane.send(rider, f.frame);
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
