import type { Queryable } from '../../db/database.js';

export interface DatabaseFacts {
  serverVersion: string;
  /** Its major version (0 when unknown): pg_dump must be at least as new. */
  serverMajor: number;
  /** The Tenant Plane version that last started on this database, if any did. */
  appVersion: string | undefined;
  lastMigration: string | null;
  /** Heap and TOAST bytes of the user tables: what a dump carries (indexes are rebuilt). */
  dataBytes: number;
}

/** What a backup records about the database it was taken from. */
export async function readDatabaseFacts(db: Queryable): Promise<DatabaseFacts> {
  const [row] = await db.query<{ server: string; server_num: string; instance: boolean; migrations: boolean; data_bytes: string | number }>(
    `SELECT current_setting('server_version') AS server, current_setting('server_version_num') AS server_num,
            to_regclass('tenant_plane_instance') IS NOT NULL AS instance,
            to_regclass('schema_migrations') IS NOT NULL AS migrations,
            (SELECT coalesce(sum(pg_table_size(c.oid)), 0) FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p'))::bigint AS data_bytes`,
  );
  const [instance] = row?.instance ? await db.query<{ version: string }>('SELECT version FROM tenant_plane_instance') : [];
  const [last] = row?.migrations ? await db.query<{ name: string | null }>('SELECT max(name) AS name FROM schema_migrations') : [];
  return {
    serverVersion: row?.server ?? 'unknown',
    serverMajor: Math.floor(Number(row?.server_num ?? 0) / 10_000) || 0,
    appVersion: instance?.version,
    lastMigration: last?.name ?? null,
    dataBytes: Number(row?.data_bytes ?? 0),
  };
}

/** The user tables of schema public, as `public.name` (quoted where PostgreSQL would quote). */
export async function userTables(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT format('%I.%I', 'public', relname) AS name FROM pg_class
      WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY relname`,
  );
  return rows.map((r) => r.name);
}

/** A schema-qualified table name as pg_dump and format('%I.%I') write it: nothing else is ever run. */
const TABLE_NAME_RE = /^(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")\.(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")$/;

/** Exact row counts of the given tables (names as produced by pg_dump or userTables). */
export async function countRows(db: Queryable, tables: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    if (!TABLE_NAME_RE.test(table)) throw new Error(`refusing to count rows of "${table}": not a schema-qualified table name`);
    const [row] = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`);
    counts[table] = Number(row?.n ?? 0);
  }
  return counts;
}

/** Differences between expected and actual row counts, as readable lines. */
export function rowCountDifferences(expected: Record<string, number>, actual: Record<string, number>): string[] {
  return Object.entries(expected)
    .filter(([table, n]) => actual[table] !== n)
    .map(([table, n]) => `${table}: ${actual[table] ?? 'missing'} rows, the backup has ${n}`);
}
