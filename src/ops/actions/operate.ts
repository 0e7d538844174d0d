import { acquireFileLock, LockHeldError } from '../../shared/file-lock.js';
import { execute, Run, type OpsContext, type Plan } from '../engine/engine.js';
import { Skipped, type Step } from '../engine/step.js';
import { stateFiles } from '../engine/state/files.js';
import type { RunLog } from '../core/exec.js';
import { readJournal } from '../engine/state/journal.js';
import type { Recovery } from '../engine/outcome.js';
import type { LifecycleOutcome, LifecycleRecord } from '../steps/outputs.js';
import { Refused } from '../core/errors.js';
import { recoverInterrupted } from './recover.js';

export interface Operation {
  /** Who holds the lock, in the operator's words (`tpctl upgrade --to 1.3.0`): shown to whoever waits for it. */
  label: string;
  /** Plans the run once the lock is held and any killed run was led back; it only reads (and throws Refused). */
  plan(recovery: Recovery<LifecycleRecord> | undefined): Promise<Plan | LifecycleOutcome>;
}

/** lock → lead a killed run back → plan → the steps (and, on failure, the way back) → unlock. */
export async function operate(operation: Operation, ctx: OpsContext): Promise<LifecycleOutcome> {
  let lock;
  try {
    lock = acquireFileLock(stateFiles(ctx.settings.dataDir).lock, operation.label);
  } catch (err) {
    if (err instanceof LockHeldError) return { kind: 'locked', holder: err.holder };
    throw err;
  }
  let recovery: Recovery<LifecycleRecord> | undefined;
  try {
    const t = lock.tookOverFrom;
    if (t) ctx.log.write(`took over the lock of "${t.what}" (pid ${t.pid} on ${t.host}, since ${t.since}): that process is gone`);
    if (!ctx.tenantPlane.checklist)
      ctx.log.write('the recovery checklist (a login, the license version, the agents back) is not run: no verification identity is set');
    const recovered = await recoverInterrupted(ctx);
    recovery = recovered?.recovery;
    if (recovered && recovered.outcome.kind !== 'done') return { ...recovered.outcome, recovery };
    const planned = await operation.plan(recovery);
    const outcome = 'steps' in planned ? await execute<LifecycleRecord>(planned, ctx) : planned;
    return { ...outcome, recovery };
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return { ...refusal(err, ctx.log), recovery };
  } finally {
    lock.release();
  }
}

/** What a check that only reads finds, for a dry run; its refusal is the dry run's. */
async function check(step: Step, run: Run): Promise<string> {
  try {
    const done = await step.run(run.facts(step));
    return done instanceof Skipped ? `not checked: ${done.reason}` : done;
  } catch (err) {
    if (err instanceof Refused) throw err;
    return `could not check: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * A dry run: the plan as it would run, with its checks made (they only read, and a refusal of
 * theirs is the dry run's), and nothing else. No lock, no journal, no history, no other step's
 * work (a preflight that could pull an image is not run either); a killed run is only reported,
 * since a real run would lead it back first.
 */
export async function preview(operation: Operation, ctx: OpsContext): Promise<LifecycleOutcome> {
  try {
    const interrupted = readJournal(stateFiles(ctx.settings.dataDir).journal);
    const planned = await operation.plan(undefined);
    if (!('steps' in planned)) return planned;
    const run = new Run(planned, ctx);
    const steps = [];
    for (const s of planned.steps) {
      const checked = s.readsOnly ? await check(s, run) : undefined;
      steps.push({ step: s.name, what: s.what, undo: s.undo && { step: s.undo.name, what: s.undo.what }, checked });
    }
    const confirmBack = planned.confirmBack.map((s) => ({ step: s.name, what: s.what }));
    return { kind: 'done', run: undefined, preview: { op: planned.op, from: planned.from, to: planned.to, steps, confirmBack, interrupted } };
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return refusal(err, ctx.log);
  }
}

/** The outcome of a refusal, written to the run log: nothing was changed. */
export function refusal(err: Refused, log: RunLog): LifecycleOutcome {
  log.write(`refused: ${err.message}`);
  return { kind: 'refused', reason: err.message, next: err.next };
}
