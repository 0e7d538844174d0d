import type { Queryable } from '../../src/db/database.js';
import { userTables } from '../../src/ops/backup/database-facts.js';

/**
 * Every user table's row count and an order-independent hash of its rows: equal fingerprints
 * mean equal data.
 */
export async function fingerprint(db: Queryable): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const table of await userTables(db)) {
    const [row] = await db.query<{ n: string | number; h: string | null }>(`SELECT count(*) AS n, sum(hashtext(t::text)::bigint)::text AS h FROM ${table} t`);
    result[table] = `${row?.n} rows, hash ${row?.h ?? 0}`;
  }
  return result;
}
