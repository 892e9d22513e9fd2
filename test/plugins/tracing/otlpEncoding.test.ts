// Owns: one span at a time, joined — the OTLP request a batch of parts makes holds every span of it, with its attributes and resource, in both encodings (read back as a collector reads them).
import t from 'tap';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { otlpEncoding } from '../../../plugins/tracing/otlpEncoding.js';
import { decodeOtlpTraces } from '../../../scripts/lib/decodeOtlpTraces.js';
import { TraceProtocol } from '../../../config/schema.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'enc-test' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('prescient');
for (const [i, name] of ['SELECT', 'INSERT', 'prescient.transaction'].entries()) {
  const s = tracer.startSpan(name, { attributes: { 'prescient.account': `acct-${i}`, 'db.response.returned_rows': i } });
  s.end();
}
const spans = exporter.getFinishedSpans();

type Seen = { name: string; account: unknown; rows: unknown; service?: string };
const readJson = (body: Uint8Array): Seen[] => {
  const msg = JSON.parse(Buffer.from(body).toString('utf8')) as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string; attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[] }[] }[] }[] };
  return msg.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => {
    const a = Object.fromEntries(s.attributes.map((x) => [x.key, x.value.stringValue ?? Number(x.value.intValue)]));
    return { name: s.name, account: a['prescient.account'], rows: a['db.response.returned_rows'], service: rs.resource.attributes.find((x) => x.key === 'service.name')?.value.stringValue };
  })));
};
const readProtobuf = (body: Uint8Array): Seen[] =>
  decodeOtlpTraces(Buffer.from(body)).map((s) => ({ name: s.name, account: s.attributes['prescient.account'], rows: s.attributes['db.response.returned_rows'], service: s.service }));

const cases = [
  { protocol: TraceProtocol.HttpJson, serialize: JsonTraceSerializer.serializeRequest, read: readJson, contentType: 'application/json' },
  { protocol: TraceProtocol.HttpProtobuf, serialize: ProtobufTraceSerializer.serializeRequest, read: readProtobuf, contentType: 'application/x-protobuf' },
];
for (const c of cases) {
  t.test(c.protocol, async (t) => {
    const enc = otlpEncoding(c.protocol, (s) => c.serialize(s));
    t.equal(enc.contentType, c.contentType);
    const parts = spans.map((s) => enc.encode(s)!);
    t.ok(parts.every((p) => p !== undefined && p.length > 0), 'each span encodes');
    const joined = enc.join(parts, parts.reduce((n, p) => n + p.length, 0));
    const whole = c.read(c.serialize(spans)!);
    t.same(c.read(joined), whole, 'the joined parts read as the spans serialized in one request');
    t.same(c.read(joined).map((s) => [s.name, s.account, s.rows, s.service]), [
      ['SELECT', 'acct-0', 0, 'enc-test'], ['INSERT', 'acct-1', 1, 'enc-test'], ['prescient.transaction', 'acct-2', 2, 'enc-test'],
    ], 'every span, its attributes and resource');
    const one = enc.join([parts[0]!], parts[0]!.length);
    t.same(c.read(one).map((s) => s.name), ['SELECT'], 'a batch of one');
  });
}
t.equal(otlpEncoding(TraceProtocol.HttpJson, () => Buffer.from('{"other":1}')).encode(spans[0]!), undefined, 'JSON another serializer laid out differently: no part');
