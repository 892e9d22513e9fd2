// bench-analyzer owns the routing micro-benchmark: µs per statement for a known shape (tokenize + cache hit + bind), the
// whole routing decision for a known shape (+ key plugins + router + catalog placement), and a new shape (parse + walk).
//
// usage: npm run build && node dist/scripts/bench-analyzer.js [--ms N]   (also run by npm run bench:analyzer / bench:routing)
import { parseSync } from 'libpg-query';
import { Analyzer } from '../proxy/analyzer/Analyzer.js';
import { scanStatements } from '../proxy/analyzer/Shape.js';
import { tag } from '../workload/actionTx.js';
import { parseConfig } from '../config/loadConfig.js';
import { CatalogSnapshot } from '../proxy/catalog/Catalog.js';
import { Router } from '../proxy/router/Router.js';
import { PluginHost } from '../proxy/plugins/PluginHost.js';
import type { RequestContext, SessionInfo } from '../proxy/plugins/api.js';
import { Logger } from '../proxy/logger.js';
import { Args } from './lib/args.js';

const USAGE = 'usage: node dist/scripts/bench-analyzer.js [--ms N]   (milliseconds of CPU per measurement, default 1500)';

/** The workload's statements (workload/actions.ts, actionTx.ts), as the driver sends them ($n parameters). */
const TABLES: [string, string][] = [['volumes', 'state'], ['snapshots', 'state'], ['instances', 'state'], ['images', 'state'], ['security_groups', 'vpc_id'], ['key_pairs', 'key_type'], ['network_interfaces', 'status']];
const WORKLOAD: string[] = [
  ...TABLES.flatMap(([t, c]) => [
    `SELECT * FROM ${t} WHERE account_id = $1 AND id = ANY($2::text[])`,
    `SELECT * FROM ${t} WHERE account_id = $1 AND ${c} = $2 ORDER BY id LIMIT 100`,
  ]),
  `INSERT INTO volumes (id, account_id, state, size_gib, volume_type, iops, availability_zone, encrypted, tags)
     VALUES ($2, $1, 'available', $3, $4, $5, $6, $7, $8::jsonb)`,
  `UPDATE volumes SET state = 'in-use', updated_at = now() WHERE account_id = $1 AND id = $2 AND state = 'available'`,
  `INSERT INTO volume_attachments (id, account_id, volume_id, instance_id, device, state) VALUES ($2, $1, $3, $4, $5, 'attached')`,
  `DELETE FROM volume_attachments WHERE account_id = $1 AND id = $2 RETURNING volume_id`,
  `UPDATE volumes SET state = 'available', updated_at = now() WHERE account_id = $1 AND id = $2`,
  `DELETE FROM volume_attachments WHERE account_id = $1 AND volume_id = $2 RETURNING id`,
  `DELETE FROM volumes WHERE account_id = $1 AND id = $2`,
  `SELECT size_gib FROM volumes WHERE account_id = $1 AND id = $2 FOR UPDATE`,
  `UPDATE volumes SET size_gib = LEAST(size_gib + $3, 16384), volume_type = $4, updated_at = now() WHERE account_id = $1 AND id = $2`,
  `INSERT INTO snapshots (id, account_id, volume_id, state, size_gib, description, tags) VALUES ($2, $1, $3, 'completed', $4, $5, $6::jsonb)`,
  `DELETE FROM snapshots WHERE account_id = $1 AND id = $2`,
  `INSERT INTO snapshots (id, account_id, volume_id, state, size_gib, progress, description, tags)
     SELECT $3, account_id, volume_id, 'pending', size_gib, 0, 'Copied from ' || id, tags FROM snapshots WHERE account_id = $1 AND id = $2`,
  `UPDATE snapshots SET state = 'completed', progress = 100, updated_at = now() WHERE account_id = $1 AND id = $2`,
  `INSERT INTO instances (id, account_id, state, instance_type, image_id, availability_zone, private_ip, tags) VALUES ($2, $1, 'running', $3, $4, $5, $6, $7::jsonb)`,
  `UPDATE instances SET state = $4, updated_at = now() WHERE account_id = $1 AND id = ANY($2::text[]) AND state = $3`,
  `SELECT state FROM instances WHERE account_id = $1 AND id = $2 FOR UPDATE`,
  `UPDATE instances SET state = 'terminated', updated_at = now() WHERE account_id = $1 AND id = $2`,
  `UPDATE instances SET updated_at = now() WHERE account_id = $1 AND id = $2 AND state = 'running'`,
  `INSERT INTO images (id, account_id, name, state, architecture, source_instance_id, tags) VALUES ($2, $1, $3, 'available', $4, $5, $6::jsonb)`,
  `DELETE FROM images WHERE account_id = $1 AND id = $2`,
  `INSERT INTO security_groups (id, account_id, group_name, description, vpc_id, tags) VALUES ($2, $1, $3, 'managed by workload', $4, $5::jsonb)`,
  `UPDATE security_groups SET ingress_rules = CASE WHEN jsonb_array_length(ingress_rules) >= 50 THEN $3::jsonb ELSE ingress_rules || $3::jsonb END,
     updated_at = now() WHERE account_id = $1 AND id = $2`,
  `DELETE FROM security_groups WHERE account_id = $1 AND id = $2`,
  `INSERT INTO key_pairs (id, account_id, key_name, key_type, fingerprint, tags) VALUES ($2, $1, $3, $4, $5, $6::jsonb)`,
  `DELETE FROM key_pairs WHERE account_id = $1 AND id = $2`,
  `INSERT INTO network_interfaces (id, account_id, subnet_id, private_ip, mac_address, status, tags) VALUES ($2, $1, $3, $4, $5, 'available', $6::jsonb)`,
  `DELETE FROM network_interfaces WHERE account_id = $1 AND id = $2`,
  `SELECT id, tier, region, attributes FROM accounts WHERE account_id = $1`,
  `SELECT id AS account, name AS arn FROM accounts WHERE account_id = $1`,
  'INSERT INTO write_log (account_id, seq, action) VALUES ($1, $2, $3)',
  'BEGIN',
  'COMMIT',
];

