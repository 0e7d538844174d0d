import { availableParallelism } from 'node:os';
import type { Database, Queryable } from '../../db/database.js';
import type { TableCarried } from './carry.js';
import { countRows } from './database-facts.js';
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

/** The tables in which the comparison found rows created since the backup: what a carry goes through. */
export const withCreatedRows = (tables: readonly TableSince[]) => new Set(tables.flatMap((t) => (t.kind === 'compared' && t.created ? [t.table] : [])));

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

/** Tables compared at once, each on a session of its own: as many as the load uses (the comparison reads both copies whole). */
export const COMPARE_SESSIONS = Math.max(2, Math.min(4, availableParallelism()));
/**
 * Enough for a hash table of a few million keys and row hashes (PostgreSQL's default is 4 MB).
 * The embedded database's memory is its process's, and never given back: it hashes in batches.
 */
const COMPARE_MEMORY = { postgres: '64MB', embedded: '8MB' };

/** A column as both sides can compare it: as it is where the types agree and hash, else as text. */
function comparable(table: TableShape, other: TableShape, name: string, alias?: string): string {
  const mine = table.columns.find((c) => c.name === name);
  const theirs = other.columns.find((c) => c.name === name);
  const column = alias ? `${alias}.${ident(name)}` : ident(name);
  return mine && theirs && mine.type === theirs.type && mine.hashable ? column : `${column}::text`;
}

/**
 * How a table's two copies are joined by key. `in-order`: their rows lie in key order (an
 * identity's, as inserted), so a merge join walks both key indexes and compares the values as
 * they are, with no hash table. `hashed`: otherwise (random uuids); a hash join of narrow rows,
 * the key and a 64-bit hash of the other columns (rows with equal hashes count as unchanged: a
 * collision is about 1 in 10^19).
 */
export type JoinForm = 'in-order' | 'hashed';

/** One side of a hashed comparison, as a subquery: its key, and the hash of the columns both sides have. */
function hashedSide(schema: string, table: TableShape, other: TableShape, common: string[]): string {
  const hash = common.length ? `hash_record_extended(ROW(${common.map((c) => comparable(table, other, c)).join(', ')}), 0)` : '0';
  return `(SELECT ${table.key.map((k) => `${comparable(table, other, k)} AS ${ident(k)}`).join(', ')}, ${hash} AS atlas_hash FROM ${qualified(schema, table.name)})`;
}

/** The SQL that compares one table of the live data (`l`) with the backup's (`b`), joined by key. */
export function comparison(liveSchema: string, backupSchema: string, live: TableShape, backup: TableShape, form: JoinForm) {
  const common = live.columns.filter((c) => !live.key.includes(c.name) && backup.columns.some((b) => b.name === c.name)).map((c) => c.name);
  const inOrder = form === 'in-order';
  const key = live.key.map((k): [string, string] =>
    inOrder ? [comparable(live, backup, k, 'l'), comparable(backup, live, k, 'b')] : [`l.${ident(k)}`, `b.${ident(k)}`],
  );
  const sides = inOrder
    ? `${qualified(liveSchema, live.name)} l FULL JOIN ${qualified(backupSchema, backup.name)} b`
    : `${hashedSide(liveSchema, live, backup, common)} l FULL JOIN ${hashedSide(backupSchema, backup, live, common)} b`;
  const from = `${sides} ON ${key.map(([l, b]) => `${l} = ${b}`).join(' AND ')}`;
  // Only a table with a primary key is compared: there is a first key column.
  const [l0, b0] = key[0]!;
  const values = (alias: string, table: TableShape, other: TableShape) => `(${common.map((c) => comparable(table, other, c, alias)).join(', ')})`;
  const differ = !inOrder
    ? 'l.atlas_hash <> b.atlas_hash'
    : common.length
      ? `${l0} IS NOT NULL AND ${b0} IS NOT NULL AND ${values('l', live, backup)} IS DISTINCT FROM ${values('b', backup, live)}`
      : 'false';
  const conditions = { created: `${b0} IS NULL`, deleted: `${l0} IS NULL`, changed: differ };
  return {
    counts: `SELECT ${Object.entries(conditions)
      .map(([name, where]) => `count(*) FILTER (WHERE ${where})::int AS ${name}`)
      .join(', ')} FROM ${from}`,
    keys: (kind: keyof typeof conditions) =>
      `SELECT CASE WHEN ${conditions.deleted} THEN ${keyText(key.map(([, b]) => b))} ELSE ${keyText(key.map(([l]) => l))} END AS key FROM ${from}
        WHERE ${conditions[kind]} ORDER BY ${key.map(([l, b]) => `coalesce(${l}, ${b})`).join(', ')} LIMIT ${KEYS_LISTED}`,
  };
}

