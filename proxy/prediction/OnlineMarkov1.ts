// OnlineMarkov1 owns the first-order Markov model kept up to date one action at a time over a sliding window: the same model Markov1.fit would learn from the window's events, at O(1) per action and no refit.
import type { ActionEvent } from './ActionEvent.js';
import { sortPredictions, type Prediction, type Predictor, type PredictorJSON } from './Predictor.js';
import { MARKOV_PRIOR, UNIGRAM_ALPHA } from './Markov1.js';

/** an event in the window, linked to the same account's next event (what its transition goes to) */
interface WindowEvent {
  account: string;
  action: string;
  next: WindowEvent | null;
}

/**
 * Transition and action counts over the latest `window` events. `add` counts the new event's transition from its
 * account's previous event, and, once the window is full, takes the oldest event's counts back out — so at every moment
 * `predict` answers what `Markov1.fit(the window's events)` would, without the 5–26 ms batch refit on the event loop.
 */
export class OnlineMarkov1 implements Predictor {
  readonly kind = 'markov1';
  private readonly counts = new Map<string, number>();
  private total = 0;
  private readonly rows = new Map<string, { total: number; next: Map<string, number> }>();
  private readonly ring: (WindowEvent | undefined)[];
  private head = 0;
  private size = 0;
  /** each account's latest event still in the window */
  private readonly last = new Map<string, WindowEvent>();

  constructor(readonly window: number, readonly prior = MARKOV_PRIOR, readonly alpha = UNIGRAM_ALPHA) {
    if (!Number.isInteger(window) || window < 1) throw new Error(`window: expected a positive integer, got ${window}`);
    this.ring = new Array<WindowEvent | undefined>(window);
  }

  /** events in the window */
  get length(): number {
    return this.size;
  }

  add(ev: ActionEvent): void {
    if (this.size === this.window) this.evict();
    const e: WindowEvent = { account: ev.account, action: ev.action, next: null };
    const prev = this.last.get(ev.account);
    if (prev !== undefined) {
      prev.next = e;
      let row = this.rows.get(prev.action);
      if (row === undefined) this.rows.set(prev.action, (row = { total: 0, next: new Map() }));
      row.total++;
      row.next.set(e.action, (row.next.get(e.action) ?? 0) + 1);
    }
    this.last.set(ev.account, e);
    this.counts.set(e.action, (this.counts.get(e.action) ?? 0) + 1);
    this.total++;
    this.ring[(this.head + this.size) % this.window] = e;
    this.size++;
  }

  private evict(): void {
    const e = this.ring[this.head]!;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.window;
    this.size--;
    const c = this.counts.get(e.action)! - 1;
    if (c === 0) this.counts.delete(e.action);
    else this.counts.set(e.action, c);
    this.total--;
    if (e.next !== null) {
      const row = this.rows.get(e.action)!;
      const n = row.next.get(e.next.action)! - 1;
      if (n === 0) row.next.delete(e.next.action);
      else row.next.set(e.next.action, n);
      if (--row.total === 0) this.rows.delete(e.action);
    }
    if (this.last.get(e.account) === e) this.last.delete(e.account);
  }

  /** p(next | last) for one action, as predict gives it (0 for an action never seen) */
  probability(last: string | undefined, next: string): number {
    const c = this.counts.get(next);
    if (c === undefined) return 0;
    const den = this.total + this.alpha * this.counts.size;
    const u = den === 0 ? 0 : (c + this.alpha) / den;
    const row = last === undefined ? undefined : this.rows.get(last);
    return row === undefined ? u : ((row.next.get(next) ?? 0) + this.prior * u) / (row.total + this.prior);
  }

  /**
   * p(a) = (c(a) + α) / (total + α·V), then p(n | l) = (c(l, n) + prior · p(n)) / (c(l) + prior): as Markov1. With a
   * small `limit` (the prefetcher asks for its top few after every action) only those are kept: no map of the whole
   * vocabulary is built.
   */
  predict(history: readonly ActionEvent[], limit?: number): Prediction[] {
    const den = this.total + this.alpha * this.counts.size;
    const lastAction = history[history.length - 1]?.action;
    const row = lastAction === undefined ? undefined : this.rows.get(lastAction);
    const p = (a: string, c: number): number => {
      const u = den === 0 ? 0 : (c + this.alpha) / den;
      return row === undefined ? u : ((row.next.get(a) ?? 0) + this.prior * u) / (row.total + this.prior);
    };
    if (limit === undefined || limit >= this.counts.size) {
      const m = new Map<string, number>();
      for (const [a, c] of this.counts) m.set(a, p(a, c));
      return sortPredictions(m, limit);
    }
    // the `limit` most probable, ordered as sortPredictions orders (probability, then name)
    const top: Prediction[] = [];
    for (const [a, c] of this.counts) {
      const q = p(a, c);
      if (top.length === limit) {
        const worst = top[limit - 1]!;
        if (q < worst.p || (q === worst.p && a > worst.action)) continue;
        top.pop();
      }
      let i = top.length;
      while (i > 0 && (top[i - 1]!.p < q || (top[i - 1]!.p === q && top[i - 1]!.action > a))) i--;
      top.splice(i, 0, { action: a, p: q });
    }
    return top;
  }

  /** a Markov1 model file of the window as it stands */
  toJSON(): PredictorJSON {
    const transitions: Record<string, Record<string, number>> = {};
    for (const [a, row] of this.rows) transitions[a] = Object.fromEntries(row.next);
    return { kind: 'markov1', unigram: { counts: Object.fromEntries(this.counts), alpha: this.alpha }, transitions, prior: this.prior };
  }
}
