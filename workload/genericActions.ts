// genericActions owns the replay's generic actions: a read or an upsert of generic_resources (account, service, resource) for events the catalogue does not model.
import type { Action } from './types.js';
import { transact } from './actionTx.js';

/** requestParameters kept in attrs up to this many characters of JSON; larger ones are left out (attrs.truncated). */
const MAX_PARAMS = 2000;

export interface GenericEvent {
  /** the event's own name: the action it is tagged and logged as */
  name: string;
  /** its service, the action's domain */
  service: string;
  /** the resource it names, if any */
  resource?: string;
  write: boolean;
  /** eventTime, ms since epoch */
  time?: number;
  requestParameters?: unknown;
}

/** attrs of an upserted resource: the last event that wrote it, its time and (if small) its request parameters. */
export function attrsOf(ev: GenericEvent): Record<string, unknown> {
  const attrs: Record<string, unknown> = { lastEvent: ev.name };
  if (ev.time !== undefined) attrs.eventTime = new Date(ev.time).toISOString();
  if (ev.requestParameters != null) {
    const json = JSON.stringify(ev.requestParameters);
    if (json.length <= MAX_PARAMS) attrs.requestParameters = ev.requestParameters;
    else attrs.truncated = true;
  }
  return attrs;
}

/**
 * The action for one generic event, named after it, in its service's domain.
 *  - write: upsert (account, service, resource ?? the event name) with attrsOf(ev), plus the write_log row
 *    (transact), so it is acknowledged, ledgered and verified like any catalogue write;
 *  - read: the resource's row when the event names one, else the service's resources of the account (100 at most);
 *    one statement, its own implicit transaction.
 */
export function genericAction(ev: GenericEvent): Action {
  const { name, service, write } = ev;
  if (write) {
    const resource = ev.resource ?? name;
    const attrs = JSON.stringify(attrsOf(ev));
    return {
      name, domain: service, write: true,
      run: (db, ctx) => transact(db, ctx, name, true, async (tx) => {
        await tx.q(
          `INSERT INTO generic_resources (account_id, service, resource, attrs) VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (account_id, service, resource) DO UPDATE SET attrs = generic_resources.attrs || excluded.attrs, updated_at = now()`,
          [tx.account, service, resource, attrs]);
      }),
    };
  }
  const resource = ev.resource;
  return {
    name, domain: service, write: false,
    run: (db, ctx) => transact(db, ctx, name, false, async (tx) => {
      if (resource !== undefined) {
        await tx.q(`SELECT resource, attrs, updated_at FROM generic_resources WHERE account_id = $1 AND service = $2 AND resource = $3`, [tx.account, service, resource]);
      } else {
        await tx.q(`SELECT resource, attrs, updated_at FROM generic_resources WHERE account_id = $1 AND service = $2 ORDER BY resource LIMIT 100`, [tx.account, service]);
      }
    }, true),
  };
}
