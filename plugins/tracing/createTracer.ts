// createTracer owns the OpenTelemetry SDK set-up for tracing: the exporter (OTLP/HTTP, JSON or protobuf, or an NDJSON file), a batch processor with a sized queue, sampling (a ratio of root transactions, an application's sampled flag otherwise), the resource; loaded only when tracing is on.
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { TraceProtocol, type TracingConfig } from '../../config/schema.js';

/** OTLP/HTTP's default traces URL when neither the config nor the environment names one. */
export const DEFAULT_OTLP_ENDPOINT = 'http://127.0.0.1:4318/v1/traces';

/**
 * Where OTLP spans go: `telemetry.tracing.endpoint`, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a full URL), else
 * OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces` (the OpenTelemetry environment variables), else DEFAULT_OTLP_ENDPOINT.
 */
export function otlpEndpoint(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (configured !== undefined) return configured;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (base) return `${base.replace(/\/+$/, '')}/v1/traces`;
  return DEFAULT_OTLP_ENDPOINT;
}

/**
 * How OTLP spans are encoded: `telemetry.tracing.protocol`, else OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
 * OTEL_EXPORTER_OTLP_PROTOCOL (each only when it names an HTTP protocol: `grpc` is not offered), else `http/json`.
 */
export function otlpProtocol(configured: TraceProtocol | undefined, env: NodeJS.ProcessEnv = process.env): TraceProtocol {
  if (configured !== undefined) return configured;
  const known = (v: string | undefined): v is TraceProtocol => v === TraceProtocol.HttpJson || v === TraceProtocol.HttpProtobuf;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL;
  if (known(traces)) return traces;
  const all = env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (known(all)) return all;
  return TraceProtocol.HttpJson;
}

/** A running tracer: spans through it are sampled, batched and exported; `remoteParent` reads a W3C traceparent. */
export interface TracerHandle {
  readonly tracer: Tracer;
  /**
   * whether a transaction no application traceparent decides for is traced (true with probability sample_ratio): asked
   * before any span is made, so an unsampled transaction costs no span, no trace id and no sampler call
   */
  sampleRoot(): boolean;
  /** the context of an application's span from its `traceparent` (and `tracestate`), or undefined when it is not valid */
  remoteParent(traceparent: string, tracestate: string | undefined): Context | undefined;
  /** `parent` (default: the root context) with `span` as its span: where `span`'s children start */
  withSpan(span: Span, parent: Context | undefined): Context;
  /** exports what is queued, then stops */
  shutdown(): Promise<void>;
  /** exports what is queued */
  flush(): Promise<void>;
}

/**
 * Builds the tracer provider from the SDK's parts. It is not registered as the global provider and installs no
 * context manager (that would put async hooks on every promise of the proxy) and no auto-instrumentation (that would
 * trace the proxy's own catalog and driver calls): spans are made only by the tracing plugin, parents passed explicitly.
 */
export async function createTracer(cfg: TracingConfig): Promise<TracerHandle> {
  const [{ AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler }, { resourceFromAttributes }, { core }, api] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/api'),
  ]);
  const otlp = { url: otlpEndpoint(cfg.endpoint), timeoutMillis: cfg.export_timeout_ms };
  const exporter = cfg.exporter === 'file'
    ? new (await import('./FileSpanExporter.js')).FileSpanExporter(cfg.file)
    : otlpProtocol(cfg.protocol) === TraceProtocol.HttpProtobuf
      ? new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(otlp)
      : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(otlp);
  const processor = new BatchSpanProcessor(exporter, {
    maxQueueSize: cfg.max_queue_size,
    maxExportBatchSize: cfg.max_export_batch_size,
    scheduledDelayMillis: cfg.schedule_delay_ms,
    exportTimeoutMillis: cfg.export_timeout_ms,
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': cfg.service_name }),
    // a root span is made only once sampleRoot() said yes; a child of an application's span follows its sampled flag
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [processor],
  });
  const propagator = new core.W3CTraceContextPropagator();
  const ratio = cfg.sample_ratio;
  return {
    tracer: provider.getTracer('prescient'),
    sampleRoot: () => ratio >= 1 || (ratio > 0 && Math.random() < ratio),
    remoteParent(traceparent, tracestate) {
      const carrier: Record<string, string> = tracestate === undefined ? { traceparent } : { traceparent, tracestate };
      const ctx = propagator.extract(api.ROOT_CONTEXT, carrier, api.defaultTextMapGetter);
      return api.trace.getSpanContext(ctx) === undefined ? undefined : ctx;
    },
    withSpan: (span, parent) => api.trace.setSpan(parent ?? api.ROOT_CONTEXT, span),
    shutdown: () => provider.shutdown(),
    flush: () => provider.forceFlush(),
  };
}