/** The same statements with $1 (the account) and the other parameters inlined as literals (a simple-protocol client). */
function inline(sql: string, account: string, k: number): string {
  return sql.replace(/\$(\d+)(::\w+(\[\])?)?/g, (_m, n: string, cast?: string) => {
    if (n === '1') return `'${account}'`;
    if (cast === '::text[]') return `ARRAY['vol-${k}a','vol-${k}b']::text[]`;
    if (cast === '::jsonb') return `'{"Name":"x-${k}","env":"prod"}'::jsonb`;
    return k % 3 === 0 ? String(100 + k) : `'v-${n}-${k}'`;
  });
}

const ACCOUNTS = Array.from({ length: 200 }, (_, k) => `acct-${String(k).padStart(4, '0')}`);
const ACTIONS = ['CreateVolume', 'DescribeVolumes', 'AttachVolume', 'RunInstances', 'DescribeInstances', 'CreateSnapshot'];

function variants(): Record<string, string[]> {
  const params = WORKLOAD;
  const tagged = WORKLOAD.map((s, k) => tag(ACCOUNTS[k % ACCOUNTS.length]!, ACTIONS[k % ACTIONS.length]!) + s);
  const literals: string[] = [];
  const taggedLiterals: string[] = [];
  for (let r = 0; r < 8; r++) {
    WORKLOAD.forEach((s, k) => {
      const acct = ACCOUNTS[(r * 37 + k) % ACCOUNTS.length]!;
      literals.push(inline(s, acct, r * 100 + k));
      taggedLiterals.push(tag(acct, ACTIONS[(r + k) % ACTIONS.length]!) + inline(s, acct, r * 100 + k));
    });
  }
  return { 'untagged, $n params': params, 'tagged, $n params': tagged, 'untagged, literals inlined': literals, 'tagged, literals inlined': taggedLiterals };
}

/** This process's CPU time in ms (user + system): unlike wall time, not inflated while other processes hold the CPU. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** µs of CPU per statement: the best of `trials` runs of at least minMs/trials each (the machine is shared; the minimum is the least disturbed). */
function timePerStatement(stmts: string[], minMs: number, fn: (s: string) => unknown, trials = 5): number {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < trials; r++) {
    let n = 0;
    const t0 = cpuMs();
    let t1 = t0;
    do {
      for (let k = 0; k < stmts.length; k++) {
        const res = fn(stmts[k]!) as unknown[];
        sink += res.length;
      }
      n += stmts.length;
      t1 = cpuMs();
    } while (t1 - t0 < minMs / trials);
    best = Math.min(best, ((t1 - t0) * 1000) / n);
  }
  if (sink < 0) console.log(sink);
  return best;
}

