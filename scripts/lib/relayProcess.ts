// relayProcess owns what every benchmark relay process does the same way: its --to HOST:PORT, listening on loopback with the "listening on" line its starter waits for, and SIGTERM.

import net from 'node:net';
import type { Args } from './args.js';

/** The server a relay forwards to, from --to HOST:PORT. */
export function relayTarget(flags: Args): { host: string; port: number } {
  const to = flags.get('to') ?? '';
  const at = to.lastIndexOf(':');
  if (at <= 0) throw new Error('--to HOST:PORT is required');
  return { host: to.slice(0, at), port: Number(to.slice(at + 1)) };
}

/** Listens on 127.0.0.1:`port` (0: any), prints "listening on 127.0.0.1:P" once it accepts, closes on SIGTERM. */
export function serveRelay(port: number, onClient: (client: net.Socket) => void): void {
  const listener = net.createServer(onClient);
  listener.listen(port, '127.0.0.1', () => {
    const a = listener.address() as net.AddressInfo;
    process.stdout.write(`listening on 127.0.0.1:${a.port}\n`);
  });
  process.on('SIGTERM', () => {
    listener.close();
    process.exit(0);
  });
}
