import type { Queryable } from '../../db/database.js';

/**
 * The tables of one schema as the catalog describes them: what a restore needs to compare the
 * loaded backup with the live data, and to carry rows from one to the other.
 */
export interface Column {
  name: string;
  /** As format_type writes it: `bigint`, `character varying(40)`. */
  type: string;
  /** The type (an array's: its elements') has a default hash operator class: a row hash can take it as it is (json has none). */
  hashable: boolean;
  /** GENERATED ALWAYS AS (…) STORED: computed, never inserted. */
  generated: boolean;
}

export interface TableShape {
  name: string;
  columns: Column[];
  /** The primary key's columns, in key order; empty when the table has none. */
  key: string[];
  /** Tables of the same schema this one has foreign keys to. */
  parents: string[];
  /** PostgreSQL's estimate of its rows (0 before it has one): the big tables are compared first. */
  estimatedRows: number;
}

/** A quoted identifier: every name reaches SQL this way, whatever a dump called it. */
export const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

export const qualified = (schema: string, table: string) => `${ident(schema)}.${ident(table)}`;

/** A key as one text, as PostgreSQL writes it: `42`, or `(42,eu)` for a key of several columns. */
export const keyText = (columns: readonly string[]) => (columns.length === 1 ? `(${columns[0]})::text` : `ROW(${columns.join(', ')})::text`);

/** The tables of `schema` (partitions count as their parent), by name. */
export async function tableShapes(db: Queryable, schema: string): Promise<Map<string, TableShape>> {
  const rows = await db.query<{
    table: string;
    column: string;
    type: string;
    hashable: boolean;
    generated: boolean;
    key_position: number | null;
    estimated: number;
  }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attgenerated <> '' AS generated,
            greatest(c.reltuples, 0)::float8 AS estimated,
            EXISTS (SELECT 1 FROM pg_type t JOIN pg_opclass o ON o.opcintype = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END
                      JOIN pg_am m ON m.oid = o.opcmethod
                     WHERE t.oid = a.atttypid AND m.amname = 'hash' AND o.opcdefault) AS hashable,
            (SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS key_position
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY c.relname, a.attnum`,
    [schema],
  );
  const parents = await db.query<{ table: string; parent: string }>(
    `SELECT DISTINCT c.relname AS table, p.relname AS parent
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype = 'f' AND n.nspname = $1 AND p.relnamespace = n.oid AND p.oid <> c.oid`,
    [schema],
  );
  const shapes = new Map<string, TableShape & { keyAt: Map<string, number> }>();
  for (const r of rows) {
    let shape = shapes.get(r.table);
    if (!shape) shapes.set(r.table, (shape = { name: r.table, columns: [], key: [], parents: [], estimatedRows: Number(r.estimated), keyAt: new Map() }));
    shape.columns.push({ name: r.column, type: r.type, hashable: r.hashable, generated: r.generated });
    if (r.key_position !== null) shape.keyAt.set(r.column, r.key_position);
  }
  for (const p of parents) shapes.get(p.table)?.parents.push(p.parent);
  return new Map([...shapes].map(([name, { keyAt, ...shape }]) => [name, { ...shape, key: [...keyAt].sort((a, b) => a[1] - b[1]).map(([column]) => column) }]));
}

/** Parents before children, so that a child's foreign key finds its parent; ties (and cycles) by name. */
export function parentsFirst(shapes: readonly TableShape[]): TableShape[] {
  const byName = new Map(shapes.map((s) => [s.name, s]));
  const placed = new Set<string>();
  const order: TableShape[] = [];
  const visiting = new Set<string>();
  const place = (shape: TableShape) => {
    if (placed.has(shape.name) || visiting.has(shape.name)) return;
    visiting.add(shape.name);
    for (const parent of [...shape.parents].sort()) {
      const p = byName.get(parent);
      if (p) place(p);
    }
    visiting.delete(shape.name);
    placed.add(shape.name);
    order.push(shape);
  };
  for (const shape of [...shapes].sort((a, b) => a.name.localeCompare(b.name))) place(shape);
  return order;
}
