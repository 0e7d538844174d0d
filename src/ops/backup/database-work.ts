import { createBackup, type DatabaseTarget } from './create.js';
import { restoreBackup, undoRestore, type SetAside } from './restore.js';
import { credentialLines } from './credentials.js';
import { sinceBackupLines, type SinceBackup } from './since-backup.js';
import { failedChecks, verifyBackup } from './verify.js';
import type { Executor } from '../core/exec.js';
import { Refused } from '../core/errors.js';
import { copyForRehearsal, dropRehearsalCopy, recordProvenRestore, type CopyRoom, type RehearsalCopy } from './rehearsal-copy.js';

/** A rehearsal copies the database on its own server: PostgreSQL's (the embedded database is one process's, see the docs). */
function postgresOnly(target: DatabaseTarget): string {
  if (!target.dbUrl) throw new Refused('a rehearsal needs PostgreSQL: the embedded database cannot be copied while the Tenant Plane holds it');
  return target.dbUrl;
}

/** What the lifecycle does with the database: the pre-upgrade backup, and the restore of a rollback and its undo. */
export interface DatabaseWork {
  /** The embedded database, which one process at a time may open: the Tenant Plane stops for a backup. */
  readonly embedded: boolean;
  /** PostgreSQL's URL; undefined for the embedded database. */
  readonly dbUrl: string | undefined;
  /** Where backups go. */
  readonly backupDir: string;
  /** Takes a verified pre-upgrade backup named after the version that runs. */
  backup(appVersion: string): Promise<{ file: string; detail: string }>;
  /** Refuses a backup that fails verification (signature, size, checksum, gzip, content): before anything stops. */
  checkBackup(file: string): Promise<void>;
  /** Restores, all or nothing; the data it replaces is set aside; with keepNew, rows created since the backup are carried over. */
  restore(file: string, keepNew: boolean): Promise<{ sinceBackup: SinceBackup; detail: string }>;
  /** Puts back the data the last restore set aside; the restored data is set aside in turn. */
  undoRestore(): Promise<{ putBack: SetAside; restored: SetAside }>;
  /**
   * A rehearsal's copy in the scratch database `name` on the same server (PostgreSQL only): the
   * backup file `from` restored (its restore test), or, for `now`, the live data as it is.
   */
  rehearsalCopy(name: string, from: string): Promise<RehearsalCopy>;
  /** Drops a rehearsal's copy; says whether there was one. */
  dropRehearsalCopy(name: string): Promise<boolean>;
  /** Records in the live database that `backup` was proven to restore now (read by /metrics). */
  recordProven(backup: string): Promise<void>;
}

export function databaseWork(target: DatabaseTarget, backups: { logDir: string; keep: number; room: CopyRoom }, exec: Executor): DatabaseWork {
  return {
    embedded: !target.dbUrl,
    dbUrl: target.dbUrl,
    backupDir: backups.logDir,
    async backup(appVersion) {
      const b = await createBackup({ ...target, ...backups, reason: 'pre-upgrade', appVersion }, exec);
      return { file: b.file, detail: `${b.file} (${b.manifest.sizeBytes} bytes, sha256 ${b.manifest.sha256.slice(0, 12)}…)` };
    },
    async checkBackup(file) {
      const verified = await verifyBackup(file, target, { exec });
      if (!verified.ok) throw new Refused(`the backup ${file} failed verification: ${failedChecks(verified)}`);
    },
    async restore(file, keepNew) {
      const r = await restoreBackup({ ...target, file, keepNew }, exec);
      const kept = r.safetyCopy ? `; the data from before is kept as ${r.safetyCopy.kind} ${r.safetyCopy.name}` : '';
      return {
        sinceBackup: r.sinceBackup,
        detail: [
          `restored ${Object.keys(r.tables).length} tables${kept}`,
          ...sinceBackupLines(r.sinceBackup),
          ...credentialLines(r.credentials),
          ...r.notes,
        ].join('\n   '),
      };
    },
    undoRestore: () => undoRestore(target),
    rehearsalCopy(name, from) {
      const dbUrl = postgresOnly(target);
      return copyForRehearsal({ ...target, dbUrl }, name, from === 'now' ? { now: { backupDir: backups.logDir } } : { backup: from }, backups.room, exec);
    },
    dropRehearsalCopy: (name) => dropRehearsalCopy(postgresOnly(target), name),
    recordProven: (backup) => recordProvenRestore(postgresOnly(target), backup),
  };
}
