// Tests for proxy/session/PendingResponses.ts: which backend message completes each kind of request (the full table of
// kinds x backend codes), the shared PENDING entries, and PendingQueue as a FIFO over many push/shift cycles.
import t from 'tap';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';
import { Await, PENDING, PendingQueue, completes, type Pending } from '../../proxy/session/PendingResponses.js';

const B = BackendCode;
/** For each kind, the backend messages that complete it (ErrorResponse is handled apart by the session). */
const completedBy: Record<keyof typeof Await, number[]> = {
  Query: [B.ReadyForQuery],
  Sync: [B.ReadyForQuery],
  Parse: [B.ParseComplete],
  Bind: [B.BindComplete],
  DescribeStatement: [B.RowDescription, B.NoData],
  DescribePortal: [B.RowDescription, B.NoData],
  Execute: [B.CommandComplete, B.EmptyQueryResponse, B.PortalSuspended],
  Close: [B.CloseComplete],
  Synthetic: [],
  // only an ErrorResponse ends it (handled apart)
  Refused: [],
};

t.test('completes(): every kind against every backend code', async (t) => {
  t.same(Object.keys(completedBy).sort(), Object.keys(Await).sort(), 'the table covers every Await kind');
  for (const [kindName, kind] of Object.entries(Await)) {
    const yes = new Set(completedBy[kindName as keyof typeof Await]);
    for (const [codeName, code] of Object.entries(BackendCode)) {
      t.equal(completes(kind, code), yes.has(code), `${kindName} ${yes.has(code) ? 'is' : 'is not'} completed by ${codeName}`);
    }
  }
  // messages that come in the middle of a response never complete anything
  for (const kind of Object.values(Await)) {
    for (const code of [B.DataRow, B.ParameterDescription, B.NoticeResponse, B.ParameterStatus, B.NotificationResponse, B.ErrorResponse, B.CopyInResponse, B.CopyData]) {
      t.notOk(completes(kind, code), `kind ${kind}, code '${String.fromCharCode(code)}'`);
    }
  }
  t.notOk(completes(99 as Await, B.ReadyForQuery), 'an unknown kind');
  t.notOk(completes(Await.Query, 0), 'code 0');
});

t.test('PENDING: shared, frozen, visible entries of each kind', async (t) => {
  for (const [name, p] of Object.entries(PENDING)) {
    const hidden = name.startsWith('Hidden');
    // BindNamed is a Bind of a client's named statement (a distinct entry, so an error can tell it apart)
    t.equal(p.kind, Await[(hidden ? name.slice(6) : name === 'BindNamed' ? 'Bind' : name) as keyof typeof Await], `${name} kind`);
    t.equal(p.hide, hidden, `${name} ${hidden ? 'hidden' : 'not hidden'}`);
    t.ok(Object.isFrozen(p), `${name} frozen`);
  }
  t.equal(Object.keys(PENDING).filter((k) => !k.startsWith('Hidden') && k !== 'BindNamed').length, Object.keys(Await).length - 1, 'one visible entry per kind except Synthetic');
  t.not(PENDING.BindNamed, PENDING.Bind, 'BindNamed is its own entry');
});

t.test('PendingQueue basics', async (t) => {
  const q = new PendingQueue();
  t.equal(q.length, 0);
  t.equal(q.peek(), undefined);
  t.equal(q.shift(), undefined, 'shift on empty');
  t.equal(q.length, 0, 'still empty after shifting an empty queue');
  t.equal(q.shift(), undefined);
  q.push(PENDING.Parse);
  t.equal(q.length, 1, 'a push after shifting an empty queue is seen');
  t.equal(q.peek(), PENDING.Parse);
  q.push(PENDING.Bind);
  q.push(PENDING.Sync);
  t.equal(q.length, 3);
  t.equal(q.count(Await.Sync), 1);
  t.equal(q.shift(), PENDING.Parse);
  t.equal(q.peek(), PENDING.Bind);
  t.equal(q.count(Await.Parse), 0, 'count skips shifted entries');
  t.equal(q.shift(), PENDING.Bind);
  t.equal(q.shift(), PENDING.Sync);
  t.equal(q.length, 0);
  t.equal(q.shift(), undefined);
  q.push(PENDING.Query);
  q.push(PENDING.Query);
  q.clear();
  t.equal(q.length, 0, 'clear');
  t.equal(q.peek(), undefined);
  t.equal(q.count(Await.Query), 0);
  q.push(PENDING.Close);
  t.equal(q.shift(), PENDING.Close, 'usable after clear');
});

t.test('PendingQueue is a FIFO over many random push/shift cycles (checked against an array)', async (t) => {
  let seed = 7;
  const rand = (n: number): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; // xorshift32
    return (seed >>> 0) % n;
  };
  const q = new PendingQueue();
  const model: Pending[] = [];
  const kinds = Object.values(Await);
  let mismatches = 0;
  let maxLength = 0;
  for (let i = 0; i < 200_000; i++) {
    // phases: mostly pushes, mostly shifts, balanced (so the queue grows large, drains to empty, and hovers)
    const phase = Math.floor(i / 10_000) % 3;
    const pushP = phase === 0 ? 7 : phase === 1 ? 3 : 5;
    if (rand(10) < pushP) {
      const p: Pending = { kind: kinds[rand(kinds.length)]!, hide: rand(2) === 0 };
      q.push(p);
      model.push(p);
    } else {
      if (q.shift() !== model.shift()) mismatches++;
    }
    if (q.length !== model.length || q.peek() !== model[0]) mismatches++;
    if (i % 997 === 0) for (const k of kinds) if (q.count(k) !== model.filter((p) => p.kind === k).length) mismatches++;
    maxLength = Math.max(maxLength, q.length);
  }
  t.equal(mismatches, 0, 'same order, length, head and counts as the array');
  t.ok(maxLength > 1000, `the queue grew to ${maxLength} entries`);
  while (model.length) if (q.shift() !== model.shift()) mismatches++;
  t.equal(mismatches, 0, 'drains in order');
  t.equal(q.length, 0);
});

