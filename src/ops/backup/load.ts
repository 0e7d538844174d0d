import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Queryable } from '../../db/database.js';
import { newCluster } from '../../db/embedded.js';
import { CommandError, type Executor } from '../core/exec.js';
import { readDump } from './dump-reader.js';
import { checkClientTool, psqlSessionCommand } from './pg-tools.js';
import { isBackupPreamble } from './preamble.js';
import { SessionPool } from './session-pool.js';
import { moveToSchema } from './sql-scan.js';
import { Failed } from '../core/errors.js';

export class LoadError extends Failed {}

/** Sort memory for the index builds at the end of a restore (PostgreSQL's default is 64 MB). */
const RESTORE_SORT_MEMORY = '512MB';
/** Rows go to the sessions in pieces of this size, so that a big table loads in parallel too. */
const PIECE_BYTES = 8 << 20;
const SESSION_SETTING = /^(SET |SELECT pg_catalog\.set_config\()/;
const INDEX = /^CREATE (UNIQUE )?INDEX /;

export interface LoadProgress {
  /** Each piece of the backup file, as it is read (every byte once, in order). */
  onRead?: (chunk: Buffer) => void;
  /** Once it is read, the statements done of those still to run. */
  onSteps?: (done: number, total: number) => void;
}

/**
 * Loads a backup of a PostgreSQL database into `schema` (which must exist and be empty) over
 * several psql sessions at once: each statement waits only for the earlier ones that touch the
 * same objects, and the rows of a table load in pieces side by side. The backup's preamble
 * (which empties schema public for `zcat | psql`) is skipped. Returns the rows PostgreSQL took
 * per table, from its own COPY counts. On failure the schema is left as far as it got.
 */
export async function loadIntoSchema(url: string, file: string, schema: string, exec: Executor, progress: LoadProgress = {}): Promise<Record<string, number>> {
  await checkClientTool(exec, 'psql');
  const pool = new SessionPool(exec, psqlSessionCommand(url, RESTORE_SORT_MEMORY), Math.max(2, Math.min(4, availableParallelism())));
  const compressed = createReadStream(file, { highWaterMark: 1 << 20 });
  compressed.on('data', (d) => progress.onRead?.(d as Buffer));
  const sql = compressed.pipe(zlib.createGunzip({ chunkSize: 1 << 20 }));
  compressed.on('error', (err) => sql.destroy(err));
  try {
    for await (const item of readDump(sql, PIECE_BYTES)) {
      if (item.kind === 'psql') {
        if (!/^\\(un)?restrict\b/.test(item.line)) throw new LoadError(`the backup holds a psql command that a restore does not run: ${item.line}`);
      } else if (item.kind === 'rows') {
        const moved = moveToSchema(item.copy, schema);
        pool.add({ sql: [`${moved.sql}\n`, ...item.data, '\\.\n'], names: moved.names, rows: { table: item.table, bytes: item.bytes }, sideBySide: 'rows' });
      } else if (SESSION_SETTING.test(item.sql)) {
        pool.setting(item.sql);
      } else if (!isBackupPreamble(item.sql)) {
        const moved = moveToSchema(item.sql, schema);
        // Index builds share their table (SHARE lock), so those of one table run side by side.
        pool.add({ sql: [`${moved.sql}\n`], names: moved.names.size ? moved.names : undefined, sideBySide: INDEX.test(item.sql) ? 'index' : undefined });
      }
      await pool.backlog(2 * PIECE_BYTES);
    }
    // The file is read; what is left is mostly building indexes and checking constraints.
    return await pool.finish(progress.onSteps);
  } catch (err) {
    pool.abort();
    if (err instanceof LoadError) throw err;
    if (err instanceof CommandError) throw new LoadError(`psql stopped: ${err.message}`);
    throw new LoadError(`could not read the backup: ${(err as Error).message}`);
  } finally {
    compressed.destroy();
  }
}

/** Loads a backup of the embedded database into a new PGlite directory (its fresh cluster kept in the data directory `keptIn`). */
export async function loadIntoEmbedded(dataDir: string, keptIn: string, file: string, onRead?: (chunk: Buffer) => void): Promise<void> {
  const chunks: Buffer[] = [];
  const compressed = createReadStream(file, { highWaterMark: 1 << 20 });
  compressed.on('data', (d) => onRead?.(d as Buffer));
  await pipeline(compressed, zlib.createGunzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  const pg = await newCluster(dataDir, keptIn);
  try {
    await pg.exec(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    await pg.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    throw new LoadError(`the backup does not load into the embedded database: ${(err as Error).message}`);
  }
  await pg.close();
}

/** Where a batch of statements goes to the embedded database at once. */
const BATCH_BYTES = 1 << 20;

/**
 * Loads a dump of an embedded database (PGlite's pg_dump writes rows as INSERTs, no COPY) into
 * `schema` of another one, which must exist and be empty.
 */
export async function loadEmbeddedDumpIntoSchema(target: Queryable, dump: AsyncIterable<Buffer>, schema: string): Promise<void> {
  let batch = '';
  for await (const item of readDump(dump, PIECE_BYTES)) {
    if (item.kind !== 'statement')
      throw new LoadError(`the embedded database's dump holds ${item.kind === 'rows' ? 'COPY rows' : 'a psql command'}, which it never writes`);
    batch += `${moveToSchema(item.sql, schema).sql}\n`;
    if (batch.length > BATCH_BYTES) {
      await target.exec(batch);
      batch = '';
    }
  }
  if (batch) await target.exec(batch);
}
