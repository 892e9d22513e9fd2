// Owns: FrameScanner — every backend stream cut at every byte gives the same bytes and frames, rows streamed in pieces.
import t from 'tap';
import { FrameScanner, type FrameVisitor } from '../../proxy/protocol/FrameScanner.js';
import * as Be from '../../proxy/protocol/BackendMessage.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';

const STREAMED = new Set<number>([BackendCode.DataRow, BackendCode.CopyData]);

/** Records what the scanner hands out: streamed bytes joined per frame run, whole frames as they come. */
function recorder(): FrameVisitor & { events: string[]; bytes: Buffer[] } {
  const events: string[] = [];
  const bytes: Buffer[] = [];
  return {
    events,
    bytes,
    streams: (code) => STREAMED.has(code),
    onBytes: (buf, start, end) => {
      t.ok(end > start && start >= 0 && end <= buf.length, 'a non-empty range inside the chunk');
      bytes.push(Buffer.from(buf.subarray(start, end)));
    },
    onFrame: (code, buf, start, end) => {
      const frame = buf.subarray(start, end);
      t.equal(frame[0], code, 'frame starts with its code');
      t.equal(frame.readInt32BE(1) + 1, frame.length, 'frame length matches its header');
      events.push(`${String.fromCharCode(code)}:${frame.toString('hex')}`);
      bytes.push(Buffer.from(frame));
    },
  };
}

const bigRow = Be.DataRow(['x'.repeat(70000), null, 'tail']);
const cases: { name: string; stream: Buffer }[] = [
  {
    name: 'a select response',
    stream: Buffer.concat([Be.RowDescription(['a', 'b']), Be.DataRow(['1', null]), Be.DataRow(['2', 'two']), Be.CommandComplete('SELECT 2'), Be.ReadyForQuery(0x49)]),
  },
  { name: 'a row larger than any chunk between small frames', stream: Buffer.concat([Be.RowDescription(['a']), bigRow, Be.CommandComplete('SELECT 1'), Be.ReadyForQuery(0x54)]) },
  {
    name: 'errors, notices and parameter status',
    stream: Buffer.concat([
      Be.NoticeResponse({ severity: 'NOTICE', code: '00000', message: 'hello' }),
      Be.ParameterStatus('TimeZone', 'UTC'),
      Be.ErrorResponse({ severity: 'ERROR', code: '22012', message: 'division by zero' }),
      Be.ReadyForQuery(0x45),
    ]),
  },
  { name: 'empty frames', stream: Buffer.concat([Be.ParseComplete, Be.BindComplete, Be.NoData, Be.CloseComplete, Be.ReadyForQuery(0x49)]) },
];

function run(chunks: Buffer[]): { events: string[]; all: Buffer } {
  const r = recorder();
  const s = new FrameScanner(r);
  for (const c of chunks) s.push(c);
  t.ok(s.idle, 'nothing left over');
  return { events: r.events, all: Buffer.concat(r.bytes) };
}

for (const c of cases) {
  t.test(c.name, async (t) => {
    const whole = run([c.stream]);
    t.ok(whole.all.equals(c.stream), 'the bytes come out unchanged, in order');
    const step = c.stream.length > 5000 ? 97 : 1;
    for (let k = 0; k <= c.stream.length; k += step) {
      const cut = run([c.stream.subarray(0, k), c.stream.subarray(k)]);
      if (!cut.all.equals(c.stream)) t.fail(`cut at ${k}: bytes differ`);
      if (cut.events.join() !== whole.events.join()) t.fail(`cut at ${k}: frames differ`);
    }
    const bytewise = run([...c.stream].map((b) => Buffer.from([b])));
    t.ok(bytewise.all.equals(c.stream), 'byte by byte: the same bytes');
    t.same(bytewise.events, whole.events, 'byte by byte: the same frames');
  });
}

t.test('a large row is passed on in pieces as it arrives, not gathered', async (t) => {
  const r = recorder();
  const s = new FrameScanner(r);
  const stream = Buffer.concat([bigRow, Be.ReadyForQuery(0x49)]);
  const chunk = 8192;
  let piecesBeforeEnd = 0;
  for (let off = 0; off < stream.length; off += chunk) {
    s.push(stream.subarray(off, off + chunk));
    if (off + chunk < bigRow.length) piecesBeforeEnd = r.bytes.length;
  }
  t.ok(piecesBeforeEnd >= Math.floor(bigRow.length / chunk) - 1, `row bytes forwarded while the row was still arriving (${piecesBeforeEnd} pieces)`);
  t.ok(Buffer.concat(r.bytes).equals(stream));
});

t.test('a bad length from a server is a 08P01 ProxyError', async (t) => {
  for (const len of [-1, 3, 2 ** 31 - 1]) {
    const b = Buffer.from([BackendCode.DataRow, 0, 0, 0, 0]);
    b.writeInt32BE(len, 1);
    const s = new FrameScanner(recorder(), 1 << 20);
    t.throws(() => s.push(b), { sqlState: '08P01' }, `length ${len}`);
  }
});
