// report owns the run's verdict (what fails it) and its text form.
import type { FuzzReport } from './types.js';

export const HANG_DEFINITION =
  'HANG = the proxy owed an answer or a close and gave neither (no byte, no close) for the hang timeout after the client finished ' +
  'writing: after a complete start-up packet; after a well-framed message input followed by the probe (Sync + select <marker>, ' +
  'resent while the server sits silent, e.g. in COPY IN); after an impossible length word; after the client\'s FIN; or for a ' +
  'correct login. Inputs cut mid-message or left mid-extended-protocol (no Sync) end with a disconnect and are never hangs: ' +
  'their damage shows in the honest client, later logins, the accept check and the pool-leak check.';

/** The reasons the run fails (empty = pass). */
export function failures(r: Omit<FuzzReport, 'failures'>): string[] {
  const f: string[] = [];
  if (r.stalled) f.push(r.stalled);
  if (r.crashes.length) f.push(`${r.crashes.length} crash(es)`);
  if (r.hangs.length || (r.outcomes.hang ?? 0) > 0) f.push(`${r.outcomes.hang ?? r.hangs.length} hang(s)`);
  if (r.honest.lost.length) f.push(`${r.honest.lost.length} lost acknowledged write(s)`);
  if (r.honest.phantom.length || r.honest.duplicates.length || r.honest.foreign) {
    f.push(`${r.honest.phantom.length} phantom, ${r.honest.duplicates.length} duplicated, ${r.honest.foreign} foreign honest row(s)`);
  }
  const honestErrors = Object.values(r.honest.errors).reduce((a, b) => a + b, 0);
  if (r.honest.refused || honestErrors) f.push(`honest client refused ${r.honest.refused} time(s), ${honestErrors} error(s)`);
  if (r.leakedServerConnections) f.push(`${r.leakedServerConnections} leaked server connection(s)`);
  if (r.leftoverClients) f.push(`${r.leftoverClients} client session(s) still listed after every client left`);
  if (r.poolError) f.push(`SHOW POOLS failed: ${r.poolError}`);
  if (r.finalCheck !== 'ok') f.push(`final check through the proxy failed: ${r.finalCheck}`);
  if (r.maxRssMb > r.rssLimitMb) f.push(`max RSS ${r.maxRssMb} MB > ${r.rssLimitMb} MB`);
  return f;
}

function hist(m: Record<string, number>, limit = 40): string {
  const e = Object.entries(m).sort((a, b) => b[1] - a[1]);
  const shown = e.slice(0, limit).map(([k, v]) => `    ${k.padEnd(40)} ${v}`);
  if (e.length > limit) shown.push(`    … ${e.length - limit} more`);
  return shown.join('\n') || '    (none)';
}

function list(ns: number[]): string {
  return ns.length === 0 ? '0' : `${ns.length} (${ns.slice(0, 20).join(', ')}${ns.length > 20 ? ', …' : ''})`;
}

export function formatReport(r: FuzzReport): string {
  const out: string[] = [];
  out.push(`# prescient fuzz report (seed ${r.seed}, corpus ${r.corpus.hash})`);
  out.push(`inputs: ${r.inputs} in ${r.seconds.toFixed(1)} s = ${Math.round(r.inputsPerSecond)} inputs/s`);
  out.push(`per category:\n${hist(r.perCategory)}`);
  out.push(`outcomes:\n${hist(r.outcomes)}`);
  out.push(`endings (inputs, mean ms from first write to outcome, login included):\n${Object.entries(r.endings).map(([k, v]) => `    ${k.padEnd(40)} ${v.inputs}  ${v.meanMs} ms`).join('\n')}`);
  out.push(`SQLSTATEs seen by fuzz inputs:\n${hist(r.sqlstates, 30)}`);
  out.push(`kinds:\n${hist(r.perKind, 60)}`);
  out.push(`recorded sessions: ${Object.entries(r.corpus.sessions).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)'}`);
  out.push(`hang definition: ${r.hangDefinition}`);
  out.push(`hangs: ${r.outcomes.hang ?? 0}`);
  for (const h of r.hangs.slice(0, 20)) {
    const repro = [...h.history, h.index].join(',');
    out.push(`    input ${h.index} (${h.kind}, ending ${h.ending}): ${h.detail ?? ''} — reproduce: npm run fuzz -- --seed ${r.seed} --only ${repro}`);
  }
  out.push(`lock waits (not answered in time because Postgres made the input wait for a lock another connected client's open transaction holds, as it would directly; not hangs): ${r.outcomes['lock-wait'] ?? 0}`);
  for (const h of (r.lockWaits ?? []).slice(0, 5)) out.push(`    input ${h.index} (${h.kind}, ending ${h.ending}): ${h.detail ?? ''}`);
  if (r.loginFailures.length) {
    out.push(`fuzz logins refused: ${r.outcomes['login-failed'] ?? 0}`);
    for (const h of r.loginFailures.slice(0, 5)) out.push(`    before input ${h.index}: ${h.sqlstates.join(',')} ${h.detail ?? ''}`);
  }
  out.push(`crashes: ${r.crashes.length}${r.crashes.map((c) => `\n    ${c}`).join('')}`);
  out.push(`max RSS: ${r.maxRssMb} MB (limit ${r.rssLimitMb} MB)`);
  const late = r.rssRises.filter((x) => x.rssMb > Math.min(r.rssLimitMb, r.maxRssMb) - 20);
  for (const x of late.slice(-5)) out.push(`    rose to ${x.rssMb} MB after ${x.atInput} inputs${x.memory ? ` (${x.memory})` : ''}; running then: ${x.inFlight.filter((w) => !w.startsWith('(done)')).join(' | ')}`);
  const h = r.honest;
  out.push(`honest client: ${h.ops} operations, ${h.acked} acknowledged writes, max latency ${h.maxLatencyMs} ms`);
  out.push(`    lost acknowledged writes: ${list(h.lost)}`);
  out.push(`    phantom writes: ${list(h.phantom)}; duplicated: ${list(h.duplicates)}; rows never attempted by it: ${h.foreign}; writes of unknown fate (connection lost): ${h.unknownOutcome}`);
  out.push(`    refused: ${h.refused}; errors: ${Object.entries(h.errors).map(([k, v]) => `${k}×${v}`).join(' ') || 'none'}`);
  for (const e of h.firstErrors) out.push(`        ${e}`);
  if (r.pools) {
    out.push(`SHOW POOLS after every client left: ${r.pools.map((p) => `${p.shard}: total ${p.server_total} active ${p.server_active} idle ${p.server_idle} cl_active ${p.cl_active} cl_waiting ${p.cl_waiting}`).join('; ')}`);
  } else out.push(`SHOW POOLS: ${r.poolError ?? 'skipped (no admin user)'}`);
  out.push(`leaked server connections: ${r.leakedServerConnections}; client sessions still listed: ${r.leftoverClients}`);
  for (const row of r.leftoverClientRows) out.push(`    ${row}`);
  out.push(`final login + select 1 through the proxy: ${r.finalCheck}`);
  out.push(r.failures.length ? `FAIL: ${r.failures.join('; ')}` : 'PASS');
  return out.join('\n');
}
