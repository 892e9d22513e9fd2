// generateInput owns turning (seed, index) into one input: its category, its bytes, its write cuts and how the client ends it.
import { makeRng, weighted } from '../../workload/rng.js';
import type { Corpus } from './corpus.js';
import { framing } from './framing.js';
import { messageInput } from './messageInputs.js';
import { sessionInput } from './sessionInputs.js';
import { startupInput, startupOwed, type Login } from './startupInputs.js';
import type { Category, Ending, FuzzInput } from './types.js';

export interface GenerateContext {
  seed: string;
  login: Login;
  corpus: Corpus;
  mix: Record<Category, number>;
  maxMessageSize: number;
  maxStartupPacket: number;
}

/** Input `index` for `ctx.seed`: a pure function of the two (and of the recorded corpus, whose hash the report prints). */
export function generateInput(ctx: GenerateContext, index: number): FuzzInput {
  const rng = makeRng(`${ctx.seed}/${index}`);
  const mix = ctx.corpus.sessions.length > 0 ? ctx.mix : { ...ctx.mix, session: 0 };
  const category = weighted<Category>(rng, [['startup', mix.startup], ['message', mix.message], ['session', mix.session]]);
  let kind: string;
  let bytes: Buffer;
  let ending: Ending;
  if (category === 'startup') {
    const s = startupInput(rng, ctx.login);
    kind = s.kind;
    bytes = s.bytes;
    ending = startupOwed(bytes, ctx.maxStartupPacket) ? 'await-answer' : 'linger';
  } else {
    const m = category === 'message' ? messageInput(rng) : sessionInput(rng, ctx.corpus);
    kind = m.kind;
    bytes = Buffer.concat(m.frames);
    const f = framing(bytes, ctx.maxMessageSize);
    if (f === 'bad-length') ending = 'await-close';
    else if (f === 'truncated') ending = rng.int(2) ? 'disconnect' : 'linger';
    else ending = weighted<Ending>(rng, [['probe', 86], ['disconnect', 6], ['linger', 3], ['no-read', 2], ['half-close', 3]]);
  }
  const cuts: number[] = [];
  if (bytes.length > 1 && rng.int(4) === 0) {
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) cuts.push(1 + rng.int(bytes.length - 1));
    cuts.sort((a, b) => a - b);
  }
  return { index, category, kind, bytes, cuts, ending, lingerMs: rng.int(30) };
}
