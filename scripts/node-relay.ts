// node-relay owns the Node floor of the benchmarks: a relay with no logic at all (one server connection per client, `data` → `write` both ways), what Node's socket layer costs before Prescient does anything.
//
// usage: node dist/scripts/node-relay.js --port P --to HOST:PORT [--onread]
//   --onread   the server side reads with `net` onread into one reused 64 KiB buffer (no Buffer and no 'data' event per
//              chunk); a chunk the client socket could not take at once is copied first, since the buffer is reused
// It prints "listening on 127.0.0.1:P" once it accepts connections; SIGTERM closes it.

import net from 'node:net';
import { Args } from './lib/args.js';
import { relayTarget, serveRelay } from './lib/relayProcess.js';

/** Relays one client to its own server connection; either side closing closes both. */
function relay(client: net.Socket, host: string, port: number, onread: boolean): void {
  const server = onread
    ? net.connect({
        host,
        port,
        onread: {
          buffer: Buffer.allocUnsafe(64 * 1024),
          callback: (n: number, buf: Uint8Array): boolean => {
            // the buffer is read into again: a chunk that would wait in the client socket's queue is copied
            const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
            if (client.writableLength > 0) client.write(Buffer.from(chunk));
            else if (!client.write(chunk) || client.writableLength > 0) {
              // it was queued after all (partly written): nothing to do for the bytes already handed over, but the
              // buffer must not be reused under them; pause until drained (rare: a client that reads slowly)
              server.pause();
              client.once('drain', () => server.resume());
            }
            return true;
          },
        },
      })
    : net.connect({ host, port });
  client.setNoDelay(true);
  server.setNoDelay(true);
  client.on('data', (chunk: Buffer) => {
    if (!server.write(chunk)) {
      client.pause();
      server.once('drain', () => client.resume());
    }
  });
  if (!onread) {
    server.on('data', (chunk: Buffer) => {
      if (!client.write(chunk)) {
        server.pause();
        client.once('drain', () => server.resume());
      }
    });
  }
  const end = (): void => {
    client.destroy();
    server.destroy();
  };
  client.on('close', end).on('error', end);
  server.on('close', end).on('error', end);
}

function main(): void {
  const flags = new Args(process.argv.slice(2), { usage: 'usage: node dist/scripts/node-relay.js --port P --to HOST:PORT', values: ['port', 'to'], booleans: ['onread'] });
  const port = flags.int('port', 0, 0);
  const to = relayTarget(flags);
  const onread = flags.bool('onread');
  serveRelay(port, (c) => relay(c, to.host, to.port, onread));
}

main();
