import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/open.js';
import { Executor } from '../../../src/ops/core/exec.js';
import { Refused } from '../../../src/ops/core/errors.js';
import { copyForRehearsal, dropRehearsalCopy, recordProvenRestore } from '../../../src/ops/backup/rehearsal-copy.js';
import { createBackup } from '../../../src/ops/backup/create.js';
import { PROVEN_RESTORE_SETTING } from '../../../src/shared/names.js';
import { setUp } from '../../support/backup-setup.js';
import { withDatabase } from '../../../src/ops/backup/pg-tools.js';

/** A rehearsal's copy of a PostgreSQL database, in a scratch database beside it. */
describe('the rehearsal copy', () => {
  const exec = new Executor(undefined, []);
  const room = { roomMb: undefined, margin: 1.5 };

  async function live() {
    const s = await setUp('postgres', 1);
    const target = { dbUrl: s.env.DB_URL!, dataDir: s.env.ATLAS_DATA_DIR! };
    const db = await s.open();
    // A webhook with a delivery still to make: production will make it; a copy must not.
    await db.exec(`UPDATE webhook_deliveries SET status = 'pending' WHERE id IN (SELECT id FROM webhook_deliveries LIMIT 3)`);
    await db.close();
    return { s, target };
  }

  const on = async <T>(url: string, sql: string) => {
    const db = await openDatabase({ url, embeddedDir: '' });
    try {
      return await db.query<T & Record<string, unknown>>(sql);
    } finally {
      await db.close();
    }
  };

  it('restores a backup into the scratch database with row counts compared, keeps its deliveries to itself, and is dropped', async () => {
    const { s, target } = await live();
    const backup = (await createBackup({ ...target, logDir: s.logDir, reason: 'pre-upgrade' }, exec)).file;
    const copy = await copyForRehearsal(target, 'atlas_rehearsal_20261206t010000', { backup }, room, exec);
    expect(copy).toMatchObject({
      url: withDatabase(target.dbUrl, 'atlas_rehearsal_20261206t010000'),
      backup,
      room: expect.stringMatching(/^room not checked: the copy needs about \d+ MB/) as unknown,
    });
    const counts = async (url: string) => on<{ n: string }>(url, 'SELECT count(*) AS n FROM incidents');
    expect(await counts(copy.url)).toEqual(await counts(target.dbUrl));
    expect(await on(copy.url, `SELECT 1 FROM webhooks WHERE enabled`)).toEqual([]);
    expect(await on(copy.url, `SELECT 1 FROM webhook_deliveries WHERE status = 'pending'`)).toEqual([]);
    // Production's own are as they were.
    expect((await on(target.dbUrl, `SELECT 1 FROM webhook_deliveries WHERE status = 'pending'`)).length).toBe(3);
    // An instance a killed run left behind still holds a session on the copy: the drop ends it.
    const held = await openDatabase({ url: copy.url, embeddedDir: '', poolSize: 1 });
    await held.query('SELECT 1');
    expect(await dropRehearsalCopy(target.dbUrl, 'atlas_rehearsal_20261206t010000')).toBe(true);
    await expect(held.query('SELECT 1')).rejects.toThrow();
    await held.close();
    expect(await dropRehearsalCopy(target.dbUrl, 'atlas_rehearsal_20261206t010000')).toBe(false);
  });

  it('copies the live data through a backup of its own, removed after', async () => {
    const { s, target } = await live();
    const copy = await copyForRehearsal(target, 'atlas_rehearsal_20261206t010001', { now: { backupDir: s.logDir } }, room, exec);
    expect(copy.backup).toBe('the live data');
    expect(copy.rows).toBeGreaterThan(1000);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(s.logDir)).toEqual([]);
    await dropRehearsalCopy(target.dbUrl, 'atlas_rehearsal_20261206t010001');
  });

  it('refuses before copying when the server has not the room the copy needs (ATLAS_REHEARSAL_ROOM_MB), saying what to do', async () => {
    const { s, target } = await live();
    const backup = (await createBackup({ ...target, logDir: s.logDir, reason: 'pre-upgrade' }, exec)).file;
    const refused = copyForRehearsal(target, 'atlas_rehearsal_20261206t010002', { backup }, { roomMb: 1, margin: 1.5 }, exec);
    await expect(refused).rejects.toBeInstanceOf(Refused);
    await expect(refused).rejects.toThrow(
      /^the database server lacks the room for the rehearsal's copy: it needs about \d+ MB \(the database's \d+ MB × 1\.5, ATLAS_REHEARSAL_MARGIN\), and ATLAS_REHEARSAL_ROOM_MB says 1 MB are free\. Free room on the server .*SKIP_REHEARSAL=1/,
    );
    expect(await dropRehearsalCopy(target.dbUrl, 'atlas_rehearsal_20261206t010002')).toBe(false);
    const fits = await copyForRehearsal(target, 'atlas_rehearsal_20261206t010002', { backup }, { roomMb: 100_000, margin: 1.5 }, exec);
    expect(fits.room).toMatch(/^room: the copy needs about \d+ MB of the 100000 MB free$/);
    await dropRehearsalCopy(target.dbUrl, 'atlas_rehearsal_20261206t010002');
  });

  it('a backup that does not restore as its manifest says is refused (the restore test), and a name not ours never reaches SQL', async () => {
    const { s, target } = await live();
    const backup = (await createBackup({ ...target, logDir: s.logDir, reason: 'pre-upgrade' }, exec)).file;
    const { readManifest, writeManifest } = await import('../../../src/ops/backup/manifest.js');
    const { sign, backupKeys } = await import('../../../src/ops/backup/signing.js');
    const manifest = readManifest(backup);
    writeManifest(backup, sign({ ...manifest, tables: { ...manifest.tables, incidents: (manifest.tables.incidents ?? 0) + 1 } }, backupKeys(target)));
    await expect(copyForRehearsal(target, 'atlas_rehearsal_20261206t010003', { backup }, room, exec)).rejects.toThrow(
      /did not restore as its manifest says: .*incidents/,
    );
    await dropRehearsalCopy(target.dbUrl, 'atlas_rehearsal_20261206t010003');
    await expect(dropRehearsalCopy(target.dbUrl, 'atlas; DROP DATABASE postgres')).rejects.toThrow(/not a scratch database name/);
  });

  it('records in the live database which backup was proven to restore, with its audit line', async () => {
    const { s, target } = await live();
    const backup = (await createBackup({ ...target, logDir: s.logDir, reason: 'pre-upgrade' }, exec)).file;
    await recordProvenRestore(target.dbUrl, backup);
    const [row] = await on<{ value: { backup: string; takenAt: string; provenAt: string } }>(
      target.dbUrl,
      `SELECT value FROM settings WHERE key = '${PROVEN_RESTORE_SETTING}'`,
    );
    expect(row?.value).toMatchObject({ backup: backup.split('/').pop(), takenAt: expect.any(String) as unknown });
    expect(await on(target.dbUrl, `SELECT changed_by_email FROM settings_audit WHERE key = '${PROVEN_RESTORE_SETTING}'`)).toEqual([
      { changed_by_email: 'tpctl' },
    ]);
  });
});
