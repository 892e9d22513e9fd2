// Resharder owns changing the set of shards while the proxy serves: ADD SHARD (pin the keys the new shard wins, make it active, move them to it) and DRAIN SHARD (pin its keys, take it out of the ring, move them to their owners, mark it inactive); RELOAD's and start-up's shard lists go through it too.
import pg from 'pg';
import type { Config, ShardConfig } from '../../config/schema.js';
import { ShardStatus, type Catalog, type ShardConfigEntry } from '../catalog/Catalog.js';
import { logger } from '../logger.js';
import { ProxyError, SqlState } from '../protocol/SqlState.js';
import { MoveState, type Migration } from './Mover.js';
import { reshardPlan, type KeyMove, type PlacedKey } from './reshardPlan.js';

export const ReshardKind = { Add: 'add', Drain: 'drain' } as const;
export type ReshardKind = (typeof ReshardKind)[keyof typeof ReshardKind];

export const ReshardState = { Pinning: 'pinning', Moving: 'moving', Done: 'done', Failed: 'failed' } as const;
export type ReshardState = (typeof ReshardState)[keyof typeof ReshardState];

/** One ADD SHARD or DRAIN SHARD (SHOW RESHARDS shows them). */
export interface Reshard {
  id: number;
  kind: ReshardKind;
  /** the shard added (several, comma-separated, when a RELOAD adds several) or drained */
  shard: string;
  state: ReshardState;
  /** keys to move */
  keys: number;
  moved: number;
  failed: number;
  startedAt: number;
  elapsedMs: number | null;
  error?: string;
  /** resolves once every move has finished (state done or failed) */
  finished: Promise<void>;
}

/** What resharding needs of the running proxy. */
export interface ResharderContext {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly mover: { move(account: string, domain: string, to: string, fenceTimeoutMs: number): Promise<Migration> };
}

/** tries per key before its move counts as failed (a fence timeout under load is worth another try) */
const MOVE_ATTEMPTS = 3;
const RETRY_DELAY_MS = 500;

const ident = (name: string): string => name.split('.').map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
const entryOf = (s: ShardConfig): ShardConfigEntry => ({ name: s.name, host: s.host, port: s.port, database: s.database });
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** ADD SHARD s3 / DRAIN SHARD s2 as one line: what it does and how far it got. */
export function describeReshard(op: Reshard): string {
  const what = `${op.kind} shard ${op.shard}`;
  if (op.state === ReshardState.Failed && op.keys === 0) return `${what} failed: ${op.error ?? 'unknown error'}`;
  return `${what}: ${op.keys} key(s) to move, ${op.moved} moved, ${op.failed} failed (${op.state}; SHOW RESHARDS)`;
}

