import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { type Database } from '../../src/db/database.js';
import { openEmbedded } from '../../src/db/embedded.js';
import { manifestPath, readManifest, writeManifest } from '../../src/ops/backup/manifest.js';
import { backupKeys, sign } from '../../src/ops/backup/signing.js';
import { embeddedDir, sharedPostgres } from './backends.js';
import { tempDir } from './temp.js';
import type { PostgresServer } from './postgres-server.js';
import { fillSampleData } from './sample-data.js';
import { tpctl } from './tpctl.js';

export type Kind = 'postgres' | 'embedded';

export interface Setup {
  env: Record<string, string>;
  logDir: string;
  open(): Promise<Database>;
}

/** Migrates the database `env` points at, and fills it with working data. */
async function prepare(env: Record<string, string>, open: () => Promise<Database>, scale: number): Promise<void> {
  expect((await tpctl(['migrate', 'up'], env)).code).toBe(0);
  const db = await open();
  await fillSampleData(db, scale).finally(() => db.close());
}

/**
 * Embedded data directories prepared once per test file and scale, copied for each setUp: the
 * embedded database's migrations and data take seconds of WebAssembly, the copy milliseconds.
 */
const preparedEmbedded = new Map<number, Promise<string>>();

/** A migrated Tenant Plane database with working data in it, of either kind. */
export async function setUp(kind: Kind, scale = 1, server?: PostgresServer): Promise<Setup> {
  const logDir = tempDir('atlas-backups-');
  if (kind === 'postgres') {
    const env = { DB_URL: await (server ?? sharedPostgres()).createDatabase('backup'), ATLAS_LOG_DIR: logDir, ATLAS_DATA_DIR: tempDir() };
    const open = () => openDatabase({ url: env.DB_URL, embeddedDir: '' });
    await prepare(env, open, scale);
    return { env, logDir, open };
  }
  let prepared = preparedEmbedded.get(scale);
  if (!prepared) {
    const dir = embeddedDir();
    prepared = prepare({ ATLAS_DATA_DIR: dir }, () => openEmbedded(dir), scale).then(() => dir);
    preparedEmbedded.set(scale, prepared);
  }
  const env = { ATLAS_DATA_DIR: tempDir(), ATLAS_LOG_DIR: logDir };
  cpSync(await prepared, env.ATLAS_DATA_DIR, { recursive: true });
  return { env, logDir, open: () => openEmbedded(env.ATLAS_DATA_DIR) };
}

/** The copies restores leave beside the data: set-aside schemas, or directories beside the embedded database. */
export async function setAsideCopies(kind: Kind, setup: Setup): Promise<string[]> {
  if (kind === 'embedded')
    return readdirSync(setup.env.ATLAS_DATA_DIR!)
      .filter((n) => /^pglite\.[a-z-]+-\d{8}t\d{9}$/.test(n))
      .sort();
  return (await withDb(setup, (db) => db.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'atlas%' ORDER BY 1`))).map(
    (r) => r.name,
  );
}

export async function withDb<T>(setup: Setup, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await setup.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/**
 * Rewrites the SQL inside a backup and makes its manifest describe the result (size, sums). With
 * `signed`, signs it again with the keyring of `dataDir`, as someone who holds the key could; else its
 * old signature stays, which no longer matches.
 */
export function rewriteBackup(dataDir: string, file: string, edit: (sql: string) => string, signed: boolean): void {
  const sql = Buffer.from(edit(gunzipSync(readFileSync(file)).toString()));
  const gz = gzipSync(sql);
  writeFileSync(file, gz);
  const manifest = { ...readManifest(file), sizeBytes: gz.length, uncompressedBytes: sql.length, sha256: createHash('sha256').update(gz).digest('hex') };
  writeManifest(file, signed ? sign(manifest, backupKeys({ dataDir })) : manifest);
}

/** A copy of a backup and its manifest, named `<backup>-<suffix>.sql.gz`, rewritten as rewriteBackup does. */
export function rewrittenCopy(dataDir: string, original: string, suffix: string, edit: (sql: string) => string, signed: boolean): string {
  const file = original.replace(/\.sql\.gz$/, `-${suffix}.sql.gz`);
  copyFileSync(original, file);
  copyFileSync(manifestPath(original), manifestPath(file));
  rewriteBackup(dataDir, file, edit, signed);
  return file;
}

export async function createBackup(setup: Setup): Promise<string> {
  const res = await tpctl(['backup', 'create', '--json'], setup.env);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return (JSON.parse(res.stdout) as { file: string }).file;
}

/** Waits until a restore's psql sessions load rows into the database of `url`. */
export async function untilLoading(server: PostgresServer, url: string): Promise<void> {
  const database = new URL(url).pathname.slice(1);
  const deadline = Date.now() + 30_000;
  const loading = `SELECT 1 FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'psql' AND query LIKE 'COPY %'`;
  while (!(await server.sql(loading).catch(() => undefined))?.rowCount) {
    if (Date.now() > deadline) throw new Error('the restore never started loading');
    await new Promise((r) => setTimeout(r, 20));
  }
}
