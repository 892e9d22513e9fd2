// clients owns the benchmark scripts' direct pg clients: opened with their errors swallowed (a server stopped at the end must not crash the script), all ended at once.
import pg from 'pg';

export class Clients {
  private readonly opened: pg.Client[] = [];

  async open(cfg: pg.ClientConfig): Promise<pg.Client> {
    const c = new pg.Client(cfg);
    c.on('error', () => {});
    await c.connect();
    this.opened.push(c);
    return c;
  }

  async endAll(): Promise<void> {
    await Promise.all(this.opened.map((c) => c.end().catch(() => {})));
  }
}
