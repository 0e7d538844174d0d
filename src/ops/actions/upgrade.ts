import { compareVersions } from '../../shared/version.js';
import { Refused } from '../core/errors.js';
import { given, type OpsContext, type Plan } from '../engine/engine.js';
import type { Step } from '../engine/step.js';
import { bakeStep, baselineStep } from '../steps/bake.js';
import { pathCheck, schemaCheck } from '../steps/compatibility.js';
import { backupDatabase } from '../steps/database.js';
import { gate } from '../steps/gate.js';
import { outputs, type LifecycleOutcome } from '../steps/outputs.js';
import { preflight } from '../steps/preflight.js';
import { promoteCandidate, recordPreviousVersion, startCandidate, stopTenantPlane, switchVersion } from '../steps/switching.js';
import { rehearsalSteps } from '../steps/rehearsal.js';
import { operate, preview } from './operate.js';
import { planFrom, rehearsalWhere, type Rehearsing } from './plan.js';

export interface UpgradeRequest {
  to: string;
  /** Take the pre-upgrade backup (default). Without it, nothing can undo the new schema's data changes. */
  backup: boolean;
  /** Rehearse on a copy first (`yes`, the default where it can be done), not at all, or `only` (and stop there). */
  rehearsal?: Rehearsing;
  /** Who holds the lock, in the operator's words. */
  label: string;
}

/**
 * The upgrade's plan: its steps are the one description of the sequence (`tpctl upgrade
 * --dry-run` prints it). The way back of a failure is the rollback's: switch back, the same
 * gate. Where the runtime can, the new version starts as a candidate beside the old one, the
 * gate and the bake check the candidate, and only then is it promoted: a failure before that
 * removes the candidate, and the old version never stopped serving.
 */
export async function planUpgrade(request: UpgradeRequest, ctx: OpsContext): Promise<Plan | LifecycleOutcome> {
  const { runtime, database, log } = ctx;
  const to = request.to;
  await runtime.check(true);
  const from = await runtime.configuredVersion();
  if (from === to) return { kind: 'done', run: undefined, unchanged: { op: 'upgrade', version: to } };
  // Going back is a rollback's work: its checks and its history line say so.
  if (compareVersions(to, from) < 0) throw new Refused(`${to} is older than ${from}, which runs: an upgrade only goes forward`, [{ do: 'rollback', to }]);
  if (request.backup && !database) {
    throw new Refused('the pre-upgrade backup needs the database, reached from this host (for Compose, publish the PostgreSQL port)', [
      { do: 'set', setting: 'database' },
      { do: 'skip-backup' },
    ]);
  }
  log.write(`upgrade ${from} -> ${to} on ${runtime.describe()}`);
  const baking = ctx.settings.bake.seconds > 0;
  const only = request.rehearsal === 'only';
  const rehearsing = await rehearsalWhere(ctx, request.rehearsal);
  if (only && 'skipped' in rehearsing) throw new Refused(`there is nothing to rehearse on: ${rehearsing.skipped}`);
  // The embedded database is one process's: a candidate could not open it beside the old version.
  const candidates = database?.embedded || only ? undefined : await runtime.candidates?.();
  const beside = candidates !== undefined;
  const steps: Step[] = [
    preflight(ctx, async () => {
      await runtime.ensureAvailable(to);
      return `${to} is available; ${from} runs now${request.backup ? '' : '; no pre-upgrade backup, as asked'}${baking ? '' : '; no bake, as asked'}`;
    }),
    pathCheck(ctx, from, to),
    schemaCheck(ctx, to, { restore: undefined, back: false }),
    ...(baking && !only ? [baselineStep(ctx)] : []),
    // The embedded database is one process's at a time: the Tenant Plane stops for the backup.
    ...(request.backup && database
      ? [...(database.embedded ? [stopTenantPlane(ctx, 'for the backup of the embedded database')] : []), backupDatabase(database, from)]
      : []),
    ...('apart' in rehearsing
      ? rehearsalSteps(ctx, {
          version: to,
          from: request.backup ? outputs.backup : 'now',
          migrate: true,
          apart: rehearsing.apart,
          database: rehearsing.database,
        })
      : []),
  ];
  if (!only) {
    steps.push(
      recordPreviousVersion(ctx, from),
      candidates ? startCandidate(ctx, candidates, to, from) : switchVersion(ctx, to, { back: from }),
      ...gate(ctx, to, { decisive: true, beside }),
      ...(baking ? [bakeStep(ctx, to, beside)] : []),
      ...(candidates ? [promoteCandidate(ctx, candidates, to, from)] : []),
    );
  }
  return planFrom(ctx, 'upgrade', from, to, steps, {
    given: [
      ...(baking && !only ? [] : [given(outputs.bake, { skipped: true as const })]),
      ...('skipped' in rehearsing ? [given(outputs.rehearsal, rehearsing)] : []),
      ...(only ? [given(outputs.rehearseOnly, true)] : []),
    ],
    unrehearsed: request.rehearsal === 'no',
    recordSuccess: !only,
  });
}

export function upgrade(request: UpgradeRequest & { dryRun?: boolean }, ctx: OpsContext): Promise<LifecycleOutcome> {
  return (request.dryRun ? preview : operate)({ label: request.label, plan: () => planUpgrade(request, ctx) }, ctx);
}
