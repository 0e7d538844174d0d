import { type OpsContext, type Plan, type Step } from '../engine/engine.js';
import { stateFiles } from '../engine/state/files.js';
import { operate, preview } from './operate.js';
import { compareVersions } from '../../shared/version.js';
import { type Outcome } from '../engine/outcome.js';
import { Refused } from '../core/errors.js';
import { writePreviousVersion } from '../engine/state/previous-version.js';
import { pathCheck, schemaCheck } from '../steps/compatibility.js';
import { backupDatabase, bakeStep, baselineStep, gate, preflight, promoteCandidate, startCandidate, stopTenantPlane, switchVersion, type CandidateRef } from '../steps/steps.js';

export interface UpgradeRequest {
  to: string;
  /** Take the pre-upgrade backup (default). Without it, nothing can undo the new schema's data changes. */
  backup: boolean;
  /** Who holds the lock, in the operator's words. */
  label: string;
}

/**
 * preflight (the target is available) → the upgrade path and the schema checked (refusals
 * that change nothing) → baseline (for the bake) → stop (the embedded database
 * only) → pre-upgrade backup → the previous version recorded, switch → wait healthy (fail fast
 * on a crash) → verify → checklist → bake. The way back of a failure is the rollback's: switch
 * back, the same gate. Where the runtime can, the switch starts a candidate beside the old
 * version instead, the gate and the bake check the candidate, and only then is it promoted: a
 * failure before that removes the candidate, and the old version never stopped serving.
 */
export async function planUpgrade(request: UpgradeRequest, ctx: OpsContext): Promise<Plan | Outcome> {
  const { runtime, database, log } = ctx;
  const to = request.to;
  await runtime.check(true);
  const from = await runtime.configuredVersion();
  if (from === to) return { kind: 'done', run: undefined, unchanged: { op: 'upgrade', version: to } };
  // Going back is a rollback's work: its checks and its history line say so.
  if (compareVersions(to, from) < 0) throw new Refused(`${to} is older than ${from}, which runs: an upgrade only goes forward`, [{ do: 'rollback', to }]);
  if (request.backup && !database) {
    throw new Refused('the pre-upgrade backup needs the database, reached from this host (for Compose, publish the PostgreSQL port)', [{ do: 'set', setting: 'database' }, { do: 'skip-backup' }]);
  }
  log.write(`upgrade ${from} -> ${to} on ${runtime.describe()}`);
  const baking = ctx.settings.bake.seconds > 0;
  const steps: Step[] = [
    preflight(ctx, async (run) => {
      await runtime.ensureAvailable(to);
      if (!baking) run.bake = { skipped: true };
      return `${to} is available; ${from} runs now${request.backup ? '' : '; no pre-upgrade backup, as asked'}${baking ? '' : '; no bake, as asked'}`;
    }),
    pathCheck(ctx, from, to),
    schemaCheck(ctx, to, { restore: undefined, back: false }),
  ];
  if (baking) steps.push(baselineStep(ctx));
  if (request.backup && database) {
    // The embedded database is one process's at a time: the Tenant Plane stops for the backup.
    if (database.embedded) steps.push(stopTenantPlane(ctx, 'for the backup of the embedded database'));
    steps.push(backupDatabase(database, from));
  }
  // The embedded database is one process's: a candidate could not open it beside the old version.
  const candidates = database?.embedded ? undefined : await runtime.candidates?.();
  const candidate: CandidateRef | undefined = candidates && {};
  const switching = candidates && candidate ? startCandidate(ctx, candidates, to, from, candidate) : switchVersion(ctx, to, { back: from });
  steps.push(
    {
      ...switching,
      run: (run) => {
        writePreviousVersion(stateFiles(ctx.settings.dataDir).previous, from);
        return switching.run(run);
      },
    },
    ...gate(ctx, to, { decisive: true, candidate }),
    ...(baking ? [bakeStep(ctx, to, candidate)] : []),
    ...(candidates ? [promoteCandidate(ctx, candidates, to, from)] : []),
  );
  return { op: 'upgrade', from, to, steps, confirmBack: gate(ctx, from, { decisive: false }), recordSuccess: true, whenStuck: [{ do: 'rollback', to: from }] };
}

export function upgrade(request: UpgradeRequest & { dryRun?: boolean }, ctx: OpsContext): Promise<Outcome> {
  return (request.dryRun ? preview : operate)({ label: request.label, plan: () => planUpgrade(request, ctx) }, ctx);
}
