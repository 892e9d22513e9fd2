// ShardRing owns consistent hashing of placement keys over the active shards: rendezvous (highest-random-weight) hashing.
//
// Each shard is identified by its stable name; its seed is a 32-bit hash of the name. A key is hashed once
// (FNV-1a + murmur3 finalizer), and its owner is the shard whose score mix(keyHash ^ seed) is highest. Adding a shard moves only the keys the new shard now wins; removing one moves only its own keys.

/** 32-bit FNV-1a-style hash of a string with a murmur3 finalizer; `seed` selects an independent lane. */
export function hashString32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return fmix32(h ^ s.length);
}

/** murmur3 32-bit finalizer (a bijection with full avalanche). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** fmix32 returning a signed 32-bit int (stays a V8 small integer). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const LANE_A = 0x9e3779b9 | 0;

/** An immutable set of shards (by stable name) that maps a key to one of them. */
export class ShardRing<T = string> {
  readonly size: number;
  private readonly seedsA: Int32Array;
  private readonly members: readonly T[];
  private readonly names: readonly string[];

  /** `names[i]` is the stable identity of `members[i]` (defaults to the name itself). */
  constructor(names: readonly string[], members?: readonly T[]) {
    if (members !== undefined && members.length !== names.length) {
      throw new RangeError('ShardRing: names and members differ in length');
    }
    if (new Set(names).size !== names.length) throw new RangeError('ShardRing: duplicate shard name');
    this.names = [...names];
    this.members = members ? [...members] : (names as unknown as T[]);
    this.size = names.length;
    this.seedsA = new Int32Array(names.length);
    names.forEach((n, i) => {
      this.seedsA[i] = hashString32(n, 0x51ed270b);
    });
  }

  /** Index (into the constructor's arrays) of the owner of `key`, or -1 when the ring is empty. */
  indexOf(key: string): number {
    const n = this.size;
    if (n <= 1) return n - 1;
    // FNV-1a over the key, then mixed (all arithmetic stays in signed 32-bit ints: no heap numbers)
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    const ka = mix(h ^ LANE_A ^ key.length);
    const sa = this.seedsA;
    let best = 0;
    let bestScore = mix(ka ^ sa[0]);
    for (let i = 1; i < n; i++) {
      // murmur3 finalizer of (key hash ^ shard seed): a bijection, so distinct seeds never tie for one key
      const score = mix(ka ^ sa[i]);
      if (score > bestScore || (score === bestScore && this.names[i] < this.names[best])) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }

  /** The owner of `key`, or undefined when the ring is empty. */
  lookup(key: string): T | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.members[i];
  }

  /** The stable name of the owner of `key`, or undefined when the ring is empty. */
  ownerName(key: string): string | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.names[i];
  }
}
