// Owns: ActionLogStore — buffered lines reach disk at flush, segments roll at their size and the oldest go beyond the
// count kept, and reading back gives every kept event in time order.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActionLogStore } from '../../proxy/prediction/ActionLogStore.js';

const ev = (i: number) => ({ t: 1_700_000_000_000 + i, account: `acct-${i % 3}`, action: i % 2 ? 'DescribeVolumes' : 'CreateVolume', rows: i, ok: true });

t.test('nothing on disk until flushed; then every event, in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'actions-'));
  const store = new ActionLogStore({ dir, segmentBytes: 1 << 20, segments: 4, flushMs: 1000 });
  for (let i = 0; i < 10; i++) store.append(ev(i));
  t.same(await ActionLogStore.read(dir), [], 'buffered only');
  await store.flush();
  t.same(await ActionLogStore.read(dir), Array.from({ length: 10 }, (_, i) => ev(i)));
  t.same((await ActionLogStore.read(dir, ev(7).t)).map((e) => e.rows), [7, 8, 9], '--since');
  await store.close();
});

t.test('segments roll at their size; only the newest `segments` are kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'actions-'));
  const store = new ActionLogStore({ dir, segmentBytes: 4096, segments: 3, flushMs: 1000 });
  for (let i = 0; i < 400; i++) {
    store.append(ev(i));
    if (i % 20 === 19) {
      await store.flush();
      await new Promise((r) => setTimeout(r, 2)); // segment names carry the ms they began
    }
  }
  await store.close();
  const segments = await ActionLogStore.segments(dir);
  t.equal(segments.length, 3, 'three segments kept');
  const kept = await ActionLogStore.read(dir);
  t.ok(kept.length > 0 && kept.length < 400, `the oldest went (${kept.length} of 400 kept)`);
  t.same(kept.map((e) => e.rows), Array.from({ length: kept.length }, (_, i) => 400 - kept.length + i), 'the newest, contiguous, in order');
});
