// Tests for proxy/protocol/FrontendMessage.ts: every frontend message type, built as real bytes (FrontendEncoder where it
// has a builder, by hand otherwise, cross-checked against pg-protocol's serializer), framed by a FrameReader cut at every
// byte position, decodes to the same values as the uncut input; malformed input throws ProxyError 08P01 (0A000 for an
// unsupported protocol version) and never another exception type.
import t, { type Test } from 'tap';
import { serialize } from 'pg-protocol/dist/serializer';
import { FrameReader } from '../../proxy/protocol/FrameReader.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import {
  decodeBind, decodeFrontendMessage, decodeParse, decodeStartupPacket, type FrontendMessage, type StartupPacket,
} from '../../proxy/protocol/FrontendMessage.js';
import { FrontendCode, StartupCode } from '../../proxy/protocol/MessageCode.js';
import { ProxyError, SqlState } from '../../proxy/protocol/SqlState.js';

// ------------------------------------------------------------------ byte builders (independent of the code under test)

const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
const i16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; };
const i32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n | 0); return b; };
/** A typed frame: type byte, Int32 length (including itself, unless `len` overrides it), payload. */
function typed(code: string, payload: Buffer = Buffer.alloc(0), len = payload.length + 4): Buffer {
  return Buffer.concat([Buffer.from(code, 'latin1'), i32(len), payload]);
}
/** An untyped startup-phase packet: Int32 length, Int32 request code, body. */
function untyped(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([i32(8 + body.length), i32(code), body]);
}
/** pg-protocol's serializer reuses its buffer: copy what it returns. */
const pg = (b: Buffer): Buffer => Buffer.from(b);

/** Bind payload body after the two names: parameter formats, parameters (null = SQL NULL), result formats. */
function bindRest(formats: number[], params: (Buffer | null)[], results: number[]): Buffer {
  return Buffer.concat([
    i16(formats.length), ...formats.map(i16),
    i16(params.length), ...params.map((p) => (p === null ? i32(-1) : Buffer.concat([i32(p.length), p]))),
    i16(results.length), ...results.map(i16),
  ]);
}
const bindPayload = (portal: string, stmt: string, rest: Buffer): Buffer => Buffer.concat([cstr(portal), cstr(stmt), rest]);

// ------------------------------------------------------------------ the table

interface Case {
  name: string;
  bytes: Buffer;
  startup?: boolean;
  /** what the whole message decodes to */
  expected: StartupPacket | FrontendMessage;
  /** the same message as pg-protocol (node-postgres) encodes it, when it has a serializer for it */
  pgBytes?: Buffer;
}

const bindBinary = Buffer.from([0, 0, 0, 7]);
const bindRestFull = bindRest([0, 0, 1], [Buffer.from('42'), null, bindBinary], [1]);
const bindFull = typed('B', bindPayload('p1', 's1', bindRestFull));
const fnCall = Buffer.concat([i32(1598), i16(1), i16(0), i16(2), i32(3), Buffer.from('abc'), i32(-1), i16(0)]);
const copyBytes = Buffer.from([0, 1, 2, 0x0a, 0xff, 0, 0x5c, 0x2e]);
const saslData = 'n,,n=,r=rOprNGfwEbeRWgbNEkqO';
const saslFinal = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const startupParams = { user: 'app', database: 'app', application_name: 'psql ✓', options: '-c search_path=a\\ b' };
const query = "SELECT 'ünïcode ✓', $$a;b$$; SELECT 2";

