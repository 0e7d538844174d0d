import { existsSync, statSync } from 'node:fs';
import { countBySeverity, formatReport, lintMigrations } from '../../db/lint/lint.js';
import { MIGRATIONS_DIR } from '../../db/migrations.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';

export const command: Command = {
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

Exit code: 0 clean, 1 violations, 2 a file does not parse (or bad input).

Examples:
  tpctl migrate lint
  tpctl migrate lint migrations/0012_add_priority.sql`,
  async run(args, f) {
    const { io } = f;
    const { values, positionals } = parseFlags(args, { json: { type: 'boolean' } }, Infinity);
    const paths = positionals.length ? positionals : [MIGRATIONS_DIR];
    for (const p of paths) {
      if (!existsSync(p)) throw new CliError(`no such file or directory: ${p}`);
      // Only migrations are read: a syntax error quotes the text, so another file would be shown.
      if (!p.endsWith('.sql') && !statSync(p).isDirectory()) throw new CliError(`${p} is not a migration (NNNN_name.sql) or a directory of them`);
    }
    const report = await lintMigrations(paths);
    const counts = countBySeverity(report);
    io.out(values.json ? JSON.stringify({ ...counts, ...report }, null, 2) : formatReport(report));
    if (report.parseErrors.length) return 'refused';
    return counts.violations ? 'failed' : 'done';
  },
};
