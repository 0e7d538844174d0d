import type { Readable } from 'node:stream';
import type { Database } from '../../db/database.js';
import { openDatabase } from '../../db/open.js';
import type { Executor } from '../core/exec.js';
import { Refused } from '../core/errors.js';
import { rowCountDifferences } from './database-facts.js';
import { loadIntoSchema } from './load.js';
import type { BackupManifest } from './manifest.js';
import { withDatabase } from './pg-tools.js';

/**
 * Scratch databases on the server of the live one: a restore test's, a rehearsal's, a drill's.
 * Each is made empty, loaded with our own restore code, and dropped. Their names are ours alone
 * (`atlas_rehearsal_20261206t101500`), so a name is checked before it reaches SQL.
 */
const SCRATCH_NAME = /^atlas_(restore_test|rehearsal|drill)_[a-z0-9]{1,20}(_[0-9a-f]{6})?$/;

function checked(name: string): string {
  if (!SCRATCH_NAME.test(name)) throw new Error(`not a scratch database name: ${JSON.stringify(name)}`);
  return name;
}

/** `work` on one session of the PostgreSQL database at `url`, closed after. */
export async function onDatabase<T>(url: string, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase({ url, embeddedDir: '', poolSize: 1, applicationName: 'tpctl' });
  try {
    return await work(db);
  } finally {
    await db.close().catch(() => {});
  }
}

/** Makes the empty scratch database `name` beside the live one; its URL. Refused, saying what to grant, when the role may not. */
export async function createScratch(dbUrl: string, name: string): Promise<string> {
  await onDatabase(dbUrl, async (db) => {
    try {
      await db.query(`CREATE DATABASE ${checked(name)}`);
    } catch (err) {
      throw new Refused(
        `cannot create the scratch database ${name} on the server (${(err as Error).message}): the database role needs CREATEDB (ALTER ROLE … CREATEDB)`,
      );
    }
  });
  return withDatabase(dbUrl, name);
}

/**
 * Drops the scratch database `name` if it is there, ending its sessions first (an instance a
 * killed run left may hold one). Only client sessions: an autovacuum worker (a freshly loaded copy
 * often has one) may not be signalled by a role that is not a superuser, through
 * pg_terminate_backend or DROP DATABASE … WITH (FORCE) alike (PostgreSQL 15 refuses both), and a
 * plain DROP DATABASE stops it itself, waiting a few seconds for the ended sessions to go. Says
 * whether it was there.
 */
export async function dropScratch(dbUrl: string, name: string): Promise<boolean> {
  return onDatabase(dbUrl, async (db) => {
    if (!(await db.query('SELECT 1 FROM pg_database WHERE datname = $1', [checked(name)])).length) return false;
    await db.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
      [name],
    );
    await db.query(`DROP DATABASE IF EXISTS ${name}`);
    return true;
  });
}

/** Loads a checked backup's bytes into the (empty) database at `url`; the tables it holds and how their row counts differ from the manifest's. */
export async function loadBackupInto(
  url: string,
  compressed: Readable,
  manifest: BackupManifest,
  exec: Executor,
): Promise<{ tables: number; rows: number; differences: string[] }> {
  const counts = await loadIntoSchema(url, compressed, 'public', exec);
  return {
    tables: Object.keys(counts).length,
    rows: Object.values(counts).reduce((a, b) => a + b, 0),
    differences: rowCountDifferences(manifest.tables, counts),
  };
}
