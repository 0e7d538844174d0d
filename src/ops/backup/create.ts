import { existsSync, mkdirSync, rmSync, statfsSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase } from '../../db/open.js';
import { openEmbedded, type EmbeddedDatabase } from '../../db/embedded.js';
import { redactUrl } from '../../shared/redact.js';
import { backupFileName } from '../../shared/names.js';
import { readAppVersion } from '../../shared/version.js';
import type { Executor } from '../core/exec.js';
import { CopyRowCounter } from './copy-rows.js';
import { readDatabaseFacts, type DatabaseFacts } from './database-facts.js';
import { embeddedDump } from './embedded-dump.js';
import { writeManifest, type BackupManifest } from './manifest.js';
import { backupKeys, sign, type BackupKeys } from './signing.js';
import { ParallelGzipFile } from './parallel-gzip.js';
import { checkClientTool, pgDumpCommand } from './pg-tools.js';
import { backupPreamble } from './preamble.js';
import { applyRetention } from './retention.js';
import { Failed } from '../core/errors.js';

export interface DatabaseTarget {
  /** PostgreSQL; when absent, the embedded database of dataDir. */
  dbUrl: string | undefined;
  dataDir: string;
  /** The keys that sign and check its backups; default: backupKeys(). */
  keys?: BackupKeys | undefined;
}

export interface Progress {
  phase: string;
  done: number;
  /** Best estimate of the total, when there is one. */
  total: number | undefined;
  /** What is counted: bytes (the default), or steps of work of unknown size. */
  unit?: 'steps';
}

export interface BackupPlan extends DatabaseTarget {
  logDir: string;
  reason: BackupManifest['reason'];
  /** Names the file; default: the version that last started on the database, else this tool's. */
  appVersion?: string | undefined;
  /** Keep this many backups (older ones go once this one is verified); undefined: keep all. */
  keep?: number | undefined;
  onProgress?: (p: Progress) => void;
}

export interface BackupResult {
  file: string;
  manifest: BackupManifest;
  removed: string[];
}

export class BackupError extends Failed {}

/** A compressed plain-SQL dump is about this share of the table data (measured: 10–13 %). */
const COMPRESSED_SHARE = 0.12;

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    await access(dir, constants.W_OK);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EACCES' ? 'is not writable by this user' : `cannot be used (${(err as Error).message})`;
    throw new BackupError(`the backup directory ${dir} ${why}: create it writable (mkdir -p ${dir})`, [{ do: 'set', setting: 'log-dir' }]);
  }
}

function checkFreeSpace(dir: string, facts: DatabaseFacts): void {
  const stats = statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  const needed = Math.round(facts.dataBytes * COMPRESSED_SHARE);
  if (free < needed) {
    throw new BackupError(
      `not enough room for the backup in ${dir}: about ${mb(needed)} needed (the tables hold ${mb(facts.dataBytes)}), ${mb(free)} free; free some space`,
      [{ do: 'set', setting: 'log-dir' }],
    );
  }
}

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;

interface Dumped {
  facts: DatabaseFacts;
  clientVersion: string;
  source: BackupManifest['source'];
  tables: Record<string, number>;
}

type Sink = (chunk: Buffer) => Promise<void>;

/** pg_dump of a PostgreSQL server, streamed; row counts taken from the very COPY data dumped. */
async function dumpPostgres(url: string, serverMajor: number, exec: Executor, sink: Sink): Promise<Omit<Dumped, 'facts'>> {
  const clientVersion = await checkClientTool(exec, 'pg_dump', serverMajor);
  const counter = new CopyRowCounter();
  const command = pgDumpCommand(url);
  const { child, done } = exec.stream(command);
  child.stdin?.end();
  try {
    for await (const chunk of child.stdout!) {
      counter.feed(chunk as Buffer);
      await sink(chunk as Buffer);
    }
  } catch (err) {
    child.kill('SIGTERM');
    await done;
    throw err;
  }
  const result = await done;
  if (result.code !== 0) throw new BackupError(`pg_dump failed: ${exec.failure(command, result).message}`);
  return { clientVersion, source: 'postgres', tables: counter.tables };
}

