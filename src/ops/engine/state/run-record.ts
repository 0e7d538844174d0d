import { readJsonFile, writeFileAtomic } from '../../../shared/files.js';
import type { SinceBackup } from '../../backup/since-backup.js';
import type { BakeReport } from '../../probes/bake.js';
import type { HealthEvidence } from '../../probes/health.js';
import type { Phase, StepName } from './journal.js';
import type { HistoryEntry } from './history.js';

/**
 * `<log>.json` beside each run log: the run as data (steps and their durations, the backup,
 * the health evidence, what failed) for `tpctl history --json`. This module writes and reads it.
 */
export interface StepRecord {
  step: StepName;
  phase: Phase;
  ok: boolean;
  durationMs: number;
  detail: string;
}

export interface FailureRecord {
  step: StepName;
  reason: string;
  logsTail: string | undefined;
}

export interface RunRecord {
  op: 'upgrade' | 'rollback';
  from: string;
  to: string;
  outcome: 'done' | 'failed' | 'needs-human';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  log: string;
  steps: StepRecord[];
  backup: string | null;
  restored: string | null;
  /** What the restore found the live data held that the backup did not, and what it carried over. */
  sinceBackup: SinceBackup | null;
  /** The way back put the data from before the restore back; the restored data was kept as this. */
  restoreUndone: string | null;
  /** The way back switched the version back from `to` to `from`. */
  switchedBack: boolean;
  health: HealthEvidence | null;
  /** An upgrade's bake: the baseline and the bake's figures and what decided; or that it was skipped. */
  bake: BakeReport | { skipped: true } | null;
  failure: FailureRecord | null;
  /** What failed on the way back, when it did. */
  wayBack: FailureRecord | null;
}

export const recordPath = (logFile: string) => logFile.replace(/\.log$/, '.json');

export function writeRunRecord(logFile: string, record: RunRecord): void {
  writeFileAtomic(recordPath(logFile), `${JSON.stringify(record, null, 2)}\n`, 0o640);
}

export function readRunRecord(logFile: string): RunRecord | undefined {
  return readJsonFile<RunRecord>(recordPath(logFile));
}

/** History entries with what each run's record holds (null when it has none): `tpctl history --json`. */
export function withRunRecords(entries: readonly HistoryEntry[]): (HistoryEntry & { run: RunRecord | null })[] {
  return entries.map((e) => ({ ...e, run: readRunRecord(e.log) ?? null }));
}