t.test('a queue that never drains (a pipelining client) does not keep consumed entries', async (t) => {
  const q = new PendingQueue();
  let next = 0;
  let expect = 0;
  let wrong = 0;
  const entries: Pending[] = Array.from({ length: 64 }, (_, i) => ({ kind: Await.Execute, hide: false, synth: Buffer.from([i]) }));
  q.push(entries[next++ % 64]!);
  for (let i = 0; i < 500_000; i++) {
    q.push(entries[next++ % 64]!);
    if (q.shift() !== entries[expect++ % 64]) wrong++;
  }
  t.equal(wrong, 0, 'FIFO order');
  t.equal(q.length, 1, 'one entry left');
  const backing = (q as unknown as { items: unknown[] }).items;
  t.ok(backing.length < 10_000, `backing array holds ${backing.length} slots after 500000 cycles, not every entry ever queued`);
});

t.test('PendingQueue.takeCopyIgnored(): what a server in COPY IN reads and answers nothing for', async (t) => {
  // a script of what the client sent: Q/E = the COPY's Query or Execute, S = Sync, P = Parse, m = a made-up answer,
  // | = CopyDone or CopyFail; the head is the first entry
  const kinds: Record<string, Pending> = {
    Q: PENDING.Query, E: PENDING.Execute, S: PENDING.Sync, P: PENDING.Parse, H: PENDING.Refused,
    m: { kind: Await.Synthetic, hide: false, synth: Buffer.from('x'), onDone: undefined },
  };
  const cases: { name: string; sent: string; before?: string; ignored: string; left: string; open: boolean }[] = [
    { name: 'Syncs sent after the COPY, before its CopyDone', sent: 'QSS|S', ignored: 'SS', left: 'QS', open: false },
    { name: 'nothing after the COPY yet', sent: 'Q', ignored: '', left: 'Q', open: true },
    { name: 'Syncs and no CopyDone yet', sent: 'ESS', ignored: 'SS', left: 'E', open: true },
    { name: 'a Parse ends the COPY (with an error): what follows is answered', sent: 'QSPS', ignored: 'SP', left: 'QS', open: false },
    { name: 'made-up answers stay in their place', sent: 'QSmS|S', ignored: 'SS', left: 'QmS', open: false },
    { name: 'a Flush carrying bytes is ignored there, as a Sync is', sent: 'QHS|S', ignored: 'HS', left: 'QS', open: false },
    { name: 'a CopyDone before the COPY does not count', before: 'S|', sent: 'QS|S', ignored: 'S', left: 'QS', open: false },
    { name: 'the second COPY of one Query ends at the second CopyDone', sent: 'QS|S|S', ignored: 'S', left: 'QS|S', open: false },
  ];
  for (const c of cases) {
    const q = new PendingQueue();
    const send = (script: string): void => {
      for (const ch of script) {
        if (ch === '|') q.markCopyEnd();
        else q.push(kinds[ch]!);
      }
    };
    send(c.before ?? '');
    // what came before the COPY was answered
    for (let i = 0; i < (c.before ?? '').replace(/\|/g, '').length; i++) q.shift();
    send(c.sent);
    const { ignored, open } = q.takeCopyIgnored();
    const letter = (p: Pending): string => Object.entries(kinds).find(([, k]) => k === p)![0];
    t.equal(ignored.map(letter).join(''), c.ignored, `${c.name}: ignored`);
    t.equal(open, c.open, `${c.name}: open`);
    const left: string[] = [];
    while (q.length > 0) left.push(letter(q.shift()!));
    t.equal(left.join(''), c.left.replace(/\|/g, ''), `${c.name}: left`);
  }
  // the second COPY of one Query: its own CopyDone marks where it ends, after the first was taken out
  const q = new PendingQueue();
  q.push(PENDING.Query); q.push(PENDING.Sync); q.markCopyEnd(); q.push(PENDING.Sync); q.markCopyEnd(); q.push(PENDING.Sync);
  t.equal(q.takeCopyIgnored().ignored.length, 1, 'first COPY: one Sync');
  t.equal(q.takeCopyIgnored().ignored.length, 1, 'second COPY (same head): the Sync between the CopyDones');
  t.equal(q.length, 2, 'the Query and the Sync after both CopyDones are owed');
});

t.test('PendingQueue.summary(): what is owed, by kind, in order', async (t) => {
  const q = new PendingQueue();
  t.equal(q.summary(), '');
  for (let i = 0; i < 3; i++) q.push(PENDING.Query);
  q.push(PENDING.Sync);
  q.push({ kind: Await.Query, hide: true, synth: undefined, onDone: undefined });
  q.push({ kind: Await.Synthetic, hide: false, synth: Buffer.from('x'), onDone: undefined });
  t.equal(q.summary(), 'Query×3 Sync hidden Query Synthetic');
  q.shift();
  t.equal(q.summary(), 'Query×2 Sync hidden Query Synthetic', 'from the head on');
  for (let i = 0; i < 8; i++) q.push(i % 2 ? PENDING.Parse : PENDING.Bind);
  t.match(q.summary(), /…\(\d+ more runs\)$/, 'long mixes are cut');
});
