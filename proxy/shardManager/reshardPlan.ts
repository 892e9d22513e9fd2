// reshardPlan owns deciding which placement keys move when the ring of active shards changes (a shard added or drained): pure, from where each key is now and the shards of the ring after.
import { ShardRing } from '../catalog/ShardRing.js';

/** A placement key found on a shard, with where the catalog places it now. */
export interface PlacedKey {
  account: string;
  domain: string;
  /** `${account}_${domain}` */
  key: string;
  /** the shard the catalog places it on (and its rows are on) */
  shard: string;
  /** true when an explicit placement row decides it, false when hashing does */
  explicit: boolean;
}

/** One key to move: pinned to `from` first when hashing placed it (else the new ring would re-route it before its rows moved). */
export interface KeyMove extends PlacedKey {
  from: string;
  to: string;
  pin: boolean;
}

/**
 * The keys that move when the ring becomes `after` (the active shards' names once the change is made):
 * - a hashed key whose rendezvous owner over `after` differs from its shard now (ADD SHARD: exactly the keys the
 *   new shard wins; DRAIN SHARD: exactly the drained shard's keys);
 * - any key, explicit too, on a shard that is not in `after` (the drained shard);
 * an explicit key on a shard that stays is left alone. Each goes to its owner over `after`.
 */
export function reshardPlan(keys: readonly PlacedKey[], after: readonly string[]): KeyMove[] {
  const ring = new ShardRing([...after]);
  const staying = new Set(after);
  const moves: KeyMove[] = [];
  for (const k of keys) {
    const leaving = !staying.has(k.shard);
    if (k.explicit && !leaving) continue;
    const to = ring.ownerName(k.key);
    if (to === undefined || to === k.shard) continue;
    moves.push({ ...k, from: k.shard, to, pin: !k.explicit });
  }
  return moves;
}
