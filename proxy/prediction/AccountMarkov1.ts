// AccountMarkov1 owns the first-order Markov model of each account learned online on top of the shared one: an account's own transitions, with the shared model (OnlineMarkov1) as their prior — what an account does after an action, once it has done it a few times, and what accounts do until then.
import type { ActionEvent } from './ActionEvent.js';
import { OnlineMarkov1 } from './OnlineMarkov1.js';
import { topPredictions, type Prediction, type Predictor, type PredictorJSON } from './Predictor.js';

/** weight of the shared model, in transitions: an account's own row outweighs it once it has more than this many */
export const ACCOUNT_PRIOR = 4;
/** an account's row is halved past this many transitions (its recent habits weigh more) */
const ROW_WINDOW = 32;
/** the shared model's candidates looked at beyond `limit` (an account's own row may promote one of them) */
const EXTRA = 4;

/**
 * p(n | account, l) = (c_account(l, n) + ACCOUNT_PRIOR · p_shared(n | l)) / (c_account(l) + ACCOUNT_PRIOR): a shared
 * first-order model over the latest `window` actions of every account (OnlineMarkov1), and each account's own counts
 * (at most `maxAccounts` accounts, the least recently active forgotten first). Accounts that run different playbooks
 * (personas, automation) get their own next actions, a new account the shared ones.
 */
export class AccountMarkov1 implements Predictor {
  readonly kind = 'markov1-account';
  readonly shared: OnlineMarkov1;
  private readonly accounts = new Map<string, { last: string; rows: Map<string, { total: number; next: Map<string, number> }> }>();

  constructor(window: number, private readonly maxAccounts: number) {
    this.shared = new OnlineMarkov1(window);
  }

  get length(): number {
    return this.shared.length;
  }

  add(ev: ActionEvent): void {
    this.shared.add(ev);
    let a = this.accounts.get(ev.account);
    if (a !== undefined) {
      this.accounts.delete(ev.account); // to the end: the most recently active
      let row = a.rows.get(a.last);
      if (row === undefined) a.rows.set(a.last, (row = { total: 0, next: new Map() }));
      row.total++;
      row.next.set(ev.action, (row.next.get(ev.action) ?? 0) + 1);
      if (row.total > ROW_WINDOW) {
        row.total = 0;
        for (const [n, c] of row.next) {
          const h = Math.floor(c / 2);
          if (h === 0) row.next.delete(n);
          else row.next.set(n, h);
          row.total += h;
        }
      }
      a.last = ev.action;
    } else {
      if (this.accounts.size >= this.maxAccounts) this.accounts.delete(this.accounts.keys().next().value!);
      a = { last: ev.action, rows: new Map() };
    }
    this.accounts.set(ev.account, a);
  }

  predict(history: readonly ActionEvent[], limit?: number): Prediction[] {
    const last = history[history.length - 1];
    const row = last === undefined ? undefined : this.accounts.get(last.account)?.rows.get(last.action);
    if (row === undefined || row.total === 0) return this.shared.predict(history, limit);
    // the shared model's likeliest, and every action the account took after this one: blended
    const candidates = new Map<string, number>();
    for (const p of this.shared.predict(history, limit === undefined ? undefined : limit + EXTRA)) candidates.set(p.action, p.p);
    for (const n of row.next.keys()) if (!candidates.has(n)) candidates.set(n, this.shared.probability(last!.action, n));
    const out: Prediction[] = [];
    for (const [n, shared] of candidates) out.push({ action: n, p: ((row.next.get(n) ?? 0) + ACCOUNT_PRIOR * shared) / (row.total + ACCOUNT_PRIOR) });
    return topPredictions(out, limit ?? out.length);
  }

  /** the shared model's file (an account's own counts are not kept in a model file) */
  toJSON(): PredictorJSON {
    return this.shared.toJSON();
  }
}
