// delay-relay owns the network of the benchmarks' "remote database" runs: a relay in front of Postgres that holds every chunk the server sends for a round-trip time before passing it on, as a database across a network would.
//
// usage: node dist/scripts/delay-relay.js --port P --to HOST:PORT --rtt-ms MS
// It prints "listening on 127.0.0.1:P" once it accepts connections; SIGTERM closes it.
//
// Why the whole round trip on the server's side: a Node timer fires at whole milliseconds, so 0.5 ms each way would
// become 1 ms each way. Request–response traffic (which is all a Postgres client does) sees the same added latency
// whether a round trip's delay is split or not; what a client sees is measured and printed by the benchmark
// (lib/delayRelay.ts: measuredRttMs). Chunks keep their order; nothing is coalesced or dropped; bandwidth is not limited.

import net from 'node:net';
import { Args } from './lib/args.js';
import { relayTarget, serveRelay } from './lib/relayProcess.js';

/** Chunks from one server socket, held until their time. */
class DelayLine {
  private readonly chunks: Buffer[] = [];
  private readonly due: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly to: net.Socket,
    private readonly delayMs: number,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.due.push(performance.now() + this.delayMs);
    if (this.timer === null) this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    const wait = this.due[0]! - performance.now();
    this.timer = setTimeout(() => this.release(), Math.max(1, Math.round(wait)));
  }

  private release(): void {
    this.timer = null;
    if (this.closed) return;
    // a timer fires late, never early: a chunk due within the next tenth of a millisecond goes now
    const now = performance.now() + 0.1;
    let n = 0;
    while (n < this.due.length && this.due[n]! <= now) n++;
    if (n > 0) {
      const out = this.chunks.splice(0, n);
      this.due.splice(0, n);
      this.to.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    }
    if (this.chunks.length > 0) this.arm();
  }
}

/** Relays one client to its own server connection, delaying what the server sends; either side closing closes both. */
function relay(client: net.Socket, host: string, port: number, rttMs: number): void {
  const server = net.connect({ host, port });
  client.setNoDelay(true);
  server.setNoDelay(true);
  const line = new DelayLine(client, rttMs);
  client.on('data', (chunk: Buffer) => {
    if (!server.write(chunk)) {
      client.pause();
      server.once('drain', () => client.resume());
    }
  });
  server.on('data', (chunk: Buffer) => line.push(chunk));
  const end = (): void => {
    line.close();
    client.destroy();
    server.destroy();
  };
  client.on('close', end).on('error', end);
  server.on('close', end).on('error', end);
}

function main(): void {
  const usage = 'usage: node dist/scripts/delay-relay.js --port P --to HOST:PORT --rtt-ms MS';
  const flags = new Args(process.argv.slice(2), { usage, values: ['port', 'to', 'rtt-ms'], booleans: [] });
  const port = flags.int('port', 0, 0);
  const rttMs = flags.num('rtt-ms', 1, 0, 10_000, false);
  const to = relayTarget(flags);
  serveRelay(port, (c) => relay(c, to.host, to.port, rttMs));
}

main();
