// corpus owns recording real client sessions (psql, pgbench -M simple/extended/prepared, node-postgres) through the relay, as frame lists.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { findPgBin, runCommand } from '../testbed.js';
import { RecordingRelay } from './recordingRelay.js';
import type { PgTarget } from './target.js';

export interface RecordedSession {
  name: string;
  /** the frontend messages after start-up and authentication, without the final Terminate */
  frames: Buffer[];
}

export interface Corpus {
  sessions: RecordedSession[];
  /** sha256 of every recorded frame: equal hashes mean equal corpora (and equal inputs for one seed) */
  hash: string;
  /** clients that could not be recorded (e.g. pgbench not installed), with the reason */
  skipped: string[];
}

const PSQL_SCRIPT = `select 1;
begin;
insert into fuzz_t values (10, 'psql');
select * from fuzz_t order by id desc limit 2;
commit;
copy fuzz_t from stdin;
11\tcopied
12\tcopied
\\.
select now() is not null as ok;
\\d fuzz_t
`;

/** Splits a recorded client stream into the frames after authentication (drops SSLRequest, start-up, 'p' messages, Terminate). */
export function sessionFrames(stream: Buffer): Buffer[] {
  let off = 0;
  // untyped packets: SSLRequest / GSSENCRequest (8 bytes) and the start-up packet
  while (off + 8 <= stream.length) {
    const len = stream.readInt32BE(off);
    const code = stream.readInt32BE(off + 4);
    off += len;
    if (code !== 80877103 && code !== 80877104) break;
  }
  const frames: Buffer[] = [];
  let authDone = false;
  while (off + 5 <= stream.length) {
    const len = stream.readInt32BE(off + 1);
    const f = stream.subarray(off, off + 1 + len);
    off += 1 + len;
    if (!authDone && f[0] === 0x70) continue;
    authDone = true;
    if (f[0] === 0x58) break;
    frames.push(Buffer.from(f));
  }
  return frames;
}

function pgEnv(t: PgTarget): NodeJS.ProcessEnv {
  return { ...process.env, PGPASSWORD: t.password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10', PGPASSFILE: '/dev/null' };
}

async function recordNodePg(port: number, t: PgTarget): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: t.user, password: t.password, database: t.database });
  await c.connect();
  try {
    await c.query('select 1 as one');
    await c.query('select $1::int + 1 as n, $2::text as t', [41, 'x']);
    await c.query({ name: 'ins', text: 'insert into fuzz_t values ($1, $2)', values: [20, 'node-pg'] });
    await c.query({ name: 'ins', text: 'insert into fuzz_t values ($1, $2)', values: [21, 'node-pg'] });
    await c.query('begin');
    await c.query({ name: 'sel', text: 'select * from fuzz_t where id = $1', values: [20] });
    await c.query('commit');
  } finally {
    await c.end();
  }
}

/** Records each client once against Postgres (fuzz_t and the pgbench tables must exist). Deterministic: pgbench runs with a fixed --random-seed. */
export async function recordCorpus(t: PgTarget): Promise<Corpus> {
  const relay = new RecordingRelay({ host: t.host, port: t.port });
  const port = await relay.start();
  const sessions: RecordedSession[] = [];
  const skipped: string[] = [];
  const conn = ['-h', '127.0.0.1', '-p', String(port), '-U', t.user];
  const keep = (name: string): void => {
    relay.take().forEach((s, i) => {
      const frames = sessionFrames(s);
      if (frames.length > 0) sessions.push({ name: `${name}#${i}`, frames });
    });
  };
  try {
    const r = await runCommand(findPgBin('psql'), ['-X', '-q', ...conn, '-d', t.database, '-f', '-'], { input: PSQL_SCRIPT, env: pgEnv(t), timeoutMs: 30_000 });
    if (r.code !== 0) skipped.push(`psql: exit ${r.code} ${r.stderr.trim()}`);
    keep('psql');
  } catch (e) {
    skipped.push(`psql: ${(e as Error).message}`);
  }
  for (const mode of ['simple', 'extended', 'prepared']) {
    try {
      const r = await runCommand(findPgBin('pgbench'), ['-n', '-t', '8', '-c', '1', '--random-seed=7', '-M', mode, ...conn, t.database], { env: pgEnv(t), timeoutMs: 30_000 });
      if (r.code !== 0) skipped.push(`pgbench -M ${mode}: exit ${r.code} ${r.stderr.trim()}`);
      keep(`pgbench-${mode}`);
    } catch (e) {
      skipped.push(`pgbench -M ${mode}: ${(e as Error).message}`);
    }
  }
  try {
    await recordNodePg(port, t);
  } catch (e) {
    skipped.push(`node-postgres: ${(e as Error).message}`);
  }
  keep('node-pg');
  await relay.stop();
  const h = createHash('sha256');
  for (const s of sessions) for (const f of s.frames) h.update(f);
  return { sessions, hash: h.digest('hex').slice(0, 16), skipped };
}
