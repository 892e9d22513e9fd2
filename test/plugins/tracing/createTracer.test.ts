// Owns: where OTLP spans go — the config's endpoint, else the OpenTelemetry environment variables, else the local default.
import t from 'tap';
import { DEFAULT_OTLP_ENDPOINT, otlpEndpoint } from '../../../plugins/tracing/createTracer.js';

const cases: { name: string; configured?: string; env: Record<string, string>; want: string }[] = [
  { name: 'nothing set: the local collector', env: {}, want: DEFAULT_OTLP_ENDPOINT },
  { name: 'the config wins', configured: 'http://otel:4318/v1/traces', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318' }, want: 'http://otel:4318/v1/traces' },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT is a base URL', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318/' }, want: 'http://env:4318/v1/traces' },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL and wins over the base', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/x' }, want: 'http://traces:9999/x' },
];
for (const c of cases) t.equal(otlpEndpoint(c.configured, c.env), c.want, c.name);
