import { loadMigrations, migrate, MigrationError } from '../../db/migrations.js';
import { readAppVersion } from '../../shared/version.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';
import { describeSchemaState } from '../words.js';

export const command: Command = {
  help: `Usage: tpctl migrate up [--json]

Applies the migrations this version ships that the database (DB_URL, or the embedded
database in ATLAS_DATA_DIR) does not have yet, in order, each in its own transaction,
under the same advisory lock the servers take. Refuses, changing nothing, when an
applied migration was edited since. With --json, "timings" says what each migration
applied now took, and the strongest lock it held on a table that was there before
("ACCESS EXCLUSIVE" on incidents, for how long): what a rehearsal reports.

Examples:
  tpctl migrate up`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const db = await f.openDatabase();
    try {
      const result = await migrate(db, loadMigrations(), readAppVersion(), () => io.err('waiting for another process that is migrating…'));
      io.out(
        values.json
          ? JSON.stringify({ appliedNow: result.applied, timings: result.timings, ...result.state }, null, 2)
          : `${result.applied.length ? `applied: ${result.applied.join(', ')}` : 'nothing to apply'}\n${describeSchemaState(result.state)}`,
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
