import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { DatabaseTarget } from '../../ops/backup/create.js';
import { restoreBackup, undoRestore } from '../../ops/backup/restore.js';
import { stateFiles } from '../../ops/engine/state/files.js';
import type { OutcomeKind } from '../../ops/engine/outcome.js';
import { acquireFileLock, LockHeldError } from '../../shared/file-lock.js';
import type { Factory } from '../factory.js';
import { lockedWords } from '../words.js';
import { START_COMMANDS } from '../runtimes.js';
import { credentialLines } from '../../ops/backup/credentials.js';
import { sinceBackupLines, type SinceBackup } from '../../ops/backup/since-backup.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';
import { progressLine } from '../progress.js';

export const command: Command = {
  help: `Usage: tpctl restore FILE [--dry-run] [--keep-new] [--trust-unsigned] [--yes] [--json]
       tpctl restore --undo

Restores a backup into the database (DB_URL, or the embedded database in ATLAS_DATA_DIR).
Stop the Tenant Plane first: the restore refuses while it is still connected.

  1. verifies the backup before any of it runs: its manifest's signature (a key of the
     keyring, see tpctl backup sign --help), then its size and SHA-256, as it is copied
     apart: what is loaded is that copy, the very bytes checked. It refuses one that fails;
     while loading, it refuses any statement our backups never hold (a psql command, a
     role, COPY ... PROGRAM, a function no migration defines);
  2. loads it beside the current data (PostgreSQL: into a schema of its own, over several
     psql sessions at once; embedded: into a new directory) and compares every table's row
     count with the manifest;
  3. compares it with the current data, table by table, by primary key, and reports what
     the restore discards, one line per table:
       incidents: 4 created, 1 changed, 0 deleted since the backup
     with the keys of the rows changed and deleted since (the first 50 of each), the
     columns the backup does not have, and the tables it does not have;
  4. swaps it in at once (PostgreSQL: one transaction renames schema public to
     atlas_pre_restore_<time> and the loaded schema to public; from the start of the load
     to then, the live tables are held still: writes by other sessions wait; embedded: two
     renames). The data it replaced is kept: that is what --undo puts back. Within the
     swap no credential comes back: every session ends, and the API tokens, agents,
     enrollment tokens and users revoked, deleted, disabled or given a new password or
     credential since the backup stay as they are now (listed in the report).
A failure before the swap leaves the current data as it was, and the copies earlier
restores set aside (the undo) are dropped only once the swap has committed.

After it, rows written after the backup are gone (unless --keep-new) and the applied
migrations are those of the backup. Start the Tenant Plane again afterwards where it runs:
${START_COMMANDS.map((c) => `  ${c}`).join('\n')}

--dry-run   load, compare and report, then drop the loaded copy: the current data is not
            touched (on PostgreSQL the Tenant Plane may keep running; the embedded
            database opens in one process at a time, so stop it there too).
--trust-unsigned  accept a backup no key of the keyring signed (made elsewhere, or before
            signing); said in the output. ATLAS_TRUST_UNSIGNED=1 does the same.
--keep-new  carry the rows created since the backup into the restored data, inside the
            swap, all or nothing: only the columns the restored tables have, parents before
            children, sequences and identities set past every carried id. A row the restored
            schema refuses (NOT NULL, CHECK, UNIQUE, a foreign key to a row that is not
            there) is left out and listed with the reason. Rows changed or deleted since are
            not re-applied (they may be the damage the restore is for): they are listed, and
            stay in the copy set aside. Sessions, login failures, the applied migrations and
            the instance record are never carried.

--yes       do not ask. On a terminal, once the backup is loaded and compared, the restore
            shows what it would discard and asks before the swap (no: nothing changes, exit
            2); without a terminal (a script, a pipe) it does not ask.

Needs psql for PostgreSQL. Exit code: 0 restored (or checked), 1 failed (nothing changed),
2 refused.

Examples:
  tpctl restore /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz --dry-run
  tpctl restore /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz --keep-new
  tpctl restore --undo`,
  async run(args, f) {
    const { values, positionals } = parseFlags(
      args,
      {
        undo: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        'keep-new': { type: 'boolean' },
        'trust-unsigned': { type: 'boolean' },
        yes: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      1,
    );
    const target = f.databaseTrusting(values['trust-unsigned']);
    // One operation at a time: a restore excludes another restore, an upgrade and a rollback (exit 4).
    mkdirSync(f.dataDir, { recursive: true });
    let lock;
    try {
      lock = acquireFileLock(stateFiles(f.dataDir).lock, values.undo ? 'tpctl restore --undo' : `tpctl restore ${positionals[0] ?? ''}`.trim());
    } catch (err) {
      if (err instanceof LockHeldError) throw new CliError(lockedWords(err.holder), 'locked');
      throw err;
    }
    try {
      return await restoreUnderLock(values, positionals, target, f);
    } finally {
      lock.release();
    }
  },
};

/** The first line typed, trimmed ('' when the input ends first). */
async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  const lines = createInterface({ input, terminal: false });
  try {
    const [line] = (await Promise.race([once(lines, 'line'), once(lines, 'close').then(() => [''])])) as [string];
    return line.trim();
  } finally {
    lines.close();
  }
}

