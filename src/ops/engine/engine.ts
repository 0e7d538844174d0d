import { utcStamp } from '../../shared/names.js';
import type { BakeSettings } from '../probes/bake.js';
import type { DatabaseWork } from '../backup/database-work.js';
import type { RunLog } from '../core/exec.js';
import { Refused, type Next } from '../core/errors.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { TenantPlane } from '../probes/tenant-plane.js';
import type { Outcome } from './outcome.js';
import { Skipped, type Action, type Facts, type Keeping, type Output, type Step } from './step.js';
import { stateFiles } from './state/files.js';
import { appendHistory, type HistoryEntry } from './state/history.js';
import { clearJournal, writeJournal, type Journal, type Phase } from './state/journal.js';
import type { PreviousVersion } from './state/previous-version.js';
import { writeRunRecord, type FailureRecord, type RunRecord, type StepRecord } from './state/run-record.js';

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
  rehearsal: {
    /** A migration holding a lock longer than this on a rehearsal's copy is flagged. */
    lockLimitMs: number;
  };
}

/** What an operation works with. */
export interface OpsContext {
  settings: OpsSettings;
  runtime: Runtime;
  tenantPlane: TenantPlane;
  /** Undefined when tpctl cannot reach the database. */
  database: DatabaseWork | undefined;
  /** The run log (`file` is what the history and the record point to). */
  /** The run's log; `startedAt`, where it has one, names the log and stamps the run's history lines. */
  log: RunLog & { readonly file: string; readonly startedAt?: Date };
  /** Where an upgrade records the version it leaves. */
  previousVersion: PreviousVersion;
  /** Told as each step starts (tpctl reports it to the Tenant Plane: the banner of its pages). */
  onStep?: (step: { op: Plan['op']; from: string; to: string; name: string; what: string }) => void;
}

/** A value the plan gives its steps from the start (the bake it skips, say). */
export interface Given {
  output: Output<unknown>;
  value: unknown;
}

export const given = <T>(o: Output<T>, value: T): Given => ({ output: o, value });

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
  given?: Given[];
  /** The output that names the backup a run restored: its history lines say `restored:<file>`. */
  restores?: Output<string>;
  /** The operator skipped the rehearsal: its history lines say `rehearsal:skipped`. */
  unrehearsed?: boolean;
}

/** A step's failure, with what the run log, the record and the operator need. */
export class StepFailed extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly error?: unknown,
    readonly logsTail?: string,
  ) {
    super(message);
  }
}

const asFailure = (step: string, err: unknown) =>
  err instanceof StepFailed ? err : new StepFailed(step, err instanceof Error ? err.message : String(err), err);
const failureRecord = (f: StepFailed | undefined): FailureRecord | null => (f ? { step: f.step, reason: f.message, logsTail: f.logsTail } : null);

/** Every output the plan's steps (and their undos) read or produce, once each. */
function declaredOutputs(plan: Plan): Output<unknown>[] {
  const actions: Action[] = [...plan.steps, ...plan.steps.flatMap((s) => (s.undo ? [s.undo] : [])), ...plan.confirmBack];
  const all = [...(plan.given ?? []).map((g) => g.output), ...actions.flatMap((a) => [...(a.reads ?? []), ...(a.produces ?? [])])];
  return [...new Map(all.map((o) => [o.name, o])).values()];
}

/** One run of a plan: what it did, step by step, and the values its steps handed on. */
export class Run {
  readonly steps: StepRecord[] = [];
  readonly startedAt: Date;
  phase: Phase = 'forward';
  switchedBack = false;
  private readonly values: Map<string, unknown>;
  private readonly declared: Output<unknown>[];

  constructor(
    readonly plan: Plan,
    readonly ctx: OpsContext,
  ) {
    this.startedAt = ctx.log.startedAt ?? new Date();
    this.values = new Map((plan.given ?? []).map((g) => [g.output.name, g.value]));
    this.declared = declaredOutputs(plan);
  }

  private get files() {
    return stateFiles(this.ctx.settings.dataDir);
  }

  /** The values a step declared, and only those: a step that reaches for another is a bug. */
  facts(action: Action): Facts {
    const declared = (list: readonly Output<unknown>[] | undefined, o: Output<unknown>, verb: string) => {
      if (!list?.some((d) => d.name === o.name)) throw new Error(`step ${action.name} ${verb} ${o.name} without declaring it`);
    };
    return {
      get: <T>(o: Output<T>) => {
        declared(action.reads, o, 'reads');
        return this.values.get(o.name) as T | undefined;
      },
      put: (o, value) => {
        declared(action.produces, o, 'produces');
        this.values.set(o.name, value);
      },
    };
  }

  /** The declared outputs kept as asked (null where not produced; the journal leaves those out). */
  private kept(keeping: readonly Keeping[], absent: null | undefined): Record<string, unknown> {
    return Object.fromEntries(this.declared.filter((o) => keeping.includes(o.kept)).map((o) => [o.name, this.values.get(o.name) ?? absent]));
  }

