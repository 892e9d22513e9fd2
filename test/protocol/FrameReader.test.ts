// Tests for proxy/protocol/FrameReader.ts: every frontend message type (bytes from pg-protocol's serializer, node-postgres'
// own encoder, or by hand where it has none) comes out as the same frames, decoding to the same values, however the byte
// stream is cut into chunks; bad lengths throw ProxyError 08P01; frames stay valid after later pushes; pending/drain.
import t, { type Test } from 'tap';
import { serialize } from 'pg-protocol/dist/serializer';
import { FrameReader, type Frame } from '../../proxy/protocol/FrameReader.js';
import { decodeFrontendMessage, decodeStartupPacket } from '../../proxy/protocol/FrontendMessage.js';
import { ProxyError, SqlState } from '../../proxy/protocol/SqlState.js';

const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
const i16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n | 0); return b; };
const typed = (code: string, payload: Buffer = Buffer.alloc(0), len = payload.length + 4): Buffer =>
  Buffer.concat([Buffer.from(code, 'latin1'), i32(len), payload]);
const untyped = (code: number, body: Buffer = Buffer.alloc(0), len = 8 + body.length): Buffer => Buffer.concat([i32(len), i32(code), body]);
/** pg-protocol's serializer reuses its buffer: copy what it returns. */
const pg = (b: Buffer): Buffer => Buffer.from(b);

const MAX = 64 * 1024;
const STARTUP_MAX = 10000;

