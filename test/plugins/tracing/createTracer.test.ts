// Owns: where OTLP spans go and how they are encoded — the config's endpoint and protocol, else the OpenTelemetry environment variables, else the defaults.
import t from 'tap';
import { DEFAULT_OTLP_ENDPOINT, otlpEndpoint, otlpProtocol } from '../../../plugins/tracing/createTracer.js';
import type { TraceProtocol } from '../../../config/schema.js';

const cases: { name: string; configured?: string; env: Record<string, string>; want: string }[] = [
  { name: 'nothing set: the local collector', env: {}, want: DEFAULT_OTLP_ENDPOINT },
  { name: 'the config wins', configured: 'http://otel:4318/v1/traces', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318' }, want: 'http://otel:4318/v1/traces' },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT is a base URL', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318/' }, want: 'http://env:4318/v1/traces' },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL and wins over the base', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/x' }, want: 'http://traces:9999/x' },
];
for (const c of cases) t.equal(otlpEndpoint(c.configured, c.env), c.want, c.name);

const protocols: { name: string; configured?: TraceProtocol; env: Record<string, string>; want: TraceProtocol }[] = [
  { name: 'nothing set: JSON', env: {}, want: 'http/json' },
  { name: 'the config wins', configured: 'http/json', env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, want: 'http/json' },
  { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, want: 'http/protobuf' },
  { name: 'the traces variable wins over the general one', env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, want: 'http/protobuf' },
  { name: 'grpc (not offered) is passed over', env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, want: 'http/protobuf' },
];
for (const c of protocols) t.equal(otlpProtocol(c.configured, c.env), c.want, `protocol: ${c.name}`);
