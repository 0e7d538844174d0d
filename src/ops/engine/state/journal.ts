import { readFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import { writeFileAtomic } from '../../../shared/files.js';
import { isVersion } from '../../../shared/version.js';
import { Refused } from '../../core/errors.js';

/**
 * `./data/.atlas-operation.json`: the step an upgrade or rollback has reached, rewritten
 * atomically before each step and removed at the end. A run killed at any step leaves it
 * behind, so the next run knows what was under way and can lead back to a known version.
 */
export const STEP_NAMES = ['preflight', 'path-check', 'schema-check', 'baseline', 'stop', 'backup', 'restore', 'switch', 'start-candidate', 'wait-healthy', 'verify', 'checklist', 'bake', 'promote', 'roll-back', 'discard-candidate', 'undo-restore', 'start'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** `forward`: towards the operation's target; `way-back`: putting back what it changed, after a failure. */
export type Phase = 'forward' | 'way-back';

export interface Journal {
  op: 'upgrade' | 'rollback';
  from: string;
  to: string;
  step: StepName;
  phase: Phase;
  startedAt: string;
  log: string;
  pid: number;
  host: string;
  backup?: string | undefined;
  /** The backup the run had restored, when it had. */
  restored?: string | undefined;
}

/**
 * The version a run killed here is led back to: an upgrade goes back to the version it left, a
 * rollback is completed, and a way back is completed too.
 */
export function recoveryTarget(journal: Journal): string {
  return journal.phase === 'forward' && journal.op === 'rollback' ? journal.to : journal.from;
}

export function writeJournal(file: string, journal: Omit<Journal, 'pid' | 'host'>): Journal {
  const full = { ...journal, pid: process.pid, host: os.hostname() };
  writeFileAtomic(file, `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

/**
 * The journal of a run that did not finish, or undefined when there is none. The file may have
 * been edited: its versions become runtime arguments, so anything not of its form is refused.
 */
export function readJournal(file: string): Journal | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let j: Record<string, unknown> | null = null;
  try {
    j = JSON.parse(text) as Record<string, unknown> | null;
  } catch {
    /* refused below */
  }
  const valid =
    typeof j === 'object' &&
    j !== null &&
    !Array.isArray(j) &&
    (j.op === 'upgrade' || j.op === 'rollback') &&
    isVersion(j.from) &&
    isVersion(j.to) &&
    (STEP_NAMES as readonly unknown[]).includes(j.step) &&
    (j.phase === undefined || j.phase === 'forward' || j.phase === 'way-back') &&
    typeof j.log === 'string' &&
    typeof j.startedAt === 'string' &&
    Number.isSafeInteger(j.pid) &&
    typeof j.host === 'string' &&
    (j.restored === undefined || typeof j.restored === 'string');
  if (!valid || !j) {
    throw new Refused(`${file} does not describe an operation (it may have been edited): check what runs, then remove it`, [{ do: 'status' }]);
  }
  // Journals of earlier releases have no phase: they were written on the way forward.
  return { ...(j as unknown as Journal), phase: (j.phase as Phase | undefined) ?? 'forward' };
}

export function clearJournal(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
