import { stateFiles } from './state/files.js';
import { utcStamp } from '../../shared/names.js';
import type { SinceBackup } from '../backup/since-backup.js';
import type { BakeReport, BakeSettings, Baseline } from '../probes/bake.js';
import type { AgentBaseline } from '../probes/checklist.js';
import type { DatabaseWork } from '../backup/database-work.js';
import type { HealthEvidence } from '../probes/health.js';
import { appendHistory, type HistoryEntry } from './state/history.js';
import { clearJournal, writeJournal, type Journal, type Phase, type StepName } from './state/journal.js';
import { type Outcome } from './outcome.js';
import { Refused, type Next } from '../core/errors.js';
import { writeRunRecord, type FailureRecord, type RunRecord, type StepRecord } from './state/run-record.js';
import type { RunLog } from '../core/exec.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { TenantPlane } from '../probes/tenant-plane.js';

/**
 * The lifecycle engine: an operation is a plan of declared steps, each with its work and, where
 * it changes something, its undo. The engine alone writes the journal (before each step, so a
 * killed run is recognised), the run log, the run record and the history lines, and owns the
 * one way back: undo what was done in reverse order, confirm that the version we are back on
 * is healthy, record it.
 */

export interface OpsSettings {
  dataDir: string;
  healthTimeoutMs: number;
  bake: BakeSettings;
}

/** What an operation works with. */
export interface OpsContext {
  settings: OpsSettings;
  runtime: Runtime;
  tenantPlane: TenantPlane;
  /** Undefined when tpctl cannot reach the database. */
  database: DatabaseWork | undefined;
  /** The run log (`file` is what the history and the record point to). */
  log: RunLog & { readonly file: string };
}

export interface Action {
  name: StepName;
  /** What it does, for the run log. */
  what: string;
  /** Does the work; returns what was found or done, for the log and the record. */
  run(run: Run): Promise<string>;
}

export interface Step extends Action {
  /** Puts back what the step changes; absent when it changes nothing that must be put back. */
  undo?: Undo;
  /** A failure of the step itself changes nothing (so its undo is not needed then). */
  atomic?: boolean;
  /** It changes what runs and nothing can put that back: a failure after it needs a human. */
  final?: boolean;
  /** It only reads (a check that may refuse): a dry run runs it too. */
  readsOnly?: boolean;
}

export interface Undo extends Action {
  /** It (re)starts the Tenant Plane, or gives the traffic back to it: the version we are back on is then confirmed healthy. */
  restarts: boolean;
  /** It switches the version back from the target: the history records a ROLLBACK line. */
  switchesBack?: boolean;
}

export interface Plan {
  op: 'upgrade' | 'rollback';
  from: string;
  to: string;
  steps: Step[];
  /** Confirms the version the way back returns to: the rollback's own gate. */
  confirmBack: Step[];
  /** Whether a success gets a history line (a recovery that only restarts the same version does not). */
  recordSuccess: boolean;
  /** What a human should try first when the way back fails too. */
  whenStuck: Next[];
}

/** A step's failure, with what the run log, the record and the operator need. */
export class StepFailed extends Error {
  constructor(
    readonly step: StepName,
    message: string,
    readonly error?: unknown,
    readonly evidence?: HealthEvidence,
    readonly logsTail?: string,
  ) {
    super(message);
  }
}

const asFailure = (step: StepName, err: unknown) => (err instanceof StepFailed ? err : new StepFailed(step, err instanceof Error ? err.message : String(err), err));
const failureRecord = (f: StepFailed | undefined): FailureRecord | null => (f ? { step: f.step, reason: f.message, logsTail: f.logsTail } : null);

/** One run of a plan: what it did, step by step, and what it found out on the way. */
export class Run {
  readonly steps: StepRecord[] = [];
  readonly startedAt = new Date();
  phase: Phase = 'forward';
  backup: string | undefined;
  restored: string | undefined;
  sinceBackup: SinceBackup | undefined;
  restoreUndone: string | undefined;
  switchedBack = false;
  health: HealthEvidence | undefined;
  agentBaseline: AgentBaseline | undefined;
  baseline: Baseline | undefined;
  bake: BakeReport | { skipped: true } | undefined;

  constructor(
    readonly plan: Plan,
    readonly ctx: OpsContext,
  ) {}

  private get files() {
    return stateFiles(this.ctx.settings.dataDir);
  }

  /** Runs one step: the journal first, then the work, timed, logged and recorded. */
  async perform(action: Action): Promise<void> {
    const { op, from, to } = this.plan;
    const log = this.ctx.log;
    writeJournal(this.files.journal, {
      op,
      from,
      to,
      step: action.name,
      phase: this.phase,
      startedAt: this.startedAt.toISOString(),
      log: log.file,
      backup: this.backup,
      restored: this.restored,
    });
    log.write(`== ${action.name}: ${action.what}`);
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    try {
      const detail = await action.run(this);
      this.steps.push({ step: action.name, phase: this.phase, ok: true, durationMs: took(), detail });
      log.write(`   ${action.name} ok in ${took()} ms: ${detail}`);
    } catch (err) {
      const failure = asFailure(action.name, err);
      this.steps.push({ step: action.name, phase: this.phase, ok: false, durationMs: took(), detail: failure.message });
      log.write(`   ${action.name} FAILED: ${failure.message}`);
      throw failure;
    }
  }

