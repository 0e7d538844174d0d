import { restoreBackup, undoRestore } from '../../ops/backup/restore.js';
import { Executor } from '../../ops/exec.js';
import { CliError, parseFlags, type Command } from '../command.js';
import { databaseTarget, secretsOf } from '../database.js';
import { progressLine } from '../progress.js';

export const restore: Command = {
  help: `Usage: tpctl restore FILE [--json]
       tpctl restore --undo

Restores a backup into the database (DB_URL, or the embedded database in ATLAS_DATA_DIR).
Stop the Tenant Plane first: the restore refuses while it is still connected.

  1. verifies the backup against its manifest, and refuses one that fails;
  2. loads it beside the current data (PostgreSQL: into a schema of its own, over several
     psql sessions at once; embedded: into a new directory) and compares every table's row
     count with the manifest;
  3. swaps it in at once (PostgreSQL: one short transaction renames schema public to
     atlas_pre_restore_<time> and the loaded schema to public; embedded: two renames). The
     data it replaced is kept: that is what --undo puts back.
A failure before the swap leaves the current data as it was.

After it, rows written after the backup are gone and the applied migrations are those of
the backup. Start the Tenant Plane again afterwards (docker compose up -d tenant-plane).
Needs psql for PostgreSQL. Exit code: 0 restored, 1 failed (nothing changed), 2 refused.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, { undo: { type: 'boolean' }, json: { type: 'boolean' } }, 1);
    const target = databaseTarget(io);
    if (values.undo) {
      if (positionals.length) throw new CliError('--undo takes no file: it puts back what the last restore set aside');
      const undone = await undoRestore(target);
      const message = `put back ${undone.putBack.kind} ${undone.putBack.name}; the restored data is now ${undone.restored.kind} ${undone.restored.name}`;
      io.out(values.json ? JSON.stringify({ undone: message, ...undone }, null, 2) : message);
      return 'done';
    }
    const file = positionals[0];
    if (!file) throw new CliError('name the backup to restore, e.g. tpctl restore /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz');
    const progress = progressLine(io.isTTY && !values.json, io.err);
    const result = await restoreBackup({ ...target, file, onProgress: progress.update }, new Executor(undefined, secretsOf(io))).finally(progress.done);
    const rows = Object.values(result.tables).reduce((a, b) => a + b, 0);
    io.out(
      values.json
        ? JSON.stringify(result, null, 2)
        : `restored ${file}: ${Object.keys(result.tables).length} tables, ${rows} rows, in ${(result.durationMs / 1000).toFixed(1)} s\n` +
            `the data from before the restore is kept as ${result.safetyCopy.kind} ${result.safetyCopy.name} (undo: tpctl restore --undo)` +
            result.notes.map((note) => `\n${note}`).join(''),
    );
    return 'done';
  },
};
