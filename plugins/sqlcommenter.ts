// sqlcommenter owns the built-in key plugin that reads the account and action from sqlcommenter tags (/* account='…',action='…' */).
import { PLUGIN_API_VERSION, type PrescientPlugin, type RequestContext } from '../proxy/plugins/api.js';

export interface SqlcommenterOptions {
  /** tag holding the account id (default `account`) */
  accountTag?: string;
  /** tag holding the action (default `action`) */
  actionTag?: string;
}

/** Fills ctx.shardKey from the first statement carrying each tag; a part already set by an earlier plugin is kept. */
export function tagKey(ctx: RequestContext, accountTag = 'account', actionTag = 'action'): void {
  const statements = ctx.statements;
  if (!statements) return;
  for (let i = 0; i < statements.length; i++) {
    const tags = statements[i]!.tags;
    const account = tags[accountTag];
    const action = tags[actionTag];
    if (account === undefined && action === undefined) continue;
    const key = (ctx.shardKey ??= {});
    if (account !== undefined && key.account === undefined) {
      key.account = account;
      key.source = 'tag';
    }
    if (action !== undefined && key.action === undefined) key.action = action;
  }
}

/** The built-in `sqlcommenter` plugin. */
export function sqlcommenter(): PrescientPlugin {
  let accountTag = 'account';
  let actionTag = 'action';
  return {
    name: 'sqlcommenter',
    apiVersion: PLUGIN_API_VERSION,
    setup(_host, options) {
      const o = (options ?? {}) as SqlcommenterOptions;
      if (typeof o.accountTag === 'string') accountTag = o.accountTag;
      if (typeof o.actionTag === 'string') actionTag = o.actionTag;
    },
    createSessionHooks: () => ({
      onRequest(ctx) {
        tagKey(ctx, accountTag, actionTag);
        return undefined;
      },
    }),
  };
}