interface Msg { name: string; bytes: Buffer }
const startupMsgs: Msg[] = [
  { name: 'StartupMessage', bytes: pg(serialize.startup({ user: 'app', database: 'app', options: '-c search_path=a\\ b', application_name: 'ⓐⓟⓟ' })) },
  { name: 'SSLRequest', bytes: pg(serialize.requestSsl()) },
  { name: 'GSSENCRequest', bytes: untyped(80877104) },
  { name: 'CancelRequest', bytes: pg(serialize.cancel(31337, 0x7eadbeef)) },
];
const typedMsgs: Msg[] = [
  { name: 'Query', bytes: pg(serialize.query("SELECT 'é' AS x; SELECT 2")) },
  { name: 'Parse with param types', bytes: pg(serialize.parse({ name: 's1', text: 'SELECT $1, $2', types: [23, 25] })) },
  { name: 'Bind (params, formats)', bytes: pg(serialize.bind({ portal: 'p', statement: 's1', values: ['1', Buffer.from([0, 0, 0, 2]), null], binary: true })) },
  { name: 'Describe S', bytes: pg(serialize.describe({ type: 'S', name: 's1' })) },
  { name: 'Describe P', bytes: pg(serialize.describe({ type: 'P', name: 'p' })) },
  { name: 'Execute with row limit', bytes: pg(serialize.execute({ portal: 'p', rows: 50 })) },
  { name: 'Close S', bytes: pg(serialize.close({ type: 'S', name: 's1' })) },
  { name: 'Close P', bytes: pg(serialize.close({ type: 'P', name: 'p' })) },
  { name: 'Sync', bytes: pg(serialize.sync()) },
  { name: 'Flush', bytes: pg(serialize.flush()) },
  { name: 'Terminate', bytes: pg(serialize.end()) },
  { name: 'CopyData', bytes: pg(serialize.copyData(Buffer.from('1\tone\n2\t\\N\n'))) },
  { name: 'CopyDone', bytes: pg(serialize.copyDone()) },
  { name: 'CopyFail', bytes: pg(serialize.copyFail('client gave up')) },
  { name: 'FunctionCall', bytes: typed('F', Buffer.concat([i32(1598), i16(0), i16(1), i32(2), Buffer.from('hi'), i16(0)])) },
  { name: 'PasswordMessage', bytes: pg(serialize.password('secret')) },
  { name: 'SASLInitialResponse', bytes: pg(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=abc')) },
  { name: 'SASLResponse', bytes: pg(serialize.sendSCRAMClientFinalMessage('c=biws,r=abc,p=xyz')) },
];

interface Out { code: number; frame: Buffer; payload: Buffer; value: unknown }
/** Feeds `chunks` to a fresh reader; returns frames (copied, with their decoded value) and what is left pending. */
function run(chunks: Buffer[], startup = false): { out: Out[]; pending: number } {
  const reader = new FrameReader(startup ? STARTUP_MAX : MAX, startup);
  const out: Out[] = [];
  for (const c of chunks) {
    reader.push(c);
    for (let f: Frame | null = reader.next(); f; f = reader.next()) {
      out.push({
        code: f.code,
        frame: Buffer.from(f.frame),
        payload: Buffer.from(f.payload),
        value: startup ? decodeStartupPacket(f.payload) : decodeFrontendMessage(f.code, f.payload),
      });
    }
  }
  return { out, pending: reader.pending };
}
const bytewise = (b: Buffer): Buffer[] => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
const expectedFrames = (msgs: Msg[], startup: boolean): Omit<Out, 'value'>[] =>
  msgs.map((m) => ({ code: startup ? 0 : m.bytes[0]!, frame: m.bytes, payload: m.bytes.subarray(startup ? 4 : 5) }));

function throwsProxyError(t: Test, fn: () => unknown, name: string): void {
  try {
    fn();
    t.fail(`${name}: did not throw`);
  } catch (e) {
    if (e instanceof ProxyError) t.equal(e.sqlState, SqlState.ProtocolViolation, `${name}: ${e.message}`);
    else t.fail(`${name}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
}

t.test('each message whole: one frame, the right code, payload after the header', async (t) => {
  for (const [msgs, startup] of [[startupMsgs, true], [typedMsgs, false]] as const) {
    for (const m of msgs) {
      const { out, pending } = run([m.bytes], startup);
      t.match(out, expectedFrames([m], startup), m.name);
      t.equal(pending, 0, `${m.name}: nothing left`);
    }
  }
});

t.test('each message cut in two at every byte position, and byte by byte: same frames, same values', async (t) => {
  for (const [msgs, startup] of [[startupMsgs, true], [typedMsgs, false]] as const) {
    for (const m of msgs) {
      const whole = run([m.bytes], startup).out;
      for (let k = 0; k <= m.bytes.length; k++) {
        t.same(run([m.bytes.subarray(0, k), m.bytes.subarray(k)], startup), { out: whole, pending: 0 }, `${m.name} cut at ${k}`);
      }
      t.same(run(bytewise(m.bytes), startup), { out: whole, pending: 0 }, `${m.name} byte by byte`);
    }
  }
});

t.test('messages concatenated, cut at every position, byte by byte, and in random chunks', async (t) => {
  for (const [msgs, startup] of [[startupMsgs, true], [typedMsgs, false]] as const) {
    const all = Buffer.concat(msgs.map((m) => m.bytes));
    const whole = run([all], startup);
    t.match(whole.out, expectedFrames(msgs, startup), `${startup ? 'startup' : 'typed'}: uncut`);
    t.equal(whole.pending, 0);
    for (let k = 0; k <= all.length; k++) t.same(run([all.subarray(0, k), all.subarray(k)], startup), whole, `cut at ${k}`);
    t.same(run(bytewise(all), startup), whole, 'byte by byte');
    let seed = 12345;
    const rand = (n: number): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
    for (let i = 0; i < 200; i++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < all.length; ) {
        const n = rand(3) === 0 ? 0 : 1 + rand(40); // empty chunks too
        chunks.push(all.subarray(at, at + n));
        at += n;
      }
      t.same(run(chunks, startup), whole, `random chunking #${i} (${chunks.length} chunks)`);
    }
  }
});

t.test('a frame of one chunk is a slice of it (no copy); frames stay valid after later pushes', async (t) => {
  const a = Buffer.concat([typedMsgs[0]!.bytes, typedMsgs[1]!.bytes]);
  const r = new FrameReader(MAX);
  r.push(a);
  const f1 = r.next()!;
  const f2 = r.next()!;
  t.equal(f1.frame.buffer, a.buffer, 'same memory as the chunk');
  t.equal(f1.frame.byteOffset, a.byteOffset);
  t.equal(f2.frame.byteOffset, a.byteOffset + typedMsgs[0]!.bytes.length);
  t.equal(r.next(), null);
  // a frame cut across chunks, then more frames: earlier frames must not be overwritten by later reads
  const b = Buffer.concat(typedMsgs.map((m) => m.bytes));
  const kept: Buffer[] = [];
  const copies: Buffer[] = [];
  const r2 = new FrameReader(MAX);
  for (const chunk of bytewise(b).concat([b])) {
    r2.push(chunk);
    for (let f = r2.next(); f; f = r2.next()) {
      kept.push(f.frame);
      copies.push(Buffer.from(f.frame));
    }
  }
  t.equal(kept.length, typedMsgs.length * 2);
  t.same(kept, copies, 'every frame handed out earlier still holds its bytes');
});

t.test('a large frame arriving in many small chunks', async (t) => {
  const big = typed('d', Buffer.alloc(60000, 0x61));
  const chunks: Buffer[] = [];
  for (let at = 0; at < big.length; at += 37) chunks.push(big.subarray(at, at + 37));
  const r = new FrameReader(MAX);
  let frames = 0;
  let received = 0;
  const wrongPending: number[] = [];
  for (const c of chunks) {
    r.push(c);
    received += c.length;
    for (let f = r.next(); f; f = r.next()) {
      frames++;
      t.ok(f.frame.equals(big), 'whole frame');
      t.equal(f.payload.length, 60000);
    }
    if (frames === 0 && r.pending !== received) wrongPending.push(received);
  }
  t.same(wrongPending, [], 'pending counts every byte received while the frame is incomplete');
  t.equal(frames, 1);
  t.equal(r.pending, 0);
});

t.test('pending and drain', async (t) => {
  const ssl = pg(serialize.requestSsl());
  const tail = Buffer.from([0x16, 0x03, 0x01, 0x02]); // a TLS ClientHello starting right after the SSLRequest
  const r = new FrameReader(STARTUP_MAX, true);
  r.push(Buffer.concat([ssl, tail]));
  t.same(decodeStartupPacket(r.next()!.payload), { kind: 'SSLRequest' });
  t.equal(r.pending, tail.length, 'bytes after the request are pending');
  t.same(r.drain(), tail, 'drain hands them out');
  t.equal(r.pending, 0);
  t.equal(r.next(), null);
  t.same(r.drain(), Buffer.alloc(0), 'drain again: nothing');
  r.push(ssl);
  t.ok(r.next(), 'usable after drain');

  // drain with a frame cut across several chunks
  const q = typedMsgs[0]!.bytes;
  const r2 = new FrameReader(MAX);
  r2.push(q.subarray(0, 3));
  t.equal(r2.next(), null);
  r2.push(q.subarray(3, 10));
  t.equal(r2.next(), null);
  r2.push(q.subarray(10, 12));
  t.equal(r2.pending, 12);
  t.same(r2.drain(), q.subarray(0, 12), 'drain returns all of a partial frame, in order');
  t.equal(r2.pending, 0);
  r2.push(q);
  t.same(r2.next()?.frame, q, 'a fresh frame after drain');
});

t.test('switching from untyped (startup) to typed frames in the same buffer', async (t) => {
  const startup = startupMsgs[0]!.bytes;
  const query = typedMsgs[0]!.bytes;
  const all = Buffer.concat([startup, query]);
  for (let k = 0; k <= all.length; k++) {
    const r = new FrameReader(STARTUP_MAX, true);
    const got: unknown[] = [];
    for (const c of [all.subarray(0, k), all.subarray(k)]) {
      r.push(c);
      for (let f = r.next(); f; f = r.next()) {
        if (r.untyped) {
          got.push(decodeStartupPacket(f.payload).kind);
          r.untyped = false;
        } else got.push(decodeFrontendMessage(f.code, f.payload));
      }
    }
    t.same(got, ['StartupMessage', { type: 'Query', query: "SELECT 'é' AS x; SELECT 2" }], `cut at ${k}`);
  }
});

t.test('length limits: the boundary is accepted, one past it is not', async (t) => {
  const r = new FrameReader(MAX);
  r.push(typed('d', Buffer.alloc(MAX - 4)));
  t.equal(r.next()?.frame.length, MAX + 1, 'typed length == maxMessageSize');
  r.push(typed('d', Buffer.alloc(0), 4));
  t.equal(r.next()?.payload.length, 0, 'typed length 4 (empty payload)');
  const s = new FrameReader(STARTUP_MAX, true);
  // Postgres' MAX_STARTUP_PACKET_LENGTH counts the packet after its length word: 10000 + 4 bytes in all is accepted
  s.push(untyped(196608, Buffer.alloc(STARTUP_MAX - 4)));
  t.equal(s.next()?.frame.length, STARTUP_MAX + 4, 'startup length == cap + the length word');
  s.push(untyped(80877103));
  t.equal(s.next()?.frame.length, 8, 'startup length 8');
});

t.test('bad lengths throw ProxyError 08P01: whole, byte by byte, after good frames', async (t) => {
  const bad: { name: string; bytes: Buffer; startup?: boolean }[] = [
    { name: 'negative length', bytes: typed('Q', cstr('x'), -1) },
    { name: 'length -2^31', bytes: typed('Q', Buffer.alloc(0), -0x80000000) },
    ...[0, 1, 2, 3].map((n) => ({ name: `length ${n}`, bytes: typed('S', Buffer.alloc(0), n) })),
    { name: 'length maxMessageSize + 1', bytes: typed('d', Buffer.alloc(8), MAX + 1) },
    { name: 'length 2^31-1', bytes: typed('d', Buffer.alloc(0), 0x7fffffff) },
    ...[-1, 0, 4, 7].map((n) => ({ name: `startup length ${n}`, startup: true, bytes: untyped(196608, Buffer.alloc(0), n) })),
    { name: 'startup length over the cap', startup: true, bytes: untyped(196608, Buffer.alloc(0), STARTUP_MAX + 5) },
    { name: 'startup length 2^31-1', startup: true, bytes: untyped(196608, Buffer.alloc(0), 0x7fffffff) },
  ];
  for (const b of bad) {
    throwsProxyError(t, () => run([b.bytes], b.startup), b.name);
    throwsProxyError(t, () => run(bytewise(b.bytes), b.startup), `${b.name}, byte by byte`);
    const good = b.startup ? startupMsgs[1]!.bytes : typedMsgs[8]!.bytes;
    // the good frame before it is handed out first; the error comes on the next call
    const r = new FrameReader(b.startup ? STARTUP_MAX : MAX, b.startup);
    r.push(Buffer.concat([good, b.bytes]));
    t.same(r.next()?.frame, good, `${b.name}: good frame first`);
    throwsProxyError(t, () => r.next(), `${b.name}, after a good frame`);
  }
});

t.test('small message types: a body over the small limit is refused at once, as Postgres (PQ_SMALL_MESSAGE_LIMIT)', async (t) => {
  const small = new Set([0x53]); // Sync
  const r = new FrameReader(MAX);
  r.limitSmall(small, 100);
  r.push(typed('S', Buffer.alloc(100)));
  t.equal(r.next()?.payload.length, 100, 'a body of exactly the limit is a frame');
  r.push(typed('Q', Buffer.alloc(200)));
  t.equal(r.next()?.payload.length, 200, 'other types keep the large limit');
  const cut = new FrameReader(MAX);
  cut.limitSmall(small, 100);
  cut.push(typed('S', Buffer.alloc(0), 105).subarray(0, 5)); // only the header of a Sync claiming 101 bytes of body
  throwsProxyError(t, () => cut.next(), 'refused from its header, without waiting for the body');
});
