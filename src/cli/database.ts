import { openDatabase, type Database } from '../db/database.js';
import { EmbeddedInUseError } from '../db/embedded.js';
import { CliError, type Io } from './command.js';

/** The database tpctl works on: DB_URL (never a flag: a password must not reach the process list), else the embedded one. */
export async function openCliDatabase(io: Io): Promise<Database> {
  const url = io.env.DB_URL || undefined;
  if (url && !/^postgres(ql)?:\/\//.test(url)) throw new CliError('DB_URL must be a postgresql:// URL');
  let db: Database;
  try {
    db = await openDatabase({ url, embeddedDir: io.env.ATLAS_DATA_DIR || './data', poolSize: 2 });
  } catch (err) {
    if (err instanceof EmbeddedInUseError) throw new CliError(err.message);
    throw err;
  }
  try {
    await db.query('SELECT 1');
    return db;
  } catch (err) {
    await db.close().catch(() => {});
    throw new CliError(`cannot reach the database at ${db.location}: ${(err as Error).message}`, 1);
  }
}
