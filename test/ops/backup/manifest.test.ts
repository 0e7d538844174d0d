import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestPath, readManifest, writeManifest, type BackupManifest } from '../../../src/ops/backup/manifest.js';
import { tempDir } from '../../support/temp.js';

const manifest: BackupManifest = {
  format: 'atlas-backup-1',
  file: 'db-backup-1.2.2-20260326T100000.sql.gz',
  appVersion: '1.2.2',
  lastMigration: '0002_agents_incidents_runbooks.sql',
  source: 'postgres',
  postgres: { server: '15.18', client: 'pg_dump (PostgreSQL) 15.18' },
  reason: 'pre-upgrade',
  createdAt: '2026-03-26T10:00:00.000Z',
  durationMs: 3210,
  sizeBytes: 123,
  uncompressedBytes: 456,
  sha256: 'a'.repeat(64),
  tables: { 'public.incidents': 10, 'public."Audit Log"': 2 },
  verifiedAt: '2026-03-26T10:00:04.000Z',
};

describe('backup manifest', () => {
  it('round-trips through its file, which sits beside the backup with mode 0600', () => {
    const file = path.join(tempDir(), manifest.file);
    writeManifest(file, manifest);
    expect(manifestPath(file)).toBe(`${file}.manifest.json`);
    expect(readManifest(file)).toEqual(manifest);
  });

  it.each([
    ['missing', undefined, /no manifest beside db-backup-1\.2\.2-20260326T100000\.sql\.gz/],
    ['not JSON', '{"format":', /is not valid JSON/],
    ['of another format', JSON.stringify({ ...manifest, format: 'other' }), /is not an atlas-backup-1 manifest/],
    ['without a checksum', JSON.stringify({ ...manifest, sha256: undefined }), /is not an atlas-backup-1 manifest/],
    ['with a row count that is not a number', JSON.stringify({ ...manifest, tables: { t: '10' } }), /is not an atlas-backup-1 manifest/],
  ])('refuses one that is %s', (_what, content, message) => {
    const file = path.join(tempDir(), manifest.file);
    if (content !== undefined) writeFileSync(manifestPath(file), content);
    expect(() => readManifest(file)).toThrow(message);
  });
});
