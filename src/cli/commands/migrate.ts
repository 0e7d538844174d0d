import { existsSync } from 'node:fs';
import { countBySeverity, formatReport, lintMigrations } from '../../db/lint/lint.js';
import { describeBreaking, loadMigrations, migrate, MIGRATIONS_DIR, MigrationError, readSchemaState, type SchemaState } from '../../db/migrations.js';
import { readAppVersion } from '../../shared/version.js';
import { CliError, parseFlags, type Command } from '../command.js';
import { openCliDatabase } from '../database.js';

function describeState(state: SchemaState): string {
  const lines = [
    `applied: ${state.applied.length}${state.applied.length ? ` (last: ${state.applied.at(-1)?.name}, by ${state.applied.at(-1)?.appVersion})` : ''}`,
    `pending: ${state.pending.length ? state.pending.join(', ') : 'none'}`,
    `ahead:   ${state.ahead.length ? `${state.ahead.join(', ')} (applied by a newer version; this version ignores them)` : 'none'}`,
  ];
  if (state.changed.length) lines.push(`changed: ${state.changed.map((c) => c.name).join(', ')} (edited after being applied)`);
  if (state.breaking.length) lines.push(`breaking: ${describeBreaking(state.breaking)}`);
  lines.push(
    state.canRun
      ? 'this version can run on this schema'
      : state.changed.length
        ? 'this version cannot run on this schema: an applied migration was edited'
        : state.breaking.length
          ? 'this version cannot run on this schema: a newer version applied a migration that is not additive; restore a backup taken at or before this version'
          : 'this version cannot run on this schema yet: apply the pending migrations with `tpctl migrate up` (the server also does at start)',
  );
  return lines.join('\n');
}

export const migrateStatus: Command = {
  help: `Usage: tpctl migrate status [--json]

Compares the database (DB_URL, or the embedded database in ATLAS_DATA_DIR) with the
migrations this version ships, and says whether this version can run on that schema.
"ahead" migrations were applied by a newer version (as after a rollback): accepted when
their recorded lint verdict is additive; "breaking" ones (a waived DROP COLUMN, say) and
"changed" ones (edited after being applied) mean this version cannot run on the schema.
upgrade and rollback run the target version's own migrate status before switching.

Exit code: 0 when this version can run on the schema, 1 when it cannot.`,
  async run(args, io) {
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const db = await openCliDatabase(io);
    try {
      const state = await readSchemaState(db, loadMigrations());
      io.out(values.json ? JSON.stringify({ version: readAppVersion(), database: db.location, ...state }, null, 2) : `database: ${db.location}\n${describeState(state)}`);
      return state.canRun ? 'done' : 'failed';
    } finally {
      await db.close();
    }
  },
};

export const migrateUp: Command = {
  help: `Usage: tpctl migrate up [--json]

Applies the migrations this version ships that the database (DB_URL, or the embedded
database in ATLAS_DATA_DIR) does not have yet, in order, each in its own transaction,
under the same advisory lock the servers take. Refuses, changing nothing, when an
applied migration was edited since.`,
  async run(args, io) {
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const db = await openCliDatabase(io);
    try {
      const result = await migrate(db, loadMigrations(), readAppVersion(), () => io.err('waiting for another process that is migrating…'));
      io.out(
        values.json
          ? JSON.stringify({ appliedNow: result.applied, ...result.state }, null, 2)
          : `${result.applied.length ? `applied: ${result.applied.join(', ')}` : 'nothing to apply'}\n${describeState(result.state)}`,
      );
      return 'done';
    } catch (err) {
      if (err instanceof MigrationError) throw new CliError(err.message, 'failed');
      throw err;
    } finally {
      await db.close();
    }
  },
};

export const migrateLint: Command = {
  help: `Usage: tpctl migrate lint [FILE|DIR ...] [--json]

Checks migrations with the real PostgreSQL parser for changes that would break the
previous version after a rollback: drops, renames, type changes, new NOT NULL or
constraints on existing tables, table rewrites, blocking index builds, and more.
With no argument, lints the migrations this version ships (${MIGRATIONS_DIR}).

Each finding gives file:line:column, the rule id, what breaks, and the safe
expand/contract alternative. "review" findings and notes (backfills) do not fail.

Waive a finding with a comment on its statement, giving the reason:
  -- atlas:allow drop-column the column was never released
A migration that must run outside a transaction (CREATE INDEX CONCURRENTLY) starts with
  -- atlas:no-transaction

Exit code: 0 clean, 1 violations, 2 a file does not parse (or bad input).`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, { json: { type: 'boolean' } }, Infinity);
    const paths = positionals.length ? positionals : [MIGRATIONS_DIR];
    for (const p of paths) if (!existsSync(p)) throw new CliError(`no such file or directory: ${p}`);
    const report = await lintMigrations(paths);
    const counts = countBySeverity(report);
    io.out(values.json ? JSON.stringify({ ...counts, ...report }, null, 2) : formatReport(report));
    if (report.parseErrors.length) return 'refused';
    return counts.violations ? 'failed' : 'done';
  },
};
