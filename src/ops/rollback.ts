import { restoreBackup } from './backup/restore.js';
import { verifyBackup } from './backup/verify.js';
import type { Executor } from './exec.js';
import { readHistory } from './history.js';
import { Run, OperationRefused, StepFailed, stateFiles, takeLock, type OpsSettings } from './operation.js';
import { readPreviousVersion } from './previous-version.js';
import { recoverInterrupted } from './recover.js';
import type { RunLogFile } from './run-log.js';
import { RuntimeRefusal, type Runtime } from './runtimes/runtime.js';
import type { OperationResult } from './upgrade.js';

export interface RollbackPlan {
  /** The version to go back to; default: .atlas-previous-version, else the history. */
  to: string | undefined;
  /** Kubernetes and Helm: the revision to go back to (its version is the target). */
  revision?: number;
  /** A backup to restore first, with the Tenant Plane stopped (RESTORE_DB=1). */
  restore: string | undefined;
}

/** The version a rollback goes to when none is named: the recorded previous version, else the history's. */
export function detectRollbackTarget(dataDir: string, current: string): { version: string; source: string } | undefined {
  const files = stateFiles(dataDir);
  const previous = readPreviousVersion(files.previous);
  if (previous) return { version: previous, source: files.previous };
  const upgraded = readHistory(files.history)
    .reverse()
    .find((e) => e.kind === 'upgrade' && e.outcome === 'SUCCESS' && e.to === current);
  return upgraded ? { version: upgraded.from, source: `${files.history} (the upgrade to ${current})` } : undefined;
}

async function revisionTarget(runtime: Runtime, revision: number): Promise<{ version: string; source: string }> {
  if (!runtime.versionAtRevision) throw new RuntimeRefusal(`${runtime.describe()} has no numbered revisions: name the version with --to`);
  return { version: await runtime.versionAtRevision(revision), source: `revision ${revision}` };
}

/**
 * lock → recover a killed run → target (named, recorded, or from the history) → available →
 * (restore the database with the Tenant Plane stopped) → switch → wait healthy → verify →
 * history. If the target does not become healthy, the version that ran before is put back.
 */
export async function rollback(plan: RollbackPlan, settings: OpsSettings, runtime: Runtime, log: RunLogFile, exec: Executor): Promise<OperationResult> {
  const lock = takeLock(settings.dataDir, `tpctl rollback${plan.to ? ` --to ${plan.to}` : ''}${plan.revision ? ` --to-revision ${plan.revision}` : ''}`, log);
  try {
    const recovered = await recoverInterrupted(settings, runtime, log, exec);
    if (recovered) {
      log.write(recovered);
      // Leading an interrupted run back to a known version is what a rollback without a target asks.
      if (!plan.to && !plan.restore) return { record: undefined, exitCode: 0, message: recovered };
    }

    let from: string;
    let to: string;
    try {
      // The emergency path: the file is parsed and its image checked, but Compose's own full
      // validation (a Python start-up, ~0.3 s with v1) is left to `up`, which reports the same errors.
      await runtime.check(false);
      from = await runtime.configuredVersion();
      const detected = plan.revision !== undefined ? await revisionTarget(runtime, plan.revision) : plan.to ? { version: plan.to, source: 'ATLAS_VERSION' } : detectRollbackTarget(settings.dataDir, from);
      if (!detected) {
        const available = await runtime.availableVersions().catch(() => []);
        throw new RuntimeRefusal(
          `cannot tell which version to roll back to: ${stateFiles(settings.dataDir).previous} is missing and the history has no upgrade to ${from}; ` +
            `name it: ATLAS_VERSION=<version> bash scripts/rollback-tp.sh${available.length ? ` (versions on this host: ${available.join(', ')})` : ''}`,
        );
      }
      to = detected.version;
      log.write(`rollback ${from} -> ${to} (target from ${detected.source}) on ${runtime.describe()}`);
      if (to === from && !plan.restore && plan.revision === undefined) return { record: undefined, exitCode: 0, message: `already configured for ${to}: nothing to roll back` };
      await runtime.ensureAvailable(to);
      if (plan.restore) {
        if (!settings.database) throw new RuntimeRefusal('restoring needs the database: set DB_URL');
        const verified = await verifyBackup(plan.restore, { exec, checksumOnly: true });
        if (!verified.ok) throw new RuntimeRefusal(`the backup ${plan.restore} failed verification: ${verified.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
      }
    } catch (err) {
      if (err instanceof RuntimeRefusal) throw new OperationRefused(err.message);
      throw err;
    }

    const run = new Run('rollback', from, to, settings, runtime, log, exec);
    await run.step('preflight', `${to} is available; ${from} runs now`, async () => 'ok');
    await run.takeAgentBaseline();
    if (plan.restore && settings.database) {
      const database = settings.database;
      const file = plan.restore;
      try {
        await run.step('restore', `stop the Tenant Plane and restore ${file}`, async () => {
          await runtime.stop();
          return restoreBackup({ ...database, file }, exec);
        }, (r) => `restored ${Object.keys(r.tables).length} tables; the data from before is kept as ${r.safetyCopy}`);
        run.restored = file;
      } catch (err) {
        log.write(`the restore failed; starting ${from} again on the unchanged database`);
        await runtime.start().catch(() => {});
        run.history({ kind: 'rollback', from, to, outcome: 'FAILED' });
        const record = run.finish('failed', err as StepFailed);
        return { record, exitCode: 1, message: `rollback to ${to} stopped: the restore failed (${(err as Error).message}); nothing was changed and ${from} was started again. Log: ${log.file}` };
      }
    }

    try {
      await run.switchAndConfirm(to, 'switch', plan.revision);
    } catch (err) {
      const failure = err as StepFailed;
      run.history({ kind: 'rollback', from, to, outcome: 'FAILED', restored: run.restored ?? undefined });
      if (from === to) {
        const record = run.finish('failed', failure);
        return { record, exitCode: 3, message: `rollback to ${to} FAILED (${failure.message}); the Tenant Plane is not healthy and needs a human: read ${log.file}` };
      }
      log.write(`${to} did not become healthy (${failure.message}); putting ${from} back`);
      try {
        await run.switchAndConfirm(from, 'roll-back');
      } catch (back) {
        const record = run.finish('failed', failure);
        return { record, exitCode: 3, message: `rollback to ${to} FAILED (${failure.message}) and ${from} did not come back either (${(back as Error).message}). Needs a human: read ${log.file}` };
      }
      run.history({ kind: 'rollback', from: to, to: from, outcome: 'SUCCESS' });
      const record = run.finish('rolled-back', failure);
      return { record, exitCode: 1, message: `rollback to ${to} FAILED at ${failure.step}: ${failure.message}; ${from} was put back and is healthy. Log: ${log.file}` };
    }
    run.history({ kind: 'rollback', from, to, outcome: 'SUCCESS', restored: run.restored ?? undefined });
    const record = run.finish('success', undefined);
    return {
      record,
      exitCode: 0,
      message: `rolled back ${from} -> ${to} in ${(record.durationMs / 1000).toFixed(1)} s; ${to} is healthy${run.restored ? `, on the database restored from ${run.restored}` : ''}. Log: ${log.file}`,
    };
  } finally {
    lock.release();
  }
}
