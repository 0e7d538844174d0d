import { createReadStream, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Executor } from '../exec.js';
import { psqlRestoreCommand } from './pg-tools.js';

export class LoadError extends Error {}

/** Sort memory for the index builds at the end of a restore (PostgreSQL's default is 64 MB). */
const RESTORE_SORT_MEMORY = '512MB';

/**
 * Feeds a backup through psql into a PostgreSQL database as ONE transaction that stops at the
 * first error: it commits whole, or leaves the database exactly as it was. `prologue` and
 * `epilogue` run inside the same transaction (to set aside the old data, and to check the
 * restored row counts before anything commits).
 */
export async function loadIntoPostgres(
  url: string,
  file: string,
  exec: Executor,
  options: { prologue?: string; epilogue?: string; onBytes?: (n: number) => void } = {},
): Promise<void> {
  const command = psqlRestoreCommand(url, RESTORE_SORT_MEMORY);
  const { child, done } = exec.stream(command);
  async function* input() {
    if (options.prologue) yield Buffer.from(options.prologue);
    const gunzip = zlib.createGunzip();
    const compressed = createReadStream(file, { highWaterMark: 1 << 20 });
    compressed.on('data', (d) => options.onBytes?.(d.length));
    compressed.pipe(gunzip);
    for await (const chunk of gunzip) yield chunk as Buffer;
    if (options.epilogue) yield Buffer.from(`\n${options.epilogue}`);
  }
  // psql exits at the first error, closing its input: that is reported by its exit status below.
  const fed = pipeline(Readable.from(input()), child.stdin!).catch((err: NodeJS.ErrnoException) => err);
  const [result, feedError] = await Promise.all([done, fed]);
  if (result.code !== 0) throw new LoadError(`psql stopped and rolled everything back: ${exec.failure(command, result).message}`);
  if (feedError && feedError.code !== 'EPIPE') throw new LoadError(`could not read the backup: ${feedError.message}`);
}

/** Loads a backup of the embedded database into a new PGlite directory. */
export async function loadIntoEmbedded(dataDir: string, file: string, onBytes?: (n: number) => void): Promise<void> {
  const chunks: Buffer[] = [];
  const compressed = createReadStream(file, { highWaterMark: 1 << 20 });
  compressed.on('data', (d) => onBytes?.(d.length));
  await pipeline(compressed, zlib.createGunzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = await PGlite.create(dataDir);
  try {
    await pg.exec(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    await pg.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    throw new LoadError(`the backup does not load into the embedded database: ${(err as Error).message}`);
  }
  await pg.close();
}
