import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../shared/files.js';
import { Failed } from '../core/errors.js';

/**
 * The manifest written beside every backup (`<backup>.manifest.json`): what it holds and how to
 * check it. This module is its only writer and reader.
 */
export interface BackupManifest {
  format: 'atlas-backup-1';
  file: string;
  appVersion: string;
  /** The newest applied migration in the backup (the schema it restores). */
  lastMigration: string | null;
  source: 'postgres' | 'embedded';
  postgres: { server: string; client: string };
  /** Why it was taken: by hand, before an upgrade, or before a restore (the undo of that restore). */
  reason: 'manual' | 'pre-upgrade' | 'pre-restore' | 'rehearsal';
  createdAt: string;
  durationMs: number;
  sizeBytes: number;
  uncompressedBytes: number;
  sha256: string;
  /** Rows per table (`schema.table`) at the moment of the dump. */
  tables: Record<string, number>;
  /** When the file was last checked against this manifest (checksum and gzip stream). */
  verifiedAt: string | null;
  /** HMAC-SHA256 of the other fields (signing.ts); absent on a backup made before signing or elsewhere. */
  signature?: Signature;
}

/** HMAC-SHA256 of a manifest's other fields, by the key of the keyring that `keyId` names (signing.ts). */
export interface Signature {
  keyId: string;
  hmacSha256: string;
}

export class ManifestError extends Failed {}

export function manifestPath(backupFile: string): string {
  return `${backupFile}.manifest.json`;
}

export function writeManifest(backupFile: string, manifest: BackupManifest): void {
  writeFileAtomic(manifestPath(backupFile), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
}

const STRING_FIELDS = ['file', 'appVersion', 'source', 'reason', 'createdAt', 'sha256'] as const;
const NUMBER_FIELDS = ['durationMs', 'sizeBytes', 'uncompressedBytes'] as const;

const validSignature = (s: unknown) => {
  const sig = s as Partial<Signature> | null;
  return typeof sig === 'object' && sig !== null && /^[0-9a-f]{16}$/.test(String(sig.keyId)) && /^[0-9a-f]{64}$/.test(String(sig.hmacSha256));
};

export function readManifest(backupFile: string): BackupManifest {
  const file = manifestPath(backupFile);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ManifestError(
      code === 'ENOENT' ? `no manifest beside ${path.basename(backupFile)} (expected ${file})` : `the manifest ${file} is not valid JSON`,
    );
  }
  const m = parsed as Record<string, unknown>;
  const bad =
    m.format !== 'atlas-backup-1' ||
    STRING_FIELDS.some((k) => typeof m[k] !== 'string') ||
    NUMBER_FIELDS.some((k) => typeof m[k] !== 'number') ||
    typeof m.tables !== 'object' ||
    m.tables === null ||
    Object.values(m.tables).some((n) => typeof n !== 'number') ||
    (m.signature !== undefined && !validSignature(m.signature));
  if (bad) throw new ManifestError(`the manifest ${file} is not an atlas-backup-1 manifest (fields missing or of the wrong type)`);
  return m as unknown as BackupManifest;
}
