// Owns: unit tests for SASLprep (proxy/auth/saslprep.ts): the RFC 4013 §3 examples and Postgres' fallbacks.
import t from 'tap';
import { SaslprepResult, saslprep, saslprepPassword } from '../../proxy/auth/saslprep.js';
import { ScramClientSession, ScramServerSession, makeScramVerifier } from '../../proxy/auth/scram.js';

const cases: { name: string; input: string; output?: string; result: SaslprepResult }[] = [
  // RFC 4013 §3
  { name: 'SOFT HYPHEN mapped to nothing', input: 'I\u00ADX', output: 'IX', result: SaslprepResult.Ok },
  { name: 'no transformation', input: 'user', output: 'user', result: SaslprepResult.Ok },
  { name: 'case preserved', input: 'USER', output: 'USER', result: SaslprepResult.Ok },
  { name: 'output is NFKC, input in ISO 8859-1', input: '\u00AA', output: 'a', result: SaslprepResult.Ok },
  { name: 'output is NFKC, will be different', input: '\u2168', output: 'IX', result: SaslprepResult.Ok },
  { name: 'error - prohibited character', input: '\u0007', result: SaslprepResult.Ok, output: '\u0007' }, // ASCII: as is (Postgres' quick path)
  { name: 'error - prohibited character (non-ASCII string)', input: '\u0007\u00E9', result: SaslprepResult.Prohibited },
  { name: 'error - bidirectional check', input: '\u0627\u0031', result: SaslprepResult.Prohibited },
  // more
  { name: 'the issue password', input: 'IX-\u2168', output: 'IX-IX', result: SaslprepResult.Ok },
  { name: 'non-ASCII spaces map to SPACE', input: 'a\u00A0b\u3000c\u2003d', output: 'a b c d', result: SaslprepResult.Ok },
  { name: 'ZERO WIDTH SPACE is a space (C.1.2 first)', input: 'a\u200Bb', output: 'a b', result: SaslprepResult.Ok },
  { name: 'variation selectors and ZWJ removed', input: 'a\uFE0Fb\u200Dc', output: 'abc', result: SaslprepResult.Ok },
  { name: 'empty after mapping is prohibited', input: '\u00AD\u200C', result: SaslprepResult.Prohibited },
  { name: 'private use prohibited', input: 'x\uE000', result: SaslprepResult.Prohibited },
  { name: 'RTL string with RandAL first and last', input: '\u05D0\u05D1', output: '\u05D0\u05D1', result: SaslprepResult.Ok },
  { name: 'RTL mixed with L', input: '\u05D0a\u05D1', result: SaslprepResult.Prohibited },
  { name: 'composed form', input: 'e\u0301', output: '\u00E9', result: SaslprepResult.Ok },
  { name: 'lone surrogate is not UTF-8', input: 'a\uD800b', result: SaslprepResult.InvalidUtf8 },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = saslprep(c.input);
    t.equal(r.result, c.result, 'result');
    if (c.output !== undefined) t.equal('output' in r ? r.output : undefined, c.output, 'output');
  });
}

t.test('saslprepPassword: prepared, else raw (as libpq and the server do)', async (t) => {
  t.same(saslprepPassword('IX-\u2168'), Buffer.from('IX-IX'), 'prepared');
  t.same(saslprepPassword('\u0627\u0031'), Buffer.from('\u0627\u0031', 'utf8'), 'prohibited: raw');
  const invalid = Buffer.from([0x61, 0xff, 0x62]);
  t.same(saslprepPassword(invalid), invalid, 'invalid UTF-8 bytes: raw');
  t.same(saslprepPassword(Buffer.from('\u2168', 'utf8')), Buffer.from('IX'), 'UTF-8 bytes are prepared');
});

t.test('SCRAM: a verifier for "IX-\\u2168" accepts a client that prepared the password, and the plain "IX-IX"', async (t) => {
  const v = makeScramVerifier('IX-\u2168');
  for (const pw of ['IX-\u2168', 'IX-IX']) {
    const server = new ScramServerSession(v);
    const client = new ScramClientSession(pw);
    const sf = server.clientFirst(client.clientFirst());
    const r = server.clientFinal(client.serverFirst(sf));
    t.ok(r.ok, `password ${JSON.stringify(pw)} accepted`);
  }
});
