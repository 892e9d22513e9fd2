// Tests for proxy/analyzer/Analyzer.ts: a table of workload, pgbench, ORM and edge-case statements with their expected
// kind, tables, account-key location, cacheability and settings; parse errors; and the shape cache (no re-parse on a hit).
import t from 'tap';
import { Analyzer, StatementKind as K, type StatementInfo } from '../../proxy/analyzer/Analyzer.js';
import { tag } from '../../workload/actionTx.js';

await Analyzer.init();

const opts = {
  accountColumn: 'account_id',
  tableAccountColumns: { pgbench_accounts: 'aid', pgbench_history: 'aid', Volumes: 'accountId', tenants_legacy: 'tenant' },
};

/** key: null | `$n` (parameter) | any other string (a literal value); multi: multipleKeys (default false) */
interface Case { sql: string; kind: K; tables: string[]; key: string | null; cacheable: boolean; readOnly?: boolean; multi?: boolean; setting?: StatementInfo['setting'] }

const TAG = tag('acct-0042', 'CreateVolume');
const W = (sql: string): string[] => [sql, TAG + sql]; // each workload statement untagged and tagged

const rows: Case[] = [];
const add = (c: Case | Case[]): void => void rows.push(...(Array.isArray(c) ? c : [c]));
const both = (sql: string, c: Omit<Case, 'sql'>): void => add(W(sql).map((s) => ({ ...c, sql: s })));

// --- the workload (workload/actions.ts, actionTx.ts) ---
for (const [table, col] of [['volumes', 'state'], ['snapshots', 'state'], ['instances', 'state'], ['images', 'state'], ['security_groups', 'vpc_id'], ['key_pairs', 'key_type'], ['network_interfaces', 'status']] as const) {
  both(`SELECT * FROM ${table} WHERE account_id = $1 AND id = ANY($2::text[])`, { kind: K.Select, tables: [table], key: '$1', cacheable: true });
  both(`SELECT * FROM ${table} WHERE account_id = $1 AND ${col} = $2 ORDER BY id LIMIT 100`, { kind: K.Select, tables: [table], key: '$1', cacheable: true });
}
for (const table of ['images', 'security_groups', 'key_pairs', 'network_interfaces', 'snapshots', 'volumes']) {
  both(`DELETE FROM ${table} WHERE account_id = $1 AND id = $2`, { kind: K.Delete, tables: [table], key: '$1', cacheable: false, readOnly: false });
}
both(`INSERT INTO volumes (id, account_id, state, size_gib, volume_type, iops, availability_zone, encrypted, tags)
     VALUES ($2, $1, 'available', $3, $4, $5, $6, $7, $8::jsonb)`, { kind: K.Insert, tables: ['volumes'], key: '$1', cacheable: false, readOnly: false });
both(`UPDATE volumes SET state = 'in-use', updated_at = now() WHERE account_id = $1 AND id = $2 AND state = 'available'`, { kind: K.Update, tables: ['volumes'], key: '$1', cacheable: false });
both(`INSERT INTO volume_attachments (id, account_id, volume_id, instance_id, device, state) VALUES ($2, $1, $3, $4, $5, 'attached')`, { kind: K.Insert, tables: ['volume_attachments'], key: '$1', cacheable: false });
both(`DELETE FROM volume_attachments WHERE account_id = $1 AND id = $2 RETURNING volume_id`, { kind: K.Delete, tables: ['volume_attachments'], key: '$1', cacheable: false });
both(`UPDATE volumes SET state = 'available', updated_at = now() WHERE account_id = $1 AND id = $2`, { kind: K.Update, tables: ['volumes'], key: '$1', cacheable: false });
both(`DELETE FROM volume_attachments WHERE account_id = $1 AND volume_id = $2 RETURNING id`, { kind: K.Delete, tables: ['volume_attachments'], key: '$1', cacheable: false });
both(`SELECT size_gib FROM volumes WHERE account_id = $1 AND id = $2 FOR UPDATE`, { kind: K.Select, tables: ['volumes'], key: '$1', cacheable: false, readOnly: false });
both(`UPDATE volumes SET size_gib = LEAST(size_gib + $3, 16384), volume_type = $4, updated_at = now() WHERE account_id = $1 AND id = $2`, { kind: K.Update, tables: ['volumes'], key: '$1', cacheable: false });
both(`INSERT INTO snapshots (id, account_id, volume_id, state, size_gib, description, tags) VALUES ($2, $1, $3, 'completed', $4, $5, $6::jsonb)`, { kind: K.Insert, tables: ['snapshots'], key: '$1', cacheable: false });
both(`INSERT INTO snapshots (id, account_id, volume_id, state, size_gib, progress, description, tags)
     SELECT $3, account_id, volume_id, 'pending', size_gib, 0, 'Copied from ' || id, tags FROM snapshots WHERE account_id = $1 AND id = $2`, { kind: K.Insert, tables: ['snapshots'], key: '$1', cacheable: false });
