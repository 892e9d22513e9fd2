// EncodedSpanBatcher owns OTLP/HTTP export for tracing: each span encoded (JSON or protobuf) as it ends, so the span's objects die young; the bytes batched and posted through the OTLP exporter's HTTP transport.
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** What the batcher is built from: the OTLP packages' parts (loaded by createTracer) and the batch settings. */
export interface EncodedSpanBatcherParts {
  /** one span → its encoded part of a request (OTLP's serializers: otlpEncoding) */
  encode(span: ReadableSpan): Uint8Array | undefined;
  /** the parts of a batch (`bytes` long in all) → one ExportTraceServiceRequest */
  join(parts: Uint8Array[], bytes: number): Uint8Array;
  /** posts an ExportTraceServiceRequest's bytes; `done` gets code 0 on success (the OTLP export delegate) */
  post(request: Uint8Array, spans: number, done: (result: { code: number; error?: Error }) => void): void;
  /** stops the transport */
  close(): Promise<void>;
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
}

/** The sampled bit of W3C trace flags. */
const SAMPLED = 1;

/**
 * A span processor in place of the SDK's BatchSpanProcessor + OTLPTraceExporter. The SDK's processor keeps every ended
 * span (a graph of objects) until its batch is sent — up to schedule_delay_ms, long enough to reach the old generation,
 * whose collections then cost more than the span did. Here a span is encoded the moment it ends and only its bytes wait
 * (a flat buffer the collector never traces); a batch is its spans' parts joined into one request (otlpEncoding).
 * Queue and batch limits as the SDK's: beyond max_queue_size new spans are dropped.
 */
export class EncodedSpanBatcher implements SpanProcessor {
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** spans dropped because the queue was full, or their export failed */
  dropped = 0;

  constructor(private readonly parts: EncodedSpanBatcherParts) {}

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.closed || (span.spanContext().traceFlags & SAMPLED) === 0) return;
    if (this.queued.length >= this.parts.maxQueueSize) {
      this.dropped++;
      return;
    }
    const bytes = this.parts.encode(span);
    if (bytes === undefined) return;
    this.queued.push(bytes);
    this.queuedBytes += bytes.length;
    if (this.queued.length >= this.parts.maxExportBatchSize) this.send();
    else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.send();
      }, this.parts.scheduledDelayMillis);
      this.timer.unref();
    }
  }

  /** Posts what is queued, in batches of at most maxExportBatchSize spans. */
  private send(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queued.length > 0) {
      const batch = this.queued.length <= this.parts.maxExportBatchSize ? this.queued : this.queued.slice(0, this.parts.maxExportBatchSize);
      const bytes = batch === this.queued ? this.queuedBytes : batch.reduce((n, b) => n + b.length, 0);
      this.queued = batch === this.queued ? [] : this.queued.slice(batch.length);
      this.queuedBytes -= bytes;
      const request = this.parts.join(batch, bytes);
      const spans = batch.length;
      const done = new Promise<void>((resolve) => {
        this.parts.post(request, spans, (result) => {
          if (result.code !== 0) this.dropped += spans;
          resolve();
        });
      });
      this.inFlight.add(done);
      void done.then(() => this.inFlight.delete(done));
    }
  }

  async forceFlush(): Promise<void> {
    this.send();
    await Promise.all([...this.inFlight]);
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    await this.forceFlush();
    this.closed = true;
    await this.parts.close();
  }
}
