// Tests for proxy/analyzer/Shape.ts: literals of every kind become $L placeholders (decoded values returned), comments and
// whitespace fold, sqlcommenter tags are parsed, different literals give one shape, and statements split at top-level `;`.
import t from 'tap';
import { parseTags, scanStatements, shapeOf, splitStatements } from '../../proxy/analyzer/Shape.js';

t.test('literals of every kind', async (t) => {
  const cases: [string, string, string[]][] = [
    ['SELECT 1', 'SELECT $L1', ['1']],
    ['SELECT 1.5, .5, 1e10, 1.5E-3, 0x1F, 1_000', 'SELECT $L1, $L2, $L3, $L4, $L5, $L6', ['1.5', '.5', '1e10', '1.5E-3', '0x1F', '1_000']],
    ["SELECT 'abc'", 'SELECT $L1', ['abc']],
    ["SELECT 'it''s'", 'SELECT $L1', ["it's"]],
    ["SELECT ''", 'SELECT $L1', ['']],
    ["SELECT E'a\\nb\\'c'", 'SELECT $L1', ["a\nb'c"]],
    ["SELECT e'x\\\\y'", 'SELECT $L1', ['x\\y']],
    ["SELECT B'101', X'1F', N'nat'", 'SELECT $L1, $L2, $L3', ['101', '1F', 'nat']],
    ["SELECT U&'d\\0061t'", 'SELECT $L1', ['d\\0061t']],
    ['SELECT $$a;b$$', 'SELECT $L1', ['a;b']],
    ["SELECT $fn$ it's $$ nested $fn$", 'SELECT $L1', [" it's $$ nested "]],
    ["SELECT 'x'::uuid, '{}'::jsonb", 'SELECT $L1::uuid, $L2::jsonb', ['x', '{}']],
    ["SELECT interval '1 day', date '2024-01-01'", 'SELECT interval $L1, date $L2', ['1 day', '2024-01-01']],
    ['SELECT * FROM t WHERE a = $1 AND b = 5', 'SELECT * FROM t WHERE a = $L1 AND b = $L2'.replace('$L1', '$1').replace('$L2', '$L1'), ['5']],
    ['SELECT t1.c2, a$b FROM t1', 'SELECT t1.c2, a$b FROM t1', []],
    ['SELECT "Weird ""Name""", "x1" FROM "T"', 'SELECT "Weird ""Name""", "x1" FROM "T"', []],
    ["SELECT 'é' || 'ü'", 'SELECT $L1 || $L2', ['é', 'ü']],
    ['SELECT a-1, a - -2', 'SELECT a-$L1, a - -$L2', ['1', '2']],
    ["SELECT tags->>'env', arr[1:2] FROM t", 'SELECT tags->>$L1, arr[$L2:$L3] FROM t', ['env', '1', '2']],
  ];
  for (const [sql, shape, literals] of cases) {
    const s = shapeOf(sql);
    t.equal(s.shape, shape, `shape of ${sql}`);
    t.same(s.literals, literals, `literals of ${sql}`);
  }
});

t.test('whitespace and comments fold; quoted identifiers stay exact', async (t) => {
  t.equal(shapeOf('  SELECT\n\t*   FROM  t  ').shape, 'SELECT * FROM t');
  t.equal(shapeOf('SELECT /* c */ * FROM t -- trailing').shape, 'SELECT * FROM t');
  t.equal(shapeOf('SELECT a /* x */ /* y */ , b').shape, 'SELECT a , b');
  t.equal(shapeOf('SELECT/**/1').shape, 'SELECT $L1');
  t.equal(shapeOf('/* outer /* nested */ still */ SELECT 1').shape, 'SELECT $L1');
  t.equal(shapeOf('-- only a comment\nSELECT 1 -- and more\n').shape, 'SELECT $L1');
  t.equal(shapeOf('SELECT "a  b", \'a  b\'').shape, 'SELECT "a  b", $L1');
  t.equal(shapeOf('select * from T').shape, 'select * from T', 'keyword case preserved');
  t.equal(shapeOf('a /* c */b, c/* d */ d').shape, 'a b, c d');
  t.equal(shapeOf('SELECT\t1 ,\n2').shape, 'SELECT $L1 , $L2');
  t.same(splitStatements(' ; SELECT 1 ;  SELECT  2 '), ['SELECT 1', 'SELECT  2']);
  t.same(scanStatements(' ; SELECT 1 ;  SELECT  2 ').map((s) => s.shape), ['SELECT $L1', 'SELECT $L1']);
  t.equal(shapeOf('SELECT x$1, $1, a1b2, "q"1').shape, 'SELECT x$1, $1, a1b2, "q"$L1');
  t.equal(shapeOf('').shape, '');
  t.equal(shapeOf('  -- nothing\n').shape, '');
});

