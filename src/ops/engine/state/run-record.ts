import { readJsonFile, writeFileAtomic } from '../../../shared/files.js';
import type { StepName } from '../step.js';
import type { Phase } from './journal.js';
import type { HistoryEntry } from './history.js';

/**
 * `<log>.json` beside each run log: the run as data (steps and their durations, what failed,
 * and what its steps produced: the backup, the health evidence, the bake) for `tpctl history --json`. This module writes and reads it.
 */
export interface StepRecord {
  step: StepName;
  phase: Phase;
  ok: boolean;
  /** A check that could not check (ok, as it stopped nothing). */
  skipped?: true;
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
  /** The way back switched the version back from `to` to `from`. */
  switchedBack: boolean;
  failure: FailureRecord | null;
  /** What failed on the way back, when it did. */
  wayBack: FailureRecord | null;
  /** The outputs of the plan's steps that are kept in the record, by name (null when not produced). */
  [output: string]: unknown;
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
