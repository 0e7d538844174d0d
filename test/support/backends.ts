import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { type Database } from '../../src/db/database.js';
import { freshClusterDir } from '../../src/db/embedded.js';
import { PostgresServer } from './postgres-server.js';

/** The PostgreSQL server shared by this test run. */
export function sharedPostgres(): PostgresServer {
  return PostgresServer.shared(inject('pgPort'));
}

export function tempDir(prefix = 'atlas-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A new data directory for the embedded database, holding the fresh cluster that the run's
 * global setup keeps in its TMPDIR: its first cluster is unpacked from it, not made by initdb.
 */
export function embeddedDir(): string {
  const dir = tempDir();
  cpSync(freshClusterDir(os.tmpdir()), freshClusterDir(dir), { recursive: true });
  return dir;
}

/** A directory of migration files: name → SQL. */
export function migrationsDir(files: Record<string, string>): string {
  const dir = tempDir('atlas-migrations-');
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

export interface Backend {
  name: 'postgres' | 'embedded';
  /** A new, empty database of this kind. */
  open(): Promise<Database>;
}

/** The same tests run on both: a real PostgreSQL server and the embedded PGlite. */
export const backends: Backend[] = [
  { name: 'postgres', open: async () => openDatabase({ url: await sharedPostgres().createDatabase(), embeddedDir: '' }) },
  { name: 'embedded', open: () => openDatabase({ embeddedDir: embeddedDir() }) },
];
