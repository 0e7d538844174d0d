import { createReadStream } from 'node:fs';
import zlib from 'node:zlib';
import { loadModule, parseSync } from 'libpg-query';
import { appliedFromRows, type AppliedMigration } from '../../db/migrations.js';
import { readDump } from './dump-reader.js';

const TABLE = 'public.schema_migrations';
const COLUMNS = /^COPY \S+ \((.*)\) FROM stdin;$/;
const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** A value of COPY's text format: `\N` is NULL, backslash escapes as PostgreSQL writes them. */
function copyValue(field: string): string | null {
  return field === '\\N' ? null : field.replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? c);
}

/** A text[] as PostgreSQL prints it: `{}`, `{drop-column,rename}` (rule ids need no quoting). */
function textArray(value: string | null): string[] | null {
  if (value === null || !/^\{[^"\\{}]*\}$/.test(value)) return null;
  const inner = value.slice(1, -1);
  return inner ? inner.split(',') : [];
}

type Tree = Record<string, unknown>;

/** The column names of `CREATE TABLE public.schema_migrations (…)`, by the real parser. */
function createdColumns(sql: string): string[] {
  const create = (parseSync(sql).stmts?.[0]?.stmt as Tree | undefined)?.CreateStmt as { tableElts?: { ColumnDef?: { colname?: string } }[] } | undefined;
  return (create?.tableElts ?? []).flatMap((e) => (e.ColumnDef?.colname ? [e.ColumnDef.colname] : []));
}

/** The values of `INSERT INTO … VALUES (…)` (how the embedded database's dumps write rows): constants only. */
function insertedValues(sql: string): (string | null)[] {
  const insert = (parseSync(sql).stmts?.[0]?.stmt as Tree | undefined)?.InsertStmt as
    { selectStmt?: { SelectStmt?: { valuesLists?: { List?: { items?: Tree[] } }[] } } } | undefined;
  const items = insert?.selectStmt?.SelectStmt?.valuesLists?.[0]?.List?.items ?? [];
  return items.map((item) => {
    const c = item.A_Const as { isnull?: boolean; sval?: { sval?: string }; ival?: { ival?: number } } | undefined;
    if (!c || c.isnull) return null;
    return c.sval ? (c.sval.sval ?? '') : String(c.ival?.ival ?? 0);
  });
}

/**
 * The migrations a backup's schema holds: the rows of its schema_migrations, read from the dump
 * itself (COPY rows from pg_dump, INSERTs from the embedded database's), so any backup is read.
 * The file is read only up to that table's rows.
 */
export async function backupMigrations(file: string): Promise<AppliedMigration[]> {
  await loadModule();
  const compressed = createReadStream(file, { highWaterMark: 1 << 20 });
  const sql = compressed.pipe(zlib.createGunzip({ chunkSize: 1 << 20 }));
  compressed.on('error', (err) => sql.destroy(err));
  const rows: (string | null)[][] = [];
  let columns: string[] = [];
  let reading = false;
  try {
    for await (const item of readDump(sql, 1 << 20)) {
      if (item.kind === 'rows' && item.table === TABLE) {
        reading = true;
        columns = (COLUMNS.exec(item.copy)?.[1] ?? '').split(',').map((c) => c.trim());
        rows.push(
          ...Buffer.concat(item.data)
            .toString('utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => line.split('\t').map(copyValue)),
        );
      } else if (item.kind === 'statement' && item.sql.startsWith(`INSERT INTO ${TABLE} `)) {
        reading = true;
        rows.push(insertedValues(item.sql));
      } else if (reading) {
        break;
      } else if (item.kind === 'statement' && item.sql.startsWith(`CREATE TABLE ${TABLE} `)) {
        columns = createdColumns(item.sql);
      }
    }
  } finally {
    sql.destroy();
  }
  return appliedFromRows(
    rows.map((values) => {
      const row: Record<string, unknown> = Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));
      return { ...row, breaking_rules: textArray((row.breaking_rules as string | null | undefined) ?? null) };
    }),
  );
}
