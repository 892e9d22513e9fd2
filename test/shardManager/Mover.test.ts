// Owns: Mover's refusals before any work — a move to a shard that is draining, inactive or unknown to the catalog is refused at once (no migration recorded, no connection made): found by soak:migration, where the planner chose a drained shard, copied the key there under the fence and failed only at the flip.
import t from 'tap';
import type { Config } from '../../config/schema.js';
import type { Catalog } from '../../proxy/catalog/Catalog.js';
import { Mover } from '../../proxy/shardManager/Mover.js';
import type { MoveFence } from '../../proxy/shardManager/MoveFence.js';

const STATUS: Record<string, string> = { s0: 'active', s1: 'active', s2: 'draining', s3: 'inactive' };

function mover(): { m: Mover; recorded: unknown[] } {
  const recorded: unknown[] = [];
  const config = {
    shards: ['s0', 's1', 's2', 's3', 's4'].map((name) => ({ name, host: '127.0.0.1', port: 1, database: 'app', user: 'mover', password: '' })),
    sharding: { account_column: 'account_id', tables: {}, domains: { volume: { tables: ['volumes'] } } },
    shard_manager: { capture_timeout_ms: 1000, catchup_rows: 100, cleanup_grace_ms: 0 },
  } as unknown as Config;
  const catalog = {
    snapshot: () => ({
      placementOf: () => ({ shard: { name: 's0' } }),
      shard: (name: string) => (STATUS[name] === undefined ? undefined : { name, status: STATUS[name] }),
    }),
    addMigration: async (m: unknown) => {
      recorded.push(m);
      throw new Error('a migration was recorded');
    },
  } as unknown as Catalog;
  return { m: new Mover({ config, catalog, fence: {} as MoveFence, invalidate: () => {} }), recorded };
}

t.test('a move to a shard that is not active is refused before any work', async (t) => {
  const { m, recorded } = mover();
  t.ok(m.accepts('s1'), 'an active shard takes moves');
  for (const [to, status] of [['s2', 'draining'], ['s3', 'inactive'], ['s4', 'unknown to the catalog']] as const) {
    t.notOk(m.accepts(to), `${to} (${status}) takes none`);
    await t.rejects(m.move('acct-1', 'volume', to, 1000), { code: 'MOVE_TARGET_NOT_ACTIVE', message: new RegExp(`shard "${to}" is not active \\(${status}\\)`) }, `MIGRATE … TO ${to} refused`);
  }
  t.same(recorded, [], 'no migration recorded, nothing started');
});
