// Owns: tests of proxy/logger.ts — a log stream that dies (EPIPE) makes the logger drop and count lines, never loop or throw.
import t from 'tap';
import { Writable } from 'node:stream';
import { Logger, LogSink } from '../proxy/logger.js';

/** A stream that accepts `ok` writes, then fails every write with EPIPE (as a pipe whose reader went away). */
function dyingStream(ok: number): { stream: Writable; attempts: () => number; lines: string[] } {
  let attempts = 0;
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      attempts++;
      if (attempts > ok) {
        const e = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' });
        cb(e);
        return;
      }
      lines.push(chunk.toString());
      cb();
    },
  });
  return { stream, attempts: () => attempts, lines };
}

t.test('a dead log stream: lines are dropped and counted, the stream is not written again, nothing is thrown', async (t) => {
  const { stream, attempts, lines } = dyingStream(2);
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.teardown(() => void process.off('uncaughtException', onUncaught));
  const sink = new LogSink(stream);
  const log = new Logger('info', {}, sink);
  log.info('one');
  log.child({ pid: 1 }).info('two');
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, 2, 'lines are written while the stream works');
  log.error('three'); // fails: the stream dies
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.ok(sink.dead, 'the sink knows the stream is dead');
  const tried = attempts();
  for (let i = 0; i < 1000; i++) log.error('dropped', { i });
  await new Promise((r) => setImmediate(r));
  t.equal(attempts(), tried, 'a dead stream is not written again');
  t.equal(sink.dropped, 1001, 'the failed line and every later line are counted as dropped');
  t.same(uncaught, [], 'no uncaught exception');
});

t.test('a stream whose write throws synchronously is treated as dead', async (t) => {
  const stream = new Writable({ write(_c, _e, cb) { cb(); } });
  stream.write = () => { throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }); };
  const sink = new LogSink(stream);
  const log = new Logger('info', {}, sink);
  t.doesNotThrow(() => log.info('x'));
  t.doesNotThrow(() => log.info('y'));
  t.ok(sink.dead);
  t.equal(sink.dropped, 2);
});

t.test('levels still filter', async (t) => {
  const { stream, lines } = dyingStream(100);
  const log = new Logger('warn', {}, new LogSink(stream));
  log.info('hidden');
  log.warn('shown', { a: 1 });
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]!), { level: 'warn', msg: 'shown', a: 1 });
});
