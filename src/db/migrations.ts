import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Database, Queryable } from './database.js';
import { appRoot } from '../shared/app-root.js';
import { NO_TRANSACTION_RE } from './directives.js';

export const MIGRATIONS_DIR = path.join(appRoot, 'migrations');
const NAME_RE = /^\d{4}_[a-z0-9_]+\.sql$/;
/** Held while migrating so that replicas starting together migrate exactly once. */
const MIGRATION_LOCK_KEY = 7_416_001;

export interface MigrationFile {
  name: string;
  checksum: string;
  sql: string;
}

export interface AppliedMigration {
  name: string;
  checksum: string;
  appVersion: string;
  appliedAt: Date;
  /** Its lint verdict: the rules it breaks (waived, or it would not have shipped); [] additive; null: applied before verdicts were recorded. */
  breakingRules: string[] | null;
}

/** A migration applied by a newer version that breaks this one (its verdict names the rules). */
export interface BreakingMigration {
  name: string;
  rules: string[];
  appliedBy: string;
}

/** How a database's schema stands against the migrations a version ships. */
export interface SchemaComparison {
  /** Shipped here, not yet applied. */
  pending: string[];
  /** Applied by a newer version, unknown to this code (as after a rollback): accepted when additive. */
  ahead: string[];
  /** Applied, but the file shipped here differs from what was applied: refused. */
  changed: { name: string; appliedChecksum: string; fileChecksum: string }[];
  /** Ahead, and not additive: this version would break on the schema it left. Refused. */
  breaking: BreakingMigration[];
}

export interface SchemaState extends SchemaComparison {
  applied: AppliedMigration[];
  /** This code can serve on this schema: nothing pending, changed or breaking. */
  canRun: boolean;
}

export class MigrationError extends Error {}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.sql'))
    .sort();
  const misnamed = names.filter((n) => !NAME_RE.test(n));
  if (misnamed.length > 0) {
    throw new MigrationError(`migration files must be named NNNN_lower_snake_case.sql; rename: ${misnamed.join(', ')} (in ${dir})`);
  }
  return names.map((name) => {
    const sql = readFileSync(path.join(dir, name), 'utf8');
    return { name, checksum: checksumOf(sql), sql };
  });
}

/**
 * Compares applied migrations (the live schema's, or a backup's) with the ones a version ships:
 * the one place that decides whether that version can run on that schema.
 */
export function compareSchema(applied: readonly AppliedMigration[], files: readonly Pick<MigrationFile, 'name' | 'checksum'>[]): SchemaComparison {
  const appliedByName = new Map(applied.map((m) => [m.name, m]));
  const known = new Set(files.map((f) => f.name));
  const aheadOnes = applied.filter((m) => !known.has(m.name));
  return {
    pending: files.filter((f) => !appliedByName.has(f.name)).map((f) => f.name),
    ahead: aheadOnes.map((m) => m.name),
    changed: files.flatMap((f) => {
      const m = appliedByName.get(f.name);
      return m && m.checksum !== f.checksum ? [{ name: f.name, appliedChecksum: m.checksum, fileChecksum: f.checksum }] : [];
    }),
    breaking: aheadOnes.flatMap((m) => (m.breakingRules?.length ? [{ name: m.name, rules: m.breakingRules, appliedBy: m.appVersion }] : [])),
  };
}

/** The rows of schema_migrations (`SELECT *`: verdicts were not recorded before 1.3.1), as applied migrations. */
export function appliedFromRows(rows: readonly Record<string, unknown>[]): AppliedMigration[] {
  return rows.map((r) => ({
    name: String(r.name),
    checksum: String(r.checksum),
    appVersion: String(r.app_version),
    appliedAt: r.applied_at instanceof Date ? r.applied_at : new Date(String(r.applied_at)),
    breakingRules: Array.isArray(r.breaking_rules) ? r.breaking_rules.map(String) : null,
  }));
}

