import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { Database, Queryable, Row } from './database.js';
import { acquireFileLock, LockHeldError } from '../shared/file-lock.js';
import { setAsideDirectoryKind } from '../shared/names.js';

/** Our query interface over a PGlite instance or one of its transactions. */
export function queryable(target: PGlite | Transaction): Queryable {
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
export async function openEmbedded(dir: string): Promise<EmbeddedDatabase> {
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
  let db: PGlite;
  try {
    db = isEmpty(dataDir) ? await newCluster(dataDir, dir) : await createPglite(dataDir);
  } catch (err) {
    lock.release();
    throw err;
  }
  return embeddedDatabase(db, dataDir, () => lock.release());
}

export type EmbeddedDatabase = Database & { pglite: PGlite };

/** A PGlite instance open at `location` as our Database; closing it closes the instance, then calls `release`. */
export function embeddedDatabase(db: PGlite, location: string, release: () => void = () => {}): EmbeddedDatabase {
  const self = queryable(db);
  return {
    kind: 'embedded',
    location,
    pglite: db,
    ...self,
    transaction: (fn) => db.transaction((tx) => fn(queryable(tx))),
    // PGlite is a single connection: every caller already shares one session.
    session: (fn) => fn(self),
    async close() {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}

/**
 * Opens a PGlite directory (made by initdb if empty). Its memory is WebAssembly memory, which
 * grows and is never given back, so every instance runs small: 16 MB of shared buffers instead
 * of initdb's 128 MB (its files are read through the kernel's page cache anyway; two instances:
 * 470 MB resident with initdb's setting, 211 MB with this one, measured here), and 16 MB for an
 * index build instead of 64 MB.
 */
export async function createPglite(dataDir: string): Promise<PGlite> {
  // Loaded on use: tpctl commands that never open the embedded database do not pay for it.
  const { PGlite } = await import('@electric-sql/pglite');
  const small = ['-c', 'shared_buffers=16MB', '-c', 'maintenance_work_mem=16MB'];
  return PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...small] });
}

const isEmpty = (dir: string) => !existsSync(dir) || readdirSync(dir).length === 0;

let installedVersion: string | undefined;
/** The installed PGlite's version, from its package.json, found above the entry point Node resolves (once). */
function pgliteVersion(): string {
  return (installedVersion ??= readPgliteVersion());
}

function readPgliteVersion(): string {
  for (let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (name === '@electric-sql/pglite' && version) return version;
  }
  return 'unknown';
}

/** The directory in a data directory that keeps a fresh cluster, named for the PGlite that made it. */
export function freshClusterDir(dir: string): string {
  return path.join(dir, `.pglite-fresh-${pgliteVersion()}`);
}

/**
 * A new cluster in `dataDir` (missing or empty). Making one runs initdb in WebAssembly (4 s here,
 * more on a loaded machine, and 800 MB of memory), and a fresh cluster is the same every time:
 * the first one made is shut down cleanly and copied into the data directory `keptIn` (39 MB), and
 * every later one (a restore's, a restore test's) is a copy of that, made by the file system: no
 * unpacking in memory (PGlite's own tarball cost a restore 140 MB more). A kept copy that does not
 * open (damaged, edited) is made again.
 */
export async function newCluster(dataDir: string, keptIn: string): Promise<PGlite> {
  if (!isEmpty(dataDir)) throw new Error(`${dataDir} is not empty: a new cluster goes into an empty directory`);
  const kept = freshClusterDir(keptIn);
  if (existsSync(kept)) {
    try {
      cpSync(kept, dataDir, { recursive: true, verbatimSymlinks: true });
      return await createPglite(dataDir);
    } catch {
      rmSync(kept, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // A clean shutdown leaves the whole cluster in its files, copied before anything else is written.
  await (await createPglite(dataDir)).close();
  keepCopy(dataDir, kept);
  return createPglite(dataDir);
}

/** Copies a fresh cluster to `kept` whole or not at all (a directory beside it, renamed into place). */
function keepCopy(dataDir: string, kept: string): void {
  let partial: string | undefined;
  try {
    partial = mkdtempSync(`${kept}.partial-`);
    cpSync(dataDir, partial, { recursive: true, verbatimSymlinks: true });
    renameSync(partial, kept);
  } catch {
    // Not kept (keptIn missing or not writable, or kept by another process meanwhile): the next new cluster is made by initdb too.
    if (partial) rmSync(partial, { recursive: true, force: true });
  }
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
        'stop that process first (the Tenant Plane of the local runtime: tpctl local stop, as its supervisor restarts a process stopped alone), or point DB_URL at a PostgreSQL server',
    );
  }
}
