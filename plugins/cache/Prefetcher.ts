// Prefetcher owns predictive prefetch: the reads each account_action issued (its read set) and the account slices that answer them, each account's latest actions, a next-action model (a trained file, or Markov-1 learned online, per account), a queue of the likely next actions' reads run on idle server connections — highest probability × backend time saved × criticality first, kinds seldom used held back — stored in the cache under the version token taken before each read, and the reads on their way that a client may wait for.
import type { CacheConfig } from '../../config/schema.js';
import type { VersionView } from '../../proxy/plugins/api.js';
import type { ActionEvent } from '../../proxy/prediction/ActionEvent.js';
import { AccountMarkov1 } from '../../proxy/prediction/AccountMarkov1.js';
import { OnlineMarkov1 } from '../../proxy/prediction/OnlineMarkov1.js';
import { loadPredictor, type Prediction, type Predictor, type PredictorJSON } from '../../proxy/prediction/Predictor.js';
import type { TrainReply, TrainRequest } from '../../proxy/prediction/trainWorker.js';
import '../../proxy/prediction/builtinPredictors.js';
import { Worker } from 'node:worker_threads';
import { logger } from '../../proxy/logger.js';
import type { ResultCache } from './ResultCache.js';
import { collationCheckRequest, describeColumns, TEXT_TYPES } from './AccountSlice.js';

/** One read a client ran, as a prefetch runs it again: the request's bytes and its cache key. */
export interface RecordedRead {
  cacheKey: string;
  placementKey: string;
  domain: string;
  user: string;
  /** the request to send (a Query, or Parse … Sync), built once */
  request: Buffer;
  /** the session settings the result depends on (the connection that runs it must report the same) */
  settings: ReadonlyMap<string, string | null>;
  /** backend time it took, µs (what a hit saves) */
  backendUs: number;
  /** its text parameters (extended protocol), for parameter mapping */
  params?: readonly (Buffer | null)[];
  /** the same read with other parameters: its cache key and request (parameter mapping) */
  rebuild?: (params: readonly (Buffer | null)[]) => { cacheKey: string; request: Buffer };
  /** a read an account slice answers (AccountSlice): the slice of `table`, and the read of it for an account */
  slice?: {
    table: string;
    /** the slice's table, account column and columns (AccountSlice.sliceName): reads with the same name share it */
    name: string;
    /** the columns the read filters on (each must be text or varchar for the slice to answer it) */
    filterColumns: string[];
    orderBy: string | null;
    keyFor(account: string): { cacheKey: string; placementKey: string; domain: string };
    requestFor(account: string): Buffer;
  };
}

/** Apollo's parameter mapping: parameter `param` of a read took the value of column `column` of action `from`'s result. */
export interface ParamMapping {
  param: number;
  from: string;
  column: string;
}

/** What a prefetch needs of the proxy. */
export interface PrefetchIo {
  /** runs `request` on an idle connection of the key's shard no client waits for; null: none free, or it failed */
  read(placementKey: string, user: string, request: Buffer, settings: ReadonlyMap<string, string | null>): Promise<Buffer[] | null | 'busy'>;
}

interface Job {
  read: RecordedRead;
  priority: number;
  deadline: number;
  /** the kind of prefetch (the action that ended, the one predicted, the slice's table or `*`): its outcome is learned */
  origin: string;
  /** the read is a slice (of this table, in this order, for reads filtering these columns): checked and stored as one */
  slice?: { table: string; orderBy: string | null; id: string; filterColumns: string[] };
}

/** how long after an action ends its successors' reads are sent */
const PUMP_DELAY_MS = 5;

/** how soon a read that found no idle connection is tried again (until its deadline) */
const BUSY_RETRY_MS = 5;