async function restoreUnderLock(
  values: { undo?: boolean; 'dry-run'?: boolean; 'keep-new'?: boolean; 'trust-unsigned'?: boolean; yes?: boolean; json?: boolean },
  positionals: string[],
  target: DatabaseTarget,
  f: Factory,
): Promise<OutcomeKind> {
  const { io } = f;
  if (values.undo) {
    if (positionals.length || values['dry-run'] || values['keep-new'] || values['trust-unsigned'])
      throw new CliError('--undo takes no file and no other flag: it puts back what the last restore set aside');
    const undone = await undoRestore(target);
    const message = `put back ${undone.putBack.kind} ${undone.putBack.name}; the restored data is now ${undone.restored.kind} ${undone.restored.name}`;
    io.out(values.json ? JSON.stringify({ undone: message, ...undone }, null, 2) : message);
    return 'done';
  }
  const file = positionals[0];
  if (!file) throw new CliError('name the backup to restore, e.g. tpctl restore /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz');
  const progress = progressLine(io.isTTY && !values.json, io.err);
  // On a terminal, what would be lost is shown and a yes asked for before the swap; --yes, a
  // script or a pipe (no terminal) go on as asked, so the guide's commands work unchanged.
  const ask = !values.yes && !values['dry-run'] && !values.json && Boolean(io.stdin.isTTY) && io.isTTY;
  const confirm = async (since: SinceBackup) => {
    progress.done();
    io.err([...sinceBackupLines(since, values['keep-new']), `restore ${file} over the current data? [y/N]`].join('\n'));
    return /^(y|yes)$/i.test(await firstLine(io.stdin));
  };
  const plan = { ...target, file, dryRun: values['dry-run'], keepNew: values['keep-new'], onProgress: progress.update, confirm: ask ? confirm : undefined };
  const result = await restoreBackup(plan, f.executor()).finally(progress.done);
  if (values.json) {
    io.out(JSON.stringify(result, null, 2));
    return 'done';
  }
  const rows = Object.values(result.tables).reduce((a, b) => a + b, 0);
  const what = `${Object.keys(result.tables).length} tables, ${rows} rows, in ${(result.durationMs / 1000).toFixed(1)} s`;
  io.out(
    [
      result.dryRun ? `dry run: ${file} would restore ${what}; nothing was changed` : `restored ${file}: ${what}`,
      ...sinceBackupLines(result.sinceBackup),
      ...credentialLines(result.credentials),
      ...(result.safetyCopy
        ? [`the data from before the restore is kept as ${result.safetyCopy.kind} ${result.safetyCopy.name} (undo: tpctl restore --undo)`]
        : []),
      ...result.notes,
    ].join('\n'),
  );
  return 'done';
}
