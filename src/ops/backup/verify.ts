import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import type { Executor } from '../core/exec.js';
import { Refused } from '../core/errors.js';
import type { DatabaseTarget, Progress } from './create.js';
import { loadEmbeddedApart } from './embedded-load-apart.js';
import { CheckedCopy } from './checked-copy.js';
import { checkedItems } from './load.js';
import { createScratch, dropScratch, loadBackupInto } from './scratch.js';
import { backupKeys, checkSignature, sign, type BackupKeys } from './signing.js';
import { readManifest, writeManifest, type BackupManifest } from './manifest.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Passed only because the operator said to trust it (an unsigned backup). */
  trusted?: true;
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

/** Restores the checked bytes into a scratch database on the same server (or a scratch embedded directory), compares, drops it. */
async function restoreTest(
  copy: CheckedCopy,
  manifest: BackupManifest,
  target: DatabaseTarget,
  exec: Executor,
  onRead: (bytes: number) => void,
): Promise<Check> {
  const name = 'restore test';
  if (!target.dbUrl) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-restore-test-'));
    try {
      const job = { dir: path.join(dir, 'pglite'), keptIn: target.dataDir, tables: manifest.tables, compare: false, keepNew: false };
      const diff = (await loadEmbeddedApart(job, copy, undefined, onRead)).differences;
      return {
        name,
        ok: diff.length === 0,
        detail: diff.length ? diff.join('; ') : `restored into a scratch embedded database: ${Object.keys(manifest.tables).length} tables, row counts match`,
      };
    } catch (err) {
      return { name, ok: false, detail: (err as Error).message };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const scratch = `atlas_restore_test_${Date.now().toString(36)}`;
  let url: string;
  try {
    url = await createScratch(target.dbUrl, scratch);
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message };
  }
  try {
    let read = 0;
    const loaded = await loadBackupInto(
      url,
      copy.read((chunk) => onRead((read += chunk.length))),
      manifest,
      exec,
    );
    return {
      name,
      ok: loaded.differences.length === 0,
      detail: loaded.differences.length
        ? loaded.differences.join('; ')
        : `restored into scratch database ${scratch} on the same server: ${loaded.tables} tables, row counts match; dropped it`,
    };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message };
  } finally {
    await dropScratch(target.dbUrl, scratch).catch(() => {});
  }
}

