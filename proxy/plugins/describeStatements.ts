// describeStatements owns turning the analyzer's statement info into the plugins' public StatementDescription.
import type { StatementInfo } from '../analyzer/types.js';
import type { StatementDescription } from './api.js';

const NONE: readonly StatementDescription[] = Object.freeze([]);

/** One StatementDescription per statement: what RequestContext.statements holds (`analysis` is the deprecated raw form). */
export function describeStatements(statements: readonly StatementInfo[] | undefined): readonly StatementDescription[] {
  if (statements === undefined || statements.length === 0) return NONE;
  const out: StatementDescription[] = new Array(statements.length);
  for (let i = 0; i < statements.length; i++) {
    const st = statements[i]!;
    const d: { -readonly [K in keyof StatementDescription]: StatementDescription[K] } = {
      kind: st.kind, tables: st.tables, readOnly: st.readOnly, cacheable: st.cacheable, key: st.accountKey,
      multipleKeys: st.multipleKeys, tags: st.tags, mergeSpec: st.merge,
    };
    if (st.setting !== undefined) d.setting = Object.freeze({ ...st.setting });
    if (st.system !== undefined) d.system = st.system;
    if (st.parseError !== undefined) d.parseError = st.parseError;
    out[i] = d;
  }
  return out;
}
