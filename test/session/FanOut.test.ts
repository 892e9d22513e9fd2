// Owns: FanOut.plan — what a request for every shard becomes before any shard is asked: refusals (unmergeable, no
// Sync, several statements, an unconfigured shard) and the bytes each shard gets (named statements made unnamed,
// avg rewritten to sum and count).
import t from 'tap';
import { FanOut, type FanOutPlan, type FanOutRefusal, type FanOutRoute } from '../../proxy/session/FanOut.js';
import { StatementNames } from '../../proxy/context/StatementNames.js';
import { PreparedStatements } from '../../proxy/session/PreparedStatements.js';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import type { ProxyContext } from '../../proxy/context/ProxyContext.js';
import type { Pool } from '../../proxy/pool/Pool.js';
import type { Frame } from '../../proxy/protocol/FrameReader.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { decodeParse } from '../../proxy/protocol/FrontendMessage.js';
import { FrontendCode } from '../../proxy/protocol/MessageCode.js';
import { TxControl, type RoutedRequest } from '../../proxy/session/RoutedRequest.js';

await Analyzer.init();
const analyzer = new Analyzer({ accountColumn: 'account_id' });
const ctx = { config: { sharding: { account_column: 'account_id' } }, afterDdl: null } as unknown as ProxyContext;
const route: FanOutRoute = { kind: 'fanout', shards: ['s0', 's1', 's2'], reason: 'read without a key' };
const pool = {} as Pool;

function frame(bytes: Buffer): Frame {
  return { code: bytes[0]!, frame: bytes, payload: bytes.subarray(5) };
}
function request(frames: Buffer[], sql: string): RoutedRequest {
  const fs = frames.map(frame);
  const simple = fs[0]!.code === FrontendCode.Query;
  return { frames: fs, simple, endsWithSync: fs[fs.length - 1]!.code === FrontendCode.Sync, units: [{ sql, statements: analyzer.analyze(sql) }], txControl: TxControl.None, routingSettingsOnly: false, sql };
}
/** The SQL texts of the Parses (or the Query) in a plan's bytes. */
function texts(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.length;) {
    const code = bytes[at]!;
    const len = bytes.readInt32BE(at + 1);
    const payload = bytes.subarray(at + 5, at + 1 + len);
    if (code === FrontendCode.Query) out.push(payload.toString('utf8', 0, payload.length - 1));
    if (code === FrontendCode.Parse) out.push(`${decodeParse(payload).name || '(unnamed)'}: ${decodeParse(payload).query}`);
    at += 1 + len;
  }
  return out;
}

t.test('plan: refusals and the bytes each shard gets', async (t) => {
  const statements = new PreparedStatements(new StatementNames());
  statements.add('s1', Buffer.concat([Buffer.from('select id from volumes\0', 'utf8'), Buffer.from([0, 0])]), 'select id from volumes');
  const fanOut = new FanOut({ statements, settings: new Map(), settingsKey: '', txStatus: 0x49 }, ctx);
  const cases: { name: string; req: RoutedRequest; poolOn?: (s: string) => Pool | undefined; refuse?: RegExp; texts?: string[]; readies?: number }[] = [
    { name: 'a simple read', req: request([Fe.Query('select id from volumes')], 'select id from volumes'), texts: ['select id from volumes'], readies: 1 },
    { name: 'avg becomes sum and count on each shard', req: request([Fe.Query('select avg(size) from volumes')], 'select avg(size) from volumes'), texts: [/sum\(size\).*count\(size\)/.source], readies: 1 },
    { name: 'a named statement runs unnamed on the shards', req: request([Fe.Bind({ statement: 's1' }), Fe.Execute('', 0), Fe.Sync], 'select id from volumes'), texts: ['\\(unnamed\\): select id from volumes'], readies: 1 },
    { name: 'DISTINCT aggregates cannot be merged', req: request([Fe.Query('select count(distinct account_id) from volumes')], 'select count(distinct account_id) from volumes'), refuse: /cannot be merged.*account_id = /s },
    { name: 'an extended batch without Sync', req: request([Fe.Parse('', 'select id from volumes', []), Fe.Bind(), Fe.Execute('', 0), Fe.Flush], 'select id from volumes'), refuse: /must end with Sync/ },
    { name: 'a Bind of a statement the client never prepared', req: request([Fe.Bind({ statement: 'nope' }), Fe.Execute('', 0), Fe.Sync], 'select id from volumes'), refuse: /must be one statement/ },
    { name: 'a shard in the catalog but not in this proxy', req: request([Fe.Query('select id from volumes')], 'select id from volumes'), poolOn: (s) => (s === 's2' ? undefined : pool), refuse: /shard "s2" is in the catalog but not configured/ },
  ];
  for (const c of cases) {
    const out = fanOut.plan(c.req, route, c.poolOn ?? (() => pool));
    if (c.refuse) {
      t.ok('refuse' in out, `${c.name}: refused`);
      t.match((out as FanOutRefusal).refuse.message, c.refuse, `${c.name}: the message says why`);
      continue;
    }
    t.notOk('refuse' in out, `${c.name}: planned`);
    const plan = out as FanOutPlan;
    const got = texts(plan.bytes);
    t.equal(got.length, c.texts!.length, `${c.name}: one statement`);
    c.texts!.forEach((want, i) => t.match(got[i], new RegExp(want), `${c.name}: ${want}`));
    t.equal(plan.readies, c.readies, `${c.name}: ReadyForQuery per shard`);
    t.equal(plan.pools.length, 3, `${c.name}: every shard`);
  }
});