/** The embedded database, dumped (the process holds its lock meanwhile). */
async function dumpEmbedded(db: EmbeddedDatabase, sink: Sink): Promise<Omit<Dumped, 'facts'>> {
  const tables: Record<string, number> = {};
  for await (const chunk of embeddedDump(db.pglite, tables)) await sink(chunk);
  return { clientVersion: 'pg_dump (PGlite) 18', source: 'embedded', tables };
}

/**
 * Takes a verified backup: `db-backup-<version>-<UTC time>.sql.gz` (plain SQL, gzip, mode 0600)
 * and its manifest in logDir, then applies retention.
 */
export async function createBackup(plan: BackupPlan, exec: Executor): Promise<BackupResult> {
  await ensureWritableDir(plan.logDir);
  const started = performance.now();
  const db = plan.dbUrl
    ? await openDatabase({ url: plan.dbUrl, embeddedDir: plan.dataDir, poolSize: 1, applicationName: 'tpctl' })
    : await openEmbedded(plan.dataDir);
  let writer: ParallelGzipFile | undefined;
  /** The backup, once complete under its final name: removed again if its manifest cannot be written. */
  let written: string | undefined;
  try {
    const facts = await readDatabaseFacts(db).catch((err: Error) => {
      throw new BackupError(`cannot read the database at ${plan.dbUrl ? redactUrl(plan.dbUrl) : db.location}: ${err.message}`);
    });
    checkFreeSpace(plan.logDir, facts);
    const appVersion = plan.appVersion ?? facts.appVersion ?? readAppVersion();
    let createdAt = new Date();
    // Names have one-second resolution: a second backup within the same second waits for the next.
    while (existsSync(path.join(plan.logDir, backupFileName(appVersion, createdAt)))) {
      await sleep(1000 - (createdAt.getTime() % 1000));
      createdAt = new Date();
    }
    const file = path.join(plan.logDir, backupFileName(appVersion, createdAt));
    const out = await ParallelGzipFile.create(file);
    writer = out;
    const estimate = Math.round(facts.dataBytes * 0.9);
    const sink: Sink = async (chunk) => {
      await out.write(chunk);
      plan.onProgress?.({ phase: 'dumping', done: out.bytesIn, total: estimate });
    };
    await sink(Buffer.from(backupPreamble(appVersion, createdAt.toISOString())));
    const dumped = plan.dbUrl ? await dumpPostgres(plan.dbUrl, facts.serverMajor, exec, sink) : await dumpEmbedded(db as EmbeddedDatabase, sink);
    const sum = await out.finish();
    writer = undefined;
    written = file;

    const manifest: BackupManifest = {
      format: 'atlas-backup-1',
      file: path.basename(file),
      appVersion,
      lastMigration: facts.lastMigration,
      source: dumped.source,
      postgres: { server: facts.serverVersion, client: dumped.clientVersion },
      reason: plan.reason,
      createdAt: createdAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
      sizeBytes: sum.sizeBytes,
      uncompressedBytes: sum.uncompressedBytes,
      sha256: sum.sha256,
      tables: dumped.tables,
      verifiedAt: new Date().toISOString(),
    };
    writeManifest(file, sign(manifest, backupKeys(plan)));
    written = undefined;
    const removed = plan.keep === undefined ? [] : applyRetention(plan.logDir, plan.keep);
    return { file, manifest, removed };
  } catch (err) {
    await writer?.abort();
    if (written) rmSync(written, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new BackupError(`the disk holding ${plan.logDir} filled up during the backup; nothing was kept. Free some space, then try again`, [
        { do: 'set', setting: 'log-dir' },
      ]);
    }
    throw err;
  } finally {
    await db.close();
  }
}