/** reads kept per account_action; account_actions kept; actions kept per account; actions the online model learns from */
const READS_PER_ACTION = 8;
const MAX_READ_SETS = 50_000;
const HISTORY = 8;
const MAX_ACCOUNTS = 100_000;
const TRAIN_EVENTS = 20_000;
const MAX_QUEUE = 1000;
/** kinds of prefetch whose outcomes are kept; outcomes counted before the counts are halved (recent ones weigh more) */
const MAX_ORIGINS = 10_000;
const OUTCOME_WINDOW = 64;
/** a kind of prefetch used too seldom is still sent once in this many times (else it could never be learned again) */
const EXPLORE_EVERY = 8;
/** a slice found over slice_max_rows is not read again for this long (the account may shrink) */
const OVERSIZE_RECHECK_MS = 60_000;
/**
 * a read is prefetched only once the account's action asked for it this many times (a miss that filled the cache, or a
 * hit): reads whose parameters change every time (a few ids picked at random) are asked once and would be wasted
 */
const MIN_SEEN = 2;

/** A slice spec's identity in a read set: its name and the columns its reads filter on. */
function sliceId(s: { name: string; filterColumns: readonly string[] }): string {
  return `${s.name}\u0000${s.filterColumns.join(',')}`;
}

/** a read of a read set, with how many times its action asked for it, and where its parameters came from */
interface SeenRead {
  read: RecordedRead;
  seen: number;
  mappings: ParamMapping[];
}

export class Prefetcher {
  private readonly readSets = new Map<string, Map<string, SeenRead>>();
  /** per action, the slices its reads could be answered from (any account's reads teach it): slice name → a read of it */
  private readonly sliceSets = new Map<string, Map<string, RecordedRead>>();
  /** per kind of prefetch: its stored entries used by a client, left unused, and how often it was held back since last sent */
  private readonly outcomes = new Map<string, { used: number; wasted: number; held: number }>();
  /** slices (name and filtered columns) that cannot answer their reads (a filtered column is not text): not read again */
  private readonly unsliceable = new Set<string>();
  /** slices found over slice_max_rows (by cache key): not read again before this time */
  private readonly oversize = new Map<string, number>();
  /** per table (and search_path): whether its slices may answer (no column with a nondeterministic collation) */
  private readonly sliceable = new Map<string, Promise<boolean>>();
  private readonly history = new Map<string, ActionEvent[]>();
  private readonly recent: ActionEvent[] = [];
  private model: Predictor | null;
  /** without a model file: Markov-1 over the latest TRAIN_EVENTS actions (with each account's own, by default), counted as they come (what serves until a forest is trained) */
  private readonly online: AccountMarkov1 | OnlineMarkov1 | null;
  private readonly trained: boolean;
  private lastTrain = 0;
  /** a forest is being trained in a worker */
  private training = false;
  /** highest priority first; `queued` holds the same jobs by cache key */
  private queue: Job[] = [];
  private readonly queued = new Map<string, Job>();
  /** prefetch reads on their way, by cache key: a client asking for one waits for it instead of reading it again */
  private readonly reading = new Map<string, { done: Promise<void>; backendUs: number }>();
  private running = 0;
  readonly stats = { predictions: 0, predicted: 0, correct: 0, issued: 0, stored: 0, dropped: 0, failed: 0, invalidated: 0, trainMs: 0, trainings: 0, mapped: 0, slices: 0, tooLarge: 0, bytes: 0, heldBack: 0, unsliceable: 0, joined: 0 };
  /** each account's last ended action and the values its results carried (column → text), for parameter mapping */
  private readonly lastResults = new Map<string, { action: string; values: ReadonlyMap<string, string> }>();
  /** the last predictions per account (SHOW PREDICTIONS), and what was queued for them */
  private readonly lastPredictions = new Map<string, { at: number; predictions: Prediction[]; queued: string[] }>();

  constructor(
    private readonly cfg: NonNullable<CacheConfig['prefetch']>,
    private readonly cache: ResultCache,
    private readonly versions: VersionView,
    private readonly io: PrefetchIo,
    /** a trained model (cache.prefetch.model), or null: learned online */
    model: Predictor | null,
    private readonly now: () => number = Date.now,
  ) {
    this.trained = model !== null;
    this.online = model !== null ? null : cfg.online_model === 'markov1' ? new OnlineMarkov1(TRAIN_EVENTS) : new AccountMarkov1(TRAIN_EVENTS, MAX_ACCOUNTS);
    this.model = model ?? this.online;
    cache.onPrefetchOutcome = (e, used) => {
      if (e.origin !== undefined) this.learnOutcome(e.origin, used);
    };
  }