export async function readSchemaState(db: Queryable, files: readonly MigrationFile[]): Promise<SchemaState> {
  const [table] = await db.query<{ present: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`);
  const applied = appliedFromRows(table?.present ? await db.query<Record<string, unknown>>('SELECT * FROM schema_migrations ORDER BY name') : []);
  const comparison = compareSchema(applied, files);
  const canRun = comparison.pending.length === 0 && comparison.changed.length === 0 && comparison.breaking.length === 0;
  return { applied, ...comparison, canRun };
}

export function describeChanged(changed: SchemaState['changed']): string {
  return (
    `applied migration${changed.length > 1 ? 's' : ''} ${changed.map((c) => c.name).join(', ')} changed since ` +
    'they were applied (checksum differs); an applied migration must never be edited: restore the file as ' +
    'released and put the change in a new migration'
  );
}

export function describeBreaking(breaking: readonly BreakingMigration[]): string {
  return breaking.map((b) => `${b.name} (applied by ${b.appliedBy}) is not additive: ${b.rules.join(', ')}`).join('; ');
}

async function record(conn: Queryable, file: MigrationFile, appVersion: string, started: number): Promise<void> {
  // The parser is only needed here, so the server loads it only when it applies migrations.
  const { verdictOf } = await import('./lint/lint.js');
  await conn.query('INSERT INTO schema_migrations (name, checksum, app_version, duration_ms, breaking_rules) VALUES ($1, $2, $3, $4, $5)', [
    file.name,
    file.checksum,
    appVersion,
    Math.round(performance.now() - started),
    await verdictOf(file.name, file.sql),
  ]);
}

/** The strongest lock a migration took on a table that existed before it, held from the start of the statement that took it to the commit. */
export interface MigrationLock {
  /** As PostgreSQL names it in its documentation: `ACCESS EXCLUSIVE`. */
  mode: string;
  relation: string;
  heldMs: number;
}

/** What applying one migration took. `lock` is null when it took none on an existing table, or ran without a transaction (each statement held its own). */
export interface MigrationTiming {
  name: string;
  durationMs: number;
  lock: MigrationLock | null;
}

/** PostgreSQL's table-level lock modes, weakest first. */
const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
];
const lockName = (mode: string) =>
  mode
    .replace(/Lock$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();

/** The tables, indexes and sequences there are before a migration: a lock on one it creates blocks nobody. */
async function existingRelations(conn: Queryable): Promise<Set<number>> {
  const rows = await conn.query<{ oid: number }>(
    `SELECT c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'`,
  );
  return new Set(rows.map((r) => r.oid));
}

/** The strongest lock this session holds now on one of `existing` (a table rather than its index, where they tie). */
async function strongestLock(conn: Queryable, existing: Set<number>): Promise<{ mode: string; relation: string } | undefined> {
  const rows = await conn.query<{ oid: number; mode: string; relation: string }>(
    `SELECT l.relation::int AS oid, l.mode, n.nspname || '.' || c.relname AS relation
       FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation'
      ORDER BY c.relkind NOT IN ('r', 'p'), c.relname`,
  );
  let best: { mode: string; relation: string } | undefined;
  for (const r of rows.filter((r) => existing.has(r.oid))) {
    if (!best || LOCK_MODES.indexOf(r.mode) > LOCK_MODES.indexOf(best.mode)) best = { mode: r.mode, relation: r.relation.replace(/^public\./, '') };
  }
  return best;
}

/** A database error as PostgreSQL gave it: its message, and its detail (which names a duplicated key, say). */
function databaseError(err: unknown): string {
  const e = err as { message?: string; detail?: string };
  return `${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}`;
}

const excerpt = (statement: string) => {
  const line = statement.replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
};

/**
 * One migration in one transaction, a statement at a time: after each, the locks it holds are
 * read, so that the strongest one on an existing table, and since when, is known at the commit.
 */
