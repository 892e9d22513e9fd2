// features owns the predictor's feature vector: what an account's recent history (before the prediction) says, as small integers.
import type { ActionEvent } from './ActionEvent.js';

/** Bump when a feature is added, removed, reordered or computed differently: a model file records the version it was trained with. */
export const FEATURES_VERSION = 1;
/** A predictor looks at most at this many of an account's latest events. */
export const HISTORY_WINDOW = 50;
/** the last k actions are features */
export const K_LAST = 3;
/** the action mix counts this many of the most frequent actions… */
export const MIX_TOP = 8;
/** …over this many of the account's latest events */
export const MIX_WINDOW = 20;
/** at most this many actions get an index of their own; the rest share OTHER */
export const MAX_FEATURE_ACTIONS = 60;

/**
 * The action vocabulary of the features: `actions[i]` has index i (most frequent first); index `actions.length`
 * is OTHER (an action outside the list), `actions.length + 1` is NONE (the history is shorter than k).
 */
export interface FeatureSpace {
  version: number;
  actions: string[];
}

/** The most frequent actions of `events` (ties by name), at most `max`. */
export function buildFeatureSpace(events: readonly ActionEvent[], max = MAX_FEATURE_ACTIONS): FeatureSpace {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.action, (counts.get(e.action) ?? 0) + 1);
  const actions = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, max).map(([a]) => a);
  return { version: FEATURES_VERSION, actions };
}

const CREATE = /^(Create|Run|Allocate|Put|Import|Register|Copy|Attach|Associate|Add)/;
const DELETE = /^(Delete|Terminate|Remove|Deregister|Release|Detach|Disassociate|Revoke)/;
const READ = /^(Describe|List|Get|BatchGet|Lookup|Search|Check|Head|Select|Query|Preview|Validate|Estimate)/;

const isRead = (e: ActionEvent): boolean => e.readOnly ?? READ.test(e.action);

/** log2 bucket of a duration in ms: 0 for 0 ms, 1 for 1 ms, 2 for 2–3 ms, …, capped at 24 (≈ 2.3 h and longer). */
export function log2Bucket(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(24, Math.floor(Math.log2(ms)) + 1);
}

/** A fraction as tenths, 0..10. */
const tenths = (num: number, den: number): number => (den === 0 ? 0 : Math.round((10 * num) / den));

/** Names of the features, in vector order. */
export function featureNames(): string[] {
  const names: string[] = [];
  for (let i = 1; i <= K_LAST; i++) names.push(`last${i}`);
  names.push('gapBucket', 'hourUtc', 'runLength', 'distinct', 'historyBucket');
  for (let i = 0; i < MIX_TOP; i++) names.push(`mix${i}`);
  names.push('readShare', 'resourceBalance');
  return names;
}

/**
 * The feature vector after `history` (one account's events, oldest first; only the last HISTORY_WINDOW count):
 *  - last1..last3: index of the last, second-last, third-last action (OTHER, NONE as in FeatureSpace);
 *  - gapBucket: log2 bucket of the time between the last two actions (-1 with fewer than two): the prediction is
 *    made right after the last action, so the time to the next one is not known yet;
 *  - hourUtc: hour of day of the last action (-1 without history);
 *  - runLength: how many times in a row the last action repeated (≤ 8);
 *  - distinct: distinct actions in the last MIX_WINDOW events;
 *  - historyBucket: log2 of the number of events in the window (how much there is to go on);
 *  - mix0..mix7: share of each of the MIX_TOP most frequent actions in the last MIX_WINDOW events, in tenths;
 *  - readShare: share of reads in that window, in tenths (readOnly when recorded, else the verb: Describe, List, Get…);
 *  - resourceBalance: creates minus deletes in that window by verb (Create/Run/Attach… vs Delete/Terminate/Detach…),
 *    clamped to ±10 — the resource count the account is building up or tearing down.
 */
export function features(history: readonly ActionEvent[], space: FeatureSpace): number[] {
  const n = history.length;
  const index = new Map(space.actions.map((a, i) => [a, i]));
  const OTHER = space.actions.length;
  const NONE = OTHER + 1;
  const idx = (a: string): number => index.get(a) ?? OTHER;
  const v: number[] = [];
  for (let i = 1; i <= K_LAST; i++) v.push(n - i >= 0 ? idx(history[n - i]!.action) : NONE);
  const last = history[n - 1];
  v.push(n >= 2 ? log2Bucket(last!.t - history[n - 2]!.t) : -1);
  v.push(last ? new Date(last.t).getUTCHours() : -1);
  let run = 0;
  for (let i = n - 1; i >= 0 && run < 8 && history[i]!.action === last!.action; i--) run++;
  v.push(run);
  const win = history.slice(Math.max(0, n - MIX_WINDOW));
  v.push(new Set(win.map((e) => e.action)).size);
  v.push(log2Bucket(Math.min(n, HISTORY_WINDOW)));
  const mix = new Array<number>(MIX_TOP).fill(0);
  let reads = 0;
  let balance = 0;
  for (const e of win) {
    const i = index.get(e.action);
    if (i !== undefined && i < MIX_TOP) mix[i]!++;
    if (isRead(e)) reads++;
    else if (CREATE.test(e.action)) balance++;
    else if (DELETE.test(e.action)) balance--;
  }
  for (const c of mix) v.push(tenths(c, win.length));
  v.push(tenths(reads, win.length));
  v.push(Math.max(-10, Math.min(10, balance)));
  return v;
}
