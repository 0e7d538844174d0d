import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { Database, Queryable, Row } from './database.js';
import { acquireFileLock, LockHeldError } from '../shared/file-lock.js';
import { setAsideDirectoryKind } from '../shared/names.js';

function queryable(target: PGlite | Transaction): Queryable {
  return {
    async query<R extends Row>(sql: string, params: readonly unknown[] = []) {
      const result = await target.query<R>(sql, params as unknown[]);
      return result.rows;
    },
    async exec(sql: string) {
      await target.exec(sql);
    },
  };
}

/** Where the embedded database of a data directory lives. */
export function embeddedDataDir(dir: string): string {
  return path.resolve(dir, 'pglite');
}

/** The embedded PostgreSQL (PGlite), kept in `<dir>/pglite`. One process at a time may open it. */
export async function openEmbedded(dir: string): Promise<Database & { pglite: PGlite }> {
  const dataDir = embeddedDataDir(dir);
  mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o700 });
  const lock = lockEmbedded(dataDir);
  const interrupted = existsSync(dataDir) ? [] : readdirSync(path.dirname(dataDir)).filter((n) => setAsideDirectoryKind(dataDir, n) === 'pre-restore');
  if (interrupted.length) {
    lock.release();
    throw new EmbeddedInUseError(
      `the embedded database ${dataDir} is missing and an interrupted restore left ${interrupted.join(', ')} beside it: ` +
        'run `tpctl restore --undo` to put it back, or run the restore again',
    );
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let db: PGlite;
  try {
    // Loaded on use: tpctl commands that never open the embedded database do not pay for it.
    const { PGlite } = await import('@electric-sql/pglite');
    db = await PGlite.create(dataDir);
  } catch (err) {
    lock.release();
    throw err;
  }
  const self = queryable(db);
  return {
    kind: 'embedded',
    location: dataDir,
    pglite: db,
    ...self,
    transaction: (fn) => db.transaction((tx) => fn(queryable(tx))),
    // PGlite is a single connection: every caller already shares one session.
    session: (fn) => fn(self),
    async close() {
      try {
        await db.close();
      } finally {
        lock.release();
      }
    },
  };
}

export class EmbeddedInUseError extends Error {}

/** Two processes writing one PGlite directory would corrupt it: the second is refused. */
export function lockEmbedded(dataDir: string) {
  try {
    return acquireFileLock(`${dataDir}.lock`, `${path.basename(process.argv[1] ?? 'node')} ${process.argv.slice(2).join(' ')}`.trim());
  } catch (err) {
    if (!(err instanceof LockHeldError)) throw err;
    throw new EmbeddedInUseError(
      `the embedded database in ${dataDir} is in use by "${err.holder.what}" (pid ${err.holder.pid}) since ${err.holder.since}; ` +
        'stop that process first (it may be the running Tenant Plane), or point DB_URL at a PostgreSQL server',
    );
  }
}
