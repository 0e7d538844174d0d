import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];

/** A new directory under the run's TMPDIR, removed when its test file ends (file-cleanup.ts). */
export function tempDir(prefix = 'atlas-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes the directories this test file made, unless ATLAS_KEEP_TMP=1 keeps them. */
export function removeTempDirs(): void {
  if (process.env.ATLAS_KEEP_TMP === '1') return;
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A directory of migration files: name → SQL. */
export function migrationsDir(files: Record<string, string>): string {
  const dir = tempDir('atlas-migrations-');
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}
