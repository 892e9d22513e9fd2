// Owns: psql through Prescient — multi-statement queries, \copy in and out, errors in a transaction, a 1M-row SELECT.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirePostgres, withClusters, psql } from '../helpers/pg.js';
import { startProxy, APP_USER } from '../helpers/proxy.js';

requirePostgres(t);

t.test('psql through Prescient (transaction pooling)', async (t) => {
  const clusters = await withClusters(t, 1, { users: [] });
  const proxy = await startProxy(t, clusters, { pool: { mode: 'transaction', size: 4 } });
  const conn = { host: proxy.host, port: proxy.port, user: APP_USER.name, password: APP_USER.password, database: 'app' };
  const run = (args: string[], input?: string) => psql(args, { ...conn, input, timeoutMs: 180000 });

  await t.test('a multi-statement simple query returns every result', async (t) => {
    const r = await run(['-At', '-c', "select 1; select 'two'; select 3 as x, 4 as y"]);
    t.equal(r.code, 0, r.stderr);
    t.same(r.stdout.trim().split('\n'), ['1', 'two', '3|4']);
  });

  await t.test('\\copy 100k rows in and out', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'prescient-copy-'));
    const src = join(dir, 'in.csv');
    const out = join(dir, 'out.csv');
    const lines: string[] = [];
    for (let i = 1; i <= 100000; i++) lines.push(`${i},acct-${i % 977},"text, with comma ${i}",${i % 7 === 0 ? '' : i * 1.5}`);
    writeFileSync(src, lines.join('\n') + '\n');
    let r = await run(['-c', 'create table copy_t (id int primary key, account text, note text, amount numeric)']);
    t.equal(r.code, 0, r.stderr);
    r = await run(['-c', `\\copy copy_t from '${src}' with (format csv)`]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /COPY 100000/);
    r = await run(['-At', '-c', 'select count(*), sum(id), count(amount) from copy_t']);
    t.equal(r.stdout.trim(), `100000|5000050000|${100000 - Math.floor(100000 / 7)}`);
    r = await run(['-c', `\\copy (select * from copy_t order by id) to '${out}' with (format csv)`]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /COPY 100000/);
    const back = readFileSync(out, 'utf8').trim().split('\n');
    t.equal(back.length, 100000);
    t.equal(back[0], '1,acct-1,"text, with comma 1",1.5');
    t.equal(back[6], '7,acct-7,"text, with comma 7",');
    // a COPY that fails half way reports the error and leaves nothing behind
    writeFileSync(src, '1,a,b,1\nnot-a-number,a,b,2\n');
    r = await run(['-c', `\\copy copy_t from '${src}' with (format csv)`]);
    t.not(r.code, 0);
    t.match(r.stderr, /invalid input syntax for type integer|duplicate key/);
    r = await run(['-At', '-c', 'select count(*) from copy_t']);
    t.equal(r.stdout.trim(), '100000');
  });

  await t.test('an error mid-transaction, then ROLLBACK', async (t) => {
    await run(['-c', 'create table tx_t (id int primary key)']);
    const script = [
      'begin;',
      'insert into tx_t values (1);',
      'select 1/0;',
      'select 1;',
      'rollback;',
      'select count(*) as n from tx_t;',
    ].join('\n');
    const r = await psql(['-X', '-At', '-f', '-'], { ...conn, input: script, raw: true });
    t.match(r.stderr, /division by zero/);
    t.match(r.stderr, /current transaction is aborted, commands ignored until end of transaction block/);
    t.match(r.stdout, /ROLLBACK/);
    t.match(r.stdout.trim().split('\n').pop()!, /^0$/);
  });

  await t.test('a 1M-row SELECT arrives whole', async (t) => {
    const r = await run(['-At', '-c', "select g, md5(g::text) from generate_series(1, 1000000) g"]);
    t.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trimEnd().split('\n');
    t.equal(rows.length, 1000000);
    t.equal(rows[999999], '1000000|' + '8155bc545f84d9652f1012ef2bdfb6eb');
  });

  await t.test('psql variables, \\gset and session settings survive transaction pooling', async (t) => {
    const r = await psql(['-X', '-At', '-f', '-'], {
      ...conn,
      raw: true,
      env: { PGOPTIONS: '-c statement_timeout=4321', PGAPPNAME: 'psql-test', PGTZ: 'America/New_York' },
      input: "show statement_timeout;\nselect current_setting('application_name');\nshow timezone;\n",
    });
    t.equal(r.code, 0, r.stderr);
    t.same(r.stdout.trim().split('\n'), ['4321ms', 'psql-test', 'America/New_York']);
  });
});
