import { loadMigrations, readSchemaState } from '../../db/migrations.js';
import { readAppVersion } from '../../shared/version.js';
import { parseFlags, type Command } from '../command.js';
import { describeSchemaState } from '../words.js';

export const command: Command = {
  help: `Usage: tpctl migrate status [--json]

Compares the database (DB_URL, or the embedded database in ATLAS_DATA_DIR) with the
migrations this version ships, and says whether this version can run on that schema.
"ahead" migrations were applied by a newer version (as after a rollback): accepted when
their recorded lint verdict is additive; "breaking" ones (a waived DROP COLUMN, say) and
"changed" ones (edited after being applied) mean this version cannot run on the schema.
upgrade and rollback run the target version's own migrate status before switching.

Exit code: 0 when this version can run on the schema, 1 when it cannot.

Examples:
  tpctl migrate status
  DB_URL=postgresql://atlas@db.internal/atlas tpctl migrate status --json`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const db = await f.openDatabase();
    try {
      const state = await readSchemaState(db, loadMigrations());
      io.out(
        values.json
          ? JSON.stringify({ version: readAppVersion(), database: db.location, ...state }, null, 2)
          : `database: ${db.location}\n${describeSchemaState(state)}`,
      );
      return state.canRun ? 'done' : 'failed';
    } finally {
      await db.close();
    }
  },
};
