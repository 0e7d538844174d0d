import { openDatabase } from '../db/open.js';
import { type Database } from '../db/database.js';
import type { DatabaseTarget } from '../ops/backup/create.js';
import { urlSecrets } from '../shared/redact.js';
import { EmbeddedInUseError } from '../db/embedded.js';
import { CliError, type Io } from './command.js';

/** The database tpctl works on: DB_URL (never a flag: a password must not reach the process list), else the embedded one. */
export async function openCliDatabase(io: Io): Promise<Database> {
  const { dbUrl: url, dataDir } = databaseTarget(io);
  let db: Database;
  try {
    db = await openDatabase({ url, embeddedDir: dataDir, poolSize: 2, applicationName: 'tpctl' });
  } catch (err) {
    if (err instanceof EmbeddedInUseError) throw new CliError(err.message);
    throw err;
  }
  try {
    await db.query('SELECT 1');
    return db;
  } catch (err) {
    await db.close().catch(() => {});
    throw new CliError(`cannot reach the database at ${db.location}: ${(err as Error).message}`, 'failed');
  }
}

/** The database a command works on, from the environment. */
export function databaseTarget(io: Io): DatabaseTarget {
  const dbUrl = io.env.DB_URL || undefined;
  if (dbUrl && !/^postgres(ql)?:\/\//.test(dbUrl)) throw new CliError('DB_URL must be a postgresql:// URL');
  return { dbUrl, dataDir: io.env.ATLAS_DATA_DIR || './data' };
}

/** The secrets a command must keep out of everything it prints. */
export function secretsOf(io: Io): string[] {
  return urlSecrets(io.env.DB_URL);
}
