import { readJsonFile, writeFileAtomic } from '../shared/files.js';
import type { HealthEvidence } from './health.js';

/**
 * `<log>.json` beside each run log: the run as data (steps and their durations, the backup,
 * the health evidence) for `tpctl history --json`. This module writes and reads it.
 */
export interface StepRecord {
  step: string;
  ok: boolean;
  durationMs: number;
  detail: string;
}

export interface RunRecord {
  op: 'upgrade' | 'rollback';
  from: string;
  to: string;
  outcome: 'success' | 'rolled-back' | 'failed' | 'already';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  steps: StepRecord[];
  backup: string | null;
  restored: string | null;
  health: HealthEvidence | null;
  failure: { step: string; reason: string; logsTail: string | undefined } | null;
}

export const recordPath = (logFile: string) => logFile.replace(/\.log$/, '.json');

export function writeRunRecord(logFile: string, record: RunRecord): void {
  writeFileAtomic(recordPath(logFile), `${JSON.stringify(record, null, 2)}\n`, 0o640);
}

export function readRunRecord(logFile: string): RunRecord | undefined {
  return readJsonFile<RunRecord>(recordPath(logFile));
}
