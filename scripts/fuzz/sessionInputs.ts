// sessionInputs owns generating category (c): recorded psql / pgbench / node-postgres sessions replayed with mutations.
import type { Rng } from '../../workload/types.js';
import { Terminate } from './frames.js';
import type { Corpus } from './corpus.js';
import { randomMessage } from './messageInputs.js';
import { MESSAGE_MUTATIONS, mutateBytes, mutateMessages } from './mutators.js';

/** A window of one recorded session with 0–4 message-level mutations, sometimes a byte-level one, sometimes its Terminate. */
export function sessionInput(rng: Rng, corpus: Corpus): { kind: string; frames: Buffer[] } {
  const s = corpus.sessions[rng.int(corpus.sessions.length)]!;
  const client = s.name.replace(/#\d+$/, '');
  let frames = s.frames;
  // a window: a random slice of up to 12 messages, the whole session one time in seven (pgbench sessions are hundreds of messages)
  if (frames.length > 12 && rng.int(7) !== 0) {
    const start = rng.int(frames.length);
    frames = frames.slice(start, start + 1 + rng.int(12));
  }
  const count = rng.int(5);
  let last = 'replay';
  for (let i = 0; i < count; i++) {
    const which = MESSAGE_MUTATIONS[rng.int(MESSAGE_MUTATIONS.length)]!;
    frames = mutateMessages(rng, frames, () => randomMessage(rng), which);
    last = which;
  }
  if (rng.int(8) === 0) {
    frames = [mutateBytes(rng, Buffer.concat(frames))];
    last = 'bytes-all';
  }
  if (rng.int(10) === 0) frames = [...frames, Terminate];
  return { kind: `session:${client}:${last}`, frames };
}
