// ActionLogStore owns the action log on disk: lines buffered in memory and appended every flush_ms (off the request path), in NDJSON segments of bounded size, the oldest deleted beyond the configured count; and reading them back in order.
import { appendFile, readdir, readFile, stat, unlink, mkdir } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../logger.js';
import { formatActionEvent, parseActionLog, type ActionEvent } from './ActionEvent.js';

export interface ActionLogOptions {
  dir: string;
  segmentBytes: number;
  segments: number;
  flushMs: number;
}

/** lines held at most while a write is slow (then the newest are dropped and counted) */
const MAX_PENDING = 100_000;

/** Segment file names sort by time of creation: actions-<ms>-<pid>.ndjson (several processes may share the folder). */
const SEGMENT = /^actions-(\d{13})-(\d+)\.ndjson$/;

export class ActionLogStore {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private segment: string | null = null;
  private segmentSize = 0;
  /** lines dropped because the disk did not keep up */
  dropped = 0;
  written = 0;

  constructor(private readonly o: ActionLogOptions) {
    mkdirSync(o.dir, { recursive: true });
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.o.flushMs);
    this.timer.unref();
  }

  /** Buffers one event (a few hundred nanoseconds on the request path; the write happens later). */
  append(ev: ActionEvent): void {
    if (this.pending.length >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.pending.push(formatActionEvent(ev));
  }

  /** Writes what is buffered (serialized: one write at a time). */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.write()).catch((e: unknown) => logger.warn('action log: write failed', { error: (e as Error).message }));
    return this.writing;
  }

  private async write(): Promise<void> {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    const text = lines.join('\n') + '\n';
    if (this.segment === null || this.segmentSize >= this.o.segmentBytes) await this.roll();
    await appendFile(this.segment!, text);
    this.segmentSize += Buffer.byteLength(text);
    this.written += lines.length;
  }

  /** A new segment; the oldest beyond `segments` are deleted. */
  private async roll(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    this.segment = join(this.o.dir, `actions-${String(Date.now()).padStart(13, '0')}-${process.pid}.ndjson`);
    this.segmentSize = 0;
    const all = await ActionLogStore.segments(this.o.dir);
    for (const old of all.slice(0, Math.max(0, all.length - this.o.segments + 1))) await unlink(old).catch(() => {});
  }

  /** The segment files of a folder, oldest first. */
  static async segments(dir: string): Promise<string[]> {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => SEGMENT.test(n)).sort();
    return names.map((n) => join(dir, n));
  }

  /** Every event of the folder's segments, in time order (segments of several processes interleave by t). */
  static async read(dir: string, since = 0): Promise<ActionEvent[]> {
    const out: ActionEvent[] = [];
    for (const f of await ActionLogStore.segments(dir)) {
      if ((await stat(f)).size === 0) continue;
      for (const ev of parseActionLog(await readFile(f, 'utf8'))) if (ev.t >= since) out.push(ev);
    }
    return out.sort((a, b) => a.t - b.t);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
