import { createReadStream, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Executor } from '../exec.js';
import { readDump } from './dump-reader.js';
import { psqlSessionCommand } from './pg-tools.js';
import { isBackupPreamble } from './preamble.js';
import { PsqlSession } from './psql-session.js';
import { moveToSchema } from './sql-scan.js';

export class LoadError extends Error {}

/** Sort memory for the index builds at the end of a restore (PostgreSQL's default is 64 MB). */
const RESTORE_SORT_MEMORY = '512MB';
/** Rows go to the sessions in pieces of this size, so that one big table loads in parallel too. */
const PIECE_BYTES = 8 << 20;
const SESSION_SETTING = /^(SET |SELECT pg_catalog\.set_config\()/;

interface Task {
  sql: readonly (string | Buffer)[];
  /** The objects it touches (names without schema); undefined: it may touch anything. */
  names: ReadonlySet<string> | undefined;
  rows?: { table: string; bytes: number };
  running?: boolean;
}

/** Whether `later` must wait for `earlier`: they touch the same object (rows may load side by side). */
function mustWait(earlier: Task, later: Task): boolean {
  if (!earlier.names || !later.names) return true;
  if (earlier.rows && later.rows) return false;
  return [...later.names].some((name) => earlier.names!.has(name));
}

/**
 * Loads a backup of a PostgreSQL database into `schema` (which must exist and be empty) over
 * several psql sessions at once: each statement waits only for the earlier ones that touch the
 * same objects, and the rows of a table load in pieces side by side. The backup's preamble
 * (which empties schema public for `zcat | psql`) is skipped. Returns the rows PostgreSQL took
 * per table, from its own COPY counts. On failure the schema is left as far as it got.
 */
export async function loadIntoSchema(url: string, file: string, schema: string, exec: Executor, onBytes?: (n: number) => void): Promise<Record<string, number>> {
  const command = psqlSessionCommand(url, RESTORE_SORT_MEMORY);
  const sessions = Array.from({ length: Math.max(2, Math.min(4, availableParallelism())) }, () => ({ psql: new PsqlSession(exec, command), settings: 0, busy: false }));
  const settings: string[] = [];
  const tasks: Task[] = [];
  const loaded: Record<string, number> = {};
  let failure: Error | undefined;
  let notify: (() => void) | undefined;
  const changed = () => {
    notify?.();
    notify = undefined;
  };
  const nextChange = () => new Promise<void>((resolve) => (notify = resolve));

  function schedule(): void {
    for (const session of sessions.filter((s) => !s.busy)) {
      const task = tasks.find((t, i) => !t.running && !tasks.slice(0, i).some((earlier) => mustWait(earlier, t)));
      if (!task) return;
      task.running = session.busy = true;
      const sql = [...settings.slice(session.settings).map((s) => `${s}\n`), ...task.sql];
      session.settings = settings.length;
      session.psql.run(sql).then(
        (printed) => {
          if (task.rows) loaded[task.rows.table] = (loaded[task.rows.table] ?? 0) + Number(/^COPY (\d+)$/m.exec(printed.join('\n'))?.[1]);
          tasks.splice(tasks.indexOf(task), 1);
          session.busy = false;
          schedule();
          changed();
        },
        (err: Error) => {
          failure ??= err;
          changed();
        },
      );
    }
  }

  const compressed = createReadStream(file, { highWaterMark: 1 << 20 });
  compressed.on('data', (d) => onBytes?.(d.length));
  const sql = compressed.pipe(zlib.createGunzip({ chunkSize: 1 << 20 }));
  try {
    for await (const item of readDump(sql, PIECE_BYTES)) {
      if (item.kind === 'psql') {
        if (!/^\\(un)?restrict\b/.test(item.line)) throw new LoadError(`the backup holds a psql command that a restore does not run: ${item.line}`);
      } else if (item.kind === 'rows') {
        const moved = moveToSchema(item.copy, schema);
        tasks.push({ sql: [`${moved.sql}\n`, ...item.data, '\\.\n'], names: moved.names, rows: { table: item.table, bytes: item.bytes } });
      } else if (SESSION_SETTING.test(item.sql)) {
        settings.push(item.sql);
      } else if (!isBackupPreamble(item.sql)) {
        const moved = moveToSchema(item.sql, schema);
        tasks.push({ sql: [`${moved.sql}\n`], names: moved.names.size ? moved.names : undefined });
      }
      schedule();
      const queued = () => tasks.reduce((n, t) => n + (!t.running && t.rows ? t.rows.bytes : 0), 0);
      while (!failure && queued() > PIECE_BYTES * sessions.length) await nextChange();
      if (failure) break;
    }
    while (!failure && tasks.length) await nextChange();
  } catch (err) {
    failure ??= err instanceof LoadError ? err : new LoadError(`could not read the backup: ${(err as Error).message}`);
  } finally {
    compressed.destroy();
  }
  if (failure) {
    for (const session of sessions) session.psql.kill();
    throw failure instanceof LoadError ? failure : new LoadError(`psql stopped: ${failure.message}`);
  }
  await Promise.all(sessions.map((s) => s.psql.close()));
  return loaded;
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
