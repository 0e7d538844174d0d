import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { openEmbedded } from '../../db/embedded.js';
import type { Executor } from '../core/exec.js';
import type { DatabaseTarget, Progress } from './create.js';
import { countRows } from './database-facts.js';
import { digestBackup, sha256File } from './integrity.js';
import { loadIntoEmbedded, loadIntoSchema } from './load.js';
import { readManifest, writeManifest, type BackupManifest } from './manifest.js';
import { withDatabase } from './pg-tools.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyResult {
  file: string;
  ok: boolean;
  checks: Check[];
  manifest: BackupManifest | undefined;
}

export function sha256Check(actual: string, expected: string): Check {
  return { name: 'sha256', ok: actual === expected, detail: actual === expected ? actual : `${actual} differs from the manifest's ${expected}` };
}

/** Differences between expected and actual row counts, as readable lines. */
export function rowCountDifferences(expected: Record<string, number>, actual: Record<string, number>): string[] {
  return Object.entries(expected)
    .filter(([table, n]) => actual[table] !== n)
    .map(([table, n]) => `${table}: ${actual[table] ?? 'missing'} rows, the backup has ${n}`);
}

/** Restores into a scratch database on the same server (or a scratch embedded directory), compares, drops it. */
async function restoreTest(file: string, manifest: BackupManifest, target: DatabaseTarget, exec: Executor, onRead: (chunk: Buffer) => void): Promise<Check> {
  const name = 'restore test';
  if (!target.dbUrl) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-restore-test-'));
    try {
      await loadIntoEmbedded(path.join(dir, 'pglite'), target.dataDir, file, onRead);
      const db = await openEmbedded(dir);
      const counts = await countRows(db, Object.keys(manifest.tables)).finally(() => db.close());
      const diff = rowCountDifferences(manifest.tables, counts);
      return {
        name,
        ok: diff.length === 0,
        detail: diff.length ? diff.join('; ') : `restored into a scratch embedded database: ${Object.keys(counts).length} tables, row counts match`,
      };
    } catch (err) {
      return { name, ok: false, detail: (err as Error).message };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const scratch = `atlas_restore_test_${Date.now().toString(36)}`;
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: target.dbUrl, application_name: 'tpctl' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${scratch}`);
  } catch (err) {
    await admin.end();
    return { name, ok: false, detail: `cannot create a scratch database on the server (${(err as Error).message}); the user needs CREATEDB` };
  }
  const url = withDatabase(target.dbUrl, scratch);
  try {
    const counts = await loadIntoSchema(url, file, 'public', exec, { onRead });
    const diff = rowCountDifferences(manifest.tables, counts);
    return {
      name,
      ok: diff.length === 0,
      detail: diff.length
        ? diff.join('; ')
        : `restored into scratch database ${scratch} on the same server: ${Object.keys(counts).length} tables, row counts match; dropped it`,
    };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message };
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${scratch}`).catch(() => {});
    await admin.end();
  }
}

/** The checks that failed, as one line: `name: detail; …`. */
export function failedChecks(result: VerifyResult): string {
  return result.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.detail}`)
    .join('; ');
}

/** The checks that need no reading of the file: it is there, its manifest reads, and it has the size the manifest says. */
export function checkManifest(file: string): VerifyResult {
  const checks: Check[] = [];
  const result = (manifest?: BackupManifest): VerifyResult => ({ file, ok: checks.every((c) => c.ok), checks, manifest });
  if (!existsSync(file)) {
    checks.push({ name: 'file', ok: false, detail: `${file} does not exist` });
    return result();
  }
  let manifest: BackupManifest;
  try {
    manifest = readManifest(file);
    checks.push({ name: 'manifest', ok: true, detail: `version ${manifest.appVersion}, ${manifest.source}, taken ${manifest.createdAt}` });
  } catch (err) {
    checks.push({ name: 'manifest', ok: false, detail: (err as Error).message });
    return result();
  }
  const size = statSync(file).size;
  checks.push({
    name: 'size',
    ok: size === manifest.sizeBytes,
    detail: `${size} bytes${size === manifest.sizeBytes ? '' : `, the manifest says ${manifest.sizeBytes}`}`,
  });
  return result(manifest);
}

/**
 * Checks a backup against its manifest: present, same size, same SHA-256, and a gzip stream
 * that inflates whole to the recorded size; with `restoreTest`, also loads it into a scratch
 * database and compares row counts. A backup that passes is marked verified in its manifest.
 * `checksumOnly` (before a rollback stops anything) checks the manifest, size and SHA-256 only.
 */
export async function verifyBackup(
  file: string,
  options: { restoreTest?: DatabaseTarget; exec: Executor; onProgress?: (p: Progress) => void; checksumOnly?: boolean },
): Promise<VerifyResult> {
  const first = checkManifest(file);
  const { checks, manifest } = first;
  if (!manifest) return first;
  const size = manifest.sizeBytes;
  const result = (): VerifyResult => ({ ...first, ok: checks.every((c) => c.ok) });
  let read = 0;
  const onBytes = (n: number) => options.onProgress?.({ phase: 'checking', done: (read += n), total: size });
  if (options.checksumOnly) {
    const sum = await sha256File(file, onBytes);
    checks.push(sha256Check(sum.sha256, manifest.sha256));
    return result();
  }
  const digest = await digestBackup(file, onBytes);
  checks.push(sha256Check(digest.sha256, manifest.sha256));
  const whole = digest.uncompressedBytes === manifest.uncompressedBytes;
  checks.push({
    name: 'gzip',
    ok: whole,
    detail: digest.gzipError
      ? `the gzip stream is damaged: ${digest.gzipError}`
      : whole
        ? `inflates to ${digest.uncompressedBytes} bytes`
        : `inflates to ${digest.uncompressedBytes} bytes, the manifest says ${manifest.uncompressedBytes}`,
  });
  if (options.restoreTest && checks.every((c) => c.ok)) {
    let loaded = 0;
    checks.push(
      await restoreTest(file, manifest, options.restoreTest, options.exec, (chunk) =>
        options.onProgress?.({ phase: 'restore test', done: (loaded += chunk.length), total: size }),
      ),
    );
  }
  const verified = result();
  if (verified.ok) writeManifest(file, { ...manifest, verifiedAt: new Date().toISOString() });
  return verified;
}
