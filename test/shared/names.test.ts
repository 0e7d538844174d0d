import { describe, expect, it } from 'vitest';
import {
  backupFileName,
  newestSetAside,
  parseBackupFileName,
  runLogName,
  setAsideDirectory,
  setAsideDirectoryKind,
  setAsideSchema,
  setAsideSchemaKind,
  setAsideToDrop,
  utcStamp,
} from '../../src/shared/names.js';

const at = new Date('2026-03-26T10:00:00.789Z');
const later = new Date('2026-03-26T10:00:01.002Z');

describe('names', () => {
  it('stamps UTC as yyyymmddThhmmss, and names backups and run logs with it', () => {
    expect(utcStamp(at)).toBe('20260326T100000');
    expect(backupFileName('1.2.2', at)).toBe('db-backup-1.2.2-20260326T100000.sql.gz');
    expect(runLogName('upgrade', at)).toBe('upgrade-20260326T100000.log');
    expect(runLogName('rollback', at)).toBe('rollback-20260326T100000.log');
  });

  it('parses back the backup names it gives, and nothing else', () => {
    expect(parseBackupFileName(backupFileName('1.3.0-rc.1', at))).toEqual({ version: '1.3.0-rc.1', stamp: '20260326T100000' });
    for (const other of [
      'db-backup-1.2.2-20260326T100000.sql.gz.manifest.json',
      'db-backup-1.2.2.sql.gz',
      'upgrade-20260326T100000.log',
      'db-backup--20260326T1000.sql.gz',
    ]) {
      expect(parseBackupFileName(other)).toBeUndefined();
    }
  });

  it('names set-aside schemas by kind, unique to the millisecond, and reads the kind back', () => {
    expect(setAsideSchema('pre-restore', at)).toBe('atlas_pre_restore_20260326t100000789');
    expect(setAsideSchema('undone', at)).toBe('atlas_undone_restore_20260326t100000789');
    expect(setAsideSchema('incoming', at)).toBe('atlas_incoming_restore_20260326t100000789');
    for (const kind of ['pre-restore', 'undone', 'incoming'] as const) expect(setAsideSchemaKind(setAsideSchema(kind, at))).toBe(kind);
    for (const other of ['public', 'atlas_restore_test_x', 'atlas_pre_restore_', 'atlas_pre_restore_20260326t100000789; drop'])
      expect(setAsideSchemaKind(other)).toBeUndefined();
  });

  it('names set-aside directories beside the embedded database, and reads the kind back', () => {
    expect(setAsideDirectory('/data/pglite', 'pre-restore', at)).toBe('/data/pglite.pre-restore-20260326t100000789');
    expect(setAsideDirectoryKind('pglite', 'pglite.undone-20260326t100000789')).toBe('undone');
    expect(setAsideDirectoryKind('pglite', 'pglite.incoming-20260326t100000789')).toBe('incoming');
    for (const other of ['pglite', 'pglite.lock', 'pglite.pre-restore-', 'other.undone-20260326t100000789', '.restoring-x'])
      expect(setAsideDirectoryKind('pglite', other)).toBeUndefined();
  });

  it('the clean-up keeps the one copy named and drops every other kind; the newest of a kind is found by its stamp', () => {
    const found = [
      'public',
      setAsideSchema('pre-restore', at),
      setAsideSchema('undone', at),
      setAsideSchema('incoming', at),
      setAsideSchema('pre-restore', later),
      'atlas_restore_test_x',
    ];
    const keep = setAsideSchema('pre-restore', later);
    expect(setAsideToDrop(found, setAsideSchemaKind, keep)).toEqual([
      setAsideSchema('pre-restore', at),
      setAsideSchema('undone', at),
      setAsideSchema('incoming', at),
    ]);
    expect(newestSetAside(found, setAsideSchemaKind, 'pre-restore')).toBe(keep);
    expect(newestSetAside(['public'], setAsideSchemaKind, 'pre-restore')).toBeUndefined();
  });
});