both(`UPDATE snapshots SET state = 'completed', progress = 100, updated_at = now() WHERE account_id = $1 AND id = $2`, { kind: K.Update, tables: ['snapshots'], key: '$1', cacheable: false });
both(`INSERT INTO instances (id, account_id, state, instance_type, image_id, availability_zone, private_ip, tags) VALUES ($2, $1, 'running', $3, $4, $5, $6, $7::jsonb)`, { kind: K.Insert, tables: ['instances'], key: '$1', cacheable: false });
both(`UPDATE instances SET state = $4, updated_at = now() WHERE account_id = $1 AND id = ANY($2::text[]) AND state = $3`, { kind: K.Update, tables: ['instances'], key: '$1', cacheable: false });
both(`SELECT state FROM instances WHERE account_id = $1 AND id = $2 FOR UPDATE`, { kind: K.Select, tables: ['instances'], key: '$1', cacheable: false, readOnly: false });
both(`UPDATE instances SET state = 'terminated', updated_at = now() WHERE account_id = $1 AND id = $2`, { kind: K.Update, tables: ['instances'], key: '$1', cacheable: false });
both(`UPDATE instances SET updated_at = now() WHERE account_id = $1 AND id = $2 AND state = 'running'`, { kind: K.Update, tables: ['instances'], key: '$1', cacheable: false });
both(`INSERT INTO images (id, account_id, name, state, architecture, source_instance_id, tags) VALUES ($2, $1, $3, 'available', $4, $5, $6::jsonb)`, { kind: K.Insert, tables: ['images'], key: '$1', cacheable: false });
both(`INSERT INTO security_groups (id, account_id, group_name, description, vpc_id, tags) VALUES ($2, $1, $3, 'managed by workload', $4, $5::jsonb)`, { kind: K.Insert, tables: ['security_groups'], key: '$1', cacheable: false });
both(`UPDATE security_groups SET ingress_rules = CASE WHEN jsonb_array_length(ingress_rules) >= 50 THEN $3::jsonb ELSE ingress_rules || $3::jsonb END,
     updated_at = now() WHERE account_id = $1 AND id = $2`, { kind: K.Update, tables: ['security_groups'], key: '$1', cacheable: false });
both(`INSERT INTO key_pairs (id, account_id, key_name, key_type, fingerprint, tags) VALUES ($2, $1, $3, $4, $5, $6::jsonb)`, { kind: K.Insert, tables: ['key_pairs'], key: '$1', cacheable: false });
both(`INSERT INTO network_interfaces (id, account_id, subnet_id, private_ip, mac_address, status, tags) VALUES ($2, $1, $3, $4, $5, 'available', $6::jsonb)`, { kind: K.Insert, tables: ['network_interfaces'], key: '$1', cacheable: false });
both(`SELECT id, tier, region, attributes FROM accounts WHERE account_id = $1`, { kind: K.Select, tables: ['accounts'], key: '$1', cacheable: true, readOnly: true });
both(`SELECT id AS account, name AS arn FROM accounts WHERE account_id = $1`, { kind: K.Select, tables: ['accounts'], key: '$1', cacheable: true });
both('INSERT INTO write_log (account_id, seq, action) VALUES ($1, $2, $3)', { kind: K.Insert, tables: ['write_log'], key: '$1', cacheable: false });
both('BEGIN', { kind: K.Begin, tables: [], key: null, cacheable: false });
both('COMMIT', { kind: K.Commit, tables: [], key: null, cacheable: false });
both('ROLLBACK', { kind: K.Rollback, tables: [], key: null, cacheable: false });