t.test('same shape for different literals; $n stays distinct from literals', async (t) => {
  const a = shapeOf("/* account='a1' */ UPDATE volumes SET size_gib = 10 WHERE account_id = 'a1' AND id = 'vol-1'");
  const b = shapeOf("UPDATE volumes   SET size_gib = 200\nWHERE account_id = 'acct-99' AND id = 'vol-xyz'");
  t.equal(a.shape, b.shape);
  t.same(b.literals, ['200', 'acct-99', 'vol-xyz']);
  t.not(shapeOf('SELECT * FROM t WHERE a = $1').shape, shapeOf('SELECT * FROM t WHERE a = 1').shape);
  t.equal(shapeOf('SELECT * FROM t WHERE a = 1').shape, 'SELECT * FROM t WHERE a = $L1');
});

t.test('sqlcommenter tags', async (t) => {
  t.same(shapeOf("/* account='acct-1',action='CreateVolume' */ SELECT 1").tags, { account: 'acct-1', action: 'CreateVolume' });
  t.same(shapeOf("SELECT 1 /*action='Describe%20Volumes',route='%2Fapi%2Fv1'*/").tags, { action: 'Describe Volumes', route: '/api/v1' });
  t.same(shapeOf("/* account='a' */ SELECT 1 /* action='b' */").tags, { account: 'a', action: 'b' });
  t.same(shapeOf("/* key='it\\'s' */ SELECT 1").tags, { key: "it's" });
  t.same(shapeOf('/* just a comment */ SELECT 1').tags, {});
  t.same(shapeOf("/* a='1' trailing junk */ SELECT 1").tags, {});
  t.same(shapeOf("SELECT 1 -- account='x'").tags, {}, 'only /* */ comments carry tags');
  t.equal(parseTags("a='1', b='2'")?.b, '2');
  t.equal(parseTags('no tags'), null);
  t.ok(Object.isFrozen(shapeOf("/* a='1' */ SELECT 1").tags));
});

t.test('statement splitting', async (t) => {
  t.same(splitStatements('BEGIN; SELECT 1; COMMIT'), ['BEGIN', 'SELECT 1', 'COMMIT']);
  t.same(splitStatements("SELECT ';'; SELECT \";\" FROM t; SELECT $$;$$; SELECT $q$ ; $q$"), ["SELECT ';'", 'SELECT ";" FROM t', 'SELECT $$;$$', 'SELECT $q$ ; $q$']);
  t.same(splitStatements('SELECT 1 /* ; */; -- ;\nSELECT 2;;  ;'), ['SELECT 1 /* ; */', '-- ;\nSELECT 2']);
  t.same(splitStatements(''), []);
  t.same(splitStatements("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2; $$ LANGUAGE sql; SELECT f()"), ['CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2; $$ LANGUAGE sql', 'SELECT f()']);
  const s = scanStatements("/* account='a' */ BEGIN; /* account='b' */ UPDATE t SET x = 1 WHERE account_id = 'b'; COMMIT");
  t.same(s.map((x) => x.shape), ['BEGIN', 'UPDATE t SET x = $L1 WHERE account_id = $L2', 'COMMIT']);
  t.same(s.map((x) => x.tags), [{ account: 'a' }, { account: 'b' }, {}]);
  t.same(s[1]!.literals, ['1', 'b']);
  const sql = "SELECT 'x'; SELECT 'y'";
  t.same(s[1]!.literalStarts.length, 2);
  t.same(scanStatements(sql).map((x) => x.literalStarts.map((p) => sql[p])), [["'"], ["'"]]);
  t.equal(shapeOf('SELECT 1; SELECT 2').shape, 'SELECT $L1; SELECT $L2', 'shapeOf does not split');
});

t.test('unterminated input never throws', async (t) => {
  for (const sql of ["SELECT 'abc", 'SELECT "abc', 'SELECT $$abc', 'SELECT /* abc', "SELECT E'abc\\", 'SELECT $', 'SELECT $a', 'x$$']) {
    t.doesNotThrow(() => scanStatements(sql), sql);
  }
  t.same(shapeOf("SELECT 'abc").literals, ['abc']);
});
