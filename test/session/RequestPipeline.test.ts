// Owns: RequestPipeline with a fake host (no session, no Postgres): what each request becomes — routed to its key's
// shard, answered by the proxy (SET prescient.*, a deferred BEGIN), held by the key fence, refused across shards.
import t from 'tap';
import { RequestPipeline, type PipelineHost } from '../../proxy/session/RequestPipeline.js';
import { ProxyContext } from '../../proxy/context/ProxyContext.js';
import { StatementNames } from '../../proxy/context/StatementNames.js';
import { PreparedStatements } from '../../proxy/session/PreparedStatements.js';
import { Analyzer } from '../../proxy/analyzer/Analyzer.js';
import { CatalogSnapshot, type Catalog } from '../../proxy/catalog/Catalog.js';
import { Router } from '../../proxy/router/Router.js';
import { PluginHost } from '../../proxy/plugins/PluginHost.js';
import type { SessionPlugins } from '../../proxy/plugins/PluginHost.js';
import type { ServerConnection } from '../../proxy/connection/ServerConnection.js';
import type { Pool } from '../../proxy/pool/Pool.js';
import type { Frame } from '../../proxy/protocol/FrameReader.js';
import * as Fe from '../../proxy/protocol/FrontendEncoder.js';
import { BackendCode } from '../../proxy/protocol/MessageCode.js';
import { decodeErrorFields } from '../../proxy/protocol/BackendMessage.js';
import { parseConfig } from '../../config/loadConfig.js';

await Analyzer.init();
const config = parseConfig({
  database: 'app',
  users: [{ name: 'app', password: 'x' }],
  shards: ['s0', 's1', 's2'].map((name, i) => ({ name, host: '127.0.0.1', port: 5432 + i, database: 'app', user: 'postgres' })),
  sharding: { domains: { volume: { tables: ['volumes'], actions: ['CreateVolume', 'DescribeVolumes'] } } },
});
const shardRows = ['s0', 's1', 's2'].map((name, i) => ({ id: i + 1, name, host: '127.0.0.1', port: 5432 + i, database: 'app', status: 'active' as const, version: 1 }));
const snapshot = new CatalogSnapshot(1, shardRows, new Map());
// the built-in key plugins the proxy loads by default (sqlcommenter, column-rules): they fill the key the router uses
const plugins = await PluginHost.load(config.sharding.key_plugins.map((name) => ({ name })), {
  config, services: { placementKey: (account, action, tables) => `${account}_${new Router(config).domainOf(action ?? null, tables) ?? 'default'}`, adminCommand: () => {} },
});
const ctx = new ProxyContext({
  config, secureContext: null, catalog: { snapshot: () => snapshot } as unknown as Catalog, analyzer: new Analyzer({ accountColumn: 'account_id' }),
  router: new Router(config), plugins, versions: null, afterDdl: null,
  admin: () => ({ pools: () => ({ columns: [], rows: [] }), clients: () => ({ columns: [], rows: [] }), shards: () => ({ columns: [], rows: [] }), stats: () => ({ columns: [], rows: [] }) }),
});
const shardOf = (account: string): string => snapshot.placementOf(`${account}_volume`).shard.name;

/** A frame as the session's reader gives it. */
function frame(bytes: Buffer): Frame {
  return { code: bytes[0]!, frame: bytes, payload: bytes.subarray(5) };
}

/** The session as the pipeline sees it: records what the pipeline asks for. */
class FakeHost implements PipelineHost {
  closed = false;
  pid = 7;
  server: ServerConnection | null = null;
  owed = 0;
  unsent = 0;
  inCopy = false;
  txStatus = 0x49;
  waiting = false;
  skipping = false;
  dropping = false;
  statements = new PreparedStatements(new StatementNames());
  settings = new Map<string, string>();
  settingsKey = '';
  plugins: SessionPlugins | null = null;
  pinReason: string | null = null;
  /** answers the proxy made, as text: tags and SQLSTATEs */
  answered: string[] = [];
  /** frames sent to a server, as shard:type */
  forwarded: string[] = [];
  hidden: string[] = [];
  pipeline!: RequestPipeline;
  owesServer(): boolean { return this.owed > 0 || this.unsent > 0; }
  sessionInfo() { return { pid: 7, user: 'app', database: 'app', applicationName: '', remote: 'test', startupParams: new Map() }; }
  poolOn(shard: string): Pool | undefined {
    return { tryAcquire: () => ({ shard: { name: shard } }) as unknown as ServerConnection } as unknown as Pool;
  }
  synthesize(bytes: Buffer): void { this.answered.push(describe(bytes)); }
  write(bytes: Buffer): void { this.answered.push(describe(bytes)); }
  fail(e: unknown): void { throw e; }
  forward(f: Frame): void { this.forwarded.push(`${this.server!.shard.name}:${String.fromCharCode(f.code)}`); }
  sendHidden(sql: string): void { this.hidden.push(`${this.server!.shard.name}:${sql}`); }
  flush(): void {}
  attach(conn: ServerConnection): void { this.server = conn; }
  block(): void { this.waiting = true; }
  resume(): void {
    this.waiting = false;
    this.pipeline.drainRequests();
  }
  /** the server answered everything and the session let its connection go */
  release(): void { this.server = null; }
}