// --- pgbench tpcb-like, extended protocol ($n) and simple protocol (literals); per-table key column `aid` ---
add([
  { sql: 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2', kind: K.Update, tables: ['pgbench_accounts'], key: '$2', cacheable: false },
  { sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1', kind: K.Select, tables: ['pgbench_accounts'], key: '$1', cacheable: true },
  { sql: 'UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2', kind: K.Update, tables: ['pgbench_tellers'], key: null, cacheable: false },
  { sql: 'UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2', kind: K.Update, tables: ['pgbench_branches'], key: null, cacheable: false },
  { sql: 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)', kind: K.Insert, tables: ['pgbench_history'], key: '$3', cacheable: false },
  { sql: 'UPDATE pgbench_accounts SET abalance = abalance + -4021 WHERE aid = 51244;', kind: K.Update, tables: ['pgbench_accounts'], key: '51244', cacheable: false },
  { sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = 51244;', kind: K.Select, tables: ['pgbench_accounts'], key: '51244', cacheable: true },
  { sql: 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 51244, -4021, CURRENT_TIMESTAMP);', kind: K.Insert, tables: ['pgbench_history'], key: '51244', cacheable: false },
  { sql: 'END;', kind: K.Commit, tables: [], key: null, cacheable: false },
  { sql: 'select count(*) from pgbench_branches', kind: K.Select, tables: ['pgbench_branches'], key: null, cacheable: true },
  { sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = -5', kind: K.Select, tables: ['pgbench_accounts'], key: '-5', cacheable: true },
]);

// --- ORM-style: quoted identifiers, schemas, aliases ---
add([
  { sql: 'SELECT "Volumes"."id", "Volumes"."accountId" FROM "Volumes" AS "Volumes" WHERE "Volumes"."accountId" = $1 AND "Volumes"."deletedAt" IS NULL LIMIT 10', kind: K.Select, tables: ['Volumes'], key: '$1', cacheable: true },
  { sql: 'INSERT INTO "public"."Volumes" ("id","accountId","size") VALUES ($1,$2,$3) RETURNING "public"."Volumes"."id"', kind: K.Insert, tables: ['public.Volumes'], key: '$2', cacheable: false },
  { sql: 'UPDATE "Volumes" SET "state"=$1,"updatedAt"=$2 WHERE "accountId" = $3 AND "id" = $4', kind: K.Update, tables: ['Volumes'], key: '$3', cacheable: false },
  { sql: 'SELECT "v"."id" AS "v_id" FROM "Volumes" "v" WHERE "v"."accountId" = $1', kind: K.Select, tables: ['Volumes'], key: '$1', cacheable: true },
  { sql: 'select * from "volumes" where "account_id" = $1', kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
  { sql: "SELECT * FROM public.volumes WHERE account_id = 'acct-1'", kind: K.Select, tables: ['public.volumes'], key: 'acct-1', cacheable: true },
  { sql: 'SELECT v.id FROM public.volumes v JOIN public.snapshots s ON s.volume_id = v.id WHERE v.account_id = $1', kind: K.Select, tables: ['public.volumes', 'public.snapshots'], key: '$1', cacheable: true },
  { sql: 'SELECT * FROM VOLUMES WHERE ACCOUNT_ID = $1', kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
  { sql: 'SELECT * FROM tenants_legacy t WHERE t.account_id = $1', kind: K.Select, tables: ['tenants_legacy'], key: null, cacheable: true },
  { sql: 'SELECT * FROM tenants_legacy t WHERE t.tenant = $1', kind: K.Select, tables: ['tenants_legacy'], key: '$1', cacheable: true },
]);

// --- CTEs, JSONB, arrays, ON CONFLICT, comments, locking, keys in odd places ---
add([
  { sql: "WITH recent AS (SELECT * FROM volumes WHERE account_id = $1 ORDER BY created_at DESC LIMIT 10) SELECT * FROM recent WHERE state = 'available'", kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
  { sql: 'WITH moved AS (DELETE FROM volumes WHERE account_id = $1 AND state = $2 RETURNING *) INSERT INTO volumes_archive SELECT * FROM moved', kind: K.Insert, tables: ['volumes_archive', 'volumes'], key: '$1', cacheable: false },
  { sql: "WITH d AS (UPDATE volumes SET state = 'x' WHERE account_id = $1 RETURNING id) SELECT count(*) FROM d", kind: K.Select, tables: ['volumes'], key: '$1', cacheable: false, readOnly: false },
  { sql: "SELECT id FROM volumes WHERE account_id = $1 AND tags->>'env' = 'prod'", kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
  { sql: 'SELECT id FROM instances WHERE tags @> $2::jsonb AND account_id = $1', kind: K.Select, tables: ['instances'], key: '$1', cacheable: true },
  { sql: 'SELECT * FROM volumes WHERE account_id = ANY($1::text[])', kind: K.Select, tables: ['volumes'], key: null, multi: true, cacheable: true },
  { sql: "SELECT * FROM volumes WHERE account_id IN ('a', 'b')", kind: K.Select, tables: ['volumes'], key: 'a', multi: true, cacheable: true },
  { sql: "SELECT * FROM volumes WHERE account_id IN ('a')", kind: K.Select, tables: ['volumes'], key: 'a', cacheable: true },
  { sql: "SELECT * FROM volumes WHERE account_id IN ('a', 'a')", kind: K.Select, tables: ['volumes'], key: 'a', cacheable: true },
  { sql: 'INSERT INTO accounts (id, account_id, name, persona) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name RETURNING id', kind: K.Insert, tables: ['accounts'], key: '$2', cacheable: false },
  { sql: "INSERT INTO accounts (id, account_id, name, persona) VALUES ('x', 'acct-7', 'n', 'p') ON CONFLICT DO NOTHING", kind: K.Insert, tables: ['accounts'], key: 'acct-7', cacheable: false },
  { sql: "INSERT INTO write_log (account_id, seq, action) VALUES ('a', 1, 'x'), ('b', 2, 'y')", kind: K.Insert, tables: ['write_log'], key: 'a', multi: true, cacheable: false },
  { sql: "INSERT INTO write_log (account_id, seq, action) VALUES ('a', 1, 'x'), ('a', 2, 'y')", kind: K.Insert, tables: ['write_log'], key: 'a', cacheable: false },
  { sql: 'INSERT INTO write_log (account_id, seq, action) VALUES ($1, 1, $2), ($3, 2, $4)', kind: K.Insert, tables: ['write_log'], key: '$1', multi: true, cacheable: false },
  { sql: "INSERT INTO write_log VALUES ('a', 1, 'x')", kind: K.Insert, tables: ['write_log'], key: null, cacheable: false },
  { sql: '-- fetch one\nSELECT 1', kind: K.Select, tables: [], key: null, cacheable: true },
  { sql: "SELECT /* inline */ * FROM volumes WHERE account_id = 'a' -- trailing", kind: K.Select, tables: ['volumes'], key: 'a', cacheable: true },
  { sql: 'SELECT id FROM jobs WHERE account_id = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED', kind: K.Select, tables: ['jobs'], key: '$1', cacheable: false, readOnly: false },
  { sql: 'SELECT * FROM volumes WHERE account_id = $1 FOR SHARE', kind: K.Select, tables: ['volumes'], key: '$1', cacheable: false, readOnly: false },
  { sql: "SELECT * FROM volumes WHERE 'acct-3' = account_id", kind: K.Select, tables: ['volumes'], key: 'acct-3', cacheable: true },
  { sql: 'SELECT * FROM volumes WHERE account_id::text = $1', kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
  { sql: "SELECT * FROM volumes WHERE account_id = 'a'::text AND id = $1::text", kind: K.Select, tables: ['volumes'], key: 'a', cacheable: true },
  { sql: 'SELECT * FROM volumes WHERE account_id = $1 OR id = $2', kind: K.Select, tables: ['volumes'], key: null, cacheable: true },
  { sql: 'SELECT * FROM volumes WHERE (account_id = $2 AND id = $1) AND state = $3', kind: K.Select, tables: ['volumes'], key: '$2', cacheable: true },
  { sql: 'SELECT * FROM volumes WHERE id IN (SELECT volume_id FROM volume_attachments WHERE account_id = $1)', kind: K.Select, tables: ['volumes', 'volume_attachments'], key: null, cacheable: true },
  { sql: 'SELECT id FROM volumes WHERE account_id = $1 UNION ALL SELECT id FROM snapshots WHERE account_id = $1', kind: K.Select, tables: ['volumes', 'snapshots'], key: '$1', cacheable: true },
  { sql: "SELECT id FROM volumes WHERE account_id = 'a' UNION SELECT id FROM snapshots WHERE account_id = 'b'", kind: K.Select, tables: ['volumes', 'snapshots'], key: 'a', multi: true, cacheable: true },
  { sql: 'SELECT id, row_number() OVER (PARTITION BY state ORDER BY created_at) FROM volumes WHERE account_id = $1', kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
  { sql: "SELECT * FROM volumes WHERE name = 'héllo' AND account_id = 'ü-1'", kind: K.Select, tables: ['volumes'], key: 'ü-1', cacheable: true },
  { sql: "SELECT * FROM volumes WHERE account_id = E'a\\'b'", kind: K.Select, tables: ['volumes'], key: "a'b", cacheable: true },
  { sql: 'SELECT * FROM volumes WHERE account_id = $tag$acct;1$tag$', kind: K.Select, tables: ['volumes'], key: 'acct;1', cacheable: true },
  { sql: 'SELECT * FROM (SELECT * FROM volumes WHERE account_id = $1) v', kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
]);

// --- volatile functions: not cacheable ---
add([
  { sql: 'SELECT now()', kind: K.Select, tables: [], key: null, cacheable: false, readOnly: true },
  { sql: 'SELECT random()', kind: K.Select, tables: [], key: null, cacheable: false },
  { sql: "SELECT nextval('volume_seq')", kind: K.Select, tables: [], key: null, cacheable: false, readOnly: false },
  { sql: 'SELECT gen_random_uuid()', kind: K.Select, tables: [], key: null, cacheable: false },
  { sql: "SELECT id FROM volumes WHERE account_id = $1 AND created_at > now() - interval '1 hour'", kind: K.Select, tables: ['volumes'], key: '$1', cacheable: false },
  { sql: 'SELECT CURRENT_TIMESTAMP', kind: K.Select, tables: [], key: null, cacheable: false },
  { sql: 'SELECT pg_sleep(1)', kind: K.Select, tables: [], key: null, cacheable: false },
  { sql: 'SELECT txid_current()', kind: K.Select, tables: [], key: null, cacheable: false },
  { sql: 'SELECT clock_timestamp(), pg_catalog.now()', kind: K.Select, tables: [], key: null, cacheable: false },
  { sql: 'SELECT lower(name), count(*) FROM volumes WHERE account_id = $1 GROUP BY 1', kind: K.Select, tables: ['volumes'], key: '$1', cacheable: true },
]);

// --- transaction control, settings, utility statements, DDL ---
add([
  { sql: 'SAVEPOINT sp1', kind: K.Savepoint, tables: [], key: null, cacheable: false },
  { sql: 'RELEASE SAVEPOINT sp1', kind: K.Savepoint, tables: [], key: null, cacheable: false },
  { sql: 'ROLLBACK TO SAVEPOINT sp1', kind: K.Savepoint, tables: [], key: null, cacheable: false },
  { sql: 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ', kind: K.Begin, tables: [], key: null, cacheable: false },
  { sql: "SET LOCAL prescient.account = 'acct-9'", kind: K.Set, tables: [], key: null, cacheable: false, setting: { name: 'prescient.account', value: 'acct-9', local: true } },
  { sql: "SET prescient.action TO 'CreateVolume'", kind: K.Set, tables: [], key: null, cacheable: false, setting: { name: 'prescient.action', value: 'CreateVolume', local: false } },
  { sql: 'SET prescient.account = 12345', kind: K.Set, tables: [], key: null, cacheable: false, setting: { name: 'prescient.account', value: '12345', local: false } },
  { sql: 'RESET prescient.account', kind: K.Set, tables: [], key: null, cacheable: false, setting: { name: 'prescient.account', value: null, local: false } },
  { sql: 'SET search_path TO public, app', kind: K.Set, tables: [], key: null, cacheable: false },
  { sql: 'SET statement_timeout = 5000', kind: K.Set, tables: [], key: null, cacheable: false },
  { sql: 'SHOW search_path', kind: K.Show, tables: [], key: null, cacheable: false, readOnly: true },
  { sql: 'COPY volumes (id, account_id) FROM STDIN', kind: K.Copy, tables: ['volumes'], key: null, cacheable: false, readOnly: false },
  { sql: "COPY (SELECT * FROM volumes WHERE account_id = 'a') TO STDOUT WITH (FORMAT csv)", kind: K.Copy, tables: ['volumes'], key: 'a', cacheable: false, readOnly: true },
  { sql: 'LISTEN volume_events', kind: K.Listen, tables: [], key: null, cacheable: false },
  { sql: 'UNLISTEN *', kind: K.Listen, tables: [], key: null, cacheable: false },
  { sql: "NOTIFY volume_events, 'vol-1'", kind: K.Notify, tables: [], key: null, cacheable: false, readOnly: false },
  { sql: 'PREPARE q (text) AS SELECT * FROM volumes WHERE account_id = $1', kind: K.Prepare, tables: ['volumes'], key: '$1', cacheable: false },
  { sql: "EXECUTE q('acct-1')", kind: K.Execute, tables: [], key: null, cacheable: false },
  { sql: 'DEALLOCATE ALL', kind: K.Deallocate, tables: [], key: null, cacheable: false },
  { sql: 'DISCARD ALL', kind: K.Discard, tables: [], key: null, cacheable: false },
  { sql: 'EXPLAIN SELECT * FROM volumes WHERE account_id = $1', kind: K.Other, tables: ['volumes'], key: '$1', cacheable: false, readOnly: true },
  { sql: 'CREATE TABLE IF NOT EXISTS widgets (id text primary key, account_id text not null, n varchar(20) default \'x\')', kind: K.Ddl, tables: ['widgets'], key: null, cacheable: false, readOnly: false },
  { sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS volumes_account_idx ON volumes (account_id, state)', kind: K.Ddl, tables: ['volumes'], key: null, cacheable: false },
  { sql: 'ALTER TABLE volumes ADD COLUMN kms_key text', kind: K.Ddl, tables: ['volumes'], key: null, cacheable: false },
  { sql: 'DROP TABLE IF EXISTS widgets, archive.widgets', kind: K.Ddl, tables: ['widgets', 'archive.widgets'], key: null, cacheable: false },
  { sql: 'TRUNCATE volumes', kind: K.Ddl, tables: ['volumes'], key: null, cacheable: false },
  { sql: 'CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql', kind: K.Ddl, tables: [], key: null, cacheable: false },
  { sql: 'VACUUM volumes', kind: K.Other, tables: ['volumes'], key: null, cacheable: false },
]);

const analyzer = new Analyzer(opts);

t.test(`${rows.length} statements: kind, tables, key, cacheability`, async (t) => {
  t.ok(rows.length >= 60);
  for (const c of rows) {
    const infos = analyzer.analyze(c.sql);
    const name = c.sql.replace(/\s+/g, ' ').slice(0, 110);
    t.equal(infos.length, 1, `one statement: ${name}`);
    const i = infos[0]!;
    const want = {
      kind: c.kind,
      tables: c.tables,
      key: c.key === null ? null : /^\$\d+$/.test(c.key) ? { kind: 'param', index: Number(c.key.slice(1)) } : { kind: 'literal', value: c.key },
      multi: c.multi ?? false,
      cacheable: c.cacheable,
      ...(c.readOnly === undefined ? {} : { readOnly: c.readOnly }),
      ...(c.setting === undefined ? {} : { setting: c.setting }),
      parseError: undefined,
    };
    const got = {
      kind: i.kind, tables: [...i.tables], key: i.accountKey, multi: i.multipleKeys, cacheable: i.cacheable,
      ...(c.readOnly === undefined ? {} : { readOnly: i.readOnly }),
      ...(c.setting === undefined ? {} : { setting: i.setting }),
      parseError: i.parseError,
    };
    t.strictSame(got, want, name);
    if (c.sql.startsWith(TAG)) t.same(i.tags, { account: 'acct-0042', action: 'CreateVolume' }, `tags: ${name}`);
    if (c.cacheable) t.ok(i.readOnly, `cacheable implies readOnly: ${name}`);
  }
});

t.test('multi-statement strings', async (t) => {
  const a = new Analyzer(opts);
  const infos = a.analyze("/* account='a' */ BEGIN; UPDATE volumes SET state = 'x' WHERE account_id = 'a'; SELECT * FROM snapshots WHERE account_id = $1; COMMIT;");
  t.same(infos.map((i) => i.kind), [K.Begin, K.Update, K.Select, K.Commit]);
  t.same(infos[1]!.accountKey, { kind: 'literal', value: 'a' });
  t.same(infos[2]!.accountKey, { kind: 'param', index: 1 });
  t.same(infos[0]!.tags, { account: 'a' });
  t.same(infos[1]!.tags, {});
  t.same(a.analyze(''), []);
  t.same(a.analyze(' ; -- nothing\n ;'), []);
});

t.test('parse errors never throw', async (t) => {
  const a = new Analyzer(opts);
  for (const sql of ['SELEC * FROM volumes', "SELECT 'unterminated", 'SELECT * FROM', 'UPDATE SET x = 1', ')))']) {
    const [i] = a.analyze(sql);
    t.equal(i!.kind, K.Other, sql);
    t.type(i!.parseError, 'string', sql);
    t.equal(i!.accountKey, null);
    t.equal(i!.cacheable, false);
  }
  const twice = a.analyze('SELEC 1');
  t.type(twice[0]!.parseError, 'string', 'a cached parse error is still reported');
});

t.test('shape cache: a same-shape statement is not parsed again, only re-bound', async (t) => {
  const a = new Analyzer(opts);
  const first = a.analyze("/* account='a1',action='DescribeVolumes' */ SELECT * FROM volumes WHERE account_id = 'a1' AND size_gib > 10");
  t.equal(a.stats.parses, 1);
  const second = a.analyze("SELECT  *  FROM volumes\n WHERE account_id = 'acct-2' AND size_gib > 500 -- again");
  t.equal(a.stats.parses, 1, 'no parse on the second, same-shape statement');
  t.equal(a.stats.hits, 1);
  t.equal(first[0]!.shape, second[0]!.shape);
  t.same(first[0]!.accountKey, { kind: 'literal', value: 'a1' });
  t.same(second[0]!.accountKey, { kind: 'literal', value: 'acct-2' });
  t.same(second[0]!.tags, {});
  a.analyze("INSERT INTO write_log (account_id, seq, action) VALUES ('a', 1, 'x'), ('a', 2, 'y')");
  const mixed = a.analyze("INSERT INTO write_log (account_id, seq, action) VALUES ('a', 1, 'x'), ('b', 2, 'y')");
  t.equal(a.stats.parses, 2);
  t.equal(mixed[0]!.multipleKeys, true, 'multipleKeys is decided per statement from the bound literals');
  a.analyze("SET LOCAL prescient.account = 'x'");
  const s = a.analyze("SET LOCAL prescient.account = 'y'");
  t.equal(a.stats.parses, 3);
  t.equal(s[0]!.setting?.value, 'y');
  a.analyze('SELECT abalance FROM pgbench_accounts WHERE aid = -5');
  t.same(a.analyze('SELECT abalance FROM pgbench_accounts WHERE aid = -77')[0]!.accountKey, { kind: 'literal', value: '-77' });
  t.equal(a.stats.parses, 4);
});

t.test('the cache is bounded', async (t) => {
  const a = new Analyzer({ ...opts, maxShapes: 50 });
  for (let k = 0; k < 200; k++) a.analyze(`SELECT c${k} FROM volumes WHERE account_id = $1`);
  t.equal(a.size, 50);
  a.analyze('SELECT c199 FROM volumes WHERE account_id = $1');
  t.equal(a.stats.parses, 200, 'a recent shape is still cached');
  a.analyze('SELECT c0 FROM volumes WHERE account_id = $1');
  t.equal(a.stats.parses, 201, 'the oldest was evicted');
});
