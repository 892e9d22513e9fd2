// checkShards owns the start-up check of what moving tenants needs on each shard (a server user, the prescient schema or the right to make it, and per domain table the privileges the copy, the change capture and the clean-up use), each gap said plainly.
import type { Config } from '../../config/schema.js';
import { logger } from '../logger.js';
import { connectShard } from './shardSql.js';

// values come back as the text Postgres prints (connectShard): a boolean is 't' or 'f'

/** What is missing on each shard for moves (empty when nothing is); logged as warnings, the proxy serves either way. */
export async function checkShards(config: Config): Promise<string[]> {
  const gaps: string[] = [];
  const tables = [...new Set(Object.values(config.sharding.domains).flatMap((d) => d.tables))];
  for (const s of config.shards) {
    if (s.user === undefined) {
      gaps.push(`shard ${s.name}: no shards[].user — moves need a server user that reads and writes the domain tables`);
      continue;
    }
    let c;
    try {
      c = await connectShard(s, 'prescient-check');
    } catch (e) {
      gaps.push(`shard ${s.name}: cannot connect as ${s.user} (${(e as Error).message})`);
      continue;
    }
    try {
      const schema = await c.query<{ ok: string }>(
        `select case when to_regnamespace('prescient') is null then has_database_privilege(current_database(), 'CREATE')
                     else has_schema_privilege('prescient', 'CREATE') and has_schema_privilege('prescient', 'USAGE') end as ok`,
      );
      if (schema.rows[0]!.ok !== 't') gaps.push(`shard ${s.name}: ${s.user} can neither create schema prescient nor create objects in it (change capture lives there)`);
      for (const t of tables) {
        const r = await c.query<{ exists: string; missing: string | null }>(
          `select to_regclass($1) is not null as exists,
                  case when to_regclass($1) is null then null else
                    nullif(array_to_string(array(select p from unnest(array['SELECT','INSERT','UPDATE','DELETE','TRIGGER']) p where not has_table_privilege(to_regclass($1), p)), ', '), '') end as missing`,
          [t],
        );
        if (r.rows[0]!.exists !== 't') gaps.push(`shard ${s.name}: table ${t} does not exist`);
        else if (r.rows[0]!.missing) gaps.push(`shard ${s.name}: ${s.user} lacks ${r.rows[0]!.missing} on ${t}`);
      }
    } finally {
      await c.end().catch(() => {});
    }
  }
  for (const g of gaps) logger.warn('shard manager: moves will fail here until this is fixed', { gap: g });
  return gaps;
}