async function applyInTransaction(conn: Queryable, file: MigrationFile, appVersion: string): Promise<MigrationTiming> {
  const started = performance.now();
  const { splitMigration } = await import('./lint/source.js');
  const statements = await splitMigration(file.sql);
  let strongest: { mode: string; relation: string; since: number } | undefined;
  await conn.exec('BEGIN');
  try {
    const existing = await existingRelations(conn);
    for (const [i, statement] of statements.entries()) {
      const at = performance.now();
      try {
        await conn.exec(statement);
      } catch (err) {
        throw new MigrationError(
          `migration ${file.name} failed at statement ${i + 1} of ${statements.length} (${excerpt(statement)}) and was rolled back: ${databaseError(err)}`,
        );
      }
      const lock = await strongestLock(conn, existing);
      if (lock && (!strongest || LOCK_MODES.indexOf(lock.mode) > LOCK_MODES.indexOf(strongest.mode))) strongest = { ...lock, since: at };
    }
    await record(conn, file, appVersion, started);
    await conn.exec('COMMIT');
  } catch (err) {
    await conn.exec('ROLLBACK').catch(() => {});
    if (err instanceof MigrationError) throw err;
    throw new MigrationError(`migration ${file.name} failed and was rolled back: ${databaseError(err)}`);
  }
  const ended = performance.now();
  return {
    name: file.name,
    durationMs: Math.round(ended - started),
    lock: strongest ? { mode: lockName(strongest.mode), relation: strongest.relation, heldMs: Math.round(ended - strongest.since) } : null,
  };
}

async function applyStatementByStatement(conn: Queryable, file: MigrationFile, appVersion: string): Promise<MigrationTiming> {
  const started = performance.now();
  const { splitMigration } = await import('./lint/source.js');
  const statements = await splitMigration(file.sql);
  for (const [i, statement] of statements.entries()) {
    try {
      await conn.exec(statement);
    } catch (err) {
      throw new MigrationError(
        `migration ${file.name} (no transaction) failed at statement ${i + 1} of ${statements.length} (${excerpt(statement)}): ${databaseError(err)}; ` +
          'the statements before it stay applied and the migration runs again from the start next time, so it must be idempotent (IF NOT EXISTS)',
      );
    }
  }
  await record(conn, file, appVersion, started);
  return { name: file.name, durationMs: Math.round(performance.now() - started), lock: null };
}

export interface MigrateResult {
  applied: string[];
  /** What each migration applied now took, in order. */
  timings: MigrationTiming[];
  state: SchemaState;
}

/**
 * Applies pending migrations in order, each in its own transaction, under a PostgreSQL advisory
 * lock. Refuses (before applying anything) when an applied migration's file has changed.
 */
export async function migrate(db: Database, files: readonly MigrationFile[], appVersion: string, onWait: () => void = () => {}): Promise<MigrateResult> {
  return db.session(async (conn) => {
    const [got] = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATION_LOCK_KEY]);
    if (!got?.locked) {
      onWait();
      await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    }
    try {
      await conn.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        checksum text NOT NULL,
        app_version text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        duration_ms integer NOT NULL
      )`);
      await conn.exec('ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS breaking_rules text[]');
      const before = await readSchemaState(conn, files);
      if (before.changed.length > 0) throw new MigrationError(describeChanged(before.changed));
      if (before.breaking.length > 0) {
        throw new MigrationError(
          `this version cannot run on this schema: ${describeBreaking(before.breaking)}; restore a backup taken at or before this version`,
        );
      }
      const timings: MigrationTiming[] = [];
      for (const file of files.filter((f) => before.pending.includes(f.name))) {
        timings.push(await (NO_TRANSACTION_RE.test(file.sql) ? applyStatementByStatement : applyInTransaction)(conn, file, appVersion));
      }
      return { applied: timings.map((t) => t.name), timings, state: await readSchemaState(conn, files) };
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  });
}
