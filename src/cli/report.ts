import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import { listBackups } from '../ops/backup/retention.js';
import type { OpsContext } from '../ops/engine/engine.js';
import type { HistoryEntry } from '../ops/engine/state/history.js';
import type { TenantPlane } from '../ops/probes/tenant-plane.js';
import { figuresLine } from '../ops/steps/bake.js';
import type { LifecycleOutcome } from '../ops/steps/outputs.js';
import { stampTime } from '../shared/names.js';

/** While a run waits in a step, it is reported again this often: the pages count the seconds, and a run silent for a minute was stopped. */
const HEARTBEAT_MS = 15_000;
/** The history lines sent with each run: what the Tenant Plane missed (down, or restored to a backup from before) is told again. */
const RESENT = 20;

type Step = Parameters<NonNullable<OpsContext['onStep']>>[0];
type State = 'running' | 'succeeded' | 'failed' | 'rolled-back' | 'needs-human' | 'refused' | 'interrupted';

/** Who runs tpctl: the account and the host (a container's account may have no name). */
function actor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  return `${user}@${hostname()}`;
}

/** How a run ended, in the states the Tenant Plane keeps. */
function endState(outcome: LifecycleOutcome): State {
  if (outcome.kind === 'done') return 'succeeded';
  if (outcome.kind === 'failed') return outcome.run.switchedBack && outcome.run.op === 'upgrade' ? 'rolled-back' : 'failed';
  return outcome.kind === 'locked' ? 'refused' : outcome.kind;
}

/** The runs of the history, one per stamp: an upgrade whose ROLLBACK line follows it (the same run) was rolled back. */
export function runsOfHistory(history: HistoryEntry[]) {
  const runs = new Map<string, { id: string; kind: HistoryEntry['kind']; from: string; to: string; state: State; log: string; startedAt: string }>();
  for (const e of history) {
    const run = runs.get(e.at);
    if (run) {
      if (run.kind === 'upgrade' && e.kind === 'rollback') run.state = e.outcome === 'SUCCESS' ? 'rolled-back' : 'needs-human';
      continue;
    }
    const state = e.outcome === 'SUCCESS' ? 'succeeded' : e.outcome === 'INTERRUPTED' ? 'interrupted' : 'failed';
    runs.set(e.at, { id: e.at, kind: e.kind, from: e.from, to: e.to, state, log: e.log, startedAt: stampTime(e.at) });
  }
  return [...runs.values()];
}

/** Tells the Tenant Plane which backups tpctl keeps in `logDir` (in place of those it was told of before); why it was not told, if it was not. */
export function tellBackups(tell: TenantPlane['tell'], logDir: string): Promise<string | undefined> {
  const backups = listBackups(logDir)
    .slice(0, 1000)
    .map((b) => ({
      name: path.basename(b.file),
      version: b.version,
      takenAt: stampTime(b.timestamp),
      sizeBytes: b.sizeBytes,
      reason: b.manifest?.reason ?? 'unknown',
      signed: Boolean(b.manifest?.signature),
      verifiedAt: b.manifest?.verifiedAt ?? null,
    }));
  return tell('/api/admin/backups', { backups });
}

/**
 * Tells the Tenant Plane of a run as it goes: each step as it starts (and again while it waits),
 * then how it ended, with the recent history and the backups kept, so that its pages show the
 * run, the audit trail and the backups. The Tenant Plane is told with the verification identity
 * (an admin's); a run never fails for it, and waits only for the last reports (5 s each at most):
 * what could not be told is said once in the run log, and at the end on the terminal.
 */
export class RunReporter {
  private current: Record<string, unknown> | undefined;
  private sending: Promise<void> | undefined;
  /** A newer state than the one being sent waits to be sent. */
  private due = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private untold: string | undefined;

  constructor(
    private readonly tell: TenantPlane['tell'],
    private readonly run: { id: string; log: string; logDir: string; history: () => HistoryEntry[] },
    private readonly log: (line: string) => void,
  ) {}

  /** The engine's onStep. */
  readonly step = (s: Step): void => {
    const at = new Date().toISOString();
    this.current ??= { id: this.run.id, kind: s.op, from: s.from, to: s.to, actor: actor(), log: this.run.log, startedAt: at };
    Object.assign(this.current, { state: 'running', step: s.name, stepWhat: s.what, stepStartedAt: at });
    this.send();
    this.heartbeat ??= setInterval(() => this.send(), HEARTBEAT_MS).unref();
  };

  /** The end of the run; says why the Tenant Plane was not told, if it was not. */
  async finish(outcome: LifecycleOutcome, summary: string): Promise<string | undefined> {
    clearInterval(this.heartbeat);
    // The end says more than any progress still waiting; only the report on its way is awaited.
    this.due = false;
    await this.sending;
    if (!this.current) return undefined;
    const record = 'run' in outcome ? outcome.run : undefined;
    const figures: Record<string, string> = {};
    if (record?.rehearsal) figures.rehearsal = 'line' in record.rehearsal ? record.rehearsal.line : `none (${record.rehearsal.skipped})`;
    if (record?.bake && 'baseline' in record.bake) figures.bake = `baseline ${figuresLine(record.bake.baseline)}; bake ${figuresLine(record.bake.bake)}`;
    const ended = { ...this.current, state: endState(outcome), summary: summary.split('\n')[0]!.slice(0, 4000), figures, finishedAt: new Date().toISOString() };
    const earlier = runsOfHistory(this.run.history())
      .filter((r) => r.id !== this.run.id)
      .slice(-RESENT)
      .map((r) => ({ ...r, actor: 'tpctl (its history)' }));
    const why = (await this.tell('/api/admin/operations', { operations: [...earlier, ended] })) ?? (await tellBackups(this.tell, this.run.logDir));
    if (why) this.log(`the Tenant Plane was not told of this run: ${why}`);
    return why;
  }

  /**
   * One report at a time, of the newest state: steps that start while one is on its way are
   * reported together, as the last of them (a slow Tenant Plane never builds a queue that the
   * end of the run would wait for). A failure is said once.
   */
  private send(): void {
    this.due = true;
    this.sending ??= (async () => {
      while (this.due) {
        this.due = false;
        const why = await this.tell('/api/admin/operations', { operations: [{ ...this.current }] });
        if (why && !this.untold) this.log(`the Tenant Plane is not told of this run's progress: ${why}`);
        this.untold = why;
      }
      this.sending = undefined;
    })();
  }
}
