import { unlinkSync } from 'node:fs';
import os from 'node:os';
import { readTextIfPresent, writeFileAtomic } from '../../../shared/files.js';
import { isVersion } from '../../../shared/version.js';
import { Refused } from '../../core/errors.js';
import { STEP_NAME, type StepName } from '../step.js';

/**
 * `./data/.atlas-operation.json`: the step an upgrade or rollback has reached, rewritten
 * atomically before each step and removed at the end. A run killed at any step leaves it
 * behind, so the next run knows what was under way and can lead back to a known version.
 */
/** `forward`: towards the operation's target; `way-back`: putting back what it changed, after a failure. */
/** Where a run was: on its way forward, rehearsing on a copy (nothing changed yet), or on its way back. */
export type Phase = 'forward' | 'rehearsal' | 'way-back';

/** The phase, as a message says where a killed run stopped (after its step's name). */
export const inPhase = (phase: Phase): string => ({ forward: '', rehearsal: ' in its rehearsal', 'way-back': ' on its way back' })[phase];

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
  /** The values its steps had produced that a recovery needs (the backup it had restored, say), by output name. */
  outputs: Record<string, string>;
}

/** The fields of the journal itself; any other field of the file is an output. */
const FIELDS = new Set(['op', 'from', 'to', 'step', 'phase', 'startedAt', 'log', 'pid', 'host']);

/**
 * The version a run killed here is led back to: an upgrade goes back to the version it left, a
 * rollback is completed, and a way back is completed too; one killed in its rehearsal had changed
 * nothing yet, and stays on the version it started from.
 */
export function recoveryTarget(journal: Journal): string {
  return journal.phase === 'forward' && journal.op === 'rollback' ? journal.to : journal.from;
}

/** Written flat: the outputs beside the journal's own fields, as the journals of earlier releases had their `backup` and `restored`. */
export function writeJournal(file: string, journal: Omit<Journal, 'pid' | 'host' | 'outputs'> & { outputs: Record<string, string | undefined> }): Journal {
  const outputs = Object.fromEntries(Object.entries(journal.outputs).filter((e): e is [string, string] => e[1] !== undefined));
  const full = { ...journal, outputs, pid: process.pid, host: os.hostname() };
  const { outputs: _outputs, ...own } = full;
  writeFileAtomic(file, `${JSON.stringify({ ...outputs, ...own }, null, 2)}\n`);
  return full;
}

/**
 * The journal of a run that did not finish, or undefined when there is none. The file may have
 * been edited: its versions become runtime arguments, so anything not of its form is refused.
 */
export function readJournal(file: string): Journal | undefined {
  const text = readTextIfPresent(file);
  if (text === undefined) return undefined;
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
    typeof j.step === 'string' &&
    STEP_NAME.test(j.step) &&
    (j.phase === undefined || j.phase === 'forward' || j.phase === 'rehearsal' || j.phase === 'way-back') &&
    typeof j.log === 'string' &&
    typeof j.startedAt === 'string' &&
    !Number.isNaN(Date.parse(j.startedAt)) &&
    Number.isSafeInteger(j.pid) &&
    typeof j.host === 'string' &&
    Object.entries(j).every(([k, v]) => FIELDS.has(k) || (typeof v === 'string' && v.length <= 4096));
  if (!valid || !j) {
    throw new Refused(`${file} does not describe an operation (it may have been edited): check what runs, then remove it`, [{ do: 'status' }]);
  }
  // Journals of earlier releases have no phase: they were written on the way forward.
  const outputs = Object.fromEntries(Object.entries(j).filter(([k]) => !FIELDS.has(k))) as Record<string, string>;
  const own = Object.fromEntries(Object.entries(j).filter(([k]) => FIELDS.has(k))) as unknown as Omit<Journal, 'outputs'>;
  return { ...own, phase: own.phase ?? 'forward', outputs };
}

export function clearJournal(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
