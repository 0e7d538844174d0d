import { compareVersions } from '../../shared/version.js';
import { Refused } from '../core/errors.js';
import type { OpsContext, Plan } from '../engine/engine.js';
import type { Step } from '../engine/step.js';
import { stateFiles } from '../engine/state/files.js';
import { readHistory } from '../engine/state/history.js';
import { readPreviousVersion } from '../engine/state/previous-version.js';
import { healthProblem } from '../probes/health.js';
import type { Runtime } from '../runtimes/runtime.js';
import { schemaCheck } from '../steps/compatibility.js';
import { restoreDatabase } from '../steps/database.js';
import { gate } from '../steps/gate.js';
import { outputs, type LifecycleOutcome } from '../steps/outputs.js';
import { preflight } from '../steps/preflight.js';
import { promoteCandidate, startCandidate, stopTenantPlane, switchVersion } from '../steps/switching.js';
import { rehearsalSteps } from '../steps/rehearsal.js';
import { given } from '../engine/engine.js';
import { operate, preview } from './operate.js';
import { planFrom, rehearsalWhere, type Rehearsing } from './plan.js';

export interface RollbackRequest {
  /** The version to go back to; default: .atlas-previous-version, else the history. */
  to: string | undefined;
  /** Kubernetes and Helm: the revision to go back to (its version is the target). */
  revision?: number | undefined;
  /** A backup to restore first, with the Tenant Plane stopped. */
  restore: string | undefined;
  /** With restore: carry the rows created since the backup into the restored data. */
  keepNew?: boolean;
  /** Rehearse on a copy first (the default where it can be done): the target started on today's data (or on the backup to restore). */
  rehearsal?: Rehearsing;
  /** Who holds the lock, in the operator's words. */
  label: string;
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
  if (!runtime.versionAtRevision) throw new Refused(`${runtime.describe()} has no numbered revisions: name the version to go back to`);
  return { version: await runtime.versionAtRevision(revision), source: `revision ${revision}` };
}

/**
 * The rollback's plan (`tpctl rollback --dry-run` prints it). With a restore the Tenant Plane
 * stops and the backup is restored first; without one, where the runtime can, the target starts
 * beside what runs, is gated there, then promoted. If the target does not become healthy, the
 * way back puts back what ran before (and the data the restore replaced) and confirms it.
 */
export async function planRollback(request: RollbackRequest, ctx: OpsContext): Promise<Plan | LifecycleOutcome> {
  const { runtime, database, log } = ctx;
  // The emergency path: the configuration is parsed and its image checked, but the platform's
  // full validation (Compose v1: a Python start-up, ~0.3 s) is left to the switch, which reports the same errors.
  await runtime.check(false);
  const from = await runtime.configuredVersion();
  const named = request.to ? { version: request.to, source: 'the version asked for' } : undefined;
  const target = request.revision !== undefined ? await revisionTarget(runtime, request.revision) : (named ?? detectRollbackTarget(ctx.settings.dataDir, from));
  if (!target) {
    const available = await runtime.availableVersions().catch(() => []);
    throw new Refused(
      `cannot tell which version to roll back to: ${stateFiles(ctx.settings.dataDir).previous} is missing and the history has no upgrade to ${from}`,
      [{ do: 'name-rollback-target', available }],
    );
  }
  const to = target.version;
  if (compareVersions(to, from) > 0) {
    throw new Refused(
      `${to} is newer than ${from}, which runs: a rollback goes back; going forward is an upgrade: ATLAS_VERSION=${to} bash scripts/upgrade-tp.sh`,
    );
  }
  log.write(`rollback ${from} -> ${to} (target from ${target.source}) on ${runtime.describe()}`);
  if (to === from && !request.restore && request.revision === undefined) {
    if (!healthProblem(await ctx.tenantPlane.health(), to)) return { kind: 'done', run: undefined, unchanged: { op: 'rollback', version: to } };
    log.write(`${to} is configured but does not answer healthy: it is restarted`);
  }
  if (request.restore && !database) throw new Refused('restoring needs the database', [{ do: 'set', setting: 'database' }]);
  const restore = request.restore;
  const steps: Step[] = [
    preflight(ctx, async () => {
      await runtime.ensureAvailable(to);
      if (restore) await database?.checkBackup(restore);
      return `${to} is available; ${from} runs now${restore ? `; ${restore} matches its manifest` : ''}`;
    }),
    schemaCheck(ctx, to, { restore, back: true }),
  ];
  // Going back to the version that runs restarts it: there is nothing new to rehearse.
  const only = request.rehearsal === 'only';
  const rehearsing = to === from && !restore ? { skipped: `${to} runs already: it is only restarted` } : await rehearsalWhere(ctx, request.rehearsal);
  if (only && 'skipped' in rehearsing) throw new Refused(`there is nothing to rehearse on: ${rehearsing.skipped}`);
  if ('apart' in rehearsing) {
    steps.push(
      ...rehearsalSteps(ctx, {
        version: to,
        from: restore ? { file: restore } : 'now',
        migrate: false,
        apart: rehearsing.apart,
        database: rehearsing.database,
      }),
    );
  }
  const more = {
    restores: outputs.restored,
    given: [...('skipped' in rehearsing ? [given(outputs.rehearsal, rehearsing)] : []), ...(only ? [given(outputs.rehearseOnly, true)] : [])],
    unrehearsed: request.rehearsal === 'no',
  };
  if (only) return planFrom(ctx, 'rollback', from, to, steps, { ...more, recordSuccess: false });
  if (restore && database) steps.push(stopTenantPlane(ctx, 'for the restore'), restoreDatabase(ctx, database, restore, Boolean(request.keepNew)));
  // A restore stops the Tenant Plane, and a restart of the same version has nothing to run beside.
  const candidates = restore || to === from || database?.embedded ? undefined : await runtime.candidates?.();
  if (candidates) {
    steps.push(startCandidate(ctx, candidates, to, from), ...gate(ctx, to, { decisive: true, beside: true }), promoteCandidate(ctx, candidates, to, from));
  } else {
    // Back to the same version there is nothing else known to run: no way back but a human.
    steps.push(switchVersion(ctx, to, { back: from === to ? undefined : from, revision: request.revision }), ...gate(ctx, to, { decisive: true }));
  }
  return planFrom(ctx, 'rollback', from, to, steps, more);
}

/** A rollback; one without a target that finds a killed run stops once that is led back. */
export function rollback(request: RollbackRequest & { dryRun?: boolean }, ctx: OpsContext): Promise<LifecycleOutcome> {
  const untargeted = !request.to && !request.restore && request.revision === undefined;
  return (request.dryRun ? preview : operate)(
    { label: request.label, plan: async (recovery) => (recovery && untargeted ? { kind: 'done', run: undefined } : planRollback(request, ctx)) },
    ctx,
  );
}