  history(entry: Omit<HistoryEntry, 'at' | 'log'>): void {
    const line: HistoryEntry = { ...entry, at: utcStamp(new Date()), log: this.ctx.log.file };
    appendHistory(this.files.history, line);
    this.ctx.log.write(`history: ${JSON.stringify(line)}`);
  }

  /** Writes the run record and removes the journal: the run is over. */
  finish(outcome: RunRecord['outcome'], failure?: StepFailed, wayBack?: StepFailed): RunRecord {
    const finishedAt = new Date();
    const record: RunRecord = {
      op: this.plan.op,
      from: this.plan.from,
      to: this.plan.to,
      outcome,
      startedAt: this.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - this.startedAt.getTime(),
      log: this.ctx.log.file,
      steps: this.steps,
      backup: this.backup ?? null,
      restored: this.restored ?? null,
      sinceBackup: this.sinceBackup ?? null,
      restoreUndone: this.restoreUndone ?? null,
      switchedBack: this.switchedBack,
      health: this.health ?? null,
      bake: this.bake ?? null,
      failure: failureRecord(failure),
      wayBack: failureRecord(wayBack),
    };
    writeRunRecord(this.ctx.log.file, record);
    clearJournal(this.files.journal);
    return record;
  }
}

/** The history line of a run that was killed: its way forward, or its way back when it was going back. */
export function recordInterrupted(dataDir: string, journal: Journal): void {
  const [from, to, kind] = journal.phase === 'way-back' ? [journal.to, journal.from, 'rollback' as const] : [journal.from, journal.to, journal.op];
  appendHistory(stateFiles(dataDir).history, { at: utcStamp(new Date()), kind, from, to, outcome: 'INTERRUPTED', log: journal.log });
}

/**
 * Runs a plan to its end. A step that refuses before anything was changed ends it with nothing
 * written to the history (its Refused is thrown on, as a refusal of the plan is); any other
 * failure takes the one way back.
 */
export async function execute(plan: Plan, ctx: OpsContext): Promise<Outcome> {
  const run = new Run(plan, ctx);
  const done: Step[] = [];
  for (const step of plan.steps) {
    try {
      await run.perform(step);
      done.push(step);
    } catch (err) {
      const failure = err as StepFailed;
      if (failure.error instanceof Refused && done.every((s) => !s.undo && !s.final)) {
        clearJournal(stateFiles(ctx.settings.dataDir).journal);
        throw failure.error;
      }
      if (!step.atomic) done.push(step);
      return goBack(run, done, failure);
    }
  }
  if (plan.recordSuccess) run.history({ kind: plan.op, from: plan.from, to: plan.to, outcome: 'SUCCESS', restored: run.restored });
  return { kind: 'done', run: run.finish('done') };
}

/**
 * The one way back: undo what was done, newest first; if that (re)started the Tenant Plane,
 * confirm the version we are back on is healthy; record both lines. A failure on the way, or a
 * step that cannot be undone, leaves it to a human.
 */
async function goBack(run: Run, done: Step[], failure: StepFailed): Promise<Outcome> {
  const { plan, ctx } = run;
  run.history({ kind: plan.op, from: plan.from, to: plan.to, outcome: 'FAILED', restored: run.restored });
  run.phase = 'way-back';
  const stuck = async (wayBack?: StepFailed): Promise<Outcome> => ({
    kind: 'needs-human',
    run: run.finish('needs-human', failure, wayBack),
    now: { version: await ctx.runtime.configuredVersion().catch(() => undefined), health: 'not healthy' },
    next: [{ do: 'read-log', log: ctx.log.file }, ...plan.whenStuck],
  });
  if (done.some((s) => s.final)) {
    ctx.log.write(`${failure.step} failed after a change that cannot be put back: a human must look`);
    return stuck();
  }
  ctx.log.write(`${plan.op} to ${plan.to} failed at ${failure.step}: ${failure.message}; going back to ${plan.from}`);
  const undos = done.flatMap((s) => (s.undo ? [s.undo] : [])).reverse();
  const confirm = undos.some((u) => u.restarts);
  let wayBack: StepFailed | undefined;
  try {
    for (const undo of undos) {
      if (undo.switchesBack) run.switchedBack = true;
      await run.perform(undo);
    }
    if (confirm) for (const step of plan.confirmBack) await run.perform(step);
  } catch (err) {
    wayBack = err as StepFailed;
  }
  if (run.switchedBack) run.history({ kind: 'rollback', from: plan.to, to: plan.from, outcome: wayBack ? 'FAILED' : 'SUCCESS' });
  if (wayBack) return stuck(wayBack);
  return { kind: 'failed', run: run.finish('failed', failure), now: { version: plan.from, health: confirm ? 'healthy' : 'untouched' } };
}