export class Resharder {
  private nextId = 1;
  readonly operations: Reshard[] = [];
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly ctx: ResharderContext) {}

  /**
   * The catalog learns a shard list (RELOAD, start-up). A shard active or draining in the catalog but missing from the
   * list is refused (its keys would be stranded: DRAIN SHARD it first). With shards active already, a shard new to the
   * config (unknown to the catalog, or inactive there and not in `running`, the config in effect) is registered inactive
   * and returned: `addShards` brings it in with its keys once the config holding it is in effect. An inactive shard
   * that stays listed (drained, not yet removed from the config) stays inactive. A catalog with no active shard takes
   * the list as it is. At start-up `running` is the list itself: only shards unknown to the catalog are new.
   */
  static async syncShards(catalog: Catalog, shards: readonly ShardConfig[], running: readonly ShardConfig[] = shards): Promise<string[]> {
    const snap = catalog.snapshot();
    const listed = new Set(shards.map((s) => s.name));
    const dropped = snap.shards.filter((s) => s.status !== ShardStatus.Inactive && !listed.has(s.name));
    if (dropped.length > 0) {
      const names = dropped.map((s) => `"${s.name}" (${s.status})`).join(', ');
      throw new ProxyError(
        'SHARD_DROPPED_WITH_KEYS',
        `shard(s) ${names} missing from the config still hold keys in the catalog: DRAIN SHARD ${dropped[0]!.name} first (it ends inactive), then remove it from the config; nothing was changed`,
        SqlState.ObjectInUse,
      );
    }
    if (snap.activeShards === 0) {
      await catalog.syncShards(shards.map(entryOf));
      return [];
    }
    const inactive = shards.filter((s) => snap.shard(s.name)?.status === ShardStatus.Inactive);
    const added = shards.filter((s) => snap.shard(s.name) === undefined || (inactive.includes(s) && !running.some((r) => r.name === s.name)));
    const kept = inactive.filter((s) => !added.includes(s));
    for (const s of [...added, ...kept]) await catalog.registerShard(entryOf(s), ShardStatus.Inactive);
    for (const s of kept) logger.warn('a shard of the config is inactive in the catalog (drained): ADD SHARD brings it back; else remove it from the config', { shard: s.name });
    // the inactive ones are left out: syncShards would make them active (and leaves an inactive shard it is not given alone)
    await catalog.syncShards(shards.filter((s) => !added.includes(s) && !kept.includes(s)).map(entryOf));
    return added.map((s) => s.name);
  }

  /** RELOAD's shard list, `running` the config in effect: see the static syncShards. */
  syncShards(shards: readonly ShardConfig[], running: readonly ShardConfig[]): Promise<string[]> {
    return Resharder.syncShards(this.ctx.catalog, shards, running);
  }

  /**
   * ADD SHARD: `names` are in the config and inactive in the catalog. The keys on the active shards whose rendezvous
   * owner becomes one of them are pinned where they are, the new shards become active, and the pinned keys move to
   * them in the background (at most shard_manager.max_concurrent_moves at a time), each unpinned once moved.
   */
  async addShards(names: readonly string[]): Promise<Reshard> {
    const busy = this.busy();
    const op = this.begin(ReshardKind.Add, names.join(','));
    try {
      // the shard stays inactive (out of the ring, nothing routed to it): ADD SHARD again once the other is over
      if (busy) throw new ProxyError('RESHARD_RUNNING', `another ADD SHARD or DRAIN SHARD is under way (SHOW RESHARDS): ${names.join(', ')} stay(s) inactive; ADD SHARD again afterwards`, SqlState.ObjectInUse);
      const catalog = this.ctx.catalog;
      const active = catalog.snapshot().shards.filter((s) => s.status === ShardStatus.Active).map((s) => s.name);
      for (const n of [...active, ...names]) this.shardConfig(n);
      // reachable, with the domains' tables, and empty: else it stays out of the ring (rows there would show in fan-out reads)
      for (const n of names) {
        const there = [...(await this.accountsOn(n)).keys()];
        if (there.length > 0) throw new ProxyError('SHARD_NOT_EMPTY', `shard "${n}" already has rows of ${there.length} key(s) in the domains' tables (${there.slice(0, 5).join(', ')}): add an empty shard`, SqlState.ObjectInUse);
      }
      const keys: PlacedKey[] = [];
      for (const shard of active) keys.push(...(await this.keysOn(shard)).keys);
      const moves = reshardPlan(keys, [...active, ...names]);
      op.keys = moves.length;
      // pinned before the ring changes: until its rows have moved, a key is served where they are
      for (const m of moves) if (m.pin) await catalog.setPlacement(m.key, m.from, `reshard ${op.id}: add shard ${op.shard}, pinned until moved`);
      for (const n of names) await catalog.setShardStatus(n, ShardStatus.Active);
      logger.info('reshard: shard(s) added', { id: op.id, shards: names, keys: moves.length });
      // an account first written between the listing and the activation was not pinned: its rows stayed behind
      this.run(op, moves, async () => {
        const strays: string[] = [];
        for (const shard of active) strays.push(...(await this.keysOn(shard)).strays);
        if (strays.length > 0) op.error = `warning: rows of ${strays.length} key(s) are on a shard their placement does not name (${strays.slice(0, 5).join(', ')}${strays.length > 5 ? ', …' : ''})`;
      });
    } catch (e) {
      this.fail(op, e);
    }
    return op;
  }

  /**
   * DRAIN SHARD: every key placed on `name` (hashed ones pinned there first) moves to its rendezvous owner among the
   * other active shards once `name` is draining (out of the ring); when none is left, `name` becomes inactive.
   * Refused for the last active shard, the global shard and an inactive one. Run again, it resumes a failed drain.
   */
  async drain(name: string): Promise<Reshard> {
    const catalog = this.ctx.catalog;
    const snap = catalog.snapshot();
    const shard = snap.shard(name);
    if (shard === undefined) throw new ProxyError('UNKNOWN_SHARD', `unknown shard "${name}"`, SqlState.InvalidParameterValue);
    if (shard.status === ShardStatus.Inactive) throw new ProxyError('SHARD_INACTIVE', `shard "${name}" is inactive already: nothing to drain`, SqlState.InvalidParameterValue);
    if (name === this.ctx.config.sharding.global_shard) {
      throw new ProxyError('DRAIN_GLOBAL_SHARD', `shard "${name}" holds the global tables (sharding.global_shard): it cannot be drained`, SqlState.ObjectInUse);
    }
    const remaining = snap.shards.filter((s) => s.status === ShardStatus.Active && s.name !== name).map((s) => s.name);
    if (remaining.length === 0) throw new ProxyError('DRAIN_LAST_SHARD', `shard "${name}" is the last active shard: ADD SHARD another first`, SqlState.ObjectInUse);
    if (this.busy()) {
      throw new ProxyError('RESHARD_RUNNING', 'another ADD SHARD or DRAIN SHARD is under way (SHOW RESHARDS)', SqlState.ObjectInUse);
    }
    for (const n of [name, ...remaining]) this.shardConfig(n);
    const op = this.begin(ReshardKind.Drain, name);
    try {
      const { keys } = await this.keysOn(name);
      // explicit placements on the shard with no rows there move too (nothing to copy)
      const seen = new Set(keys.map((k) => k.key));
      for (const [key, p] of snap.explicitPlacements()) {
        if (p.shardId !== shard.id || seen.has(key)) continue;
        const domain = this.domainOf(key);
        if (domain === undefined) throw new ProxyError('UNKNOWN_KEY_DOMAIN', `key ${key} is placed on "${name}" but ends in no configured domain: place it elsewhere first`, SqlState.ObjectInUse);
        keys.push({ account: key.slice(0, key.length - domain.length - 1), domain, key, shard: name, explicit: true });
      }
      const moves = reshardPlan(keys, remaining);
      op.keys = moves.length;
      for (const m of moves) if (m.pin) await catalog.setPlacement(m.key, name, `reshard ${op.id}: drain shard ${name}, pinned until moved`);
      await catalog.setShardStatus(name, ShardStatus.Draining);
      logger.info('reshard: draining', { id: op.id, shard: name, keys: moves.length });
      this.run(op, moves, () => this.finishDrain(op, name));
    } catch (e) {
      this.fail(op, e);
    }
    return op;
  }

  /** After the moves of a drain: inactive when no key is placed on the shard and no rows are left there. */
  private async finishDrain(op: Reshard, name: string): Promise<void> {
    if (op.failed > 0) throw new Error(`${op.failed} key(s) could not be moved: "${name}" stays draining (DRAIN SHARD ${name} again to retry)`);
    const snap = this.ctx.catalog.snapshot();
    const id = snap.shard(name)?.id;
    const placed = snap.explicitPlacements().filter(([, p]) => p.shardId === id).map(([k]) => k);
    const left = [...placed, ...(await this.accountsOn(name)).keys()];
    if (left.length > 0) {
      throw new Error(`rows or placements of ${left.length} key(s) are still on "${name}" (${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''}): it stays draining`);
    }
    await this.ctx.catalog.setShardStatus(name, ShardStatus.Inactive);
    logger.info('reshard: shard drained, now inactive', { id: op.id, shard: name });
  }

  private busy(): boolean {
    return this.operations.some((o) => o.state === ReshardState.Pinning || o.state === ReshardState.Moving);
  }

  private begin(kind: ReshardKind, shard: string): Reshard {
    const op: Reshard = { id: this.nextId++, kind, shard, state: ReshardState.Pinning, keys: 0, moved: 0, failed: 0, startedAt: Date.now(), elapsedMs: null, finished: Promise.resolve() };
    this.operations.push(op);
    if (this.operations.length > 100) this.operations.shift();
    return op;
  }

  private fail(op: Reshard, e: unknown): void {
    op.state = ReshardState.Failed;
    op.error = message(e);
    op.elapsedMs = Date.now() - op.startedAt;
    logger.warn('reshard failed', { id: op.id, kind: op.kind, shard: op.shard, error: op.error });
  }

  /** The moves in the background, then `after`; the operation ends done or failed. */
  private run(op: Reshard, moves: readonly KeyMove[], after: () => Promise<void>): void {
    op.state = ReshardState.Moving;
    op.finished = (async () => {
      await Promise.all(moves.map((m) => this.moveOne(op, m)));
      await after();
      if (op.failed > 0) throw new Error(`${op.failed} key(s) could not be moved (SHOW MIGRATIONS); they stay pinned where their rows are`);
      op.state = ReshardState.Done;
      op.elapsedMs = Date.now() - op.startedAt;
      logger.info('reshard done', { id: op.id, kind: op.kind, shard: op.shard, moved: op.moved });
    })().catch((e: unknown) => this.fail(op, e));
  }

  /** One key to its new shard (a few tries), then its pin cleared where the hash agrees now. */
  private async moveOne(op: Reshard, m: KeyMove): Promise<void> {
    await this.slot();
    try {
      let error = '';
      for (let attempt = 1; attempt <= MOVE_ATTEMPTS; attempt++) {
        if (attempt > 1) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
        let state: MoveState | undefined;
        if (this.ctx.catalog.snapshot().placementOf(m.key).shard.name === m.to) state = MoveState.Done;
        else {
          try {
            const done = await this.ctx.mover.move(m.account, m.domain, m.to, this.ctx.config.shard_manager.fence_timeout_ms);
            state = done.state;
            error = done.error ?? '';
          } catch (e) {
            error = message(e);
          }
        }
        if (state === MoveState.Done) {
          if (this.ctx.catalog.snapshot().hashed(m.key).name === m.to) await this.ctx.catalog.clearPlacement(m.key, `reshard ${op.id}: moved, the hash agrees`);
          op.moved++;
          return;
        }
        logger.warn('reshard: move failed', { id: op.id, key: m.key, to: m.to, attempt, error });
        if (state === MoveState.Cancelled) break;
      }
      op.failed++;
    } finally {
      this.release();
    }
  }

  private async slot(): Promise<void> {
    while (this.running >= this.ctx.config.shard_manager.max_concurrent_moves) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
  }

  /** The configured shard, with the server user that reads and moves its rows. */
  private shardConfig(name: string): ShardConfig {
    const s = this.ctx.config.shards.find((x) => x.name === name);
    if (s === undefined) throw new ProxyError('UNKNOWN_SHARD', `shard "${name}" is not in the config`, SqlState.InvalidParameterValue);
    if (s.user === undefined) throw new ProxyError('MOVE_NEEDS_USER', `resharding needs shards[].user on shard "${name}": a server user that can read and write every table of the domains`, SqlState.InvalidParameterValue);
    return s;
  }

  private domainOf(key: string): string | undefined {
    const domains = Object.keys(this.ctx.config.sharding.domains).filter((d) => key.endsWith(`_${d}`) && key.length > d.length + 1);
    return domains.sort((a, b) => b.length - a.length)[0];
  }

  /** Every placement key with rows on `shard` (distinct accounts of each domain's tables), by key. */
  private async accountsOn(shard: string): Promise<Map<string, { account: string; domain: string }>> {
    const cfg = this.ctx.config;
    const s = this.shardConfig(shard);
    const c = new pg.Client({ host: s.host, port: s.port, database: s.database, user: s.user, password: s.password, application_name: 'prescient-resharder' });
    c.on('error', () => {});
    await c.connect();
    const found = new Map<string, { account: string; domain: string }>();
    try {
      for (const [domain, d] of Object.entries(cfg.sharding.domains)) {
        for (const table of d.tables) {
          const column = cfg.sharding.tables[table]?.account_column ?? cfg.sharding.account_column;
          const r = await c.query<{ a: string | null }>(`select distinct ${ident(column)}::text as a from ${ident(table)}`);
          for (const { a } of r.rows) if (a !== null) found.set(`${a}_${domain}`, { account: a, domain });
        }
      }
    } finally {
      await c.end().catch(() => {});
    }
    return found;
  }

  /** The keys with rows on `shard` that the catalog places there, and the strays: keys with rows there placed elsewhere (logged, not moved). */
  private async keysOn(shard: string): Promise<{ keys: PlacedKey[]; strays: string[] }> {
    const found = await this.accountsOn(shard);
    const snap = this.ctx.catalog.snapshot();
    const keys: PlacedKey[] = [];
    const strays: string[] = [];
    for (const [key, { account, domain }] of found) {
      const p = snap.placementOf(key);
      if (p.shard.name === shard) keys.push({ account, domain, key, shard, explicit: p.explicit });
      else strays.push(key);
    }
    if (strays.length > 0) logger.warn('reshard: rows of keys placed on another shard left where they are', { shard, keys: strays.length, first: strays.slice(0, 5) });
    return { keys, strays };
  }
}
