import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Database, Queryable } from './database.js';
import { appRoot } from '../shared/app-root.js';

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
}

/** How a database's schema stands against the migrations this code ships. */
export interface SchemaState {
  applied: AppliedMigration[];
  /** Shipped here, not yet applied. */
  pending: string[];
  /** Applied by a newer version, unknown to this code (as after a rollback): accepted. */
  ahead: string[];
  /** Applied, but the file shipped here differs from what was applied: refused. */
  changed: { name: string; appliedChecksum: string; fileChecksum: string }[];
  /** This code can serve on this schema: nothing pending, nothing changed. */
  canRun: boolean;
}

export class MigrationError extends Error {}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  const names = readdirSync(dir).filter((n) => n.endsWith('.sql')).sort();
  const misnamed = names.filter((n) => !NAME_RE.test(n));
  if (misnamed.length > 0) {
    throw new MigrationError(
      `migration files must be named NNNN_lower_snake_case.sql; rename: ${misnamed.join(', ')} (in ${dir})`,
    );
  }
  return names.map((name) => {
    const sql = readFileSync(path.join(dir, name), 'utf8');
    return { name, checksum: checksumOf(sql), sql };
  });
}

export async function readSchemaState(db: Queryable, files: readonly MigrationFile[]): Promise<SchemaState> {
  const [table] = await db.query<{ present: boolean }>(
    `SELECT to_regclass('schema_migrations') IS NOT NULL AS present`,
  );
  const rows = table?.present
    ? await db.query<{ name: string; checksum: string; app_version: string; applied_at: Date }>(
        'SELECT name, checksum, app_version, applied_at FROM schema_migrations ORDER BY name',
      )
    : [];
  const applied = rows.map((r) => ({ name: r.name, checksum: r.checksum, appVersion: r.app_version, appliedAt: r.applied_at }));
  const appliedByName = new Map(applied.map((m) => [m.name, m]));
  const known = new Set(files.map((f) => f.name));
  const pending = files.filter((f) => !appliedByName.has(f.name)).map((f) => f.name);
  const ahead = applied.filter((m) => !known.has(m.name)).map((m) => m.name);
  const changed = files.flatMap((f) => {
    const m = appliedByName.get(f.name);
    return m && m.checksum !== f.checksum ? [{ name: f.name, appliedChecksum: m.checksum, fileChecksum: f.checksum }] : [];
  });
  return { applied, pending, ahead, changed, canRun: pending.length === 0 && changed.length === 0 };
}

export function describeChanged(changed: SchemaState['changed']): string {
  return (
    `applied migration${changed.length > 1 ? 's' : ''} ${changed.map((c) => c.name).join(', ')} changed since ` +
    'they were applied (checksum differs); an applied migration must never be edited: restore the file as ' +
    'released and put the change in a new migration'
  );
}

/** A migration whose first line is `-- atlas:no-transaction` (for CREATE INDEX CONCURRENTLY) runs statement by statement. */
export const NO_TRANSACTION_RE = /^--[ \t]*atlas:no-transaction[ \t]*(\r?\n|$)/;

async function record(conn: Queryable, file: MigrationFile, appVersion: string, started: number): Promise<void> {
  await conn.query('INSERT INTO schema_migrations (name, checksum, app_version, duration_ms) VALUES ($1, $2, $3, $4)', [
    file.name,
    file.checksum,
    appVersion,
    Math.round(performance.now() - started),
  ]);
}

async function applyInTransaction(conn: Queryable, file: MigrationFile, appVersion: string): Promise<void> {
  const started = performance.now();
  await conn.exec('BEGIN');
  try {
    await conn.exec(file.sql);
    await record(conn, file, appVersion, started);
    await conn.exec('COMMIT');
  } catch (err) {
    await conn.exec('ROLLBACK').catch(() => {});
    throw new MigrationError(`migration ${file.name} failed and was rolled back: ${(err as Error).message}`);
  }
}

async function applyStatementByStatement(conn: Queryable, file: MigrationFile, appVersion: string): Promise<void> {
  const started = performance.now();
  // The parser is only needed here, so the server loads it only for such migrations.
  const { splitMigration } = await import('./lint/source.js');
  const statements = await splitMigration(file.sql);
  for (const [i, statement] of statements.entries()) {
    try {
      await conn.exec(statement);
    } catch (err) {
      throw new MigrationError(
        `migration ${file.name} (no transaction) failed at statement ${i + 1} of ${statements.length}: ${(err as Error).message}; ` +
          'the statements before it stay applied and the migration runs again from the start next time, so it must be idempotent (IF NOT EXISTS)',
      );
    }
  }
  await record(conn, file, appVersion, started);
}

export interface MigrateResult {
  applied: string[];
  state: SchemaState;
}

/**
 * Applies pending migrations in order, each in its own transaction, under a PostgreSQL advisory
 * lock. Refuses (before applying anything) when an applied migration's file has changed.
 */
export async function migrate(
  db: Database,
  files: readonly MigrationFile[],
  appVersion: string,
  onWait: () => void = () => {},
): Promise<MigrateResult> {
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
      const before = await readSchemaState(conn, files);
      if (before.changed.length > 0) throw new MigrationError(describeChanged(before.changed));
      const applied: string[] = [];
      for (const file of files.filter((f) => before.pending.includes(f.name))) {
        await (NO_TRANSACTION_RE.test(file.sql) ? applyStatementByStatement : applyInTransaction)(conn, file, appVersion);
        applied.push(file.name);
      }
      return { applied, state: await readSchemaState(conn, files) };
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  });
}