/** Backend bytes as `C:TAG` / `E:SQLSTATE` / `Z:I`, joined. */
function describe(bytes: Buffer): string {
  const out: string[] = [];
  for (let at = 0; at < bytes.length;) {
    const code = bytes[at]!;
    const len = bytes.readInt32BE(at + 1);
    const body = bytes.subarray(at + 5, at + 1 + len);
    if (code === BackendCode.CommandComplete) out.push(`C:${body.toString('latin1', 0, body.length - 1)}`);
    else if (code === BackendCode.ErrorResponse) out.push(`E:${decodeErrorFields(body).get('C')}`);
    else if (code === BackendCode.ReadyForQuery) out.push(`Z:${String.fromCharCode(body[0]!)}`);
    else out.push(String.fromCharCode(code));
    at += 1 + len;
  }
  return out.join(' ');
}

function rig(): FakeHost {
  const host = new FakeHost();
  host.plugins = plugins.createSession(host.sessionInfo());
  host.pipeline = new RequestPipeline(host, ctx);
  return host;
}
const send = (host: FakeHost, ...bytes: Buffer[]): void => {
  for (const b of bytes) host.pipeline.collect(frame(b));
};

t.test('a keyed statement goes to its key\'s shard; the proxy answers what needs no server', async (t) => {
  const cases: { name: string; sql: string[]; forwarded: (a: string) => string[]; answered: string[]; hidden?: (a: string) => string[] }[] = [
    { name: 'a keyed read', sql: ["select * from volumes where account_id = 'acct-1'"], forwarded: (a) => [`${shardOf(a)}:Q`], answered: [] },
    { name: 'SET prescient.account is the session\'s, answered here', sql: ["set prescient.account = 'acct-1'"], forwarded: () => [], answered: ['C:SET Z:I'] },
    { name: 'then a read with no key in its text goes to that account\'s shard', sql: ["set prescient.account = 'acct-1'", 'select * from volumes'], forwarded: (a) => [`${shardOf(a)}:Q`], answered: ['C:SET Z:I'] },
    {
      name: 'a BEGIN waits for the transaction\'s first keyed statement, then is replayed on its shard',
      sql: ['begin', "insert into volumes (id, account_id) values ('v1', 'acct-1')"],
      forwarded: (a) => [`${shardOf(a)}:Q`], answered: ['C:BEGIN Z:T'], hidden: (a) => [`${shardOf(a)}:begin`],
    },
    { name: 'a transaction that touched no shard ends here', sql: ['begin', 'commit'], forwarded: () => [], answered: ['C:BEGIN Z:T', 'C:COMMIT Z:I'] },
  ];
  for (const c of cases) {
    const host = rig();
    send(host, ...c.sql.map((s) => Fe.Query(s)));
    t.same(host.forwarded, c.forwarded('acct-1'), `${c.name}: sent to`);
    t.same(host.answered, c.answered, `${c.name}: answered by the proxy`);
    t.same(host.hidden, c.hidden?.('acct-1') ?? [], `${c.name}: statements the proxy added`);
  }
});

t.test('a request for another shard than the open transaction\'s is refused with 0A000', async (t) => {
  const host = rig();
  const a = 'acct-1';
  const b = ['acct-2', 'acct-3', 'acct-4', 'acct-5', 'acct-6'].find((x) => shardOf(x) !== shardOf(a))!;
  send(host, Fe.Query(`insert into volumes (id, account_id) values ('v1', '${a}')`));
  host.txStatus = 0x54; // the server said: in a transaction
  host.server!.txStatus = 0x54;
  send(host, Fe.Query(`select * from volumes where account_id = '${b}'`));
  t.same(host.forwarded, [`${shardOf(a)}:Q`]);
  t.same(host.answered, ['E:0A000 Z:T'], 'the second request gets the error in its place');
});

t.test('the key fence holds a request until its key opens, then routes it', async (t) => {
  const host = rig();
  ctx.fence.close('acct-1_volume');
  send(host, Fe.Query("select * from volumes where account_id = 'acct-1'"), Fe.Query("select * from volumes where account_id = 'acct-9'"));
  t.equal(host.waiting, true, 'the session stops reading');
  t.same(host.forwarded, [], 'nothing sent while fenced (the request behind it waits too, in order)');
  t.same(ctx.fence.fenced().map((f) => f.waiting), [1]);
  ctx.fence.open('acct-1_volume');
  await new Promise((r) => setImmediate(r));
  t.equal(host.waiting, false);
  t.same(host.forwarded.slice(0, 1), [`${shardOf('acct-1')}:Q`], 'then it goes to its shard');
});

t.test('a read without a key that cannot be merged is refused before any shard is asked', async (t) => {
  const host = rig();
  send(host, Fe.Query('select count(distinct account_id) from volumes'));
  t.same(host.forwarded, []);
  t.match(host.answered, [/^E:0A000 Z:I$/]);
});
