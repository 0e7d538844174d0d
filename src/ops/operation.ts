import path from 'node:path';
import { LockHeldError, acquireFileLock, type FileLock } from '../shared/file-lock.js';
import type { DatabaseTarget } from './backup/create.js';
import { onlineAgents, runChecklist, type AgentBaseline, type VerifyAuth } from './checklist.js';
import type { Executor } from './exec.js';
import { waitHealthy, type HealthEvidence } from './health.js';
import { appendHistory, utcStamp, type HistoryEntry } from './history.js';
import { clearJournal, writeJournal, type Step } from './journal.js';
import type { RunLogFile } from './run-log.js';
import { writeRunRecord, type RunRecord, type StepRecord } from './run-record.js';
import type { Runtime } from './runtimes/runtime.js';

/** Where things are and how long to wait: the settings every upgrade and rollback shares. */
export interface OpsSettings {
  dataDir: string;
  logDir: string;
  healthUrl: string;
  healthTimeoutMs: number;
  /** The database, for backups and restores; undefined when tpctl cannot reach it. */
  database: DatabaseTarget | undefined;
  backupKeep: number;
  /** The recovery checklist after each switch; undefined when no verification identity is set. */
  verify: { auth: VerifyAuth; agentsWithinMs: number } | undefined;
}

export const stateFiles = (dataDir: string) => ({
  history: path.join(dataDir, '.atlas-upgrade-history'),
  previous: path.join(dataDir, '.atlas-previous-version'),
  journal: path.join(dataDir, '.atlas-operation.json'),
  lock: path.join(dataDir, '.atlas-operation.lock'),
});

/** Another upgrade or rollback holds the lock (exit code 4). */
export class OperationLocked extends Error {}

/** Refused before anything changed (exit code 2). */
export class OperationRefused extends Error {}

/** Takes the operation lock before anything is written; a dead holder's lock is taken over, and that is logged. */
export function takeLock(dataDir: string, what: string, log: RunLogFile): FileLock {
  try {
    const lock = acquireFileLock(stateFiles(dataDir).lock, what);
    if (lock.tookOverFrom) {
      const t = lock.tookOverFrom;
      log.write(`took over the lock of "${t.what}" (pid ${t.pid} on ${t.host}, since ${t.since}): that process is gone`);
    }
    return lock;
  } catch (err) {
    if (!(err instanceof LockHeldError)) throw err;
    const h = err.holder;
    throw new OperationLocked(`another operation is under way: "${h.what}" (pid ${h.pid} on ${h.host}) has held the lock since ${h.since}; wait for it, or check it with tpctl status`);
  }
}

/** Thrown by a step that failed; carries what the run log and history need. */
export class StepFailed extends Error {
  constructor(
    readonly step: Step,
    message: string,
    readonly evidence?: HealthEvidence,
    readonly logsTail?: string,
  ) {
    super(message);
  }
}

/**
 * One run of an upgrade or rollback: its log, its journal (rewritten before each step so that
 * a killed run can be recognised), its steps with their durations, and its record.
 */
export class Run {
  readonly steps: StepRecord[] = [];
  readonly startedAt = new Date();
  backup: string | null = null;
  restored: string | null = null;
  health: HealthEvidence | null = null;
  agentBaseline: AgentBaseline | undefined;

  constructor(
    readonly op: 'upgrade' | 'rollback',
    readonly from: string,
    readonly to: string,
    readonly settings: OpsSettings,
    readonly runtime: Runtime,
    readonly log: RunLogFile,
    readonly exec: Executor,
  ) {}

  get files() {
    return stateFiles(this.settings.dataDir);
  }

  async step<T>(step: Step, what: string, work: () => Promise<T>, describe: (value: T) => string = () => 'done'): Promise<T> {
    writeJournal(this.files.journal, { op: this.op, from: this.from, to: this.to, step, startedAt: this.startedAt.toISOString(), log: this.log.file, backup: this.backup ?? undefined });
    this.log.write(`== ${step}: ${what}`);
    const started = performance.now();
    try {
      const value = await work();
      const detail = describe(value);
      this.steps.push({ step, ok: true, durationMs: Math.round(performance.now() - started), detail });
      this.log.write(`   ${step} ok in ${Math.round(performance.now() - started)} ms: ${detail}`);
      return value;
    } catch (err) {
      const message = (err as Error).message;
      this.steps.push({ step, ok: false, durationMs: Math.round(performance.now() - started), detail: message });
      this.log.write(`   ${step} FAILED: ${message}`);
      throw err instanceof StepFailed ? err : new StepFailed(step, message);
    }
  }

