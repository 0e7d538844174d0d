import type { PGlite } from '@electric-sql/pglite';
import { queryable } from '../../db/embedded.js';
import { userTables } from './database-facts.js';
import { ident } from './table-shapes.js';

/** Rows fetched at once: a row holds at most twice a request body (256 KB), so a fetch stays within ~50 MB. */
const FETCH_ROWS = 100;

/** PGlite's own pg_dump, for one section: the schema parts are small, and it returns its output whole. */
async function section(pg: PGlite, name: 'pre-data' | 'post-data'): Promise<Buffer> {
  const { pgDump } = await import('@electric-sql/pglite-tools/pg_dump');
  const file = await pgDump({ pg, args: ['--no-owner', '--no-privileges', `--section=${name}`] });
  return Buffer.from(await file.arrayBuffer());
}

interface Column {
  name: string;
  generated: boolean;
  identityAlways: boolean;
}

/**
 * One table's rows as pg_dump's `--inserts` writes them (`INSERT INTO public.t [OVERRIDING SYSTEM
 * VALUE] VALUES (…);`, one per line), read through a cursor. PostgreSQL quotes each value itself
 * (quote_nullable), so that every value reads back as it was.
 */
async function* rows(pg: PGlite, table: string, counted: (n: number) => void): AsyncGenerator<Buffer> {
  const columns = await pg.query<Column>(
    `SELECT attname AS name, attgenerated <> '' AS generated, attidentity = 'a' AS "identityAlways"
       FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  const values = columns.rows.map((c) => (c.generated ? `'DEFAULT'` : `quote_nullable(${ident(c.name)})`)).join(', ');
  const head = `INSERT INTO ${table}${columns.rows.some((c) => c.identityAlways) ? ' OVERRIDING SYSTEM VALUE' : ''} VALUES (`;
  await pg.exec(`DECLARE atlas_dump NO SCROLL CURSOR FOR SELECT concat_ws(', ', ${values}) AS v FROM ${table}`);
  try {
    for (;;) {
      const batch = await pg.query<{ v: string }>(`FETCH ${FETCH_ROWS} FROM atlas_dump`);
      if (batch.rows.length === 0) return;
      counted(batch.rows.length);
      yield Buffer.from(batch.rows.map((r) => `${head}${r.v});\n`).join(''));
    }
  } finally {
    await pg.exec('CLOSE atlas_dump');
  }
}

/** Every table's rows, in one snapshot (the caller holds the database's lock: the schema does not change meanwhile). */
async function* allRows(pg: PGlite, tables: Record<string, number>): AsyncGenerator<Buffer> {
  for (const table of await userTables(queryable(pg))) {
    tables[table] = 0;
    yield Buffer.from(`\n--\n-- Data for Name: ${table}\n--\n\n`);
    yield* rows(pg, table, (n) => (tables[table]! += n));
  }
}

/** Runs `work` in a read-only transaction of one snapshot, with names written in full (search_path empty). */
async function* inSnapshot(pg: PGlite, work: () => AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  await pg.exec(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL search_path = ''`);
  try {
    yield* work();
  } finally {
    await pg.exec('COMMIT');
  }
}

/**
 * A plain-SQL dump of an embedded database, streamed: pg_dump's schema (before the data), every
 * table's rows as INSERTs read a batch at a time, the sequences' values, then pg_dump's indexes,
 * constraints and triggers. PGlite's pg_dump returns its whole output as one string (it cannot
 * exceed 512 MB, and it holds all of it in memory); only the small schema sections come from it.
 * `tables` receives each table's row count, taken from the very rows dumped.
 */
export async function* embeddedDump(pg: PGlite, tables: Record<string, number> = {}): AsyncGenerator<Buffer> {
  yield await section(pg, 'pre-data');
  yield* inSnapshot(pg, async function* () {
    yield* allRows(pg, tables);
    const sequences = await pg.query<{ sql: string }>(
      `SELECT format('SELECT pg_catalog.setval(%L, %s, %s);', format('%I.%I', schemaname, sequencename), COALESCE(last_value, start_value), CASE WHEN last_value IS NULL THEN 'false' ELSE 'true' END) AS sql
         FROM pg_catalog.pg_sequences WHERE schemaname = 'public' ORDER BY sequencename`,
    );
    yield Buffer.from(`\n${sequences.rows.map((r) => `${r.sql}\n`).join('')}\n`);
  });
  yield await section(pg, 'post-data');
}

/**
 * The tables of an embedded database for a restore's comparison, streamed, without pg_dump
 * (whose WebAssembly instance would double the restore's memory): each table with its columns
 * (generated ones as such), its rows, then its primary, unique and foreign keys, which the
 * comparison and the carry read. No defaults, identities, checks, indexes or triggers: the copy
 * is only read.
 */
export async function* embeddedTables(pg: PGlite): AsyncGenerator<Buffer> {
  yield* inSnapshot(pg, async function* () {
    const tables = await pg.query<{ sql: string }>(
      `SELECT format('CREATE TABLE %s (%s);', c.oid::regclass,
                     string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                       CASE WHEN a.attgenerated <> '' THEN format(' GENERATED ALWAYS AS (%s) STORED', pg_get_expr(d.adbin, d.adrelid)) ELSE '' END),
                                ', ' ORDER BY a.attnum)) AS sql
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        GROUP BY c.oid ORDER BY c.oid::regclass::text`,
    );
    yield Buffer.from(tables.rows.map((r) => `${r.sql}\n`).join(''));
    yield* allRows(pg, {});
    const keys = await pg.query<{ sql: string }>(
      `SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS sql
         FROM pg_catalog.pg_constraint
        WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f')
        ORDER BY contype = 'f', conrelid::regclass::text, conname`,
    );
    yield Buffer.from(keys.rows.map((r) => `${r.sql}\n`).join(''));
  });
}
