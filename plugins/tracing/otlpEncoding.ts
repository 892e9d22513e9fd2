// otlpEncoding owns encoding one span as a part of an OTLP/HTTP trace export request, and joining such parts into one request, for JSON and protobuf (with the OTLP transformer's serializers).
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { TraceProtocol } from '../../config/schema.js';

/** How spans become a request body: encode each as it ends, join a batch's parts. */
export interface OtlpEncoding {
  readonly contentType: string;
  encode(span: ReadableSpan): Uint8Array | undefined;
  join(parts: Uint8Array[], bytes: number): Uint8Array;
}

/** The serializer the OTLP transformer offers for each encoding: spans → a whole ExportTraceServiceRequest. */
type Serialize = (spans: ReadableSpan[]) => Uint8Array | undefined;

/** the JSON request's frame around its resourceSpans items, as the transformer writes it (JSON.stringify, no spaces) */
const JSON_HEAD = Buffer.from('{"resourceSpans":[');
const JSON_TAIL = Buffer.from(']}');
const COMMA = Buffer.from(',');

/**
 * `http/protobuf`: a span's part is a whole request holding it; requests' bytes one after another are one request
 * holding them all (protobuf appends repeated fields). `http/json`: a span's part is its request's one resourceSpans
 * item (the request `{"resourceSpans":[ITEM]}` without its frame); a batch is the frame around the items, comma-separated.
 */
export function otlpEncoding(protocol: TraceProtocol, serialize: Serialize): OtlpEncoding {
  if (protocol === TraceProtocol.HttpProtobuf) {
    return { contentType: 'application/x-protobuf', encode: (span) => serialize([span]), join: (parts, bytes) => Buffer.concat(parts, bytes) };
  }
  return {
    contentType: 'application/json',
    encode(span) {
      const whole = serialize([span]);
      if (whole === undefined) return undefined;
      const b = Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength);
      const framed = b.length >= JSON_HEAD.length + JSON_TAIL.length && b.subarray(0, JSON_HEAD.length).equals(JSON_HEAD) && b.subarray(b.length - JSON_TAIL.length).equals(JSON_TAIL);
      // another serializer's layout (a request with more keys, or no span): not a part this encoding can join
      if (!framed || b.length === JSON_HEAD.length + JSON_TAIL.length) return undefined;
      return b.subarray(JSON_HEAD.length, b.length - JSON_TAIL.length);
    },
    join(parts, bytes) {
      const out: Buffer[] = [JSON_HEAD];
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) out.push(COMMA);
        out.push(parts[i] as Buffer);
      }
      out.push(JSON_TAIL);
      return Buffer.concat(out, JSON_HEAD.length + bytes + Math.max(0, parts.length - 1) + JSON_TAIL.length);
    },
  };
}
