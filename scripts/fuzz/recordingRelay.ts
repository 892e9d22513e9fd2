// recordingRelay owns a tiny TCP relay in front of Postgres that records each client's frontend byte stream.
import net from 'node:net';

export class RecordingRelay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** one entry per accepted connection: every byte the client sent, in order */
  readonly streams: Buffer[][] = [];
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      const chunks: Buffer[] = [];
      this.streams.push(chunks);
      const upstream = net.connect(this.target);
      this.sockets.add(client).add(upstream);
      client.on('data', (d: Buffer) => {
        chunks.push(Buffer.from(d));
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => client.write(d));
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    return this.port;
  }

  /** Takes the streams recorded so far (each joined), clearing the list. */
  take(): Buffer[] {
    const out = this.streams.map((c) => Buffer.concat(c));
    this.streams.length = 0;
    return out;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
