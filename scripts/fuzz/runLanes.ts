// runLanes owns driving the inputs over many concurrent connections: fresh ones for start-up inputs, logged-in ones reused for message inputs.
import { Terminate } from './frames.js';
import { executeMessageInput, executeStartupInput, type Executed } from './executeInput.js';
import { generateInput, type GenerateContext } from './generateInput.js';
import type { Tally } from './tally.js';
import { WireConn } from './wireConn.js';
import { describeBytes } from './describeBytes.js';
import type { FuzzInput } from './types.js';

export interface LaneOptions {
  endpoint: { host: string; port: number };
  login: { user: string; password: string; database: string };
  concurrency: number;
  hangMs: number;
  inputsPerConnection: number;
  /** the indices to run (in order), or a count from 0 */
  indices: number[] | number;
  /** ms since the epoch after which no new input starts */
  deadline: number;
  /** print each input's frames and every frame received to stderr */
  trace: boolean;
  /** asked when an input hangs, its connection still open: a lock another connected client holds, or the proxy's fault */
  explainHang?: (clientPort: number) => Promise<{ lockWait: boolean; detail: string }>;
}

function traceInput(input: FuzzInput, r: Executed, received: string[]): void {
  const lines = [
    `--- input ${input.index} ${input.kind} ending=${input.ending}${input.cuts.length ? ` cuts=${input.cuts.join(',')}` : ''}`,
    ...describeBytes(input.bytes, input.category === 'startup').map((l) => `  > ${l}`),
    ...received.map((l) => `  < ${l}`),
    `  = ${r.outcome} ${r.sqlstates.join(',')} ${r.detail ?? ''}`,
  ];
  process.stderr.write(lines.join('\n') + '\n');
}

export interface LaneControl {
  /** stop handing out inputs (e.g. on SIGINT) */
  stop(): void;
  done: Promise<void>;
  /** the inputs running now and those finished in the last second, as `index kind ending bytes` */
  inFlight(): string[];
  /** the inputs run on connections from this local port (the last four connections), in order */
  inputsOnPort(port: number): number[][];
}

export function runLanes(gen: GenerateContext, o: LaneOptions, tally: Tally): LaneControl {
  let next = 0;
  let stopped = false;
  const running = new Map<number, string>();
  /** the inputs each connection ran, by its local port (a session the proxy still lists is found by its addr) */
  const byPort = new Map<number, number[][]>();
  const onPort = (c: WireConn): number[] => {
    const list: number[] = [];
    const port = c.socket.localPort ?? 0;
    const seen = byPort.get(port) ?? [];
    seen.push(list);
    if (seen.length > 4) seen.shift();
    byPort.set(port, seen);
    return list;
  };
  /** inputs finished lately (their memory may still be held when RSS is sampled) */
  const recent: { at: number; what: string }[] = [];
  const total = typeof o.indices === 'number' ? o.indices : o.indices.length;
  const take = (): number | null => {
    if (stopped || next >= total || Date.now() >= o.deadline) return null;
    const i = next++;
    return typeof o.indices === 'number' ? i : o.indices[i]!;
  };

  const lane = async (): Promise<void> => {
    let conn: WireConn | null = null;
    let ran: number[] = [];
    let history: number[] = [];
    let used = 0;
    let current: number | null = null;
    for (;;) {
      if (current !== null) {
        recent.push({ at: Date.now(), what: running.get(current) ?? String(current) });
        if (recent.length > 200) recent.splice(0, 100);
        running.delete(current);
      }
      const k = take();
      current = k;
      if (k === null) break;
      const input = generateInput(gen, k);
      const t0 = Date.now();
      running.set(k, `${k} ${input.kind} ${input.ending} ${input.bytes.length}B`);
      if (input.category === 'startup') {
        let c: WireConn;
        try {
          c = await WireConn.connect(o.endpoint.host, o.endpoint.port, o.hangMs);
        } catch (e) {
          tally.add(input, { outcome: 'login-failed', sqlstates: [], detail: `connect: ${(e as Error).message}` }, []);
          continue;
        }
        if (o.trace) c.trace = [];
        onPort(c).push(k);
        const rs = await executeStartupInput(c, input, o.hangMs);
        if (o.trace) traceInput(input, rs, c.trace ?? []);
        tally.add(input, rs, [], Date.now() - t0);
        continue;
      }
      if (conn && (conn.closed || conn.socket.destroyed || used >= o.inputsPerConnection)) {
        if (!conn.closed && !conn.socket.destroyed) conn.socket.end(Terminate);
        conn = null;
      }
      if (!conn) {
        history = [];
        used = 0;
        try {
          conn = await WireConn.connect(o.endpoint.host, o.endpoint.port, o.hangMs);
          ran = onPort(conn);
          await conn.login(o.login.user, o.login.password, o.login.database, o.hangMs);
        } catch (e) {
          const code = String((e as { code?: unknown }).code ?? 'error');
          conn?.destroy();
          conn = null;
          const r: Executed = code === 'hang'
            ? { outcome: 'hang', sqlstates: [], detail: `a correct login got no answer for ${o.hangMs} ms (before this input was sent; likely caused by an earlier input on a shared server connection)` }
            : { outcome: 'login-failed', sqlstates: [code], detail: (e as Error).message };
          tally.add(input, r, []);
          continue;
        }
      }
      if (o.trace) conn.trace = [];
      ran.push(k);
      let r = await executeMessageInput(conn, input, o.hangMs);
      if (r.outcome === 'hang' && o.explainHang && !conn.closed) {
        const why = await o.explainHang(conn.socket.localPort ?? 0);
        r = { ...r, outcome: why.lockWait ? 'lock-wait' : 'hang', detail: `${r.detail ?? ''}: ${why.detail}` };
      }
      if (o.trace) traceInput(input, r, conn.trace ?? []);
      tally.add(input, r, history, Date.now() - t0);
      history.push(k);
      used++;
      if (r.outcome === 'hang' || r.outcome === 'lock-wait') {
        conn.destroy();
        conn = null;
      }
    }
    if (conn && !conn.closed) conn.socket.end(Terminate);
  };

  const lanes = Math.max(1, Math.min(o.concurrency, total));
  const done = Promise.all(Array.from({ length: lanes }, () => lane())).then(() => undefined);
  return { stop: () => { stopped = true; }, done, inputsOnPort: (port) => byPort.get(port) ?? [], inFlight: () => [...running.values(), ...recent.filter((r) => r.at > Date.now() - 1000).map((r) => `(done) ${r.what}`)] };
}
