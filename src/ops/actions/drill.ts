import { rmSync } from 'node:fs';
import path from 'node:path';
import { acquireFileLock, LockHeldError, type LockHolder } from '../../shared/file-lock.js';
import { readJsonFile, writeFileAtomic } from '../../shared/files.js';
import { scratchDatabaseName } from '../../shared/names.js';
import { isVersion } from '../../shared/version.js';
import type { DatabaseWork } from '../backup/database-work.js';
import { readManifest } from '../backup/manifest.js';
import { listBackups } from '../backup/retention.js';
import type { RunLog } from '../core/exec.js';
import { Refused } from '../core/errors.js';
import { stateFiles } from '../engine/state/files.js';
import { waitHealthy } from '../probes/health.js';
import { JOURNEY_RECEIVER_HOST, type JourneyResult } from '../probes/journey.js';
import type { TenantPlane } from '../probes/tenant-plane.js';
import { crashOf, type Runtime } from '../runtimes/runtime.js';
import { logJourney, seconds } from '../steps/rehearsal.js';

/**
 * A restore drill: a backup (the newest by default) restored into a scratch database on the
 * same server, the version it was taken from started on it apart from production, and the
 * rehearsal's smoke journey run against it; then the copy is dropped. Production is only read
 * (and told, in a setting, which backup was proven to restore). It holds the operation lock, so
 * it never runs beside an upgrade; a drill that was killed leaves its copy's name in
 * `.atlas-drill.json`, and the next drill removes it first.
 */
export interface DrillResult {
  ok: boolean;
  backup: string;
  version: string;
  database: string;
  restore: { ms: number; tables: number; rows: number } | undefined;
  healthyMs: number | undefined;
  journey: JourneyResult | undefined;
  /** What failed, when the drill did. */
  failure: string | undefined;
  line: string;
}

export interface DrillContext {
  dataDir: string;
  runtime: Runtime;
  database: DatabaseWork;
  tenantPlane: TenantPlane;
  healthTimeoutMs: number;
  log: RunLog;
}

/** The newest backup in the backup directory that has a manifest: what a drill proves by default. */
function newestBackup(database: DatabaseWork): string {
  const newest = listBackups(database.backupDir).find((b) => b.manifest);
  if (!newest) throw new Refused(`there is no backup with a manifest in ${database.backupDir} to drill: take one (tpctl backup create) or name a file`);
  return newest.file;
}

/** Drops the copy a killed drill named, and stops what it started; the file that named it goes. */
async function removeLeftover(ctx: DrillContext, file: string): Promise<void> {
  const left = readJsonFile<{ database?: unknown }>(file);
  if (typeof left?.database === 'string' && (await ctx.database.dropRehearsalCopy(left.database).catch(() => false))) {
    ctx.log.write(`removed ${left.database}, which a killed drill left`);
  }
  rmSync(file, { force: true });
}

export async function drill(ctx: DrillContext, file: string | undefined, label: string): Promise<DrillResult | { locked: LockHolder }> {
  if (ctx.database.embedded) {
    throw new Refused(
      "a drill restores into a scratch database on the live one's server: PostgreSQL's. On the embedded database, tpctl backup verify --restore-test restores into a scratch embedded database",
    );
  }
  const apart = await ctx.runtime.apart?.();
  if (!apart || 'cannot' in apart)
    throw new Refused(
      `a drill cannot start a version apart here: ${apart ? apart.cannot : `on ${ctx.runtime.name} the versions run in the cluster, not from here`}`,
    );
  const backup = path.resolve(file ?? newestBackup(ctx.database));
  let version: string;
  try {
    version = readManifest(backup).appVersion;
  } catch (err) {
    throw new Refused(`${backup} cannot be drilled: ${(err as Error).message}`);
  }
  if (!isVersion(version)) throw new Refused(`${backup}'s manifest names no version to start on it`);
  await ctx.runtime.ensureAvailable(version);

  let lock;
  try {
    lock = acquireFileLock(stateFiles(ctx.dataDir).lock, label);
  } catch (err) {
    if (err instanceof LockHeldError) return { locked: err.holder };
    throw err;
  }
  const leftover = path.join(ctx.dataDir, '.atlas-drill.json');
  const database = scratchDatabaseName('drill', new Date(), ctx.database.dbUrl ?? '');
  const result: DrillResult = {
    ok: false,
    backup,
    version,
    database,
    restore: undefined,
    healthyMs: undefined,
    journey: undefined,
    failure: undefined,
    line: '',
  };
  try {
    await removeLeftover(ctx, leftover);
    await apart.remove();
    writeFileAtomic(leftover, `${JSON.stringify({ database })}\n`, 0o600);
    const copy = await ctx.database.rehearsalCopy(database, backup);
    result.restore = { ms: copy.ms, tables: copy.tables, rows: copy.rows };
    ctx.log.write(`restored ${backup} into ${database} in ${seconds(copy.ms)}: ${copy.tables} tables, ${copy.rows} rows, row counts match`);
    const instance = await apart.start(version, copy.url, JOURNEY_RECEIVER_HOST);
    const tenantPlane = ctx.tenantPlane.at(instance.healthUrl);
    const wait = await waitHealthy({ probe: () => tenantPlane.health(), version, timeoutMs: ctx.healthTimeoutMs, crashed: crashOf(instance) });
    if (!wait.healthy) throw new Error(`${version} did not become healthy on the restored copy: ${wait.reason}`);
    result.healthyMs = wait.elapsedMs;
    result.journey = await tenantPlane.journey(version, database.replace(/_/g, '-'));
    logJourney(ctx.log, result.journey);
    const failed = result.journey.checks.filter((c) => !c.ok && !c.skipped);
    if (failed.length) throw new Error(`the smoke journey failed: ${failed.map((c) => `${c.name}: ${c.evidence}`).join('; ')}`);
    result.ok = true;
  } catch (err) {
    if (err instanceof Refused) throw err;
    result.failure = (err as Error).message;
  } finally {
    await apart.remove().catch((err: Error) => ctx.log.write(`could not stop the version started on the copy: ${err.message}`));
    const dropped = await ctx.database.dropRehearsalCopy(database).then(
      () => true,
      (err: Error) => ctx.log.write(`could not drop ${database} (the next drill does): ${err.message}`),
    );
    if (dropped) rmSync(leftover, { force: true });
    lock.release();
  }
  if (result.ok) await ctx.database.recordProven(backup).catch((err: Error) => ctx.log.write(`could not record the drill in the database: ${err.message}`));
  const done = [
    result.restore ? `restored in ${seconds(result.restore.ms)} (row counts match)` : '',
    result.healthyMs !== undefined ? `${version} healthy on the copy in ${seconds(result.healthyMs)}` : '',
    result.journey ? `journey ${result.journey.passed}/${result.journey.total}` : '',
  ].filter(Boolean);
  result.line = `drill of ${path.basename(backup)}: ${result.ok ? 'proven to restore' : `FAILED: ${result.failure}`}${done.length ? ` (${done.join(', ')})` : ''}`;
  ctx.log.write(result.line);
  return result;
}
