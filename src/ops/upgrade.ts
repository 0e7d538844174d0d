import { createBackup } from './backup/create.js';
import type { Executor } from './exec.js';
import { Run, OperationRefused, StepFailed, takeLock, type OpsSettings } from './operation.js';
import { writePreviousVersion } from './previous-version.js';
import { recoverInterrupted } from './recover.js';
import type { RunLogFile } from './run-log.js';
import type { RunRecord } from './run-record.js';
import { RuntimeRefusal, type Runtime } from './runtimes/runtime.js';

export interface OperationResult {
  record: RunRecord | undefined;
  /** 0 done, 1 failed but back on a healthy version, 3 failed and needs a human. */
  exitCode: 0 | 1 | 3;
  message: string;
}

export interface UpgradePlan {
  to: string;
  /** Take the pre-upgrade backup (default). Without it, nothing can undo the new schema's data changes. */
  backup: boolean;
}

/**
 * lock → recover a killed run → preflight → pre-upgrade backup → record the previous version →
 * switch → wait healthy (fail fast on a crash) → verify → history. Any failure after the switch
 * switches back, waits for the old version to be healthy, and records both lines.
 */
export async function upgrade(plan: UpgradePlan, settings: OpsSettings, runtime: Runtime, log: RunLogFile, exec: Executor): Promise<OperationResult> {
  const lock = takeLock(settings.dataDir, `tpctl upgrade --to ${plan.to}`, log);
  try {
    const recovered = await recoverInterrupted(settings, runtime, log, exec);
    if (recovered) log.write(recovered);

    let from: string;
    try {
      await runtime.check(true);
      from = await runtime.configuredVersion();
      if (from === plan.to) return { record: undefined, exitCode: 0, message: `already configured for ${plan.to}: nothing to do` };
      await runtime.ensureAvailable(plan.to);
      if (plan.backup && !settings.database) {
        throw new RuntimeRefusal(
          'the pre-upgrade backup needs the database: set DB_URL to a URL that reaches it from this host (for Compose, publish the PostgreSQL port), or upgrade without a backup (SKIP_BACKUP=1 / --no-backup)',
        );
      }
    } catch (err) {
      if (err instanceof RuntimeRefusal) throw new OperationRefused(err.message);
      throw err;
    }
    log.write(`upgrade ${from} -> ${plan.to} on ${runtime.describe()}`);
    const run = new Run('upgrade', from, plan.to, settings, runtime, log, exec);
    await run.step('preflight', `${plan.to} is available; ${from} runs now`, async () => 'ok');

    try {
      if (plan.backup && settings.database) {
        const database = settings.database;
        if (!database.dbUrl) {
          // The embedded database is one process's at a time: the Tenant Plane stops for the backup.
          log.write('the embedded database is backed up with the Tenant Plane stopped');
          await runtime.stop();
        }
        const backup = await run.step(
          'backup',
          `back up the database before anything changes`,
          () => createBackup({ ...database, logDir: settings.logDir, reason: 'pre-upgrade', appVersion: from, keep: settings.backupKeep }, exec),
          (b) => `${b.file} (${b.manifest.sizeBytes} bytes, sha256 ${b.manifest.sha256.slice(0, 12)}…)`,
        );
        run.backup = backup.file;
      } else {
        log.write('== backup: skipped as asked (no pre-upgrade backup)');
      }
    } catch (err) {
      if (!settings.database?.dbUrl) await runtime.start().catch(() => {});
      run.history({ kind: 'upgrade', from, to: plan.to, outcome: 'FAILED' });
      const record = run.finish('failed', err as StepFailed);
      return { record, exitCode: 1, message: `upgrade to ${plan.to} stopped before any change: ${(err as Error).message}; ${from} still runs. Log: ${log.file}` };
    }
    writePreviousVersion(run.files.previous, from);
    await run.takeAgentBaseline();

    try {
      await run.switchAndConfirm(plan.to);
    } catch (err) {
      const failure = err as StepFailed;
      run.history({ kind: 'upgrade', from, to: plan.to, outcome: 'FAILED' });
      log.write(`the upgrade failed at ${failure.step}: ${failure.message}; rolling back to ${from}`);
      try {
        await run.switchAndConfirm(from, 'roll-back');
      } catch (back) {
        run.history({ kind: 'rollback', from: plan.to, to: from, outcome: 'FAILED' });
        const record = run.finish('failed', failure);
        return {
          record,
          exitCode: 3,
          message: `upgrade to ${plan.to} FAILED (${failure.message}) and the rollback to ${from} FAILED too (${(back as Error).message}). The Tenant Plane is not healthy and needs a human: read ${log.file}, then try \`bash scripts/rollback-tp.sh\`${run.backup ? `; the pre-upgrade backup is ${run.backup}` : ''}`,
        };
      }
      run.history({ kind: 'rollback', from: plan.to, to: from, outcome: 'SUCCESS' });
      const record = run.finish('rolled-back', failure);
      return {
        record,
        exitCode: 1,
        message: `upgrade to ${plan.to} FAILED at ${failure.step}: ${failure.message}. Rolled back: ${from} runs and is healthy (on the schema as ${plan.to} left it; migrations are additive). Log: ${log.file}${run.backup ? `; pre-upgrade backup: ${run.backup}` : ''}`,
      };
    }
    run.history({ kind: 'upgrade', from, to: plan.to, outcome: 'SUCCESS' });
    const record = run.finish('success', undefined);
    return {
      record,
      exitCode: 0,
      message: `upgraded ${from} -> ${plan.to} in ${(record.durationMs / 1000).toFixed(1)} s; ${plan.to} is healthy. Log: ${log.file}${run.backup ? `; pre-upgrade backup: ${run.backup}` : ''}`,
    };
  } finally {
    lock.release();
  }
}
