// Owns: ServerPipeline — several riders' Queries in one write per turn, the answers split at each ReadyForQuery and
// handed to each rider in order, whatever the read boundaries (every cut of the byte stream), a rider that left, the
// connection's close heard by every rider, and the connection given back when nothing is owed.
import t from 'tap';
import { ServerPipeline, type PipelineRider } from '../../proxy/pool/ServerPipeline.js';
import type { ServerConnection } from '../../proxy/connection/ServerConnection.js';
import * as Be from '../../proxy/protocol/BackendMessage.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';

/** A connection that records writes. */
function fakeConn(): ServerConnection & { written: Buffer[] } {
  const c = { owner: null, closed: false, written: [] as Buffer[], write(b: Buffer) { c.written.push(Buffer.from(b)); return true; } };
  return c as unknown as ServerConnection & { written: Buffer[] };
}

function rider(keep = false): PipelineRider & { got: Buffer[]; closes: number } {
  const r = {
    got: [] as Buffer[],
    closes: 0,
    onServerData(chunk: Buffer) {
      r.got.push(Buffer.from(chunk));
      return keep;
    },
    onServerClose() {
      r.closes++;
    },
  };
  return r;
}

const answer = (v: string, status: number = Be.TransactionStatus.Idle): Buffer =>
  Buffer.concat([Be.RowDescription(['v']), Be.DataRow([v]), Be.CommandComplete('SELECT 1'), Be.ReadyForQuery(status)]);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('Queries of one turn go out in one write; answers go to their riders, cut anywhere', async (t) => {
  const a1 = answer('one');
  const a2 = Buffer.concat([Be.NoticeResponse({ severity: 'NOTICE', code: '00000', message: 'hi' }), answer('two')]);
  const a3 = Buffer.concat([Be.ErrorResponse({ severity: 'ERROR', code: '42P01', message: 'no such table' }), Be.ReadyForQuery(Be.TransactionStatus.Idle)]);
  const stream = Buffer.concat([a1, a2, a3]);
  // every way of cutting the stream in two, and byte by byte
  const cuts: number[][] = [...Array.from({ length: stream.length - 1 }, (_, i) => [i + 1]), Array.from({ length: stream.length - 1 }, (_, i) => i + 1)];
  for (const cut of cuts) {
    const conn = fakeConn();
    let empty = 0;
    const pipe = new ServerPipeline(conn, 'k', { pipelineEmpty: () => empty++ });
    t.equal(conn.owner, pipe, 'the pipeline owns the connection');
    const [r1, r2, r3] = [rider(), rider(), rider()];
    pipe.send(r1, Fe.Query('select 1'));
    pipe.send(r2, Fe.Query('select 2'));
    pipe.send(r3, Fe.Query('select 3'));
    t.equal(pipe.depth, 3);
    await tick();
    if (conn.written.length !== 1) t.fail(`one write, got ${conn.written.length}`);
    let from = 0;
    for (const at of [...cut, stream.length]) {
      pipe.onServerData(stream.subarray(from, at));
      from = at;
    }
    const ok = Buffer.concat(r1.got).equals(a1) && Buffer.concat(r2.got).equals(a2) && Buffer.concat(r3.got).equals(a3) && empty === 1 && pipe.depth === 0;
    if (!ok) t.fail(`cut at ${cut.length > 1 ? 'every byte' : cut[0]}: riders got the wrong bytes`);
  }
  t.pass(`${cuts.length} ways of cutting ${stream.length} bytes`);
});

t.test('a rider that left has its answer dropped; the next rider still gets its own', async (t) => {
  const conn = fakeConn();
  const pipe = new ServerPipeline(conn, 'k', { pipelineEmpty: () => {} });
  const [gone, stays] = [rider(), rider()];
  pipe.send(gone, Fe.Query('select 1'));
  pipe.send(stays, Fe.Query('select 2'));
  pipe.drop(gone);
  t.equal(pipe.onServerData(Buffer.concat([answer('one'), answer('two')])), false, 'nothing kept');
  t.same(gone.got, []);
  t.ok(Buffer.concat(stays.got).equals(answer('two')));
});

t.test('a rider that keeps its bytes makes the pipeline say so (the read buffer is not reused)', async (t) => {
  const pipe = new ServerPipeline(fakeConn(), 'k', { pipelineEmpty: () => {} });
  pipe.send(rider(true), Fe.Query('select 1'));
  t.equal(pipe.onServerData(answer('one')), true);
});

t.test('the connection closes: every rider still owed hears it, once', async (t) => {
  const conn = fakeConn();
  const pipe = new ServerPipeline(conn, 'k', { pipelineEmpty: () => t.fail('not empty: closed') });
  const [r1, r2] = [rider(), rider()];
  pipe.send(r1, Fe.Query('select 1'));
  pipe.send(r2, Fe.Query('select 2'));
  pipe.send(r2, Fe.Query('select 3'));
  pipe.onServerClose(conn);
  t.same([r1.closes, r2.closes], [1, 1]);
  await tick();
  t.same(conn.written, [], 'nothing written after the close');
});
