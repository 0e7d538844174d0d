import { unlinkSync } from 'node:fs';
import os from 'node:os';
import { readJsonFile, writeFileAtomic } from '../shared/files.js';

/**
 * `./data/.atlas-operation.json`: the step an upgrade or rollback has reached, rewritten
 * atomically before each step and removed at the end. A run killed at any step leaves it
 * behind, so the next run knows what was under way and can lead back to a known version.
 */
export type Step = 'preflight' | 'backup' | 'restore' | 'switch' | 'wait-healthy' | 'verify' | 'checklist' | 'roll-back';

export interface Journal {
  op: 'upgrade' | 'rollback';
  from: string;
  to: string;
  step: Step;
  startedAt: string;
  log: string;
  pid: number;
  host: string;
  backup?: string | undefined;
}

export function writeJournal(file: string, journal: Omit<Journal, 'pid' | 'host'>): Journal {
  const full = { ...journal, pid: process.pid, host: os.hostname() };
  writeFileAtomic(file, `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

export function readJournal(file: string): Journal | undefined {
  return readJsonFile<Journal>(file);
}

export function clearJournal(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
