import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Database } from '../../db/database.js';
import { timed } from '../../shared/timed.js';
import { Failed, Refused } from '../core/errors.js';
import { carryCreatedRows } from './carry.js';
import type { PrivateFile } from './checked-copy.js';
import { keepCredentialsRevoked, type CredentialsKept } from './credentials.js';
import { LoadError, loadEmbeddedDumpIntoSchema, loadIntoEmbedded, refusedByDatabase, UnsafeBackupError } from './load.js';
import { sinceBackup, withCreatedRows, type SinceBackup } from './since-backup.js';
import { countRows, rowCountDifferences } from './database-facts.js';

/** What the load process is asked to do (embedded-load-process.ts). */
export interface EmbeddedJob {
  /** The new cluster's directory (missing or empty). */
  dir: string;
  /** The data directory that keeps the fresh cluster it is copied from. */
  keptIn: string;
  /** The backup's tables and row counts (its manifest). */
  tables: Record<string, number>;
  /** Compare with the live data once the row counts match. */
  compare: boolean;
  keepNew: boolean;
  /** The live data's dump is on descriptor 4 (without it: there is no live data). */
  live?: boolean;
}

/** The comparison with the live data, and the credentials kept revoked. */
export interface EmbeddedSince {
  sinceBackup: SinceBackup;
  credentials: CredentialsKept;
}

export interface Loaded {
  /** Where the loaded data's row counts differ from the backup's (nothing was compared then). */
  differences: string[];
  since: EmbeddedSince | undefined;
}

type ErrorKind = 'unsafe' | 'refused' | 'load' | 'failed' | 'other';
type Ended = { loaded: Loaded } | { error: { kind: ErrorKind; message: string; code: string | undefined } };
/** What the load process says: the bytes of the backup it has read so far, then how it ended. */
export type LoadAnswer = { read: number } | Ended;

/** Where the live data is copied beside the loaded backup, in the new cluster. */
const LIVE_COPY = 'atlas_live';

/** The comparison (and carry) on the embedded database: the live data's dump is loaded beside the restored data first. */
async function sinceBackupEmbedded(restored: Database, live: Readable | undefined, keepNew: boolean): Promise<EmbeddedSince> {
  if (!live) {
    const credentials = await keepCredentialsRevoked(restored, LIVE_COPY, 'public');
    return { sinceBackup: { tables: [], carried: keepNew ? [] : undefined, compareMs: 0, carryMs: 0 }, credentials };
  }
  const [tables, compareMs] = await timed(async () => {
    await restored.exec(`CREATE SCHEMA ${LIVE_COPY}`);
    await loadEmbeddedDumpIntoSchema(restored, live, LIVE_COPY);
    return sinceBackup(restored, LIVE_COPY, 'public');
  });
  const [[carried, credentials], carryMs] = await timed(() =>
    restored
      .transaction(
        async (tx) =>
          [
            keepNew ? await carryCreatedRows(tx, LIVE_COPY, 'public', withCreatedRows(tables)) : undefined,
            await keepCredentialsRevoked(tx, LIVE_COPY, 'public'),
          ] as const,
      )
      .catch(refusedByDatabase('the carry')),
  );
  await restored.exec(`DROP SCHEMA ${LIVE_COPY} CASCADE`);
  return { sinceBackup: { tables, carried, compareMs, carryMs }, credentials };
}

/** The load process's work: load, count, compare; the cluster is closed when it returns. */
export async function loadedEmbedded(job: EmbeddedJob, backup: Readable, live: Readable | undefined): Promise<Loaded> {
  const restored = await loadIntoEmbedded(job.dir, job.keptIn, backup);
  try {
    const differences = rowCountDifferences(job.tables, await countRows(restored, Object.keys(job.tables)));
    const since = job.compare && !differences.length ? await sinceBackupEmbedded(restored, live, job.keepNew) : undefined;
    return { differences, since };
  } finally {
    await restored.close();
  }
}

export function errorKind(err: unknown): ErrorKind {
  if (err instanceof UnsafeBackupError) return 'unsafe';
  if (err instanceof Refused) return 'refused';
  if (err instanceof LoadError) return 'load';
  if (err instanceof Failed) return 'failed';
  return 'other';
}

/** The error the load process reported, as its own class again (a database error keeps its SQLSTATE). */
function rebuilt(e: { kind: ErrorKind; message: string; code: string | undefined }): Error {
  const kinds = { unsafe: UnsafeBackupError, refused: Refused, load: LoadError, failed: Failed, other: Error };
  return Object.assign(new kinds[e.kind](e.message), e.code ? { code: e.code } : {});
}

const LOAD_PROCESS = fileURLToPath(new URL('./embedded-load-process.js', import.meta.url));
/**
 * The processes of a restore that open PGlite run with V8's baseline code only for WebAssembly
 * (its optimising tier took about 100 MB of a 1 GiB restore here) and a small young generation:
 * their memory, at a cost in speed (bench/restore-memory.ts gives both).
 */
export const LEAN_PROCESS_FLAGS = ['--liftoff-only', '--max-semi-space-size=1'];

/**
 * Loads a backup of the embedded database (the checked copy's gzip bytes) into the new cluster
 * `job.dir` in a process of its own (embedded-load-process.ts says why), with the live data's
 * dump to compare with. The process reads both through descriptors of its own: no byte passes
 * through this one, which only hears how far it got (`onRead`, in bytes).
 */
export async function loadEmbeddedApart(
  job: EmbeddedJob,
  backup: { readonly fd: number },
  live: PrivateFile | undefined,
  onRead?: (bytes: number) => void,
): Promise<Loaded> {
  // Its standard input is a pipe left open: it closes if this process is killed, and the load then stops.
  const child = spawn(process.execPath, [...LEAN_PROCESS_FLAGS, LOAD_PROCESS, JSON.stringify({ ...job, live: Boolean(live) })], {
    stdio: ['pipe', 'ignore', 'pipe', backup.fd, live ? live.fd : 'ignore', 'ipc'],
  });
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  let answer: Ended | undefined;
  child.on('message', (m: LoadAnswer) => {
    if ('read' in m) onRead?.(m.read);
    else answer ??= m;
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4096)));
  const [code, signal] = await closed;
  if (answer && 'loaded' in answer) return answer.loaded;
  if (answer) throw rebuilt(answer.error);
  throw new LoadError(`the load stopped (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n')[0] || 'no message'}`);
}