  /** Runs one step: the journal first, then the work, timed, logged and recorded. */
  async perform(action: Action): Promise<void> {
    const { op, from, to } = this.plan;
    const log = this.ctx.log;
    const outputs = this.kept(['journal'], undefined) as Record<string, string | undefined>;
    writeJournal(this.files.journal, { op, from, to, step: action.name, phase: this.phase, startedAt: this.startedAt.toISOString(), log: log.file, outputs });
    log.write(`== ${action.name}: ${action.what}`);
    this.ctx.onStep?.({ op, from, to, name: action.name, what: action.what });
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    try {
      const done = await action.run(this.facts(action));
      if (done instanceof Skipped) {
        this.steps.push({ step: action.name, phase: this.phase, ok: true, skipped: true, durationMs: took(), detail: done.reason });
        log.write(`   ${action.name} skipped: ${done.reason}`);
      } else {
        this.steps.push({ step: action.name, phase: this.phase, ok: true, durationMs: took(), detail: done });
        log.write(`   ${action.name} ok in ${took()} ms: ${done}`);
      }
    } catch (err) {
      const failure = asFailure(action.name, err);
      this.steps.push({ step: action.name, phase: this.phase, ok: false, durationMs: took(), detail: failure.message });
      log.write(`   ${action.name} FAILED: ${failure.message}`);
      throw failure;
    }
  }

  /** The backup this run restored, if its plan restores one and it got that far. */
  restored(): string | undefined {
    return this.plan.restores && (this.values.get(this.plan.restores.name) as string | undefined);
  }

  history(entry: Omit<HistoryEntry, 'at' | 'log'>): void {
    // One stamp per run, the one its log is named by, for every line it writes.
    const line: HistoryEntry = { ...entry, at: utcStamp(this.startedAt), log: this.ctx.log.file };
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
      ...this.kept(['record', 'journal'], null),
      switchedBack: this.switchedBack,
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
  // Stamped as the killed run's other lines are, by its start (its journal checked that it is a date).
  appendHistory(stateFiles(dataDir).history, { at: utcStamp(new Date(journal.startedAt)), kind, from, to, outcome: 'INTERRUPTED', log: journal.log });
}

/**
 * Runs a plan to its end. A step that refuses before anything was changed ends it with nothing
 * written to the history (its Refused is thrown on, as a refusal of the plan is), as does any
 * failure of a rehearsal step (what the rehearsal made is removed first); any other failure
 * takes the one way back.
 */
export async function execute<R extends RunRecord = RunRecord>(plan: Plan, ctx: OpsContext): Promise<Outcome<R>> {
  // The record holds the plan's outputs: the caller that made the plan knows their types.
  return (await run(plan, ctx)) as Outcome<R>;
}

async function run(plan: Plan, ctx: OpsContext): Promise<Outcome> {
  const run = new Run(plan, ctx);
  const done: Step[] = [];
  for (const step of plan.steps) {
    run.phase = step.rehearsal ? 'rehearsal' : 'forward';
    try {
      await run.perform(step);
      done.push(step);
    } catch (err) {
      const failure = err as StepFailed;
      const refusal =
        failure.error instanceof Refused ? failure.error : step.rehearsal ? new Refused(`the rehearsal failed at ${step.name}: ${failure.message}`) : undefined;
      // Nothing production uses was changed: what a rehearsal made is removed, and the run is a refusal.
      if (refusal && done.every((s) => s.rehearsal || (!s.undo && !s.final))) {
        const left = await removeRehearsal(run, step.rehearsal ? [...done, step] : done);
        clearJournal(stateFiles(ctx.settings.dataDir).journal);
        throw left ? new Refused(`${refusal.message}; what the rehearsal made could not be removed: ${left}`, refusal.next) : refusal;
      }
      if (!step.atomic) done.push(step);
      return goBack(run, done, failure);
    }
  }
  if (plan.recordSuccess)
    run.history({ kind: plan.op, from: plan.from, to: plan.to, outcome: 'SUCCESS', restored: run.restored(), unrehearsed: plan.unrehearsed });
  return { kind: 'done', run: run.finish('done') };
}

/**
 * Before a refusal: the undos of the rehearsal steps done, newest first; what could not be removed,
 * if anything. Its phase is the rehearsal's (nothing is switched back): a run killed here had
 * changed nothing, and is recorded as the upgrade or rollback it was.
 */
async function removeRehearsal(run: Run, done: Step[]): Promise<string | undefined> {
  run.phase = 'rehearsal';
  const failures: string[] = [];
  for (const undo of done.flatMap((s) => (s.rehearsal && s.undo ? [s.undo] : [])).reverse()) {
    await run.perform(undo).catch((err: StepFailed) => failures.push(err.message));
  }
  return failures.length ? failures.join('; ') : undefined;
}

/**
 * The one way back: undo what was done, newest first; if that (re)started the Tenant Plane,
 * confirm the version we are back on is healthy; record both lines. A failure on the way, or a
 * step that cannot be undone, leaves it to a human.
 */
async function goBack(run: Run, done: Step[], failure: StepFailed): Promise<Outcome> {
  const { plan, ctx } = run;
  run.history({ kind: plan.op, from: plan.from, to: plan.to, outcome: 'FAILED', restored: run.restored(), unrehearsed: plan.unrehearsed });
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
