// Tests for proxy/protocol/BackendMessage.ts: encoders produce exactly the bytes of the Postgres docs (55.7, checked by
// hand), pg-protocol's Parser (node-postgres' own decoder) reads them back to the expected messages whole and cut at
// every byte, and decodeErrorFields round-trips ErrorResponse/NoticeResponse.
import t from 'tap';
import { Parser } from 'pg-protocol/dist/parser';
import * as Be from '../../proxy/protocol/BackendMessage.js';
import { FrameReader } from '../../proxy/protocol/FrameReader.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const salt = Buffer.from([0xde, 0xad, 0xbe, 0xef]);

/** Every message Prescient can encode, its bytes written out by hand from the protocol docs, and what pg-protocol reads. */
const table: { name: string; bytes: Buffer; want: Buffer; pg: Record<string, unknown> }[] = [
  { name: "ReadyForQuery('I')", bytes: Be.ReadyForQuery(Be.TransactionStatus.Idle), want: Buffer.from(['Z'.charCodeAt(0), 0, 0, 0, 5, 'I'.charCodeAt(0)]), pg: { name: 'readyForQuery', status: 'I', length: 5 } },
  { name: "ReadyForQuery('T')", bytes: Be.ReadyForQuery(Be.TransactionStatus.InTransaction), want: hex('5a 00000005 54'), pg: { name: 'readyForQuery', status: 'T' } },
  { name: "ReadyForQuery('E')", bytes: Be.ReadyForQuery(Be.TransactionStatus.Failed), want: hex('5a 00000005 45'), pg: { name: 'readyForQuery', status: 'E' } },
  { name: 'AuthenticationOk', bytes: Be.AuthenticationOk, want: hex('52 00000008 00000000'), pg: { name: 'authenticationOk', length: 8 } },
  { name: 'AuthenticationCleartextPassword', bytes: Be.AuthenticationCleartextPassword, want: hex('52 00000008 00000003'), pg: { name: 'authenticationCleartextPassword' } },
  { name: 'AuthenticationMD5Password', bytes: Be.AuthenticationMD5Password(salt), want: hex('52 0000000c 00000005 deadbeef'), pg: { name: 'authenticationMD5Password', salt } },
  {
    name: 'AuthenticationSASL',
    bytes: Be.AuthenticationSASL(['SCRAM-SHA-256']),
    want: Buffer.concat([hex('52 00000017 0000000a'), ascii('SCRAM-SHA-256\0\0')]),
    pg: { name: 'authenticationSASL', mechanisms: ['SCRAM-SHA-256'] },
  },
  {
    name: 'AuthenticationSASL with two mechanisms',
    bytes: Be.AuthenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']),
    want: Buffer.concat([hex('52 0000002a 0000000a'), ascii('SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0')]),
    pg: { name: 'authenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
  },
  {
    name: 'AuthenticationSASLContinue',
    bytes: Be.AuthenticationSASLContinue('r=abc,s=c2FsdA==,i=4096'),
    want: Buffer.concat([hex('52 0000001f 0000000b'), ascii('r=abc,s=c2FsdA==,i=4096')]),
    pg: { name: 'authenticationSASLContinue', data: 'r=abc,s=c2FsdA==,i=4096' },
  },
  {
    name: 'AuthenticationSASLFinal',
    bytes: Be.AuthenticationSASLFinal('v=c2lnbmF0dXJl'),
    want: Buffer.concat([hex('52 00000016 0000000c'), ascii('v=c2lnbmF0dXJl')]),
    pg: { name: 'authenticationSASLFinal', data: 'v=c2lnbmF0dXJl' },
  },
  {
    name: 'ParameterStatus',
    bytes: Be.ParameterStatus('client_encoding', 'UTF8'),
    want: Buffer.concat([hex('53 00000019'), ascii('client_encoding\0UTF8\0')]),
    pg: { name: 'parameterStatus', parameterName: 'client_encoding', parameterValue: 'UTF8' },
  },
  { name: 'BackendKeyData', bytes: Be.BackendKeyData(1234, -2), want: hex('4b 0000000c 000004d2 fffffffe'), pg: { name: 'backendKeyData', processID: 1234, secretKey: -2 } },
  { name: 'ParseComplete', bytes: Be.ParseComplete, want: hex('31 00000004'), pg: { name: 'parseComplete', length: 4 } },
  { name: 'BindComplete', bytes: Be.BindComplete, want: hex('32 00000004'), pg: { name: 'bindComplete' } },
  { name: 'CloseComplete', bytes: Be.CloseComplete, want: hex('33 00000004'), pg: { name: 'closeComplete' } },
  { name: 'NoData', bytes: Be.NoData, want: hex('6e 00000004'), pg: { name: 'noData' } },
  { name: 'EmptyQueryResponse', bytes: Be.EmptyQueryResponse, want: hex('49 00000004'), pg: { name: 'emptyQuery' } },
  { name: 'CommandComplete', bytes: Be.CommandComplete('SELECT 1'), want: Buffer.concat([hex('43 0000000d'), ascii('SELECT 1\0')]), pg: { name: 'commandComplete', text: 'SELECT 1' } },
  {
    name: 'ErrorResponse with all fields',
    bytes: Be.ErrorResponse({ severity: 'FATAL', code: '08P01', message: 'bad', detail: 'd', hint: 'h' }),
    want: Buffer.concat([hex('45 00000025'), ascii('SFATAL\0VFATAL\0C08P01\0Mbad\0Dd\0Hh\0\0')]),
    pg: { name: 'error', severity: 'FATAL', code: '08P01', message: 'bad', detail: 'd', hint: 'h' },
  },
  {
    name: 'ErrorResponse without detail and hint',
    bytes: Be.ErrorResponse({ severity: 'ERROR', code: '42704', message: 'unrecognized configuration parameter "x"' }),
    want: Buffer.concat([hex('45 00000044'), ascii('SERROR\0VERROR\0C42704\0Munrecognized configuration parameter "x"\0\0')]),
    pg: { name: 'error', severity: 'ERROR', code: '42704', message: 'unrecognized configuration parameter "x"', detail: undefined, hint: undefined },
  },
  {
    name: 'NoticeResponse',
    bytes: Be.NoticeResponse({ severity: 'WARNING', code: '01000', message: 'careful ✓' }),
    want: Buffer.concat([hex('4e 0000002b'), ascii('SWARNING\0VWARNING\0C01000\0M'), Buffer.from('careful ✓\0\0', 'utf8')]),
    pg: { name: 'notice', severity: 'WARNING', code: '01000', message: 'careful ✓' },
  },
  {
    name: 'RowDescription',
    bytes: Be.RowDescription(['a', 'bb']),
    want: Buffer.concat([
      hex('54 0000002f 0002'),
      ascii('a\0'), hex('00000000 0000 00000019 ffff ffffffff 0000'),
      ascii('bb\0'), hex('00000000 0000 00000019 ffff ffffffff 0000'),
    ]),
    pg: {
      name: 'rowDescription',
      fieldCount: 2,
      fields: [
        { name: 'a', tableID: 0, columnID: 0, dataTypeID: 25, dataTypeSize: -1, dataTypeModifier: -1, format: 'text' },
        { name: 'bb', tableID: 0, columnID: 0, dataTypeID: 25, dataTypeSize: -1, dataTypeModifier: -1, format: 'text' },
      ],
    },
  },
  { name: 'RowDescription with no columns', bytes: Be.RowDescription([]), want: hex('54 00000006 0000'), pg: { name: 'rowDescription', fieldCount: 0, fields: [] } },
  {
    name: 'DataRow with NULL, empty and multi-byte values',
    bytes: Be.DataRow(['1', null, '', 'ü']),
    want: hex('44 00000019 0004 00000001 31 ffffffff 00000000 00000002 c3bc'),
    pg: { name: 'dataRow', fieldCount: 4, fields: ['1', null, '', 'ü'] },
  },
  { name: 'DataRow with no columns', bytes: Be.DataRow([]), want: hex('44 00000006 0000'), pg: { name: 'dataRow', fieldCount: 0, fields: [] } },
];

/**
 * Reads `chunks` with pg-protocol's Parser (the decoder node-postgres uses) and returns the messages. The Parser may
 * write into a chunk it was given (it reuses a chunk's memory to gather a cut message), so it gets copies.
 */
function pgParse(chunks: Buffer[]): Record<string, unknown>[] {
  const parser = new Parser();
  const out: Record<string, unknown>[] = [];
  for (const c of chunks) {
    parser.parse(Buffer.from(c), (m) => {
      // an ErrorResponse is a DatabaseError, whose `message` is not enumerable
      const msg = (m as { message?: unknown }).message;
      const o: Record<string, unknown> = { ...(m as unknown as Record<string, unknown>), name: m.name, ...(msg !== undefined ? { message: msg } : {}) };
      // Buffer fields (the MD5 salt) are views of the Parser's memory, which it overwrites later: snapshot them
      for (const [k, v] of Object.entries(o)) if (Buffer.isBuffer(v)) o[k] = Buffer.from(v);
      out.push(o);
    });
  }
  return out;
}

t.test('encoders produce exactly the documented bytes', async (t) => {
  for (const c of table) t.same(c.bytes, c.want, c.name);
  t.equal(Be.ReadyForQuery(0x49).toString('latin1'), 'Z\0\0\0\x05I', "ReadyForQuery('I') = 'Z',0,0,0,5,'I'");
  t.equal(Be.ReadyForQuery(0x49), Be.ReadyForQuery(0x49), 'ReadyForQuery buffers are cached');
});

t.test('every frame is self-consistent: its length word matches its size', async (t) => {
  for (const c of table) t.equal(c.bytes.readInt32BE(1), c.bytes.length - 1, c.name);
});

t.test("pg-protocol's Parser reads each message to the expected object", async (t) => {
  for (const c of table) {
    const got = pgParse([c.bytes]);
    t.equal(got.length, 1, `${c.name}: one message`);
    t.match(got[0], c.pg, c.name);
    t.equal(got[0]!.length, c.bytes.length - 1, `${c.name}: length`);
  }
});

t.test("pg-protocol's Parser reads all messages concatenated and cut at every byte", async (t) => {
  const all = Buffer.concat(table.map((c) => c.bytes));
  const want = table.map((c) => c.pg);
  t.match(pgParse([all]), want, 'uncut');
  for (let k = 0; k <= all.length; k++) {
    const got = pgParse([all.subarray(0, k), all.subarray(k)]);
    t.equal(got.length, table.length, `cut at ${k}: count`);
    t.match(got, want, `cut at ${k}`);
  }
});

t.test('our own FrameReader frames backend messages too', async (t) => {
  const all = Buffer.concat(table.map((c) => c.bytes));
  const r = new FrameReader(1 << 30);
  const got: Buffer[] = [];
  for (let i = 0; i < all.length; i++) {
    r.push(all.subarray(i, i + 1));
    for (let f = r.next(); f; f = r.next()) got.push(Buffer.from(f.frame));
  }
  t.same(got, table.map((c) => c.bytes));
});

t.test('decodeErrorFields round-trips ErrorResponse and NoticeResponse', async (t) => {
  const cases: Be.ErrorFields[] = [
    { severity: 'FATAL', code: '08P01', message: 'invalid message length' },
    { severity: 'ERROR', code: '42P05', message: 'prepared statement "s1" already exists', detail: 'the detail', hint: 'a hint ✓' },
    { severity: 'NOTICE', code: '00000', message: '' },
    { severity: 'WARNING', code: '01000', message: 'ünïcödé and "quotes" and \'apostrophes\'', hint: 'h' },
  ];
  for (const f of cases) {
    for (const [enc, code] of [[Be.ErrorResponse, 0x45], [Be.NoticeResponse, 0x4e]] as const) {
      const b = enc(f);
      t.equal(b[0], code);
      const want = new Map<string, string>([['S', f.severity], ['V', f.severity], ['C', f.code], ['M', f.message]]);
      if (f.detail) want.set('D', f.detail);
      if (f.hint) want.set('H', f.hint);
      t.same(Be.decodeErrorFields(b.subarray(5)), want, `${String.fromCharCode(code)} ${f.code} ${f.message}`);
    }
  }
  // a server's ErrorResponse with fields Prescient never writes
  const server = Buffer.concat([ascii('SERROR\0VERROR\0C42601\0Msyntax error at or near "x"\0P8\0Fscan.l\0L1244\0Rscanner_yyerror\0\0')]);
  t.same(Be.decodeErrorFields(server), new Map([
    ['S', 'ERROR'], ['V', 'ERROR'], ['C', '42601'], ['M', 'syntax error at or near "x"'], ['P', '8'], ['F', 'scan.l'], ['L', '1244'], ['R', 'scanner_yyerror'],
  ]));
  t.same(Be.decodeErrorFields(Buffer.alloc(0)), new Map(), 'empty payload');
  t.same(Be.decodeErrorFields(ascii('SERROR\0Mcut')), new Map([['S', 'ERROR']]), 'truncated field is dropped, no throw');
});

t.test('an ErrorResponse stays well-formed when its text contains a NUL (e.g. an echoed type byte 0)', async (t) => {
  const b = Be.ErrorResponse({ severity: 'FATAL', code: '08P01', message: "invalid frontend message type 0 ('\0')", detail: 'a\0b', hint: '\0' });
  t.equal(b.readInt32BE(1), b.length - 1, 'length word');
  const payload = b.subarray(5);
  const fields = Be.decodeErrorFields(payload);
  t.same([...fields.keys()], ['S', 'V', 'C', 'M', 'D', 'H'], 'exactly the six fields, nothing spurious');
  t.equal(payload.length, [...fields.values()].reduce((n, v) => n + 1 + Buffer.byteLength(v) + 1, 0) + 1, 'no stray bytes after the terminator');
  t.match(fields.get('M'), /^invalid frontend message type 0 \('.*'\)$/);
  const got = pgParse([b]);
  t.match(got, [{ name: 'error', code: '08P01', severity: 'FATAL' }], 'pg-protocol reads it');
});
