// FileSpanExporter owns the `file` trace exporter: each finished span appended to a file as one NDJSON line (tests, air-gapped debugging).
import { appendFile } from 'node:fs/promises';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { HrTime } from '@opentelemetry/api';

/** What an export reports back (the SDK's ExportResult: code 0 success, 1 failed). */
type ExportResult = { code: number; error?: Error };

const SUCCESS = 0;
const FAILED = 1;

/** HrTime → nanoseconds since the epoch, as a decimal string (OTLP's unix nano; a double would lose precision). */
const unixNano = (t: HrTime): string => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

/** One span as its NDJSON line's object: the OTLP JSON span's fields, flat, with the resource's service name. */
export function spanRecord(s: ReadableSpan): Record<string, unknown> {
  const c = s.spanContext();
  return {
    traceId: c.traceId,
    spanId: c.spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: unixNano(s.startTime),
    endTimeUnixNano: unixNano(s.endTime),
    durationMs: s.duration[0] * 1000 + s.duration[1] / 1e6,
    status: s.status,
    attributes: s.attributes,
    service: s.resource.attributes['service.name'],
  };
}

/** Appends spans to `file`, one JSON object a line; writes are serialised (one batch after another). */
export class FileSpanExporter implements SpanExporter {
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const text = spans.map((s) => JSON.stringify(spanRecord(s))).join('\n') + '\n';
    this.writing = this.writing.then(() => appendFile(this.file, text)).then(
      () => done({ code: SUCCESS }),
      (e: unknown) => done({ code: FAILED, error: e instanceof Error ? e : new Error(String(e)) }),
    );
  }

  async forceFlush(): Promise<void> {
    await this.writing;
  }

  async shutdown(): Promise<void> {
    await this.writing;
  }
}