const cases: Case[] = [
  {
    name: 'StartupMessage with params',
    startup: true,
    bytes: Fe.StartupMessage({ ...startupParams, client_encoding: 'UTF8' }),
    pgBytes: pg(serialize.startup(startupParams)),
    expected: { kind: 'StartupMessage', protocol: StartupCode.Protocol3, params: new Map(Object.entries({ ...startupParams, client_encoding: 'UTF8' })) },
  },
  {
    name: 'StartupMessage without params',
    startup: true,
    bytes: untyped(StartupCode.Protocol3, Buffer.from([0])),
    expected: { kind: 'StartupMessage', protocol: StartupCode.Protocol3, params: new Map() },
  },
  {
    name: 'StartupMessage protocol 3.2',
    startup: true,
    bytes: untyped((3 << 16) | 2, Buffer.concat([cstr('user'), cstr('u'), Buffer.from([0])])),
    expected: { kind: 'StartupMessage', protocol: (3 << 16) | 2, params: new Map([['user', 'u']]) },
  },
  { name: 'SSLRequest', startup: true, bytes: untyped(80877103), pgBytes: pg(serialize.requestSsl()), expected: { kind: 'SSLRequest' } },
  { name: 'GSSENCRequest', startup: true, bytes: untyped(80877104), expected: { kind: 'GSSENCRequest' } },
  {
    name: 'CancelRequest',
    startup: true,
    bytes: Fe.CancelRequest(4242, -559038737),
    pgBytes: pg(serialize.cancel(4242, -559038737)),
    expected: { kind: 'CancelRequest', pid: 4242, secret: -559038737 },
  },
  { name: 'Query', bytes: Fe.Query(query), pgBytes: pg(serialize.query(query)), expected: { type: 'Query', query } },
  { name: 'Query (empty)', bytes: Fe.Query(''), pgBytes: pg(serialize.query('')), expected: { type: 'Query', query: '' } },
  {
    name: 'Parse with param types',
    bytes: Fe.Parse('s1', 'SELECT $1::int4, $2, $3', [23, 0, 0xfffffffe]),
    pgBytes: pg(serialize.parse({ name: 's1', text: 'SELECT $1::int4, $2, $3', types: [23, 0, 0xfffffffe] })),
    expected: { type: 'Parse', msg: { name: 's1', query: 'SELECT $1::int4, $2, $3', paramTypes: [23, 0, 0xfffffffe], rest: Fe.Parse('s1', 'SELECT $1::int4, $2, $3', [23, 0, 0xfffffffe]).subarray(5 + 3) } },
  },
  {
    name: 'Parse unnamed, no param types',
    bytes: Fe.Parse('', 'SELECT 1', []),
    pgBytes: pg(serialize.parse({ text: 'SELECT 1' })),
    expected: { type: 'Parse', msg: { name: '', query: 'SELECT 1', paramTypes: [], rest: Fe.Parse('', 'SELECT 1', []).subarray(5 + 1) } },
  },
  {
    name: 'Bind with params and formats',
    bytes: bindFull,
    expected: { type: 'Bind', msg: { portal: 'p1', statement: 's1', restOffset: 6 } },
  },
  {
    name: 'Bind as node-postgres sends it (text, binary and NULL values, binary results)',
    bytes: pg(serialize.bind({ portal: 'P', statement: 'stmt', values: ['x', Buffer.from([1, 2]), null], binary: true })),
    expected: { type: 'Bind', msg: { portal: 'P', statement: 'stmt', restOffset: 7 } },
  },
  {
    name: 'Bind unnamed, no params',
    bytes: typed('B', bindPayload('', '', bindRest([], [], []))),
    expected: { type: 'Bind', msg: { portal: '', statement: '', restOffset: 2 } },
  },
  {
    name: 'Bind with one format for all params',
    bytes: typed('B', bindPayload('', 'x', bindRest([1], [bindBinary, bindBinary], [0, 1]))),
    expected: { type: 'Bind', msg: { portal: '', statement: 'x', restOffset: 3 } },
  },
  {
    name: 'Describe S',
    bytes: Fe.targetFrame(FrontendCode.Describe, 'S', 's1'),
    pgBytes: pg(serialize.describe({ type: 'S', name: 's1' })),
    expected: { type: 'Describe', msg: { target: 'S', name: 's1' } },
  },
  {
    name: 'Describe P (unnamed)',
    bytes: Fe.targetFrame(FrontendCode.Describe, 'P', ''),
    pgBytes: pg(serialize.describe({ type: 'P' })),
    expected: { type: 'Describe', msg: { target: 'P', name: '' } },
  },
  {
    name: 'Execute with row limit',
    bytes: typed('E', Buffer.concat([cstr('p1'), i32(100)])),
    pgBytes: pg(serialize.execute({ portal: 'p1', rows: 100 })),
    expected: { type: 'Execute', msg: { portal: 'p1', maxRows: 100 } },
  },
  {
    name: 'Execute unnamed, all rows',
    bytes: typed('E', Buffer.concat([cstr(''), i32(0)])),
    pgBytes: pg(serialize.execute()),
    expected: { type: 'Execute', msg: { portal: '', maxRows: 0 } },
  },
  {
    name: 'Close S',
    bytes: Fe.targetFrame(FrontendCode.Close, 'S', 's1'),
    pgBytes: pg(serialize.close({ type: 'S', name: 's1' })),
    expected: { type: 'Close', msg: { target: 'S', name: 's1' } },
  },
  {
    name: 'Close P',
    bytes: Fe.targetFrame(FrontendCode.Close, 'P', 'p1'),
    pgBytes: pg(serialize.close({ type: 'P', name: 'p1' })),
    expected: { type: 'Close', msg: { target: 'P', name: 'p1' } },
  },
  { name: 'Sync', bytes: Fe.Sync, pgBytes: pg(serialize.sync()), expected: { type: 'Sync' } },
  { name: 'Flush', bytes: typed('H'), pgBytes: pg(serialize.flush()), expected: { type: 'Flush' } },
  { name: 'Terminate', bytes: Fe.Terminate, pgBytes: pg(serialize.end()), expected: { type: 'Terminate' } },
  { name: 'CopyData', bytes: typed('d', copyBytes), pgBytes: pg(serialize.copyData(copyBytes)), expected: { type: 'CopyData', data: copyBytes } },
  { name: 'CopyData (empty)', bytes: typed('d'), expected: { type: 'CopyData', data: Buffer.alloc(0) } },
  { name: 'CopyDone', bytes: typed('c'), pgBytes: pg(serialize.copyDone()), expected: { type: 'CopyDone' } },
  { name: 'CopyFail', bytes: typed('f', cstr('aborted by user')), pgBytes: pg(serialize.copyFail('aborted by user')), expected: { type: 'CopyFail', message: 'aborted by user' } },
  { name: 'FunctionCall', bytes: typed('F', fnCall), expected: { type: 'FunctionCall', payload: fnCall } },
  {
    name: 'PasswordMessage',
    bytes: Fe.PasswordMessage('md5abcdef'),
    pgBytes: pg(serialize.password('md5abcdef')),
    expected: { type: 'PasswordMessage', payload: cstr('md5abcdef') },
  },
  {
    name: 'SASLInitialResponse',
    bytes: Fe.SASLInitialResponse('SCRAM-SHA-256', saslData),
    pgBytes: pg(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', saslData)),
    expected: { type: 'PasswordMessage', payload: Buffer.concat([cstr('SCRAM-SHA-256'), i32(saslData.length), Buffer.from(saslData)]) },
  },
  {
    name: 'SASLResponse',
    bytes: Fe.SASLResponse(saslFinal),
    pgBytes: pg(serialize.sendSCRAMClientFinalMessage(saslFinal)),
    expected: { type: 'PasswordMessage', payload: Buffer.from(saslFinal) },
  },
];
const typedCases = cases.filter((c) => !c.startup);
const startupCases = cases.filter((c) => c.startup);

// ------------------------------------------------------------------ helpers

const MAX_MESSAGE = 1 << 20;
const MAX_STARTUP = 10000;

/** Feeds `chunks` to a fresh FrameReader and decodes every frame that comes out. */
function decodeChunks(chunks: Buffer[], startup = false): unknown[] {
  const reader = new FrameReader(startup ? MAX_STARTUP : MAX_MESSAGE, startup);
  const out: unknown[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let f = reader.next(); f; f = reader.next()) {
      out.push(startup ? decodeStartupPacket(f.payload) : decodeFrontendMessage(f.code, f.payload));
    }
  }
  if (reader.pending !== 0) out.push({ leftover: reader.pending });
  return out;
}
const bytewise = (b: Buffer): Buffer[] => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));

