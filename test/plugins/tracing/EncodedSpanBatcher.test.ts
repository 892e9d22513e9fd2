// Owns: the protobuf span batcher's queue — spans encoded as they end, posted in batches of max_export_batch_size (a full batch at once, the rest at schedule_delay_ms or a flush), unsampled spans skipped, a full queue dropping new spans, failed posts counted.
import t from 'tap';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { EncodedSpanBatcher } from '../../../plugins/tracing/EncodedSpanBatcher.js';

/** A span as the batcher reads it: its trace flags, and a byte the fake encoder writes. */
const span = (id: number, sampled = true): ReadableSpan => ({ spanContext: () => ({ traceFlags: sampled ? 1 : 0 }), id }) as unknown as ReadableSpan;

interface Case {
  name: string;
  batch: number;
  queue: number;
  spans: ReadableSpan[];
  /** the posts made before the flush (full batches), and after it */
  before: number[][];
  after: number[][];
  dropped: number;
  fail?: boolean;
}

const cases: Case[] = [
  { name: 'full batches go at once, the rest at the flush', batch: 2, queue: 100, spans: [1, 2, 3, 4, 5].map((i) => span(i)), before: [[1, 2], [3, 4]], after: [[5]], dropped: 0 },
  { name: 'unsampled spans are not exported', batch: 10, queue: 100, spans: [span(1), span(2, false), span(3)], before: [], after: [[1, 3]], dropped: 0 },
  { name: 'a full queue drops new spans', batch: 10, queue: 2, spans: [1, 2, 3].map((i) => span(i)), before: [], after: [[1, 2]], dropped: 1 },
  { name: 'a failed post counts its spans as dropped', batch: 2, queue: 100, spans: [1, 2].map((i) => span(i)), before: [[1, 2]], after: [], dropped: 2, fail: true },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const posts: number[][] = [];
    let closed = false;
    const b = new EncodedSpanBatcher({
      encode: (s) => Uint8Array.of((s as unknown as { id: number }).id),
      join: (parts, bytes) => Buffer.concat(parts, bytes),
      post: (bytes, spans, done) => {
        t.equal(bytes.length, spans, 'one encoded span per span counted');
        posts.push([...bytes]);
        setImmediate(() => done({ code: c.fail ? 1 : 0 }));
      },
      close: async () => { closed = true; },
      maxQueueSize: c.queue,
      maxExportBatchSize: c.batch,
      // long: only full batches and the flush send anything here
      scheduledDelayMillis: 600_000,
    });
    for (const s of c.spans) b.onEnd(s);
    t.same(posts, c.before, 'posted before the flush');
    await b.shutdown();
    t.same(posts.slice(c.before.length), c.after, 'posted by the flush');
    t.equal(b.dropped, c.dropped, 'dropped');
    t.ok(closed, 'the transport is closed at shutdown');
  });
}
