import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Queryable } from '../../db/database.js';
import { embeddedDatabase, newCluster, type EmbeddedDatabase } from '../../db/embedded.js';
import { printable } from '../../shared/version.js';
import { CommandError, type Executor } from '../core/exec.js';
import { Failed, Refused } from '../core/errors.js';
import { DumpFormatError, readDump, type DumpItem } from './dump-reader.js';
import { checkClientTool, psqlRestrictLine, psqlSessionCommand } from './pg-tools.js';
import { isBackupPreamble } from './preamble.js';
import { SessionPool } from './session-pool.js';
import { moveToSchema } from './sql-scan.js';
import { statementCheck } from './statement-policy.js';

export class LoadError extends Failed {}

/** The backup holds what a restore never runs: refused, whatever its signature says. */
export class UnsafeBackupError extends Refused {}

/** An error of the database itself (it has a SQLSTATE), such as a deferred constraint failing at commit: a failed load, not a bug. */
export function asLoadError(err: unknown, what?: string): LoadError | undefined {
  const code = (err as { code?: unknown }).code;
  if (!(err instanceof Error) || err instanceof Failed || err instanceof Refused || typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  return new LoadError(what ? `${what} did not commit: ${err.message}` : err.message);
}

export const refusedByDatabase =
  (what: string) =>
  (err: unknown): never => {
    throw asLoadError(err, what) ?? err;
  };

/** Sort memory for the index builds at the end of a restore (PostgreSQL's default is 64 MB). */
const RESTORE_SORT_MEMORY = '512MB';
/** Rows go to the sessions in pieces of this size, so that a big table loads in parallel too. */
const PIECE_BYTES = 8 << 20;
const SESSION_SETTING = /^(SET |SELECT pg_catalog\.set_config\()/;
const INDEX = /^CREATE (UNIQUE )?INDEX /;
/** The psql commands pg_dump writes (17.6 and later), outside any statement; a restore runs neither. */
const DUMP_PSQL_COMMAND = /^\\(un)?restrict [A-Za-z0-9]+$/;

export type CheckedItem = Exclude<DumpItem, { kind: 'psql' }>;

/**
 * The items of a backup's SQL that a restore runs, each checked before it is handed on: the
 * preamble (for `zcat | psql` only) and pg_dump's own psql commands are left out; any other
 * psql command, and any statement that is not what our backups hold, stops it.
 */
export async function* checkedItems(sql: AsyncIterable<Buffer>): AsyncGenerator<CheckedItem> {
  const check = await statementCheck();
  const refuse = (what: string, text: string) =>
    new UnsafeBackupError(`the backup holds ${what}, which a restore never runs: ${printable(text, 120)}; nothing of it was run`);
  /** The COPY statement of the rows last handed on: its pieces need not be parsed again. */
  let checkedCopy = '';
  for await (const item of refusingMalformed(readDump(sql, PIECE_BYTES))) {
    if (item.kind === 'psql') {
      if (!DUMP_PSQL_COMMAND.test(item.line)) throw refuse('a psql command', item.line);
      continue;
    }
    // Left out, never run: whatever a statement that starts like the preamble holds is harmless here.
    if (item.kind === 'statement' && isBackupPreamble(item.sql)) continue;
    const text = item.kind === 'rows' ? item.copy : item.sql;
    if (item.kind === 'statement' || text !== checkedCopy) {
      const problem = check(text);
      if (problem) throw refuse(problem, text);
      checkedCopy = item.kind === 'rows' ? text : '';
    }
    yield item;
  }
}

/** A dump that is not laid out as pg_dump lays it out is refused, like a statement it never writes. */
async function* refusingMalformed(items: AsyncIterable<DumpItem>): AsyncGenerator<DumpItem> {
  try {
    yield* items;
  } catch (err) {
    if (err instanceof DumpFormatError) throw new UnsafeBackupError(`${err.message}; refused, nothing of what follows was run`);
    throw err;
  }
}

const inflated = (compressed: Readable) => {
  const sql = compressed.pipe(zlib.createGunzip({ chunkSize: 1 << 20 }));
  compressed.on('error', (err) => sql.destroy(err));
  return sql;
};

export interface LoadProgress {
  /** Once it is read, the statements done of those still to run. */
  onSteps?: (done: number, total: number) => void;
}

/**
 * Loads a backup of a PostgreSQL database (its gzip bytes, `compressed`) into `schema` (which
 * must exist and be empty) over several psql sessions at once: each statement waits only for
 * the earlier ones that touch the same objects, and the rows of a table load in pieces side
 * by side. Returns the rows PostgreSQL took per table, from its own COPY counts. On failure
 * the schema is left as far as it got.
 */
export async function loadIntoSchema(
  url: string,
  compressed: Readable,
  schema: string,
  exec: Executor,
  progress: LoadProgress = {},
): Promise<Record<string, number>> {
  const sql = inflated(compressed);
  const restrict = psqlRestrictLine(await checkClientTool(exec, 'psql'));
  const pool = new SessionPool(exec, psqlSessionCommand(url, RESTORE_SORT_MEMORY), Math.max(2, Math.min(4, availableParallelism())));
  // Where psql knows it, no meta-command runs in its sessions at all: defence in depth.
  if (restrict) pool.setting(restrict);
  try {
    for await (const item of checkedItems(sql)) {
      if (item.kind === 'rows') {
        const moved = moveToSchema(item.copy, schema);
        pool.add({ sql: [`${moved.sql}\n`, ...item.data, '\\.\n'], names: moved.names, rows: { table: item.table, bytes: item.bytes }, sideBySide: 'rows' });
      } else if (SESSION_SETTING.test(item.sql)) {
        pool.setting(item.sql);
      } else {
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
    if (err instanceof LoadError || err instanceof Refused) throw err;
    if (err instanceof CommandError) throw new LoadError(`psql stopped: ${err.message}`);
    throw new LoadError(`could not read the backup: ${(err as Error).message}`);
  } finally {
    compressed.destroy();
  }
}

/** Where a batch of statements goes to the embedded database at once. */
const BATCH_BYTES = 1 << 20;

/** Runs statements in batches of about BATCH_BYTES: memory stays within a batch, whatever the size of the dump. */
async function runInBatches(target: { exec(sql: string): Promise<unknown> }, statements: AsyncIterable<string>): Promise<void> {
  let batch = '';
  for await (const sql of statements) {
    batch += `${sql}\n`;
    if (batch.length > BATCH_BYTES) {
      await target.exec(batch);
      batch = '';
    }
  }
  if (batch) await target.exec(batch);
}

/** The statements of an embedded database's dump: PGlite's pg_dump writes rows as INSERTs, no COPY. */
async function* statementsOnly(items: AsyncIterable<DumpItem>, map: (sql: string) => string = (sql) => sql): AsyncGenerator<string> {
  for await (const item of items) {
    if (item.kind !== 'statement')
      throw new LoadError(`the embedded database's dump holds ${item.kind === 'rows' ? 'COPY rows' : 'a psql command'}, which it never writes`);
    yield map(item.sql);
  }
}

/**
 * Loads a backup of the embedded database (its gzip bytes) into a new PGlite directory (its fresh
 * cluster kept in the data directory `keptIn`); returns it open, for the checks that follow.
 */
export async function loadIntoEmbedded(dataDir: string, keptIn: string, compressed: Readable): Promise<EmbeddedDatabase> {
  const sql = inflated(compressed);
  const pg = await newCluster(dataDir, keptIn);
  try {
    await runInBatches(pg, statementsOnly(checkedItems(sql)));
  } catch (err) {
    await pg.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    if (err instanceof Refused || err instanceof LoadError) throw err;
    throw new LoadError(`the backup does not load into the embedded database: ${(err as Error).message}`);
  } finally {
    compressed.destroy();
  }
  return embeddedDatabase(pg, dataDir);
}

/**
 * Loads a dump of an embedded database (the live one, for the comparison of a restore) into
 * `schema` of another one, which must exist and be empty.
 */
export async function loadEmbeddedDumpIntoSchema(target: Queryable, dump: AsyncIterable<Buffer>, schema: string): Promise<void> {
  await runInBatches(
    target,
    statementsOnly(readDump(dump, PIECE_BYTES), (sql) => moveToSchema(sql, schema).sql),
  );
}