/** Runs `fn` and checks it throws a ProxyError with `sqlState` (a ProxyError, not a RangeError or TypeError). */
function throwsProxyError(t: Test, fn: () => unknown, sqlState: SqlState, name: string, message?: RegExp): void {
  try {
    fn();
    t.fail(`${name}: did not throw`);
  } catch (e) {
    if (!(e instanceof ProxyError)) {
      t.fail(`${name}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      return;
    }
    t.equal(e.sqlState, sqlState, `${name}: ${e.message}`);
    if (message) t.match(e.message, message, `${name}: message`);
  }
}

// ------------------------------------------------------------------ tests

t.test('each message decodes to its expected value, and matches pg-protocol byte for byte', async (t) => {
  for (const c of cases) {
    t.same(decodeChunks([c.bytes], c.startup), [c.expected], c.name);
    if (c.pgBytes && c.pgBytes.length > 0) t.same(c.bytes, c.pgBytes, `${c.name}: same bytes as pg-protocol`);
  }
  // the Bind payload after the names is exactly what was sent
  const b = decodeBind(bindFull.subarray(5));
  t.same(bindFull.subarray(5 + b.restOffset), bindRestFull, 'Bind restOffset points at the parameter formats');
});

t.test('each message cut into two chunks at every byte position decodes the same', async (t) => {
  for (const c of cases) {
    const whole = decodeChunks([c.bytes], c.startup);
    for (let k = 0; k <= c.bytes.length; k++) {
      t.same(decodeChunks([c.bytes.subarray(0, k), c.bytes.subarray(k)], c.startup), whole, `${c.name} cut at ${k}`);
    }
  }
});

t.test('each message fed byte by byte decodes the same', async (t) => {
  for (const c of cases) t.same(decodeChunks(bytewise(c.bytes), c.startup), [c.expected], c.name);
});

t.test('all typed messages concatenated, cut at every position and byte by byte', async (t) => {
  const all = Buffer.concat(typedCases.map((c) => c.bytes));
  const expected = typedCases.map((c) => c.expected);
  t.same(decodeChunks([all]), expected, 'uncut');
  t.same(decodeChunks(bytewise(all)), expected, 'byte by byte');
  for (let k = 0; k <= all.length; k++) {
    t.same(decodeChunks([all.subarray(0, k), all.subarray(k)]), expected, `cut at ${k}`);
  }
  // three chunks, at a sample of position pairs
  for (let k = 0; k <= all.length; k += 7) {
    for (let j = k; j <= all.length; j += 13) {
      const got = decodeChunks([all.subarray(0, k), all.subarray(k, j), all.subarray(j)]);
      if (!t.same(got, expected, `cut at ${k} and ${j}`)) return;
    }
  }
});

t.test('startup-phase packets concatenated (SSLRequest, GSSENCRequest, StartupMessage) cut at every position', async (t) => {
  const seq = [startupCases.find((c) => c.name === 'SSLRequest')!, startupCases.find((c) => c.name === 'GSSENCRequest')!, startupCases[0]!];
  const all = Buffer.concat(seq.map((c) => c.bytes));
  const expected = seq.map((c) => c.expected);
  t.same(decodeChunks(bytewise(all), true), expected, 'byte by byte');
  for (let k = 0; k <= all.length; k++) t.same(decodeChunks([all.subarray(0, k), all.subarray(k)], true), expected, `cut at ${k}`);
});

t.test('Parse and Bind with more than 32767 parameters (counts are unsigned 16-bit)', async (t) => {
  const oids = Array.from({ length: 40000 }, (_, i) => (i % 2 ? 23 : 25));
  const parse = Fe.Parse('big', 'INSERT ...', oids);
  t.same(parse, pg(serialize.parse({ name: 'big', text: 'INSERT ...', types: oids })), 'same bytes as pg-protocol');
  const p = decodeParse(parse.subarray(5));
  t.equal(p.paramTypes.length, 40000);
  t.same(p.paramTypes.slice(0, 4), [25, 23, 25, 23]);
  const max = Fe.Parse('', 'x', new Array(65535).fill(0));
  t.equal(decodeParse(max.subarray(5)).paramTypes.length, 65535, '65535 parameters, the protocol maximum');
  const values = Array.from({ length: 40000 }, (_, i) => (i % 3 ? String(i) : null));
  const bind = pg(serialize.bind({ statement: 'big', values }));
  t.same(decodeFrontendMessage(bind[0]!, bind.subarray(5)), { type: 'Bind', msg: { portal: '', statement: 'big', restOffset: 5 } });
});

// ------------------------------------------------------------------ bad input

interface Bad { name: string; bytes: Buffer; startup?: boolean; sqlState?: SqlState; message?: RegExp }
const P = SqlState.ProtocolViolation;
const bad: Bad[] = [
  // framing
  { name: 'negative length', bytes: typed('Q', cstr('x'), -1), message: /length/ },
  { name: 'length 0', bytes: typed('S', Buffer.alloc(0), 0), message: /length/ },
  { name: 'length 3 (< 4)', bytes: typed('S', Buffer.alloc(0), 3), message: /length/ },
  { name: 'length over maxMessageSize', bytes: typed('d', Buffer.alloc(16), MAX_MESSAGE + 1), message: /length/ },
  { name: 'length 0x7fffffff', bytes: typed('Q', Buffer.alloc(0), 0x7fffffff), message: /length/ },
  { name: 'startup length 7 (< 8)', startup: true, bytes: Buffer.concat([i32(7), i32(StartupCode.Protocol3)]), message: /startup/ },
  { name: 'startup length 0', startup: true, bytes: i32(0), message: /startup/ },
  { name: 'startup negative length', startup: true, bytes: i32(-8), message: /startup/ },
  { name: 'startup length over the startup cap (which counts after the length word)', startup: true, bytes: Buffer.concat([i32(MAX_STARTUP + 5), i32(StartupCode.Protocol3)]), message: /startup/ },
  // message types
  { name: 'unknown message type z', bytes: typed('z', cstr('x')), message: /invalid frontend message type/ },
  { name: 'unknown message type NUL', bytes: typed('\u0000'), message: /invalid frontend message type/ },
  { name: 'backend-only type T', bytes: typed('T'), message: /invalid frontend message type/ },
  // bodies
  { name: 'Query without NUL', bytes: typed('Q', Buffer.from('SELECT 1')) },
  { name: 'Query empty payload', bytes: typed('Q') },
  { name: 'Parse name without NUL', bytes: typed('P', Buffer.from('s1')) },
  { name: 'Parse query without NUL', bytes: typed('P', Buffer.concat([cstr('s1'), Buffer.from('SELECT 1')])) },
  { name: 'Parse missing param count', bytes: typed('P', Buffer.concat([cstr('s1'), cstr('SELECT 1')])) },
  { name: 'Parse with fewer oids than its count', bytes: typed('P', Buffer.concat([cstr(''), cstr('SELECT $1, $2'), i16(2), i32(23)])) },
  { name: 'Describe with a bad target', bytes: typed('D', Buffer.concat([Buffer.from('X'), cstr('s1')])), message: /invalid Describe target/ },
  { name: 'Describe with lower-case target', bytes: typed('D', Buffer.concat([Buffer.from('s'), cstr('s1')])), message: /invalid Describe target/ },
  { name: 'Describe empty', bytes: typed('D') },
  { name: 'Describe name without NUL', bytes: typed('D', Buffer.from('Sabc')) },
  { name: 'Close with a bad target', bytes: typed('C', Buffer.concat([Buffer.from('Q'), cstr('s1')])), message: /invalid Close target/ },
  { name: 'Close target only', bytes: typed('C', Buffer.from('S')) },
  { name: 'Execute missing row limit', bytes: typed('E', cstr('p1')) },
  { name: 'Execute short row limit', bytes: typed('E', Buffer.concat([cstr(''), Buffer.from([0, 0])])) },
  { name: 'CopyFail without NUL', bytes: typed('f', Buffer.from('oops')) },
  { name: 'Bind portal without NUL', bytes: typed('B', Buffer.from('p1')) },
  { name: 'Bind statement without NUL', bytes: typed('B', Buffer.concat([cstr('p1'), Buffer.from('s1')])) },
  { name: 'Bind cut after the names', bytes: typed('B', Buffer.concat([cstr('p1'), cstr('s1')])) },
  { name: 'Bind cut inside a parameter value', bytes: typed('B', bindPayload('', 's', bindRestFull.subarray(0, 16))) },
  { name: 'Bind missing result formats', bytes: typed('B', bindPayload('', 's', bindRest([], [Buffer.from('1')], []).subarray(0, -2))) },
  { name: 'Bind with a trailing byte', bytes: typed('B', Buffer.concat([bindPayload('', 's', bindRest([], [], [])), Buffer.from([0])])) },
  { name: 'Bind with 2 formats for 3 params', bytes: typed('B', bindPayload('', 's', bindRest([0, 1], [null, null, null], []))), message: /2 parameter formats but 3 parameters/ },
  { name: 'Bind with param length -2', bytes: typed('B', bindPayload('', 's', Buffer.concat([i16(0), i16(1), i32(-2), i16(0)]))) },
  { name: 'Bind with param length past the end', bytes: typed('B', bindPayload('', 's', Buffer.concat([i16(0), i16(1), i32(1000), Buffer.from('ab'), i16(0)]))) },
  // startup bodies
  { name: 'startup protocol 2.0', startup: true, bytes: untyped(2 << 16, Buffer.from([0])), sqlState: SqlState.FeatureNotSupported, message: /unsupported frontend protocol 2\.0/ },
  { name: 'startup protocol 4.0', startup: true, bytes: untyped(4 << 16, Buffer.from([0])), sqlState: SqlState.FeatureNotSupported },
  { name: 'startup unknown request code 1234.5681', startup: true, bytes: untyped((1234 << 16) | 5681), sqlState: SqlState.FeatureNotSupported },
  { name: 'startup param name without NUL', startup: true, bytes: untyped(StartupCode.Protocol3, Buffer.from('user')) },
  { name: 'startup param value missing', startup: true, bytes: untyped(StartupCode.Protocol3, Buffer.concat([cstr('user'), Buffer.from('bob')])) },
  { name: 'startup without the final terminator', startup: true, bytes: untyped(StartupCode.Protocol3, Buffer.concat([cstr('user'), cstr('bob')])), message: /terminator/ },
  { name: 'startup with bytes after the terminator', startup: true, bytes: untyped(StartupCode.Protocol3, Buffer.concat([cstr('user'), cstr('bob'), Buffer.from([0, 1])])), message: /terminator/ },
  { name: 'CancelRequest without its key', startup: true, bytes: untyped(StartupCode.CancelRequest, i32(1)) },
];

t.test('bad input throws ProxyError with the right SQLSTATE, whole and byte by byte', async (t) => {
  for (const b of bad) {
    throwsProxyError(t, () => decodeChunks([b.bytes], b.startup), b.sqlState ?? P, b.name, b.message);
    throwsProxyError(t, () => decodeChunks(bytewise(b.bytes), b.startup), b.sqlState ?? P, `${b.name} (byte by byte)`);
    // after a good message, in the same chunk
    const good = b.startup ? untyped(80877103) : Fe.Sync;
    throwsProxyError(t, () => decodeChunks([Buffer.concat([good, b.bytes])], b.startup), b.sqlState ?? P, `${b.name} (after a good message)`);
  }
});

t.test('a bad length is rejected as soon as the header is complete, before the body arrives', async (t) => {
  const reader = new FrameReader(1024);
  reader.push(Buffer.from([0x51, 0x7f, 0xff, 0xff]));
  t.equal(reader.next(), null, '4 header bytes: not enough to tell');
  reader.push(Buffer.from([0xff]));
  throwsProxyError(t, () => reader.next(), P, '5th header byte');
  const s = new FrameReader(MAX_STARTUP, true);
  s.push(Buffer.from([0x00, 0x01, 0x00]));
  t.equal(s.next(), null, 'startup: 3 bytes');
  s.push(Buffer.from([0x00]));
  throwsProxyError(t, () => s.next(), P, 'startup: 65536-byte length');
});

t.test('a Bind cut at every position (inside its length) throws ProxyError 08P01', async (t) => {
  for (const bytes of [bindFull, cases.find((c) => c.name.startsWith('Bind as node-postgres'))!.bytes]) {
    const payload = bytes.subarray(5);
    for (let k = 0; k < payload.length; k++) throwsProxyError(t, () => decodeBind(payload.subarray(0, k)), P, `Bind payload cut to ${k} bytes`);
  }
});

t.test('every truncation of every payload either decodes or throws ProxyError 08P01', async (t) => {
  let threw = 0;
  let other = 0;
  for (const c of cases) {
    const start = c.startup ? 4 : 5;
    const payload = c.bytes.subarray(start);
    for (let k = 0; k < payload.length; k++) {
      try {
        if (c.startup) decodeStartupPacket(payload.subarray(0, k));
        else decodeFrontendMessage(c.bytes[0]!, payload.subarray(0, k));
      } catch (e) {
        if (e instanceof ProxyError && (e.sqlState === P || e.sqlState === SqlState.FeatureNotSupported)) threw++;
        else {
          other++;
          t.fail(`${c.name} cut to ${k}: ${(e as Error).name}: ${(e as Error).message}`);
        }
      }
    }
  }
  t.equal(other, 0, 'no other exception type');
  t.ok(threw > 0, `${threw} truncations were rejected`);
});

t.test('random corruption never throws anything but ProxyError', async (t) => {
  let seed = 0x2545f491;
  const rand = (n: number): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  let other = 0;
  for (let i = 0; i < 5000; i++) {
    const c = cases[rand(cases.length)]!;
    const b = Buffer.from(c.bytes);
    for (let j = 1 + rand(3); j > 0; j--) b[rand(b.length)] = rand(256);
    try {
      decodeChunks(rand(2) ? [b] : bytewise(b), c.startup);
    } catch (e) {
      if (!(e instanceof ProxyError)) {
        other++;
        t.fail(`${c.name} corrupted to ${b.toString('hex')}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  }
  t.equal(other, 0, 'only ProxyError');
});
