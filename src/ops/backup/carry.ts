import type { Queryable } from '../../db/database.js';
import { LoadError } from './load.js';
import { ident, keyText, parentsFirst, qualified, tableShapes, type TableShape } from './table-shapes.js';

/**
 * The tables whose rows never outlive a restore, and why. Declared here only: the report says
 * why their new rows were not carried.
 */
export const NEVER_CARRIED: Readonly<Record<string, string>> = {
  sessions: 'sign-ins end with a restore: everyone signs in again',
  login_failures: 'the login throttle starts over',
  schema_migrations: 'the restored data records its own migrations',
  tenant_plane_instance: 'it describes the version that runs on the data',
};

/** What --keep-new carried from the data set aside into one restored table. */
export interface TableCarried {
  table: string;
  carried: number;
  /** Columns the restored table does not have: the carried rows' values in them stay behind. */
  columnsLeftBehind: string[];
  /** Rows the restored schema's constraints refuse, with PostgreSQL's reason; they stay in the copy set aside. */
  leftOut: { key: string; reason: string }[];
  /** Sequences and identities set past every carried id: name → the value they continue after. */
  sequences: Record<string, number>;
  /** Why this table's new rows are never carried (NEVER_CARRIED). */
  neverCarried?: string;
}

/** SQLSTATE classes of a row the restored schema refuses: data exceptions (22) and integrity constraints (23). */
const refusesRow = (err: unknown) => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
};

/** A live column's value as the restored column takes it: cast through text where the types differ. */
function valueFor(source: TableShape, target: TableShape, name: string): string {
  const type = target.columns.find((c) => c.name === name)?.type;
  return source.columns.find((c) => c.name === name)?.type === type ? `l.${ident(name)}` : `l.${ident(name)}::text::${type}`;
}

/** The rows of `from` (as `l`) whose key `into` does not have: those created since the backup. */
const createdRows = (from: string, into: string, source: TableShape, target: TableShape) =>
  `FROM ${qualified(from, source.name)} l WHERE NOT EXISTS (SELECT 1 FROM ${qualified(into, target.name)} r WHERE ${target.key
    .map((k) => `r.${ident(k)} = ${valueFor(source, target, k)}`)
    .join(' AND ')})`;

/** The INSERT that carries the created rows; `$1`, when asked for, picks one of them by its ctid. */
function carrySql(from: string, into: string, source: TableShape, target: TableShape, oneRow: boolean): string {
  const columns = target.columns.filter((c) => !c.generated && source.columns.some((s) => s.name === c.name)).map((c) => c.name);
  return `INSERT INTO ${qualified(into, target.name)} (${columns.map(ident).join(', ')}) OVERRIDING SYSTEM VALUE
    SELECT ${columns.map((c) => valueFor(source, target, c)).join(', ')} ${createdRows(from, into, source, target)}${oneRow ? ' AND l.ctid = $1::tid' : ''}`;
}

/** Inserts the created rows of one table: all at once, or, when one of them is refused, one by one (each under a savepoint). */
async function carryTable(
  tx: Queryable,
  from: string,
  into: string,
  source: TableShape,
  target: TableShape,
): Promise<Pick<TableCarried, 'carried' | 'leftOut'>> {
  await tx.exec('SAVEPOINT atlas_carry');
  try {
    const rows = await tx.query(`${carrySql(from, into, source, target, false)} RETURNING 1`);
    await tx.exec('RELEASE SAVEPOINT atlas_carry');
    return { carried: rows.length, leftOut: [] };
  } catch (err) {
    await tx.exec('ROLLBACK TO SAVEPOINT atlas_carry; RELEASE SAVEPOINT atlas_carry');
    if (!refusesRow(err)) throw err;
  }
  const candidates = await tx.query<{ tid: string; key: string }>(
    `SELECT l.ctid::text AS tid, ${keyText(source.key.map((k) => `l.${ident(k)}`))} AS key ${createdRows(from, into, source, target)} ORDER BY ${source.key.map((k) => `l.${ident(k)}`).join(', ')}`,
  );
  const one = carrySql(from, into, source, target, true);
  const leftOut: TableCarried['leftOut'] = [];
  let carried = 0;
  for (const row of candidates) {
    await tx.exec('SAVEPOINT atlas_carry_row');
    try {
      carried += (await tx.query(`${one} RETURNING 1`, [row.tid])).length;
      await tx.exec('RELEASE SAVEPOINT atlas_carry_row');
    } catch (err) {
      await tx.exec('ROLLBACK TO SAVEPOINT atlas_carry_row; RELEASE SAVEPOINT atlas_carry_row');
      if (!refusesRow(err)) throw err;
      leftOut.push({ key: row.key, reason: (err as Error).message });
    }
  }
  return { carried, leftOut };
}

/** Sets each sequence and identity of the table past the largest value its column now holds. */
async function advanceSequences(tx: Queryable, schema: string, table: string): Promise<Record<string, number>> {
  const owned = await tx.query<{ sequence: string; column: string }>(
    `SELECT format('%I.%I', sn.nspname, s.relname) AS sequence, a.attname AS column
       FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace sn ON sn.oid = s.relnamespace
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i')`,
    [qualified(schema, table)],
  );
  const set: Record<string, number> = {};
  for (const { sequence, column } of owned) {
    const [row] = await tx.query<{ value: string | number | null }>(
      `SELECT setval($1::regclass, m) AS value FROM (SELECT max(${ident(column)}) AS m FROM ${qualified(schema, table)}) x
        WHERE m >= (SELECT last_value FROM ${sequence})`,
      [sequence],
    );
    if (row?.value != null) set[sequence] = Number(row.value);
  }
  return set;
}

/**
 * Carries the rows created since the backup (their key is in `from`, the live data set aside,
 * and not in `into`, the restored data) of the tables the comparison found them in (`created`)
 * into the restored tables, parents first, within the caller's transaction: only the columns
 * the restored tables have; a row the restored schema refuses is left out and listed; any other
 * failure is thrown (a LoadError), and the caller's rollback undoes it all. Rows changed or
 * deleted since are not touched.
 */
export async function carryCreatedRows(tx: Queryable, from: string, into: string, created: ReadonlySet<string>): Promise<TableCarried[]> {
  const [sources, targets] = await Promise.all([tableShapes(tx, from), tableShapes(tx, into)]);
  const report: TableCarried[] = [];
  for (const target of parentsFirst([...targets.values()])) {
    const source = sources.get(target.name);
    if (!source || !created.has(target.name) || !target.key.length || source.key.join() !== target.key.join()) continue;
    const columnsLeftBehind = source.columns.filter((c) => !target.columns.some((t) => t.name === c.name)).map((c) => c.name);
    const never = NEVER_CARRIED[target.name];
    if (never) {
      report.push({ table: target.name, carried: 0, columnsLeftBehind, leftOut: [], sequences: {}, neverCarried: never });
      continue;
    }
    const done = await carryTable(tx, from, into, source, target).catch((err: Error) => {
      throw new LoadError(`carrying the rows created since the backup into ${target.name} failed: ${err.message}`);
    });
    report.push({ table: target.name, ...done, columnsLeftBehind, sequences: done.carried ? await advanceSequences(tx, into, target.name) : {} });
  }
  return report.sort((a, b) => a.table.localeCompare(b.table));
}
