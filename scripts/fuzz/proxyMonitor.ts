// proxyMonitor owns watching the proxy during a run: exit (crash), accepting connections, and its RSS (/proc/<pid>/status VmRSS).
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { rssMb } from '../lib/rss.js';

/** Consecutive failed accept checks (one a second, 5 s timeout each) that count as "stopped accepting". */
const ACCEPT_FAILURES = 3;

export class ProxyMonitor {
  readonly crashes: string[] = [];
  maxRssKb = 0;
  /** called when the RSS reaches a new maximum at least 2 MB above the last one reported (what ran then is the suspect) */
  onRssRise: ((rssKb: number) => void) | null = null;
  private reportedKb = 0;
  private timers: NodeJS.Timeout[] = [];
  private acceptFailures = 0;
  private acceptInFlight = false;

  constructor(
    private readonly endpoint: { host: string; port: number },
    private readonly pid: number | null,
    private readonly proc: ChildProcess | null,
  ) {}

  start(): void {
    this.proc?.once('exit', (code, signal) => {
      if (!this.stopped) this.crashes.push(`proxy exited (code ${code}, signal ${signal}) at ${new Date().toISOString()}`);
    });
    this.timers.push(setInterval(() => this.sampleRss(), 200));
    this.timers.push(setInterval(() => this.checkAccept(), 1000));
    this.sampleRss();
  }

  private stopped = false;

  sampleRss(): void {
    if (!this.pid) return;
    // null: gone (the exit handler or the accept check reports it)
    const mb = rssMb(this.pid);
    if (mb === null) return;
    this.maxRssKb = Math.max(this.maxRssKb, Math.round(mb * 1024));
    if (this.maxRssKb >= this.reportedKb + 2048) {
      this.reportedKb = this.maxRssKb;
      this.onRssRise?.(this.maxRssKb);
    }
  }

  private checkAccept(): void {
    if (this.acceptInFlight) return;
    this.acceptInFlight = true;
    const s = net.connect(this.endpoint);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      this.acceptInFlight = false;
      if (ok) this.acceptFailures = 0;
      else if (++this.acceptFailures === ACCEPT_FAILURES && !this.stopped) this.crashes.push(`proxy stopped accepting connections at ${new Date().toISOString()}`);
    };
    const timer = setTimeout(() => done(false), 5000);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  }

  stop(): void {
    this.stopped = true;
    this.sampleRss();
    for (const t of this.timers) clearInterval(t);
  }
}
