// messageInputs owns generating category (b): frontend messages of every type after a correct login, valid sequences and mutations.
import type { Rng } from '../../workload/types.js';
import { pick } from '../../workload/rng.js';
import {
  Bind, Close, CopyData, CopyDone, CopyFail, Describe, Execute, Flush, FunctionCall, Parse, PasswordFrame, Query, RawFrame, Sync, Terminate,
  cstring, extendedStatement,
} from './frames.js';
import { MESSAGE_MUTATIONS, mutateBytes, mutateMessages, randomBytes } from './mutators.js';
import { NAMES, SQL_EXTENDED, SQL_SIMPLE } from './sqlPool.js';

const PARAM_VALUES = ['-7', '-1', '0', '424242', 'abc', '', '\u00e9', '99999999999999999999'];

function params(rng: Rng, n: number): (string | null)[] {
  return Array.from({ length: n }, () => (rng.int(10) === 0 ? null : pick(rng, PARAM_VALUES)!));
}

/** One random, individually well-formed frontend message of any type (including unknown type letters). */
export function randomMessage(rng: Rng): Buffer {
  const [sql, n] = pick(rng, SQL_EXTENDED)!;
  switch (rng.int(16)) {
    case 0: return Query(pick(rng, SQL_SIMPLE)!);
    case 1: return Parse(pick(rng, NAMES)!, sql, rng.int(3) === 0 ? [23, 25] : []);
    case 2: return Bind(pick(rng, NAMES)!, pick(rng, NAMES)!, params(rng, rng.int(4) === 0 ? rng.int(4) : n), rng.int(4) === 0 ? 1 : 0, rng.int(4) === 0 ? 1 : 0);
    case 3: return Describe(rng.int(2) ? 'S' : 'P', pick(rng, NAMES)!);
    case 4: return Execute(pick(rng, NAMES)!, rng.int(3) === 0 ? 1 + rng.int(3) : 0);
    case 5: return Sync;
    case 6: return Flush;
    case 7: return Close(rng.int(2) ? 'S' : 'P', pick(rng, NAMES)!);
    case 8: return FunctionCall([1598, 177, 1, 0, 2147483647][rng.int(5)]!, params(rng, rng.int(3)).map((p) => p ?? ''));
    case 9: return CopyData(`${rng.int(1000)}\tcopied\n`);
    case 10: return CopyDone;
    case 11: return CopyFail('fuzz copy fail');
    case 12: return rng.int(20) === 0 ? Terminate : Sync;
    case 13: return PasswordFrame(rng.int(2) ? cstring('app-secret') : randomBytes(rng, rng.int(40)));
    case 14: return RawFrame('AGZz?\x00\xff7'.charCodeAt(rng.int(8)), randomBytes(rng, rng.int(32)));
    default: return Query(sql);
  }
}

/** Valid (or protocol-legal but careless) sequences; each names its scenario. */
function scenario(rng: Rng): [string, Buffer[]] {
  const [sql, n] = pick(rng, SQL_EXTENDED)!;
  const name = pick(rng, NAMES)!;
  switch (rng.int(14)) {
    case 0: return ['simple', [Query(pick(rng, SQL_SIMPLE)!)]];
    case 1: return ['extended', [...extendedStatement('', sql, params(rng, n)), Sync]];
    case 2: return ['named', [Parse(name, sql, []), Sync, Bind('', name, params(rng, n)), Execute('', 0), Sync, ...(rng.int(2) ? [Close('S', name), Sync] : [])]];
    // issue 9 #1: extended protocol mid-flight without a Sync (then, often, a disconnect)
    case 3: return ['no-sync', [...extendedStatement('', pick(rng, ['begin', 'insert into fuzz_t values (3, \'nosync\')', 'selec 1'])!, []), Flush]];
    case 4: return ['parse-flush', [Parse('', pick(rng, ['selec 1', 'select 1', 'begin'])!, []), Flush]];
    // issue 9 #2: LISTEN, a failing Parse, a Flush
    case 5: return ['listen-fail', [Query('listen fz'), Parse('', 'selec 1', []), Flush]];
    case 6: return ['copy-in', [Query('copy fuzz_t from stdin'), CopyData('5\tcopy\n'), rng.int(3) ? CopyDone : CopyFail('no')]];
    case 7: return ['describe', [Parse(name, sql, []), Describe('S', name), Bind('p1', name, params(rng, n)), Describe('P', 'p1'), Execute('p1', 1), Execute('p1', 0), Close('P', 'p1'), Sync]];
    case 8: return ['foreign-bind', [Bind('', pick(rng, ['prescient_1', 'prescient_2', 'P_0', 'P_1', 's1'])!, params(rng, rng.int(3))), Execute('', 0), Sync]];
    case 9: return ['pipeline', Array.from({ length: 2 + rng.int(40) }, () => Query('select 1'))];
    case 10: return ['tx-abandon', [Query('begin'), Query('insert into fuzz_t values (4, \'abandoned\')')]];
    case 11: return ['function-call', [FunctionCall([1598, 177][rng.int(2)]!, rng.int(2) ? ['1', '2'] : []), Sync]];
    case 12: return ['copy-outside', [CopyData('stray'), CopyDone, CopyFail('stray'), Sync]];
    default: return ['random', Array.from({ length: 1 + rng.int(6) }, () => randomMessage(rng))];
  }
}

/** Category (b): a scenario, mutated about 60 % of the time. Returns its kind and its frames. */
export function messageInput(rng: Rng): { kind: string; frames: Buffer[] } {
  const [name, base] = scenario(rng);
  if (rng.next() < 0.4) return { kind: `message:${name}`, frames: base };
  let frames = base;
  const count = 1 + rng.int(3);
  let last = '';
  for (let i = 0; i < count; i++) {
    const which = MESSAGE_MUTATIONS[rng.int(MESSAGE_MUTATIONS.length)]!;
    frames = mutateMessages(rng, frames, () => randomMessage(rng), which);
    last = which;
  }
  if (rng.int(10) === 0) {
    frames = [mutateBytes(rng, Buffer.concat(frames))];
    last = 'bytes-all';
  }
  return { kind: `message:${last}`, frames };
}
