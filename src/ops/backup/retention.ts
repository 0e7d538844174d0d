import { readdirSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { parseBackupFileName } from '../../shared/names.js';
import { manifestPath, readManifest, type BackupManifest } from './manifest.js';

export interface BackupEntry {
  file: string;
  version: string;
  /** UTC, from the file name: yyyymmddThhmmss. */
  timestamp: string;
  sizeBytes: number;
  manifest: BackupManifest | undefined;
  /** Why the manifest could not be read, when it could not. */
  problem: string | undefined;
}

/** The backups in a directory, newest first. */
export function listBackups(dir: string): BackupEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries: BackupEntry[] = [];
  for (const name of names) {
    const parsed = parseBackupFileName(name);
    if (!parsed) continue;
    const file = path.join(dir, name);
    let manifest: BackupManifest | undefined;
    let problem: string | undefined;
    try {
      manifest = readManifest(file);
    } catch (err) {
      problem = (err as Error).message;
    }
    entries.push({ file, version: parsed.version, timestamp: parsed.stamp, sizeBytes: statSync(file).size, manifest, problem });
  }
  return entries.sort((a, b) => b.timestamp.localeCompare(a.timestamp) || b.file.localeCompare(a.file));
}

/**
 * Keeps the `keep` newest backups and removes the older ones, with their manifests. Called only
 * once a newer backup is complete and verified; the newest verified backup is never removed,
 * whatever `keep` says.
 */
export function applyRetention(dir: string, keep: number): string[] {
  const backups = listBackups(dir);
  const newestVerified = backups.find((b) => b.manifest?.verifiedAt);
  const removed: string[] = [];
  for (const old of backups.slice(Math.max(keep, 1))) {
    if (old === newestVerified) continue;
    unlinkSync(old.file);
    try {
      unlinkSync(manifestPath(old.file));
    } catch {
      /* a backup without manifest */
    }
    removed.push(old.file);
  }
  return removed;
}