/** The proxy's routing decision for one statement, as the session makes it: analyze, key plugins, router, placement. */
async function routingPath(): Promise<(analyzer: Analyzer, sql: string) => unknown[]> {
  const shards = ['s0', 's1', 's2'];
  const config = parseConfig({
    database: 'app',
    users: [{ name: 'app', password: 'x' }],
    shards: shards.map((name, i) => ({ name, host: '127.0.0.1', port: 5432 + i, database: 'app', user: 'postgres' })),
    sharding: {
      domains: {
        volume: { tables: ['volumes', 'volume_attachments'], actions: ['CreateVolume', 'DescribeVolumes', 'AttachVolume'] },
        instance: { tables: ['instances'], actions: ['RunInstances', 'DescribeInstances'] },
        snapshot: { tables: ['snapshots'], actions: ['CreateSnapshot'] },
      },
    },
  });
  const host = await PluginHost.load(config.sharding.key_plugins.map((name) => ({ name })), { config, logger: new Logger('error') });
  const session: SessionInfo = { pid: 1, user: 'app', database: 'app', applicationName: '', remote: '', startupParams: new Map() };
  const plugins = host.createSession(session);
  const router = new Router(config);
  const snapshot = new CatalogSnapshot(1, shards.map((name, i) => ({ id: i + 1, name, host: '127.0.0.1', port: 5432 + i, database: 'app', status: 'active' as const, version: 1 })), new Map());
  const settings = new Map<string, string>();
  const params = [Buffer.from('acct-0042'), Buffer.from('vol-1'), Buffer.from('7'), Buffer.from('gp3')];
  return (analyzer, sql) => {
    const statements = analyzer.analyze(sql);
    const ctx: RequestContext = { session, sql, protocol: 'extended', kind: 'other', analysis: statements, params, settings };
    plugins.decideRequest(ctx);
    const route = router.route({ statements, params, session: {}, key: ctx.shardKey }, snapshot);
    return route.kind === 'reject' ? [] : [route];
  };
}

async function main(): Promise<void> {
  const minMs = new Args(process.argv.slice(2), { usage: USAGE, values: ['ms'] }).int('ms', 1500, 1);
  await Analyzer.init();
  const decide = await routingPath();
  const sets = variants();
  const opts = { accountColumn: 'account_id' };
  const avgLen = (xs: string[]): number => Math.round(xs.reduce((a, s) => a + s.length, 0) / xs.length);
  // machine calibration: a bare charCodeAt loop over the same text
  const all = Object.values(sets).flat();
  const chars = all.reduce((a, s) => a + s.length, 0);
  const loop = (s: string): unknown[] => {
    let x = 0;
    for (let i = 0; i < s.length; i++) x += s.charCodeAt(i);
    return x < 0 ? [x] : [];
  };
  timePerStatement(all, 200, loop);
  const rawNsPerChar = (timePerStatement(all, minMs, loop) * 1000 * all.length) / chars;
  console.log(`analyzer benchmark: ${WORKLOAD.length} workload statements, node ${process.version}, ${minMs} ms per measurement`);
  console.log(`calibration: a bare charCodeAt loop costs ${rawNsPerChar.toFixed(2)} ns/char on this machine`);
  console.log('set                          | stmts | avg chars | tokenize µs | (a) known shape µs | (c) route, known shape µs | (b) new shape µs | parseSync µs | shapes');
  for (const [name, stmts] of Object.entries(sets)) {
    // tokenizer alone
    timePerStatement(stmts, 200, (s) => scanStatements(s));
    const tok = timePerStatement(stmts, minMs, (s) => scanStatements(s));
    // (a) known shape: warm the cache, then tokenize + lookup + bind
    const warm = new Analyzer(opts);
    for (const s of stmts) warm.analyze(s);
    const parsesAfterWarm = warm.stats.parses;
    timePerStatement(stmts, 200, (s) => warm.analyze(s));
    const known = timePerStatement(stmts, minMs, (s) => warm.analyze(s));
    if (warm.stats.parses !== parsesAfterWarm) throw new Error('a known shape was parsed again');
    // (c) the whole decision: known shape + key plugins (sqlcommenter, column-rules) + router + catalog placement
    timePerStatement(stmts, 200, (s) => decide(warm, s));
    const routed = timePerStatement(stmts, minMs, (s) => decide(warm, s));
    // (b) new shape: a fresh analyzer for every statement, so every one misses (tokenize + parse + walk + bind)
    const miss = timePerStatement(stmts, minMs, (s) => new Analyzer(opts).analyze(s));
    const parseOnly = timePerStatement(stmts, minMs, (s) => parseSync(s).stmts);
    console.log(`${name.padEnd(28)} | ${String(stmts.length).padStart(5)} | ${String(avgLen(stmts)).padStart(9)} | ${tok.toFixed(3).padStart(11)} | ${known.toFixed(3).padStart(18)} | ${routed.toFixed(3).padStart(25)} | ${miss.toFixed(2).padStart(16)} | ${parseOnly.toFixed(2).padStart(13)} | ${warm.size}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