  /** A prefetched entry of kind `origin` was used (or left unused): counted, the older counts weighing less. */
  private learnOutcome(origin: string, used: boolean): void {
    const o = this.outcomes.get(origin);
    if (o === undefined) return;
    if (used) o.used++;
    else o.wasted++;
    if (o.used + o.wasted > OUTCOME_WINDOW) {
      o.used /= 2;
      o.wasted /= 2;
    }
  }

  /**
   * Whether a prefetch of kind `origin` is sent: yes while its entries are used at least min_used_share of the time
   * (a new kind starts at one half, as if once used and once not); else once in EXPLORE_EVERY times.
   */
  private worthSending(origin: string): boolean {
    let o = this.outcomes.get(origin);
    if (o === undefined) {
      if (this.outcomes.size >= MAX_ORIGINS) this.outcomes.delete(this.outcomes.keys().next().value!);
      this.outcomes.set(origin, (o = { used: 0, wasted: 0, held: 0 }));
    }
    if ((o.used + 1) / (o.used + o.wasted + 2) >= this.cfg.min_used_share) return true;
    if (++o.held < EXPLORE_EVERY) {
      this.stats.heldBack++;
      return false;
    }
    o.held = 0;
    return true;
  }

  /** A read a client ran for `account`'s `action` (a miss the cache filled): kept in the action's read set. */
  recordRead(account: string, action: string, read: RecordedRead): void {
    const k = `${account}\u0000${action}`;
    let set = this.readSets.get(k);
    if (set === undefined) {
      if (this.readSets.size >= MAX_READ_SETS) this.readSets.delete(this.readSets.keys().next().value!);
      this.readSets.set(k, (set = new Map()));
    }
    const old = set.get(read.cacheKey);
    set.delete(read.cacheKey);
    set.set(read.cacheKey, { read, seen: (old?.seen ?? 0) + 1, mappings: this.mappingsOf(account, read) });
    if (set.size > READS_PER_ACTION) set.delete(set.keys().next().value!);
    if (read.slice !== undefined) {
      let tables = this.sliceSets.get(action);
      if (tables === undefined) {
        if (this.sliceSets.size >= MAX_READ_SETS) this.sliceSets.delete(this.sliceSets.keys().next().value!);
        this.sliceSets.set(action, (tables = new Map()));
      }
      // an ordered read's slice answers the unordered reads too, not the other way round
      const id = sliceId(read.slice);
      const had = tables.get(id);
      if (had === undefined || had.slice!.orderBy === null || read.slice.orderBy !== null) tables.set(id, read);
      if (tables.size > READS_PER_ACTION) tables.delete(tables.keys().next().value!);
    }
  }

  /**
   * Whether `action`'s reads of slice `slice` are already prefetched as that slice (it is known for the action and can
   * answer them): then a read need not be recorded on its own.
   */
  coveredBySlice(action: string, slice: { name: string; filterColumns: readonly string[] }): boolean {
    const id = sliceId(slice);
    return this.sliceSets.get(action)?.has(id) === true && !this.unsliceable.has(id);
  }

  /** The parameters of `read` equal to a column of the account's previous action's result (a volume id CreateVolume returned, then described). */
  private mappingsOf(account: string, read: RecordedRead): ParamMapping[] {
    const prev = this.lastResults.get(account);
    if (prev === undefined || read.params === undefined || read.rebuild === undefined) return [];
    const out: ParamMapping[] = [];
    read.params.forEach((p, param) => {
      if (p === null) return;
      const text = p.toString('utf8');
      for (const [column, value] of prev.values) if (value === text) return void out.push({ param, from: prev.action, column });
    });
    return out;
  }

  /** The client's read `cacheKey` for `account`'s `action` was a hit: counted as asked again. */
  noteHit(account: string, action: string, cacheKey: string): void {
    const r = this.readSets.get(`${account}\u0000${action}`)?.get(cacheKey);
    if (r !== undefined) r.seen++;
  }

