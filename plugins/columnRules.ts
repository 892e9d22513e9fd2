// columnRules owns the built-in key plugin that finds the account in the statement's account column (a literal or a
// bound `$n`) and the action by rule (statement kind × table → action, `sharding.action_rules`).
import { PLUGIN_API_VERSION, type PluginRejection, type PrescientPlugin, type RequestContext } from '../proxy/plugins/api.js';

/** statement kind × table → action */
export interface ActionRule {
  kind: string;
  table: string;
  action: string;
}

/** A bound parameter as text: binary int4/int8 become their decimal form, anything else is read as UTF-8. */
export function paramText(value: Buffer, format: number): string {
  if (format === 1) {
    if (value.length === 4) return String(value.readInt32BE(0));
    if (value.length === 8) return String(value.readBigInt64BE(0));
  }
  return value.toString('utf8');
}

/**
 * Fills ctx.shardKey.account from the account column when no earlier plugin set it; the statements of one request
 * naming different accounts are refused (they cannot run on one shard).
 */
export function columnKey(ctx: RequestContext): PluginRejection | undefined {
  const statements = ctx.statements;
  if (!statements || ctx.shardKey?.account !== undefined) return undefined;
  let found: string | undefined;
  let source: 'literal' | 'parameter' = 'literal';
  for (let i = 0; i < statements.length; i++) {
    const st = statements[i]!;
    const k = st.key;
    if (k === null || st.multipleKeys) continue;
    let account: string;
    if (k.kind === 'literal') account = k.value;
    else {
      const v = ctx.params?.[k.index - 1];
      if (v === undefined || v === null) continue;
      const formats = ctx.paramFormats;
      account = paramText(v, formats === undefined || formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : formats[k.index - 1] ?? 0);
      if (found === undefined) source = 'parameter';
    }
    if (found === undefined) found = account;
    else if (found !== account) {
      return { code: '0A000', message: `one request names two accounts ("${found}" and "${account}"): send one statement per account` };
    }
  }
  if (found === undefined) return undefined;
  const key = (ctx.shardKey ??= {});
  key.account = found;
  key.source = source;
  return undefined;
}

/** Sets ctx.shardKey.action from the first rule matching a statement, unless a tag or SET prescient.action gave one. */
export function ruleAction(ctx: RequestContext, rules: ReadonlyMap<string, string>): void {
  if (rules.size === 0 || ctx.shardKey?.action !== undefined || ctx.settings.get('prescient.action') !== undefined) return;
  for (const st of ctx.statements ?? []) {
    for (const table of st.tables) {
      const action = rules.get(`${st.kind.toLowerCase()} ${table}`) ?? rules.get(`${st.kind.toLowerCase()} ${table.slice(table.lastIndexOf('.') + 1)}`);
      if (action !== undefined) {
        (ctx.shardKey ??= {}).action = action;
        return;
      }
    }
  }
}

/** The built-in `column-rules` plugin. */
export function columnRules(): PrescientPlugin {
  const rules = new Map<string, string>();
  return {
    name: 'column-rules',
    apiVersion: PLUGIN_API_VERSION,
    setup(host) {
      for (const r of host.config?.sharding.action_rules ?? []) rules.set(`${r.kind.toLowerCase()} ${r.table}`, r.action);
    },
    createSessionHooks: () => ({
      onRequest(ctx) {
        const reject = columnKey(ctx);
        if (reject) return { reject };
        ruleAction(ctx, rules);
        return undefined;
      },
    }),
  };
}
