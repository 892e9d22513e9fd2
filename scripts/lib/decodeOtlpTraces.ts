// decodeOtlpTraces owns reading an OTLP/HTTP protobuf trace export (ExportTraceServiceRequest) back into spans, for the local collectors of the telemetry benchmark and the tracing tests.

/** One span of the request, with the service.name of its resource. */
export interface DecodedSpan {
  traceId: string;
  spanId: string;
  /** undefined for a root span */
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
  service?: string;
}

/** A message's bytes, read field by field (protobuf wire format). */
class Reader {
  private i: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
  ) {
    this.i = start;
  }

  /** each field in order: its number, wire type, and for a length-delimited one its [start, end); a varint's value */
  *fields(): Generator<{ field: number; wire: number; start: number; end: number; value: number }> {
    while (this.i < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire === 0) yield { field, wire, start: 0, end: 0, value: this.varint() };
      else if (wire === 1) {
        yield { field, wire, start: this.i, end: this.i + 8, value: this.buf.readDoubleLE(this.i) };
        this.i += 8;
      } else if (wire === 5) {
        yield { field, wire, start: this.i, end: this.i + 4, value: this.buf.readUInt32LE(this.i) };
        this.i += 4;
      } else if (wire === 2) {
        const len = this.varint();
        const start = this.i;
        this.i += len;
        yield { field, wire, start, end: start + len, value: len };
      } else throw new Error(`protobuf wire type ${wire} not expected in a trace export`);
    }
  }

  private varint(): number {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = this.buf[this.i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  }
}

/** The spans of an ExportTraceServiceRequest: resource_spans (1) → resource (1), scope_spans (2) → spans (2). */
export function decodeOtlpTraces(buf: Buffer): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  const text = (s: number, e: number): string => buf.toString('utf8', s, e);
  const hex = (s: number, e: number): string => buf.toString('hex', s, e);
  const each = (s: number, e: number) => new Reader(buf, s, e).fields();
  // KeyValue: key (1), value (2) → AnyValue: string (1), bool (2), int (3), double (4)
  const attribute = (s: number, e: number, into: Record<string, string | number | boolean>): void => {
    let key = '';
    let value: string | number | boolean = '';
    for (const f of each(s, e)) {
      if (f.field === 1) key = text(f.start, f.end);
      else if (f.field === 2) {
        for (const v of each(f.start, f.end)) {
          if (v.field === 1) value = text(v.start, v.end);
          else if (v.field === 2) value = v.value !== 0;
          else if (v.field === 3 || v.field === 4) value = v.value;
        }
      }
    }
    into[key] = value;
  };
  for (const rs of each(0, buf.length)) {
    if (rs.field !== 1) continue;
    let service: string | undefined;
    const spans: DecodedSpan[] = [];
    for (const part of each(rs.start, rs.end)) {
      if (part.field === 1) {
        const resource: Record<string, string | number | boolean> = {};
        for (const a of each(part.start, part.end)) if (a.field === 1) attribute(a.start, a.end, resource);
        const name = resource['service.name'];
        if (typeof name === 'string') service = name;
      } else if (part.field === 2) {
        for (const sp of each(part.start, part.end)) {
          if (sp.field !== 2) continue;
          const span: DecodedSpan = { traceId: '', spanId: '', name: '', kind: 0, attributes: {}, status: {} };
          for (const f of each(sp.start, sp.end)) {
            if (f.field === 1) span.traceId = hex(f.start, f.end);
            else if (f.field === 2) span.spanId = hex(f.start, f.end);
            else if (f.field === 4 && f.end > f.start) span.parentSpanId = hex(f.start, f.end);
            else if (f.field === 5) span.name = text(f.start, f.end);
            else if (f.field === 6) span.kind = f.value;
            else if (f.field === 9) attribute(f.start, f.end, span.attributes);
            else if (f.field === 15) {
              for (const st of each(f.start, f.end)) {
                if (st.field === 2) span.status.message = text(st.start, st.end);
                else if (st.field === 3) span.status.code = st.value;
              }
            }
          }
          spans.push(span);
        }
      }
    }
    for (const s of spans) out.push(service === undefined ? s : { ...s, service });
  }
  return out;
}
