import { cpSync } from 'node:fs';
import os from 'node:os';
import { inject } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { type Database } from '../../src/db/database.js';
import { freshClusterDir } from '../../src/db/embedded.js';
import { PostgresServer } from './postgres-server.js';
import { tempDir } from './temp.js';

/** The databases are started for the db and e2e projects only (vitest.config.ts). */
function databasesStarted(): number {
  const port = inject('pgPort');
  if (port === undefined) throw new Error('this test needs the databases, which the unit project does not start: name its file *.db.test.ts');
  return port;
}

/** The PostgreSQL server shared by this test run. */
export function sharedPostgres(): PostgresServer {
  return PostgresServer.shared(databasesStarted());
}

/**
 * A new data directory for the embedded database, holding the fresh cluster that the run's
 * global setup keeps in its TMPDIR: its first cluster is unpacked from it, not made by initdb.
 */
export function embeddedDir(): string {
  databasesStarted();
  const dir = tempDir();
  cpSync(freshClusterDir(os.tmpdir()), freshClusterDir(dir), { recursive: true });
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
