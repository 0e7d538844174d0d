import type { Queryable } from '../../db/database.js';
import type { TableCarried } from './carry.js';
import { ident, keyText, qualified, tableShapes, type TableShape } from './table-shapes.js';

/** At most this many keys of each kind of row are listed per table; the counts are exact. */
export const KEYS_LISTED = 50;

/**
 * What the live data holds that the loaded backup does not, for one table: what a restore
 * discards (and what --keep-new may carry over).
 */
export type TableSince =
  | {
      table: string;
      kind: 'compared';
      /** Rows whose key the backup does not have. */
      created: number;
      /** Rows in both whose values differ (in the columns both have). */
      changed: number;
      /** Rows of the backup whose key the live data no longer has. */
      deleted: number;
      /** Columns the backup's table does not have (added by a newer version): their values go. */
      columnsNotInBackup: string[];
      keys: { created: string[]; changed: string[]; deleted: string[] };
    }
  /** A table the backup does not have: all its rows go. */
  | { table: string; kind: 'not-in-backup'; rows: number }
  /** A table without a primary key (or with another key in the backup): rows are counted, not matched. */
  | { table: string; kind: 'no-key'; rows: number; rowsInBackup: number };

/** What a restore found the live data holds that the backup does not, and what it carried over. */
export interface SinceBackup {
  /** Compared before the swap, table by table: what the restore discards. */
  tables: TableSince[];
  /** With keepNew: what was carried into the restored data (in a dry run: what would be). */
  carried: TableCarried[] | undefined;
  /** What the comparison and the carry added to the restore. */
  compareMs: number;
  carryMs: number;
}

/** Matching columns of the two sides, as SQL: compared as they are where both types agree, else as text. */
function sides(live: TableShape, backup: TableShape, column: string): [string, string] {
  const l = live.columns.find((c) => c.name === column);
  const b = backup.columns.find((c) => c.name === column);
  const asIs = l && b && l.type === b.type && l.comparable;
  return asIs ? [`l.${ident(column)}`, `b.${ident(column)}`] : [`l.${ident(column)}::text`, `b.${ident(column)}::text`];
}

/** The SQL that compares one table of the live data (`l`) with the backup's (`b`), joined by key. */
export function comparison(liveSchema: string, backupSchema: string, live: TableShape, backup: TableShape) {
  const key = live.key.map((k) => sides(live, backup, k));
  const common = live.columns.filter((c) => !live.key.includes(c.name) && backup.columns.some((b) => b.name === c.name)).map((c) => sides(live, backup, c.name));
  const [lk, bk] = [key.map(([l]) => l), key.map(([, b]) => b)];
  const from = `${qualified(liveSchema, live.name)} l FULL JOIN ${qualified(backupSchema, backup.name)} b ON ${key.map(([l, b]) => `${l} = ${b}`).join(' AND ')}`;
  const conditions = {
    created: `b.${ident(backup.key[0] ?? '')} IS NULL`,
    deleted: `l.${ident(live.key[0] ?? '')} IS NULL`,
    changed: `l.${ident(live.key[0] ?? '')} IS NOT NULL AND b.${ident(backup.key[0] ?? '')} IS NOT NULL AND ${
      common.length ? `(${common.map(([l]) => l).join(', ')}) IS DISTINCT FROM (${common.map(([, b]) => b).join(', ')})` : 'false'
    }`,
  };
  return {
    counts: `SELECT ${Object.entries(conditions).map(([name, where]) => `count(*) FILTER (WHERE ${where})::int AS ${name}`).join(', ')} FROM ${from}`,
    keys: (kind: keyof typeof conditions) =>
      `SELECT CASE WHEN ${conditions.deleted} THEN ${keyText(bk)} ELSE ${keyText(lk)} END AS key FROM ${from} WHERE ${conditions[kind]}
        ORDER BY ${key.map(([l, b]) => `coalesce(${l}, ${b})`).join(', ')} LIMIT ${KEYS_LISTED}`,
  };
}

const count = async (db: Queryable, schema: string, table: string) =>
  Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified(schema, table)}`))[0]?.n ?? 0);

/**
 * Compares the live data (schema `live`) with the loaded backup (schema `backup`) of one
 * database, table by table, by primary key; read only. Tables only the backup has are left
 * out: restoring them discards nothing.
 */
export async function sinceBackup(db: Queryable, live: string, backup: string): Promise<TableSince[]> {
  const [liveShapes, backupShapes] = await Promise.all([tableShapes(db, live), tableShapes(db, backup)]);
  const report: TableSince[] = [];
  for (const shape of [...liveShapes.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const theirs = backupShapes.get(shape.name);
    if (!theirs) {
      report.push({ table: shape.name, kind: 'not-in-backup', rows: await count(db, live, shape.name) });
      continue;
    }
    if (!shape.key.length || shape.key.join() !== theirs.key.join()) {
      report.push({ table: shape.name, kind: 'no-key', rows: await count(db, live, shape.name), rowsInBackup: await count(db, backup, shape.name) });
      continue;
    }
    const sql = comparison(live, backup, shape, theirs);
    const [n] = await db.query<{ created: number; changed: number; deleted: number }>(sql.counts);
    const totals = { created: n?.created ?? 0, changed: n?.changed ?? 0, deleted: n?.deleted ?? 0 };
    const keys = { created: [] as string[], changed: [] as string[], deleted: [] as string[] };
    for (const kind of ['created', 'changed', 'deleted'] as const) {
      if (totals[kind]) keys[kind] = (await db.query<{ key: string }>(sql.keys(kind))).map((r) => r.key);
    }
    const columnsNotInBackup = shape.columns.filter((c) => !theirs.columns.some((t) => t.name === c.name)).map((c) => c.name);
    report.push({ table: shape.name, kind: 'compared', ...totals, columnsNotInBackup, keys });
  }
  return report;
}

/** Keys as listed: at most as many as the report holds, and how many more there are. */
const listed = (keys: readonly string[], total: number) => `${keys.join(', ')}${total > keys.length ? ` and ${total - keys.length} more` : ''}`;

/**
 * What a restore discards, one line per table in the form scripts parse
 * (`incidents: 4 created, 1 changed, 0 deleted since the backup`), each followed by indented
 * details: the keys of rows changed and deleted since, columns the backup lacks, and with
 * --keep-new what was carried and what was left out, and why.
 */
export function sinceBackupLines(since: SinceBackup): string[] {
  const carried = new Map((since.carried ?? []).map((c) => [c.table, c]));
  return since.tables.flatMap((t) => {
    if (t.kind === 'not-in-backup') return [`${t.table}: not in the backup: its ${t.rows} rows are discarded`];
    if (t.kind === 'no-key') return [`${t.table}: no primary key to compare by: ${t.rows} rows now, ${t.rowsInBackup} in the backup`];
    const c = carried.get(t.table);
    return [
      `${t.table}: ${t.created} created, ${t.changed} changed, ${t.deleted} deleted since the backup`,
      ...(t.columnsNotInBackup.length ? [`  columns the backup does not have (their values are discarded): ${t.columnsNotInBackup.join(', ')}`] : []),
      ...(t.changed ? [`  changed (the backup's values are restored): ${listed(t.keys.changed, t.changed)}`] : []),
      ...(t.deleted ? [`  deleted (they come back): ${listed(t.keys.deleted, t.deleted)}`] : []),
      ...(c && t.created ? [c.neverCarried ? `  not carried: ${c.neverCarried}` : `  carried over: ${c.carried} of ${t.created}`] : []),
      ...(c?.leftOut ?? []).map((row) => `  left out ${row.key}: ${row.reason}`),
    ];
  });
}