const INTEGER = new Set(['smallint', 'integer', 'bigint']);

/**
 * Whether the live table's rows lie in the order of its key: a key of one integer column
 * (an identity's) whose values follow the rows' places on disk, in a sample of 1% of its pages.
 * (Statistics would say so too, but a table just loaded has none yet.)
 */
async function inKeyOrder(db: Queryable, schema: string, shape: TableShape): Promise<boolean> {
  const key = shape.columns.find((c) => c.name === shape.key[0]);
  if (shape.key.length !== 1 || !key || !INTEGER.has(key.type)) return false;
  const [row] = await db.query<{ ordered: boolean | null }>(
    `SELECT abs(corr(((ctid::text)::point)[0], ${ident(key.name)}::float8)) > 0.9 AS ordered FROM ${qualified(schema, shape.name)} TABLESAMPLE SYSTEM (1)`,
  );
  return row?.ordered === true;
}

async function count(db: Queryable, schema: string, table: string): Promise<number> {
  const name = qualified(schema, table);
  return (await countRows(db, [name]))[name] ?? 0;
}

async function compareTable(db: Queryable, live: string, backup: string, shape: TableShape, theirs: TableShape | undefined): Promise<TableSince> {
  if (!theirs) return { table: shape.name, kind: 'not-in-backup', rows: await count(db, live, shape.name) };
  if (!shape.key.length || shape.key.join() !== theirs.key.join()) {
    return { table: shape.name, kind: 'no-key', rows: await count(db, live, shape.name), rowsInBackup: await count(db, backup, shape.name) };
  }
  const form: JoinForm = (await inKeyOrder(db, live, shape)) ? 'in-order' : 'hashed';
  // The planner would hash the in-order tables too: told not to, it walks their key indexes.
  await db.exec(`SET enable_hashjoin = ${form === 'hashed'}`);
  const sql = comparison(live, backup, shape, theirs, form);
  const [n] = await db.query<{ created: number; changed: number; deleted: number }>(sql.counts);
  const totals = { created: n?.created ?? 0, changed: n?.changed ?? 0, deleted: n?.deleted ?? 0 };
  const keys = { created: [] as string[], changed: [] as string[], deleted: [] as string[] };
  for (const kind of ['created', 'changed', 'deleted'] as const) {
    if (totals[kind]) keys[kind] = (await db.query<{ key: string }>(sql.keys(kind))).map((r) => r.key);
  }
  const columnsNotInBackup = shape.columns.filter((c) => !theirs.columns.some((t) => t.name === c.name)).map((c) => c.name);
  return { table: shape.name, kind: 'compared', ...totals, columnsNotInBackup, keys };
}

/**
 * Compares the live data (schema `live`) with the loaded backup (schema `backup`) of one
 * database, table by table (the biggest first, several at once), by primary key; read only.
 * Tables only the backup has are left out: restoring them discards nothing. `onTable` hears of
 * each table compared.
 */
