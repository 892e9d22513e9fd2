// types owns the contracts shared by the workload tools: actions, accounts, the write ledger and the action log.
import type pg from 'pg';

/** A seeded random source (same seed, same sequence). */
export interface Rng {
  /** uniform in [0, 1) */
  next(): number;
  /** uniform integer in [0, n) */
  int(n: number): number;
}

/** What an agent knows about one account while it runs actions for it. */
export interface AccountState {
  /** the account id, as stored in every row's account_id column */
  id: string;
  persona: string;
  /** next write-ledger sequence number for this account (per account, starts at 1, grows by one per acknowledged write) */
  nextSeq: number;
  /** resource ids this account is known to have, by resource table (volumes, snapshots, instances, …) */
  resources: Record<string, string[]>;
}

export interface ActionContext {
  account: AccountState;
  rng: Rng;
  /** send the sqlcommenter tag `/* account='…',action='…' *\/`; false = untagged SQL (routing must read the SQL) */
  tagged: boolean;
  /** the action name to tag and record in write_log instead of the action's own (replay: the CloudTrail event's name) */
  as?: string;
}

export interface ActionResult {
  /** rows returned or affected, summed over the action's statements */
  rows: number;
  /** for a write action: the ledger sequence number it committed (recorded in write_log in the same transaction) */
  seq?: number;
}

/**
 * One control-plane action: a small transaction of one to several statements. A write action inserts one row
 * into `write_log (account_id, seq, action)` inside its transaction, with `seq = account.nextSeq`, and only
 * after COMMIT succeeds does the caller record the seq in the ledger and increment nextSeq.
 */
export interface Action {
  name: string;
  /** data domain (colocation group): volume, snapshot, instance, image, security_group, key_pair, network_interface, account */
  domain: string;
  write: boolean;
  run(db: pg.ClientBase, ctx: ActionContext): Promise<ActionResult>;
}

/** One acknowledged write, as an NDJSON line of a ledger file. */
export interface LedgerEntry {
  account: string;
  seq: number;
  action: string;
  /** ms since epoch when the COMMIT was acknowledged */
  t: number;
}

/** One performed action, as an NDJSON line of an action log (ground truth for prediction). */
export interface ActionLogEntry {
  t: number;
  account: string;
  action: string;
  domain: string;
  latencyMs: number;
  rows: number;
  ok: boolean;
  error?: string;
  /** the action only read (a CloudTrail replay says so per event: `readOnly` of the record); absent: not said */
  readOnly?: boolean;
}
