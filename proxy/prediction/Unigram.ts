// Unigram owns the global action frequencies every model backs off to: additively smoothed, over the training vocabulary.
import type { ActionEvent } from './ActionEvent.js';

/** Additive (add-`alpha`) smoothed frequencies of the actions seen in training. */
export class Unigram {
  readonly p: Map<string, number>;
  constructor(readonly counts: Record<string, number>, readonly alpha = 0.5) {
    const actions = Object.keys(counts).sort();
    let total = 0;
    for (const a of actions) total += counts[a]!;
    const den = total + alpha * actions.length;
    this.p = new Map(actions.map((a) => [a, den === 0 ? 0 : (counts[a]! + alpha) / den]));
  }

  static fit(events: readonly ActionEvent[], alpha = 0.5): Unigram {
    const counts: Record<string, number> = {};
    for (const e of events) counts[e.action] = (counts[e.action] ?? 0) + 1;
    return new Unigram(counts, alpha);
  }

  /** the training vocabulary, sorted */
  get actions(): string[] {
    return [...this.p.keys()];
  }

  get(action: string): number {
    return this.p.get(action) ?? 0;
  }

  toJSON(): { counts: Record<string, number>; alpha: number } {
    return { counts: this.counts, alpha: this.alpha };
  }
}