  /** `account` began `action`: scored against the last prediction, remembered, and its likely successors' reads queued. */
  observeAction(account: string, action: string): void {
    const now = this.now();
    const last = this.lastPredictions.get(account);
    if (last !== undefined) {
      this.stats.predicted++;
      if (last.predictions[0]?.action === action) this.stats.correct++;
    }
    let h = this.history.get(account);
    if (h === undefined) {
      if (this.history.size >= MAX_ACCOUNTS) this.history.delete(this.history.keys().next().value!);
      this.history.set(account, (h = []));
    }
    const ev: ActionEvent = { t: now, account, action };
    h.push(ev);
    if (h.length > HISTORY) h.shift();
    this.online?.add(ev);
    if (!this.trained && this.cfg.online_model === 'forest') {
      this.recent.push(ev);
      if (this.recent.length > TRAIN_EVENTS) this.recent.splice(0, this.recent.length - TRAIN_EVENTS);
      this.retrainIfDue(now);
    }
    if (this.model === null || this.online?.length === 0) return;
    const predictions = this.model.predict(h, this.cfg.top);
    this.stats.predictions++;
    this.lastPredictions.set(account, { at: now, predictions, queued: [] });
    if (this.lastPredictions.size > MAX_ACCOUNTS) this.lastPredictions.delete(this.lastPredictions.keys().next().value!);
  }

  /**
   * `account`'s action ended (its transaction, or its autocommit statement): the reads of its likely next actions are
   * queued now — not when it began, since its own writes would make them stale at once.
   */
  actionEnded(account: string, action?: string, results?: ReadonlyMap<string, string>): void {
    if (action !== undefined && results !== undefined) {
      this.lastResults.set(account, { action, values: results });
      if (this.lastResults.size > MAX_ACCOUNTS) this.lastResults.delete(this.lastResults.keys().next().value!);
    }
    const last = this.lastPredictions.get(account);
    if (last === undefined) return;
    const now = this.now();
    for (const p of last.predictions) {
      if (p.p < this.cfg.threshold) break;
      const weight = this.cfg.criticality[p.action] ?? 1;
      // the tables the action reads in a shape a slice answers: the account's slice of each, whatever its parameters
      const slices = this.sliceSets.get(p.action);
      for (const [id, recorded] of slices ?? []) {
        const s = recorded.slice!;
        if (this.unsliceable.has(id)) continue;
        const key = s.keyFor(account);
        if (this.cache.has(key.cacheKey, this.versions.token(key.placementKey)) || this.queued.has(key.cacheKey)) continue;
        if ((this.oversize.get(key.cacheKey) ?? 0) > now) continue;
        const origin = `${action ?? ''}\u0000${p.action}\u0000${s.table}`;
        if (!this.worthSending(origin)) continue;
        const read: RecordedRead = { ...recorded, ...key, request: s.requestFor(account), params: undefined, rebuild: undefined, slice: undefined };
        this.enqueue({ read, priority: p.p * Math.max(read.backendUs, 1) * weight, deadline: now + this.cfg.deadline_ms, origin, slice: { table: s.table, orderBy: s.orderBy, id, filterColumns: s.filterColumns } });
        if (!last.queued.includes(p.action)) last.queued.push(p.action);
      }
      const set = this.readSets.get(`${account}\u0000${p.action}`);
      if (set === undefined) continue;
      for (const { read: recorded, seen, mappings } of set.values()) {
        // a read its slice answers is not prefetched itself (unless that slice cannot answer it)
        if (recorded.slice !== undefined && slices?.has(sliceId(recorded.slice)) && !this.unsliceable.has(sliceId(recorded.slice))) continue;
        // a read whose parameters came from this action's result: the same read with this result's values
        const mapped = action !== undefined && results !== undefined ? mappings.filter((m) => m.from === action && results.has(m.column)) : [];
        let read = recorded;
        if (mapped.length > 0 && recorded.params && recorded.rebuild) {
          const params = [...recorded.params];
          for (const m of mapped) params[m.param] = Buffer.from(results!.get(m.column)!, 'utf8');
          read = { ...recorded, ...recorded.rebuild(params), params };
          this.stats.mapped++;
        } else if (seen < MIN_SEEN) continue;
        if (this.cache.has(read.cacheKey, this.versions.token(read.placementKey)) || this.queued.has(read.cacheKey)) continue;
        const origin = `${action ?? ''}\u0000${p.action}\u0000*`;
        if (!this.worthSending(origin)) continue;
        this.enqueue({ read, priority: p.p * Math.max(read.backendUs, 1) * weight, deadline: now + this.cfg.deadline_ms, origin });
        if (!last.queued.includes(p.action)) last.queued.push(p.action);
      }
    }
    // a few milliseconds on: the connection the ending action used is back in its pool, and the shard's version
    // notification of the action's own commit has come (a read taken before it would be stale at once)
    setTimeout(() => this.pump(), PUMP_DELAY_MS).unref();
  }

