// Owns: ChangeCapture's catch-up rounds on a large key — a round brings exactly the changed rows over and finds them through the primary key's index (not a scan of the key's every row: bench:migration found the pause growing with the tenant's size), the whole copy checked at a round's snapshot and then only the final round's rows, and the target's sequence past the moved ids, read from the key's rows.
import t from 'tap';
import type pg from 'pg';
import { requirePostgres, directQuery, withClusters, type Cluster } from '../helpers/pg.js';
import { ChangeCapture } from '../../proxy/shardManager/ChangeCapture.js';
import { connectShard, fingerprint, keyIn, tableShape } from '../../proxy/shardManager/shardSql.js';

requirePostgres(t);

const ROWS = 50_000;
const [a, b] = await withClusters(t, 2);
const TABLE = 'create table volumes (account_id text not null, id serial, size int not null, primary key (account_id, id))';
await directQuery(a!, `${TABLE}; insert into volumes (account_id, size) select 'big', g from generate_series(1, ${ROWS}) g;
  insert into volumes (account_id, size) select 'other-' || (g % 50), g from generate_series(1, 5000) g; analyze volumes`);
// the target has other tenants with ids of its own
await directQuery(b!, `${TABLE}; insert into volumes (account_id, size) select 'other-' || (g % 50), g from generate_series(1, 5000) g; analyze volumes`);
const shard = (c: Cluster, name: string) => ({ name, host: c.host, port: c.port, database: 'app', user: c.user, password: c.password });
const src: pg.Client = await connectShard(shard(a!, 's0') as never);
const dst: pg.Client = await connectShard(shard(b!, 's1') as never);
t.teardown(async () => {
  await src.end().catch(() => {});
  await dst.end().catch(() => {});
});

t.test('a catch-up round: the changed rows exactly, found by the primary key', async (t) => {
  const shape = await tableShape(src, 'volumes');
  t.same(shape.key, ['account_id', 'id']);
  const keys = `array['{"account_id": "big", "id": 7}', '{"account_id": "big", "id": 9}']`;
  const plan = async (c: pg.Client): Promise<string> =>
    (await c.query(`explain delete from volumes t where ${keyIn('volumes', shape, 'account_id', 'big', keys)}`)).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
  const onSource = await plan(src);
  t.match(onSource, /Tid Scan on volumes t/, `the rows by their ctids:\n${onSource}`);
  t.match(onSource, /Index Scan using volumes_pkey on volumes r/, 'each key by the primary key');
  t.notMatch(onSource, /Seq Scan on volumes|Bitmap Heap Scan on volumes|Index Scan using volumes_pkey on volumes t/, "no scan of the key's rows");

  await ChangeCapture.prepare(src);
  const capture = new ChangeCapture(src, dst, 1, 'big', [{ table: 'volumes', column: 'account_id', shape }]);
  await capture.install(performance.now() + 10_000, () => false);
  await dst.query('begin');
  const copied = await capture.round(null);
  t.equal(copied.rows, ROWS, 'the snapshot copy: every row of the key');
  // the target's statistics know only the other tenants: the plan must not depend on them
  const onTarget = await plan(dst);
  t.match(onTarget, /Tid Scan on volumes t/, `on the target too, inside its transaction:\n${onTarget}`);
  t.notMatch(onTarget, /Seq Scan on volumes|Index Scan using volumes_pkey on volumes t/, "no scan of the key's copied rows");
  await directQuery(a!, `update volumes set size = -size where account_id = 'big' and id in (3, 30000, 49999);
    delete from volumes where account_id = 'big' and id in (5, 40000);
    insert into volumes (account_id, size) select 'big', -g from generate_series(1, 3) g;
    update volumes set size = 0 where account_id = 'other-1'`);
  const t0 = performance.now();
  const r = await capture.round(copied.next);
  const ms = performance.now() - t0;
  t.equal(r.changed, 8, 'the round found the 8 changed rows of the key (3 updated, 2 deleted, 3 inserted), no other tenant’s');
  t.equal(r.rows, 6, 'and wrote the 6 that still exist');
  t.ok(ms < 1000, `the round took ${ms.toFixed(0)} ms`);
  // under the fence only the final round's rows are compared; before it, the whole copy at a round's snapshot
  t.equal(await capture.check(r.keys), undefined, "the final round's rows agree");
  await dst.query(`update volumes set size = 12345 where account_id = 'big' and id = 3`);
  t.match(await capture.check(r.keys), { table: 'volumes', source: { rows: 6 }, target: { rows: 6 } }, 'a changed row that differs on the target is caught');
  await dst.query(`update volumes set size = -3 where account_id = 'big' and id = 3`);
  const whole = await capture.round(r.next, true);
  t.equal(whole.mismatch, undefined, 'the whole copy agrees at the round’s snapshot');
  await dst.query(`update volumes set size = 12345 where account_id = 'big' and id = 100`);
  t.match((await capture.round(whole.next, true)).mismatch, { table: 'volumes' }, 'a row the capture never logged that differs: caught by the whole check');
  await dst.query(`update volumes set size = 100 where account_id = 'big' and id = 100`);
  await capture.advanceSequences();
  t.same(await fingerprint(dst, 'volumes', 'account_id', 'big'), await fingerprint(src, 'volumes', 'account_id', 'big'), 'target = source for the key');
  await dst.query('commit');
  await ChangeCapture.remove(src, 1);
  const next = await directQuery<{ id: number }>(b!, `insert into volumes (account_id, size) values ('new', 1) returning id`);
  t.ok(next.rows[0]!.id > ROWS + 3, `the target's next id (${next.rows[0]!.id}) is past the moved ones`);
});