/** The checks that failed, as one line: `name: detail; …`. */
export function failedChecks(result: Pick<VerifyResult, 'checks'>): string {
  return result.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.detail}`)
    .join('; ');
}

/** The checks that need no reading of the file: it is there, its manifest reads, and is signed by a key of the ring (or trusted unsigned). */
export function checkManifest(file: string, keys: BackupKeys): VerifyResult {
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
  checks.push(checkSignature(manifest, keys));
  return result(manifest);
}

const notVerified = (detail: string) => new Refused(`the backup failed verification, nothing was changed: ${detail}`);

/** The file copied apart as it is summed (progress: 'checking'), and its size and SHA-256 against the manifest's. */
async function copyAndSum(file: string, manifest: BackupManifest, onProgress?: (p: Progress) => void): Promise<{ copy: CheckedCopy; checks: Check[] }> {
  let read = 0;
  const copy = await CheckedCopy.take(file, (n) => onProgress?.({ phase: 'checking', done: (read += n), total: manifest.sizeBytes }));
  const size = copy.sizeBytes === manifest.sizeBytes;
  const checks = [
    { name: 'size', ok: size, detail: `${copy.sizeBytes} bytes${size ? '' : `, the manifest says ${manifest.sizeBytes}`}` },
    sha256Check(copy.sha256, manifest.sha256),
  ];
  return { copy, checks };
}

/**
 * A backup checked before any of it is used: its manifest and signature, then its bytes, copied
 * apart as they are summed (CheckedCopy): what is loaded afterwards is exactly what was checked.
 * Refuses (nothing run, nothing changed) a backup that fails; `trusted` says when it was
 * accepted unsigned. The caller closes the copy.
 */
export async function checkedBackup(
  file: string,
  target: DatabaseTarget,
  onProgress?: (p: Progress) => void,
): Promise<{ manifest: BackupManifest; copy: CheckedCopy; trusted: string | undefined }> {
  const first = checkManifest(file, backupKeys(target));
  if (!first.ok || !first.manifest) throw notVerified(failedChecks(first));
  const manifest = first.manifest;
  const { copy, ...sums } = await copyAndSum(file, manifest, onProgress);
  if (!sums.checks.every((c) => c.ok)) {
    copy.close();
    throw notVerified(failedChecks(sums));
  }
  const signature = first.checks.find((c) => c.name === 'signature');
  return { manifest, copy, trusted: signature?.trusted ? `${file}: ${signature.detail}` : undefined };
}

async function* counted(source: AsyncIterable<Buffer>, count: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    count(chunk.length);
    yield chunk;
  }
}

/** The gzip stream (whole, and of the recorded size) and its SQL (what checkedItems lets through), read once. */
async function contentChecks(compressed: Readable, manifest: BackupManifest): Promise<Check[]> {
  let inflated = 0;
  const gunzip = compressed.pipe(zlib.createGunzip({ chunkSize: 1 << 20 }));
  try {
    const items = checkedItems(counted(gunzip, (n) => (inflated += n)));
    while (!(await items.next()).done) {
      /* each item is checked as it is read */
    }
  } catch (err) {
    const zlibError = String((err as NodeJS.ErrnoException).code ?? '').startsWith('Z_');
    return zlibError
      ? [{ name: 'gzip', ok: false, detail: `the gzip stream is damaged: ${(err as Error).message}` }]
      : [{ name: 'content', ok: false, detail: (err as Error).message }];
  } finally {
    compressed.destroy();
  }
  const whole = inflated === manifest.uncompressedBytes;
  return [
    { name: 'gzip', ok: whole, detail: `inflates to ${inflated} bytes${whole ? '' : `, the manifest says ${manifest.uncompressedBytes}`}` },
    {
      name: 'content',
      ok: true,
      detail: 'only what our backups hold: tables, their rows, indexes, constraints, triggers and the functions our migrations define',
    },
  ];
}

/**
 * Checks a backup: present, signed, same size and SHA-256 as its manifest, a gzip stream that
 * inflates whole to the recorded size, and SQL that holds only what our backups hold; with
 * `restoreTest`, also loads those very bytes into a scratch database and compares row counts.
 * A backup that passes is marked verified in its manifest.
 */
export async function verifyBackup(
  file: string,
  target: DatabaseTarget,
  options: { restoreTest?: boolean; exec: Executor; onProgress?: (p: Progress) => void },
): Promise<VerifyResult> {
  const first = checkManifest(file, backupKeys(target));
  const { checks, manifest } = first;
  if (!manifest || !first.ok) return first;
  const size = manifest.sizeBytes;
  const result = (): VerifyResult => ({ ...first, ok: checks.every((c) => c.ok) });
  const { copy, checks: sums } = await copyAndSum(file, manifest, options.onProgress);
  try {
    checks.push(...sums);
    if (!checks.every((c) => c.ok)) return result();
    checks.push(...(await contentChecks(copy.read(), manifest)));
    if (options.restoreTest && checks.every((c) => c.ok)) {
      checks.push(await restoreTest(copy, manifest, target, options.exec, (done) => options.onProgress?.({ phase: 'restore test', done, total: size })));
    }
  } finally {
    copy.close();
  }
  const verified = result();
  if (verified.ok) writeManifest(file, { ...manifest, verifiedAt: new Date().toISOString() });
  return verified;
}

/**
 * Signs a backup that has no valid signature (taken before signing, or on another host) once
 * it passes every check but that one: the operator vouches for where it came from.
 */
export async function signBackup(file: string, target: DatabaseTarget, exec: Executor): Promise<VerifyResult & { signedBy?: string }> {
  const keys = backupKeys(target);
  const verified = await verifyBackup(file, { ...target, keys: { ...keys, trustUnsigned: true } }, { exec });
  if (!verified.ok) return verified;
  const signed = sign(readManifest(file), keys);
  writeManifest(file, signed);
  return { ...verified, manifest: signed, signedBy: signed.signature?.keyId };
}
