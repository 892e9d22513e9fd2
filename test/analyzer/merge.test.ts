// Tests for the analyzer's merge spec (StatementInfo.merge): a table of SELECTs → ORDER BY keys, LIMIT, unmergeable reason; per-statement binding of LIMIT / ORDER BY position literals sharing one shape; frozen shared specs.
import t from 'tap';
import { Analyzer, shardText, type MergeAggregate, type MergeSortKey, type MergeSpec } from '../../proxy/analyzer/Analyzer.js';

await Analyzer.init();

const opts = { accountColumn: 'account_id' };

/** a sort key: `col`, `col desc`, `#2`, `#2 desc`, with ` nulls first` / ` nulls last` when not the default */
function key(s: string): MergeSortKey {
  const m = /^(#?)(\S+)( desc)?( nulls (first|last))?$/.exec(s)!;
  const desc = !!m[3];
  return { column: m[1] ? null : m[2]!, position: m[1] ? Number(m[2]) : null, desc, nullsFirst: m[5] ? m[5] === 'first' : desc };
}

interface Case { sql: string; orderBy?: string[]; limit?: MergeSpec['limit']; unmergeable?: string; aggregate?: MergeAggregate }

/** an aggregate spec: `g` a grouping column, `count`/`sum`/`min`/`max`, `avg` or `avg:name` (its count columns follow the output) */
function agg(cols: string[], grouped: boolean, rewriteLimit = false): MergeAggregate {
  let hidden = 0;
  const columns = cols.map((c) => {
    if (c === 'g') return { kind: 'group' as const };
    const [fn, name] = c.split(':') as ['count' | 'sum' | 'min' | 'max' | 'avg', string | undefined];
    if (fn === 'avg') return { kind: 'aggregate' as const, fn, name: name ?? 'avg', count: cols.length + hidden++ };
    return { kind: 'aggregate' as const, fn, name: null, count: null };
  });
  return { columns, hidden, grouped, rewrite: hidden > 0 || rewriteLimit };
}

const rows: Case[] = [
  // mergeable: plain columns, aliases, positions, quoted identifiers
  { sql: 'SELECT * FROM volumes' },
  { sql: 'SELECT * FROM volumes WHERE state = $1 ORDER BY id LIMIT 100', orderBy: ['id'], limit: { value: 100 } },
  { sql: 'SELECT id, created_at FROM volumes ORDER BY created_at DESC, id', orderBy: ['created_at desc', 'id'] },
  { sql: 'SELECT v.id, v.state FROM volumes v ORDER BY v.state, v.id DESC NULLS LAST', orderBy: ['state', 'id desc nulls last'] },
  { sql: 'SELECT id AS volume, size_gib AS size FROM volumes ORDER BY size DESC', orderBy: ['size desc'] },
  { sql: 'SELECT id, size_gib AS size FROM volumes ORDER BY size_gib', orderBy: ['size'] },
  { sql: 'SELECT id, name FROM volumes ORDER BY 2 DESC NULLS LAST', orderBy: ['#2 desc nulls last'] },
  { sql: 'SELECT id, name FROM volumes ORDER BY 1 ASC NULLS FIRST, 2', orderBy: ['#1 nulls first', '#2'] },
  { sql: 'SELECT "Id", "displayName" FROM "Volumes" ORDER BY "displayName" DESC', orderBy: ['displayName desc'] },
  { sql: 'SELECT * FROM volumes ORDER BY volumes.id', orderBy: ['id'] },
  { sql: 'SELECT name::text FROM volumes ORDER BY name', orderBy: ['name'] },
  // LIMIT forms
  { sql: 'SELECT * FROM volumes ORDER BY id LIMIT $1', orderBy: ['id'], limit: { param: 1 } },
  { sql: 'SELECT * FROM volumes WHERE state = $1 LIMIT $2::int', limit: { param: 2 } },
  { sql: 'SELECT * FROM volumes ORDER BY id LIMIT ALL', orderBy: ['id'] },
  { sql: 'SELECT * FROM volumes LIMIT NULL' },
  { sql: 'SELECT * FROM volumes ORDER BY id FETCH FIRST 10 ROWS ONLY', orderBy: ['id'], limit: { value: 10 } },
  { sql: 'SELECT * FROM volumes FETCH FIRST ROW ONLY', limit: { value: 1 } },
  { sql: 'SELECT * FROM volumes LIMIT 2.5', limit: { value: 3 } },
  // anything goes below the top level
  { sql: 'WITH c AS (SELECT state, count(*) AS n FROM volumes GROUP BY state) SELECT * FROM c ORDER BY n DESC LIMIT 3', orderBy: ['n desc'], limit: { value: 3 } },
  { sql: 'SELECT * FROM (SELECT DISTINCT state FROM volumes) s ORDER BY state', orderBy: ['state'] },
  { sql: 'SELECT id, (SELECT count(*) FROM snapshots s WHERE s.volume_id = v.id) AS snaps FROM volumes v ORDER BY snaps DESC', orderBy: ['snaps desc'] },
  { sql: 'SELECT id FROM volumes WHERE size_gib > (SELECT avg(size_gib) FROM volumes) ORDER BY id', orderBy: ['id'] },
  { sql: 'SELECT id FROM volumes WHERE id IN (SELECT volume_id FROM snapshots UNION SELECT volume_id FROM volume_attachments)' },
  { sql: 'SELECT lower(name) FROM volumes' },
  // unmergeable at the top level
  // aggregates: merged by group
  { sql: 'SELECT count(*) FROM volumes', aggregate: agg(['count'], false) },
  { sql: 'SELECT count(size_gib), sum(size_gib), min(name), max(created_at), avg(size_gib) FROM volumes WHERE state = $1', aggregate: agg(['count', 'sum', 'min', 'max', 'avg'], false) },
  { sql: 'SELECT avg(size_gib) AS mean, pg_catalog.avg(x) FROM volumes', aggregate: agg(['avg:mean', 'avg'], false) },
  { sql: 'SELECT state, count(*) FILTER (WHERE size_gib > 1) FROM volumes GROUP BY state', aggregate: agg(['g', 'count'], true) },
  { sql: 'SELECT state AS s, count(*) FROM volumes GROUP BY s ORDER BY s', orderBy: ['s'], aggregate: agg(['g', 'count'], true) },
  { sql: 'SELECT lower(name), count(*) FROM volumes GROUP BY lower(name)', aggregate: agg(['g', 'count'], true) },
  { sql: 'SELECT state, count(*) AS n FROM volumes GROUP BY state ORDER BY count(*) DESC, state LIMIT 3', orderBy: ['#2 desc', 'state'], limit: { value: 3 }, aggregate: agg(['g', 'count'], true, true) },
  { sql: 'SELECT state, avg(size_gib) FROM volumes GROUP BY 1 ORDER BY avg(size_gib)', orderBy: ['#2'], aggregate: agg(['g', 'avg'], true) },
  { sql: 'SELECT count(*) FROM volumes LIMIT $1', limit: { param: 1 }, aggregate: agg(['count'], false) },
  // aggregates that cannot be merged exactly
  { sql: 'SELECT max(size_gib) + 1 FROM volumes WHERE state = $1', unmergeable: 'an expression over aggregate function max' },
  { sql: 'SELECT count(DISTINCT state) FROM volumes', unmergeable: 'aggregate function count(DISTINCT …)' },
  { sql: 'SELECT array_agg(id ORDER BY id) FROM volumes', unmergeable: 'aggregate function array_agg' },
  { sql: 'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY size_gib) FROM volumes', unmergeable: 'aggregate function percentile_cont' },
  { sql: 'SELECT count(*) FROM volumes GROUP BY state', unmergeable: 'GROUP BY an expression that is not in the select list' },
  { sql: 'SELECT state, count(*) FROM volumes GROUP BY ROLLUP (state)', unmergeable: 'GROUPING SETS, ROLLUP or CUBE' },
  { sql: 'SELECT state FROM volumes GROUP BY state ORDER BY count(*)', unmergeable: 'ORDER BY an aggregate that is not in the select list' },
  { sql: 'SELECT state, count(*) FROM volumes GROUP BY state LIMIT $1', unmergeable: 'LIMIT $n with GROUP BY' },
  { sql: 'SELECT state, count(*) FROM volumes GROUP BY state OFFSET 2', unmergeable: 'OFFSET' },
  { sql: 'SELECT *, count(*) FROM volumes GROUP BY id', unmergeable: 'SELECT * with an aggregate' },
  { sql: 'SELECT state, sum(count(*)) OVER () FROM volumes GROUP BY state', unmergeable: 'window function' },
  { sql: 'SELECT id FROM volumes ORDER BY count(*) OVER ()', unmergeable: 'window function' },
  { sql: 'SELECT id, row_number() OVER (ORDER BY created_at) FROM volumes', unmergeable: 'window function' },
  { sql: 'SELECT json_agg(v) FROM volumes v', unmergeable: 'aggregate function json_agg' },
  { sql: 'SELECT DISTINCT state FROM volumes', unmergeable: 'DISTINCT' },
  { sql: 'SELECT DISTINCT ON (state) state, id FROM volumes ORDER BY state, id', unmergeable: 'DISTINCT ON' },
  { sql: 'SELECT state FROM volumes GROUP BY state', aggregate: agg(['g'], true) },
  { sql: 'SELECT state, count(*) FROM volumes GROUP BY 1 ORDER BY 2 DESC', orderBy: ['#2 desc'], aggregate: agg(['g', 'count'], true) },
  { sql: 'SELECT 1 FROM volumes HAVING true', unmergeable: 'HAVING' },
  { sql: 'SELECT id FROM volumes UNION SELECT id FROM snapshots', unmergeable: 'UNION/INTERSECT/EXCEPT' },
  { sql: 'SELECT id FROM volumes UNION ALL SELECT id FROM snapshots ORDER BY 1 LIMIT 5', unmergeable: 'UNION/INTERSECT/EXCEPT' },
  { sql: 'SELECT id FROM volumes EXCEPT SELECT volume_id FROM snapshots', unmergeable: 'UNION/INTERSECT/EXCEPT' },
  { sql: 'SELECT * FROM volumes ORDER BY id LIMIT 10 OFFSET 20', unmergeable: 'OFFSET' },
  { sql: 'SELECT * FROM volumes ORDER BY id OFFSET $1', unmergeable: 'OFFSET' },
  { sql: 'SELECT * FROM volumes ORDER BY lower(name)', unmergeable: 'ORDER BY expression' },
  { sql: 'SELECT * FROM volumes ORDER BY size_gib * 2', unmergeable: 'ORDER BY expression' },
  { sql: 'SELECT * FROM volumes ORDER BY $1', unmergeable: 'ORDER BY expression' },
  { sql: 'SELECT * FROM volumes ORDER BY name COLLATE "C"', unmergeable: 'ORDER BY with COLLATE or USING' },
  { sql: 'SELECT * FROM volumes ORDER BY size_gib USING >', unmergeable: 'ORDER BY with COLLATE or USING' },
  { sql: 'SELECT * FROM volumes LIMIT (SELECT 5)', unmergeable: 'FETCH/LIMIT expression' },
  { sql: 'SELECT * FROM volumes LIMIT $1 + 1', unmergeable: 'FETCH/LIMIT expression' },
  { sql: 'SELECT * FROM volumes ORDER BY id FETCH FIRST 5 ROWS WITH TIES', unmergeable: 'FETCH … WITH TIES' },
  // an ORDER BY column the merge could confuse with another one of the same name
  { sql: 'SELECT v.id, s.id FROM volumes v JOIN snapshots s ON s.volume_id = v.id ORDER BY s.id', unmergeable: 'ORDER BY s.id is ambiguous in the select list' },
  { sql: 'SELECT * FROM volumes v JOIN snapshots s ON s.volume_id = v.id ORDER BY s.id', unmergeable: 'ORDER BY s.id is ambiguous in the select list' },
  { sql: 'SELECT name AS id FROM volumes ORDER BY volumes.id', unmergeable: 'ORDER BY volumes.id is ambiguous in the select list' },
];

const analyzer = new Analyzer(opts);

t.test(`${rows.length} statements → merge spec`, async (t) => {
  t.ok(rows.length >= 25);
  for (const c of rows) {
    const [i] = analyzer.analyze(c.sql);
    t.equal(i!.parseError, undefined, `parses: ${c.sql}`);
    const want: MergeSpec = { orderBy: (c.orderBy ?? []).map(key), limit: c.limit ?? null, unmergeable: c.unmergeable ?? null };
    if (c.aggregate) want.aggregate = c.aggregate;
    t.strictSame(i!.merge, want, c.sql);
  }
});

t.test('literals of one shape are bound per statement', async (t) => {
  const a = new Analyzer(opts);
  const got = (sql: string): MergeSpec => a.analyze(sql)[0]!.merge!;
  t.strictSame(got('SELECT * FROM volumes ORDER BY id LIMIT 5').limit, { value: 5 });
  t.strictSame(got('SELECT * FROM volumes ORDER BY id LIMIT 7').limit, { value: 7 });
  t.strictSame(got('SELECT * FROM volumes ORDER BY id LIMIT 5').limit, { value: 5 });
  t.strictSame(got('SELECT id, name FROM volumes ORDER BY 2 DESC LIMIT 3').orderBy, [key('#2 desc')]);
  t.strictSame(got('SELECT id, name FROM volumes ORDER BY 1 DESC LIMIT 3').orderBy, [key('#1 desc')]);
  t.strictSame(got('SELECT * FROM volumes FETCH FIRST 4 ROWS ONLY').limit, { value: 4 });
  t.strictSame(got('SELECT * FROM volumes FETCH FIRST 9 ROWS ONLY').limit, { value: 9 });
  // same shape, a value Postgres refuses: reported per statement, the shape's other statements unaffected
  t.equal(got("SELECT id, name FROM volumes ORDER BY 'x' DESC LIMIT 3").unmergeable, 'ORDER BY expression');
  t.equal(got('SELECT id, name FROM volumes ORDER BY 0 DESC LIMIT 3').unmergeable, 'ORDER BY expression');
  t.equal(got("SELECT * FROM volumes ORDER BY id LIMIT 'many'").unmergeable, 'FETCH/LIMIT expression');
  t.strictSame(got('SELECT id, name FROM volumes ORDER BY 2 DESC LIMIT 3').orderBy, [key('#2 desc')]);
  t.equal(a.stats.parses, 3, 'three shapes parsed once each');
});

t.test('specs are frozen; a shape without literals in its spec shares one object', async (t) => {
  const a = new Analyzer(opts);
  const s1 = a.analyze("SELECT * FROM volumes WHERE state = 'x' ORDER BY id")[0]!.merge!;
  const s2 = a.analyze("SELECT * FROM volumes WHERE state = 'y' ORDER BY id")[0]!.merge!;
  t.equal(s1, s2, 'shared');
  t.ok(Object.isFrozen(s1) && Object.isFrozen(s1.orderBy) && Object.isFrozen(s1.orderBy[0]));
  const l1 = a.analyze('SELECT * FROM volumes ORDER BY id LIMIT 100')[0]!.merge!;
  const l2 = a.analyze('SELECT * FROM volumes ORDER BY id LIMIT 100')[0]!.merge!;
  t.equal(l1, l2, 'the same LIMIT value again reuses the last binding');
  t.ok(Object.isFrozen(l1) && Object.isFrozen(l1.limit));
  const u1 = a.analyze('SELECT count(*) FROM volumes WHERE size_gib > 10')[0]!.merge!;
  const u2 = a.analyze('SELECT count(*) FROM volumes WHERE size_gib > 20')[0]!.merge!;
  t.equal(u1, u2, 'unmergeable: shared');
});

t.test('merge is null for anything that is not a SELECT', async (t) => {
  const a = new Analyzer(opts);
  for (const sql of [
    "INSERT INTO volumes (id, account_id) VALUES ('v', 'a')",
    'UPDATE volumes SET state = $2 WHERE account_id = $1',
    'DELETE FROM volumes WHERE id = $1',
    'BEGIN',
    "SET prescient.account = 'a'",
    'SHOW search_path',
    'PREPARE q AS SELECT * FROM volumes ORDER BY id LIMIT 1',
    'EXPLAIN SELECT * FROM volumes ORDER BY id',
    'COPY (SELECT * FROM volumes ORDER BY id) TO STDOUT',
    'CREATE TABLE x (id int)',
    'SELEC broken',
  ]) t.equal(a.analyze(sql)[0]!.merge, null, sql);
});

t.test('shardText: avg becomes sum with count appended, a GROUP BY loses its LIMIT', async (t) => {
  const cases: [string, string][] = [
    ['select count(*) from volumes', 'select count(*) from volumes'],
    ['select avg(size_gib) from volumes', 'select sum(size_gib) AS avg, count(size_gib) AS __prescient_avg_count_1 from volumes'],
    [
      'select state, avg(size_gib * 2) filter (where x > 1) as m, count(*) from volumes where id > $1 group by 1 order by 2',
      'select state, sum(size_gib * 2) filter (where x > 1) as m, count(*), count(size_gib * 2) filter (where x > 1) AS __prescient_avg_count_1 from volumes where id > $1 group by 1 order by 2',
    ],
    ['SELECT state, count(*) FROM volumes GROUP BY state ORDER BY 2 DESC LIMIT 3', 'SELECT state, count(*) FROM volumes GROUP BY state ORDER BY 2 DESC  '],
    ['select state, count(*) from volumes group by state fetch first 2 rows only; select 1', 'select state, count(*) from volumes group by state  ; select 1'],
    ['select pg_catalog.avg("Größe"), avg(b) from "Bände"', 'select pg_catalog.sum("Größe") AS avg, sum(b) AS avg, count("Größe") AS __prescient_avg_count_1, count(b) AS __prescient_avg_count_2 from "Bände"'],
    ['select avg(x) as from from t limit 1', 'select sum(x) as from, count(x) AS __prescient_avg_count_1 from t limit 1'],
  ];
  for (const [sql, want] of cases) t.equal(shardText(sql), want, sql);
});