  /**
   * online_model forest (no model file): a forest learned again every retrain_s from the latest actions, in a worker
   * thread (seconds); the online Markov-1 serves until the first one is done, then the previous forest.
   */
  private retrainIfDue(now: number): void {
    if (this.training || now - this.lastTrain < this.cfg.retrain_s * 1000 || this.recent.length < 2) return;
    this.lastTrain = now;
    this.training = true;
    const req: TrainRequest = { kind: 'forest', events: [...this.recent], options: { maxRows: 4000, seed: 1 } };
    const w = new Worker(new URL('../../proxy/prediction/trainWorker.js', import.meta.url), { workerData: req });
    w.once('message', (reply: TrainReply) => {
      try {
        if (!reply.ok) throw new Error(reply.error);
        this.model = loadPredictor(JSON.parse(reply.model) as PredictorJSON);
        this.stats.trainMs = reply.ms;
        this.stats.trainings++;
      } catch (e) {
        logger.warn('prefetch: online training failed; the previous model stays', { error: (e as Error).message });
      }
    });
    w.once('error', (e) => logger.warn('prefetch: online training failed; the previous model stays', { error: e.message }));
    w.once('exit', () => (this.training = false));
    w.unref();
  }

  /** Into the queue by priority (binary search: no sort per job); a read already queued is not queued twice. */
  private enqueue(job: Job): void {
    if (this.queued.has(job.read.cacheKey)) return;
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.queue[mid]!.priority >= job.priority) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= MAX_QUEUE) return;
    this.queue.splice(lo, 0, job);
    this.queued.set(job.read.cacheKey, job);
    if (this.queue.length > MAX_QUEUE) this.queued.delete(this.queue.pop()!.read.cacheKey);
  }

  private pump(): void {
    while (this.running < this.cfg.max_concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.queued.delete(job.read.cacheKey);
      if (this.now() > job.deadline) {
        this.stats.dropped++;
        continue;
      }
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /**
   * The prefetch read of `cacheKey` on its way, if any: resolved once it is stored (or not), or after twice its
   * expected backend time and 10 ms more (a client never waits long on a read that is late).
   */
  inflight(cacheKey: string): Promise<void> | undefined {
    const r = this.reading.get(cacheKey);
    if (r === undefined) return undefined;
    this.stats.joined++;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 10 + (2 * r.backendUs) / 1000)));
    return Promise.race([r.done, late]).finally(() => clearTimeout(timer));
  }

  /** One prefetch read, known as in flight until it ends. */
  private run(job: Job): Promise<void> {
    const entry = { done: this.read(job).catch(() => void this.stats.failed++), backendUs: job.read.backendUs };
    this.reading.set(job.read.cacheKey, entry);
    return entry.done.finally(() => {
      if (this.reading.get(job.read.cacheKey) === entry) this.reading.delete(job.read.cacheKey);
    });
  }

  /** One prefetch read: the key's token before, the read on an idle connection, stored only if the token did not move. */
  private async read(job: Job): Promise<void> {
    const r = job.read;
    if (job.slice !== undefined && !(await this.sliceableTable(job.slice.table, r))) return;
    const token = this.versions.token(r.placementKey);
    if (this.cache.has(r.cacheKey, token)) return;
    this.stats.issued++;
    const frames = await this.io.read(r.placementKey, r.user, r.request, r.settings);
    if (frames === 'busy') {
      this.stats.issued--;
      // no idle connection now (clients come first): again shortly, until the deadline
      if (this.now() + BUSY_RETRY_MS <= job.deadline) setTimeout(() => {
        this.enqueue(job);
        this.pump();
      }, BUSY_RETRY_MS).unref();
      else this.stats.dropped++;
      return;
    }
    if (frames === null || frames.length === 0 || frames[frames.length - 1]![0] !== 0x43 /* CommandComplete */) {
      this.stats.failed++;
      return;
    }
    if (this.versions.token(r.placementKey) !== token) {
      this.stats.invalidated++;
      return;
    }
    const rowDescription = frames[0]![0] === 0x54 /* RowDescription */ ? frames[0]! : null;
    // a slice of more rows than it may hold (read with a LIMIT one over) is not kept: the account's reads go one by one
    if (job.slice !== undefined && (rowDescription === null || frames.length - 2 > this.cfg.slice_max_rows)) {
      this.stats.tooLarge++;
      if (this.oversize.size >= MAX_ACCOUNTS) this.oversize.delete(this.oversize.keys().next().value!);
      this.oversize.set(r.cacheKey, this.now() + OVERSIZE_RECHECK_MS);
      return;
    }
    if (job.slice !== undefined) {
      const columns = describeColumns(rowDescription!);
      if (!job.slice.filterColumns.every((name) => TEXT_TYPES.has(columns.find((c) => c.name === name)?.typeOid ?? -1))) {
        // a filtered column is not text: its bytes do not decide equality, the reads go one by one
        if (this.unsliceable.size >= MAX_READ_SETS) this.unsliceable.delete(this.unsliceable.values().next().value!);
        this.unsliceable.add(job.slice.id);
        this.stats.unsliceable++;
        return;
      }
    }
    const body = Buffer.concat(rowDescription ? frames.slice(1) : frames);
    const stored = this.cache.set(r.cacheKey, {
      frames: rowDescription ? [rowDescription, body] : [body], rowDescription, bytes: (rowDescription?.length ?? 0) + body.length,
      token, placementKey: r.placementKey, domain: r.domain, storedAt: this.now(), prefetched: true, savesUs: r.backendUs, origin: job.origin,
      ...(job.slice !== undefined ? { slice: { orderBy: job.slice.orderBy } } : {}),
    });
    if (stored) {
      this.stats.stored++;
      this.stats.bytes += (rowDescription?.length ?? 0) + body.length;
      if (job.slice !== undefined) this.stats.slices++;
    }
  }

  /**
   * Whether `table`'s slices may answer reads: none of its columns has a nondeterministic collation (asked once per
   * table and search_path, on the shard of the first slice read; a failed check says no, and is asked again later).
   */
  private sliceableTable(table: string, r: RecordedRead): Promise<boolean> {
    const k = `${table}\u0000${r.settings.get('search_path') ?? ''}`;
    let p = this.sliceable.get(k);
    if (p === undefined) {
      p = this.io.read(r.placementKey, r.user, collationCheckRequest(table), r.settings).then((frames) => {
        const row = Array.isArray(frames) ? frames.find((f) => f[0] === 0x44 /* DataRow */) : undefined;
        // a DataRow of one column: length (int32) then the count's text
        const ok = row !== undefined && row.toString('utf8', 11, 7 + 4 + row.readInt32BE(7)) === '0';
        if (!Array.isArray(frames)) this.sliceable.delete(k);
        else if (!ok) logger.info('prefetch: no slices of a table with a nondeterministic collation', { table });
        return ok;
      });
      this.sliceable.set(k, p);
    }
    return p;
  }

  /** SHOW PREDICTIONS FOR ACCOUNT: the latest predictions for it, and which of them had reads queued. */
  predictionsFor(account: string): { at: number; predictions: Prediction[]; queued: string[] } | undefined {
    return this.lastPredictions.get(account);
  }

  /** SHOW PREFETCH: rolling accuracy and what the prefetches did. */
  summary(): Record<string, number> {
    let used = 0;
    let wasted = 0;
    let savedUs = 0;
    for (const d of this.cache.byDomain.values()) {
      used += d.prefetchUsed;
      wasted += d.prefetchWasted;
      savedUs += d.prefetchSavedUs;
    }
    return { ...this.stats, used, wasted, saved_ms: savedUs / 1000, accuracy: this.stats.predicted > 0 ? this.stats.correct / this.stats.predicted : 0, queued: this.queue.length, running: this.running };
  }
}
