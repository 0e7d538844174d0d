import { createReadStream } from 'node:fs';
import zlib from 'node:zlib';
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

/**
 * The migrations a backup's schema holds: the rows of its schema_migrations, read from the dump
 * itself (so backups taken before manifests listed them are read too). The file is read only up
 * to that table's rows.
 */
export async function backupMigrations(file: string): Promise<AppliedMigration[]> {
  const compressed = createReadStream(file, { highWaterMark: 1 << 20 });
  const sql = compressed.pipe(zlib.createGunzip({ chunkSize: 1 << 20 }));
  compressed.on('error', (err) => sql.destroy(err));
  const lines: string[] = [];
  let columns: string[] | undefined;
  try {
    for await (const item of readDump(sql, 1 << 20)) {
      if (item.kind !== 'rows' || item.table !== TABLE) {
        if (columns) break;
        continue;
      }
      columns = (COLUMNS.exec(item.copy)?.[1] ?? '').split(',').map((c) => c.trim());
      lines.push(...Buffer.concat(item.data).toString('utf8').split('\n').filter(Boolean));
    }
  } finally {
    sql.destroy();
  }
  const rows = lines.map((line) => {
    const values = line.split('\t').map(copyValue);
    const row: Record<string, unknown> = Object.fromEntries((columns ?? []).map((c, i) => [c, values[i] ?? null]));
    return { ...row, breaking_rules: textArray((row.breaking_rules as string | null | undefined) ?? null) };
  });
  return appliedFromRows(rows);
}