  /** Switches the runtime to a version and waits until that version is healthy and runs. */
  async switchAndConfirm(version: string, step: Step = 'switch', revision?: number): Promise<void> {
    const what = `configure ${this.runtime.describe()} for ${version}${revision ? ` (revision ${revision})` : ''} and restart it`;
    await this.step(step, what, () => this.runtime.switchTo(version, revision));
    // The version file is read while the health endpoint is polled; read again if it disagrees.
    const early = this.runtime.runningVersion().catch(() => undefined);
    await this.step(
      'wait-healthy',
      `wait until ${this.settings.healthUrl} answers "ok" for ${version} (up to ${Math.round(this.settings.healthTimeoutMs / 1000)} s)`,
      async () => {
        const wait = await waitHealthy({ url: this.settings.healthUrl, version, timeoutMs: this.settings.healthTimeoutMs, runtime: this.runtime });
        this.health = wait.evidence ?? null;
        if (!wait.healthy) {
          const logsTail = await this.runtime.logsTail(20).catch(() => undefined);
          if (logsTail) this.log.write(`   last log lines of the Tenant Plane:\n${logsTail.split('\n').map((l) => `     | ${l}`).join('\n')}`);
          throw new StepFailed('wait-healthy', wait.reason, wait.evidence, logsTail);
        }
        return wait;
      },
      (wait) => `healthy after ${wait.elapsedMs} ms: ${wait.evidence?.body ?? ''}`,
    );
    await this.step('verify', `check the version file inside the running Tenant Plane`, async () => {
      const running = (await early) === version ? version : await this.runtime.runningVersion();
      if (running !== version) throw new StepFailed('verify', `the running Tenant Plane's /app/.atlas-version says ${running ?? 'nothing'}, not ${version}`);
      return running;
    }, (v) => `/app/.atlas-version is ${v}`);
    const verify = this.settings.verify;
    if (!verify) {
      this.log.write('== checklist: login, license version and agents not checked: set ATLAS_VERIFY_TOKEN (or ATLAS_VERIFY_EMAIL / ATLAS_VERIFY_PASSWORD) to check them');
      return;
    }
    // On the way back to the known version, a failing checklist is reported, not acted on:
    // there is nowhere safer to go.
    const decisive = step !== 'roll-back';
    await this.step('checklist', 'the recovery checklist: health, version in /api/admin/license, a login, the agents back', async () => {
      const result = await runChecklist({ healthUrl: this.settings.healthUrl, expectVersion: version, auth: verify.auth, agentsWithinMs: verify.agentsWithinMs, baseline: this.agentBaseline });
      for (const c of result.checks) this.log.write(`   ${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.evidence}`);
      if (!result.ok && decisive) throw new StepFailed('checklist', result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.evidence}`).join('; '));
      return result;
    }, (r) => (r.ok ? `${r.checks.length} checks passed` : 'checks failed (see above); kept going back to the known version'));
  }

  /** Notes which agents are online now, so that the checklist after the switch can wait for them. */
  async takeAgentBaseline(): Promise<void> {
    if (!this.settings.verify) return;
    this.agentBaseline = await onlineAgents(this.settings.healthUrl, this.settings.verify.auth);
    if (this.agentBaseline) this.log.write(`agents online before the switch: ${Object.values(this.agentBaseline.agents).join(', ') || 'none'}`);
  }

  history(entry: Omit<HistoryEntry, 'log' | 'at'>): void {
    const line: HistoryEntry = { ...entry, at: utcStamp(new Date()), log: this.log.file };
    appendHistory(this.files.history, line);
    this.log.write(`history: ${JSON.stringify(line)}`);
  }

  finish(outcome: RunRecord['outcome'], failure: StepFailed | undefined): RunRecord {
    const finishedAt = new Date();
    const record: RunRecord = {
      op: this.op,
      from: this.from,
      to: this.to,
      outcome,
      startedAt: this.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - this.startedAt.getTime(),
      steps: this.steps,
      backup: this.backup,
      restored: this.restored,
      health: this.health,
      failure: failure ? { step: failure.step, reason: failure.message, logsTail: failure.logsTail } : null,
    };
    writeRunRecord(this.log.file, record);
    clearJournal(this.files.journal);
    return record;
  }
}
