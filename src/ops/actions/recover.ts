import { execute, recordInterrupted, type OpsContext } from '../engine/engine.js';
import { stateFiles } from '../engine/state/files.js';
import { healthProblem } from '../probes/health.js';
import { clearJournal, inPhase, readJournal, recoveryTarget } from '../engine/state/journal.js';
import type { Recovery } from '../engine/outcome.js';
import { outputs, type LifecycleOutcome, type LifecycleRecord } from '../steps/outputs.js';
import { gate } from '../steps/gate.js';
import { switchVersion } from '../steps/switching.js';
import { removeRehearsalLeftovers } from '../steps/rehearsal.js';

/**
 * Finds a run that was killed (its journal is still there, and the caller holds the lock, so
 * its owner is gone), records the truth (INTERRUPTED), and leads back to a known, healthy
 * version: an interrupted upgrade goes back to the version it left, an interrupted rollback or
 * way back is completed. Nothing is switched when that version already runs healthy.
 */
export async function recoverInterrupted(ctx: OpsContext): Promise<{ recovery: Recovery<LifecycleRecord>; outcome: LifecycleOutcome } | undefined> {
  const { dataDir } = ctx.settings;
  const journal = readJournal(stateFiles(dataDir).journal);
  if (!journal) return undefined;
  const way = inPhase(journal.phase);
  ctx.log.write(
    `found an interrupted ${journal.op} ${journal.from} -> ${journal.to}, stopped at step ${journal.step}${way} (pid ${journal.pid} on ${journal.host} is gone; its log: ${journal.log})`,
  );
  // First, as it is found by the killed run's journal: its rehearsal's copy and the version it started there.
  await removeRehearsalLeftovers(ctx, new Date(journal.startedAt));
  recordInterrupted(dataDir, journal);
  // A candidate the run had started is removed first: the traffic is then on what the runtime runs.
  if (await (await ctx.runtime.candidates?.())?.discard()) ctx.log.write('removed the candidate the interrupted run had started');
  const target = recoveryTarget(journal);
  const restoredMayRemain = journal.phase === 'way-back' ? journal.outputs[outputs.restored.name] : undefined;
  const configured = await ctx.runtime.configuredVersion();
  if (configured === target && !healthProblem(await ctx.tenantPlane.health(), target)) {
    clearJournal(stateFiles(dataDir).journal);
    ctx.log.write(`${target} runs and is healthy: nothing to lead back`);
    return { recovery: { interrupted: journal, target, run: undefined, restoredMayRemain }, outcome: { kind: 'done', run: undefined } };
  }
  // Back to the known version; if even that fails, there is nowhere safer to go.
  const outcome = await execute<LifecycleRecord>(
    {
      op: 'rollback',
      from: configured,
      to: target,
      steps: [switchVersion(ctx, target, { back: undefined, name: 'roll-back' }), ...gate(ctx, target, { decisive: false })],
      confirmBack: [],
      recordSuccess: configured !== target,
      whenStuck: [{ do: 'rollback', to: target }],
    },
    ctx,
  );
  return { recovery: { interrupted: journal, target, run: 'run' in outcome ? outcome.run : undefined, restoredMayRemain }, outcome };
}
