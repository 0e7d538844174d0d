import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Executor } from '../core/exec.js';
import { Refused } from '../core/errors.js';
import { createBackup, type DatabaseTarget } from './create.js';
import { settingsRepository } from '../../db/settings.js';
import { createScratch, dropScratch, loadBackupInto, onDatabase } from './scratch.js';
import { PROVEN_RESTORE_SETTING } from '../../shared/names.js';
import { readManifest } from './manifest.js';
import { checkedBackup } from './verify.js';

/** How much room a copy may take on the database server, and how much it is thought to need. */
export interface CopyRoom {
  /** What the server has free for a copy, in MB (ATLAS_REHEARSAL_ROOM_MB); undefined when nobody said. */
  roomMb: number | undefined;
  /** A copy needs the database's size times this (ATLAS_REHEARSAL_MARGIN): its indexes are built anew, its WAL written. */
  margin: number;
}

/** PostgreSQL's disk_full. */
const DISK_FULL = '53100';

/**
 * Refuses, before anything is copied, a copy the server has no room for (as far as it is known:
 * PostgreSQL does not tell a client how much disk it has left). What was checked, for the log.
 */
async function checkRoom(dbUrl: string, room: CopyRoom): Promise<string> {
  const [row] = await onDatabase(dbUrl, (db) => db.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes'));
  const size = Number(row?.bytes ?? 0);
  const needMb = Math.ceil((size * room.margin) / 1e6);
  const sizeMb = Math.ceil(size / 1e6);
  if (room.roomMb === undefined)
    return `room not checked: the copy needs about ${needMb} MB (the database's ${sizeMb} MB × ${room.margin}); ATLAS_REHEARSAL_ROOM_MB tells how much the server has`;
  if (needMb > room.roomMb) {
    throw new Refused(
      `the database server lacks the room for the rehearsal's copy: it needs about ${needMb} MB (the database's ${sizeMb} MB × ${room.margin}, ATLAS_REHEARSAL_MARGIN), and ATLAS_REHEARSAL_ROOM_MB says ${room.roomMb} MB are free. Free room on the server (and raise ATLAS_REHEARSAL_ROOM_MB), or go on without a rehearsal (SKIP_REHEARSAL=1)`,
    );
  }
  return `room: the copy needs about ${needMb} MB of the ${room.roomMb} MB free`;
}

export interface RehearsalCopy {
  url: string;
  /** The backup it was restored from (for the live data: the one taken for it, since removed). */
  backup: string;
  tables: number;
  rows: number;
  ms: number;
  /** What was found of the room on the server. */
  room: string;
}

/**
 * What a version started on a copy must not do to the world: send the deliveries production
 * sends. The copy's webhooks are disabled and its queued deliveries dropped (by SQL, whatever
 * version starts on it; the tables exist since the first release).
 */
async function keepToItself(url: string): Promise<void> {
  await onDatabase(url, (db) =>
    db.exec(`DO $$ BEGIN
      IF to_regclass('webhooks') IS NOT NULL THEN UPDATE webhooks SET enabled = false WHERE enabled; END IF;
      IF to_regclass('webhook_deliveries') IS NOT NULL THEN DELETE FROM webhook_deliveries WHERE status = 'pending'; END IF;
    END $$`),
  );
}

/**
 * A copy of the database in the scratch database `name` on the same server: the backup `from`
 * restored by our own restore code (checked first, row counts compared after: the backup's
 * restore test), or, with `now`, the live data through a backup taken for it and removed after.
 * A backup whose restore differs is refused. The copy keeps its deliveries to itself.
 */
export async function copyForRehearsal(
  target: DatabaseTarget & { dbUrl: string },
  name: string,
  from: { backup: string } | { now: { backupDir: string } },
  room: CopyRoom,
  exec: Executor,
): Promise<RehearsalCopy> {
  const started = performance.now();
  const roomFound = await checkRoom(target.dbUrl, room);
  const temp = 'now' in from ? mkdtempSync(path.join(from.now.backupDir, '.rehearsal-')) : undefined;
  try {
    const file = 'backup' in from ? from.backup : (await createBackup({ ...target, logDir: temp!, reason: 'rehearsal' }, exec)).file;
    const { manifest, copy } = await checkedBackup(file, target);
    try {
      const url = await createScratch(target.dbUrl, name);
      const loaded = await loadBackupInto(url, copy.read(), manifest, exec).catch((err: unknown) => {
        const full = (err as { code?: string }).code === DISK_FULL || /No space left on device|could not extend file/.test((err as Error).message);
        throw full
          ? new Refused(
              `the database server ran out of room while copying into ${name} (${(err as Error).message}): free room on it, or go on without a rehearsal (SKIP_REHEARSAL=1)`,
            )
          : err;
      });
      if (loaded.differences.length) throw new Refused(`${file} did not restore as its manifest says: ${loaded.differences.join('; ')}`);
      await keepToItself(url);
      return {
        url,
        backup: temp ? 'the live data' : file,
        tables: loaded.tables,
        rows: loaded.rows,
        ms: Math.round(performance.now() - started),
        room: roomFound,
      };
    } finally {
      copy.close();
    }
  } finally {
    if (temp) rmSync(temp, { recursive: true, force: true });
  }
}

/** Drops a rehearsal's copy, if there is one. */
export const dropRehearsalCopy = (dbUrl: string, name: string): Promise<boolean> => dropScratch(dbUrl, name);

/**
 * Records in the live database that `backup` restored whole just now (a rehearsal's copy, a
 * drill): the setting, and its audit line, written by tpctl.
 */
export async function recordProvenRestore(dbUrl: string, backup: string): Promise<void> {
  const value = JSON.stringify({ backup: path.basename(backup), takenAt: readManifest(backup).createdAt, provenAt: new Date().toISOString() });
  await onDatabase(dbUrl, (db) =>
    db.transaction(async (tx) => {
      const old = await settingsRepository(tx).lock(PROVEN_RESTORE_SETTING);
      await tx.query(
        `INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2::jsonb, now(), NULL)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now(), updated_by = NULL`,
        [PROVEN_RESTORE_SETTING, value],
      );
      await tx.query(`INSERT INTO settings_audit (key, old_value, new_value, changed_by, changed_by_email) VALUES ($1, $2::jsonb, $3::jsonb, NULL, 'tpctl')`, [
        PROVEN_RESTORE_SETTING,
        old ? JSON.stringify(old.value) : null,
        value,
      ]);
    }),
  );
}