export async function sinceBackup(db: Database, live: string, backup: string, onTable?: (done: number, total: number) => void): Promise<TableSince[]> {
  const [liveShapes, backupShapes] = await Promise.all([tableShapes(db, live), tableShapes(db, backup)]);
  const queue = [...liveShapes.values()].sort((a, b) => b.estimatedRows - a.estimatedRows);
  const report: TableSince[] = [];
  const total = queue.length;
  // The embedded database is one session: its settings are shared, so one table at a time.
  const sessions = db.kind === 'embedded' ? 1 : COMPARE_SESSIONS;
  await Promise.all(
    Array.from({ length: Math.min(sessions, total) }, () =>
      db.session(async (conn) => {
        await conn.exec(`SET work_mem = '${COMPARE_MEMORY[db.kind]}'`);
        for (let shape = queue.shift(); shape; shape = queue.shift()) {
          report.push(await compareTable(conn, live, backup, shape, backupShapes.get(shape.name)));
          onTable?.(report.length, total);
        }
      }),
    ),
  );
  return report.sort((a, b) => a.table.localeCompare(b.table));
}

/** Keys as listed: at most as many as the report holds, and how many more there are. */
const listed = (keys: readonly string[], total: number) => `${keys.join(', ')}${total > keys.length ? ` and ${total - keys.length} more` : ''}`;

/**
 * What a restore discards, one line per table in the form scripts parse
 * (`incidents: 4 created, 1 changed, 0 deleted since the backup`), each followed by indented
 * details: the keys of rows changed and deleted since, columns the backup lacks, and with
 * --keep-new what was carried and what was left out, and why.
 */
export function sinceBackupLines(since: SinceBackup, carrying = false): string[] {
  const carried = new Map((since.carried ?? []).map((c) => [c.table, c]));
  const unchanged = since.tables.filter((t) => t.kind === 'compared' && !t.created && !t.changed && !t.deleted && !t.columnsNotInBackup.length);
  const compared = since.tables.filter((t) => t.kind === 'compared');
  const sum = (kind: 'created' | 'changed' | 'deleted') => compared.reduce((n, t) => n + (t.kind === 'compared' ? t[kind] : 0), 0);
  const kept = [...carried.values()].reduce((n, c) => n + c.carried, 0);
  const created = sum('created');
  const notInBackup = since.tables.reduce((n, t) => n + (t.kind === 'not-in-backup' ? t.rows : 0), 0);
  // What is lost comes first, in one line; the tables with nothing since the backup are named, not listed.
  const summary = since.tables.length
    ? [
        `since the backup: ${created} row${created === 1 ? '' : 's'} created (${since.carried ? `${kept} carried over, ${created - kept} discarded` : carrying ? 'to be carried over: --keep-new' : 'discarded'}), ` +
          `${sum('changed')} changed (the backup's values come back), ${sum('deleted')} deleted (they come back)` +
          (notInBackup ? `, ${notInBackup} in tables the backup does not have (discarded)` : '') +
          `, in ${since.tables.length - unchanged.length} of ${since.tables.length} tables`,
        ...(unchanged.length ? [`unchanged since the backup: ${unchanged.map((t) => t.table).join(', ')}`] : []),
      ]
    : [];
  return [
    ...summary,
    ...since.tables.flatMap((t) => {
      if (t.kind === 'not-in-backup') return [`${t.table}: not in the backup: its ${t.rows} rows are discarded`];
      if (t.kind === 'no-key') return [`${t.table}: no primary key to compare by: ${t.rows} rows now, ${t.rowsInBackup} in the backup`];
      if (unchanged.includes(t)) return [];
      const c = carried.get(t.table);
      return [
        `${t.table}: ${t.created} created, ${t.changed} changed, ${t.deleted} deleted since the backup`,
        ...(t.columnsNotInBackup.length ? [`  columns the backup does not have (their values are discarded): ${t.columnsNotInBackup.join(', ')}`] : []),
        ...(t.changed ? [`  changed (the backup's values are restored): ${listed(t.keys.changed, t.changed)}`] : []),
        ...(t.deleted ? [`  deleted (they come back): ${listed(t.keys.deleted, t.deleted)}`] : []),
        ...(c && t.created ? [c.neverCarried ? `  not carried: ${c.neverCarried}` : `  carried over: ${c.carried} of ${t.created}`] : []),
        ...(c?.leftOut ?? []).map((row) => `  left out ${row.key}: ${row.reason}`),
      ];
    }),
  ];
}
