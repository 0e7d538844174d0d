import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A new directory under the run's TMPDIR, which the global set-up removes at the end. */
export function tempDir(prefix = 'atlas-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A directory of migration files: name → SQL. */
export function migrationsDir(files: Record<string, string>): string {
  const dir = tempDir('atlas-migrations-');
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}
