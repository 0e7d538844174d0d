import type { Next } from '../core/errors.js';
import type { LockHolder } from '../../shared/file-lock.js';
import type { Journal } from './state/journal.js';
import type { StepName } from './step.js';
import type { RunRecord } from './state/run-record.js';

/**
 * How an operation ends, as data: the one vocabulary of results. The CLI maps each kind to its
 * documented exit code and words the facts; nothing here names a flag, a variable or a script.
 */
export type OutcomeKind = 'done' | 'failed' | 'refused' | 'needs-human' | 'locked';

/** Where the Tenant Plane stands at the end: the version it is configured for, and whether it was seen healthy. */
export interface Standing {
  version: string | undefined;
  /** `untouched`: this run did not change what runs, so it is as it was. */
  health: 'healthy' | 'untouched' | 'not healthy';
}

/** A run that was killed, found by the next one, and what was done about it. */
export interface Recovery<R extends RunRecord = RunRecord> {
  interrupted: Journal;
  /** The version it was led back to. */
  target: string;
  /** The run that led it back; undefined when the target already ran healthy. */
  run: R | undefined;
  /** It was killed while putting back the data of a restore: the data restored from this backup may still be in place. */
  restoredMayRemain: string | undefined;
}

/** What a dry run shows: the plan's steps and the way back, as they would run. */
export interface Preview {
  op: RunRecord['op'];
  from: string;
  to: string;
  /** `checked`: what a check that only reads found (a dry run makes them). */
  steps: { step: StepName; what: string; undo?: { step: StepName; what: string } | undefined; checked?: string | undefined }[];
  /** What confirms the version a failure goes back to. */
  confirmBack: { step: StepName; what: string }[];
  /** A killed run that a real run would lead back first. */
  interrupted: Journal | undefined;
}

/** `R`: the run record as the plan's outputs make it (the actions name their own). */
export type Outcome<R extends RunRecord = RunRecord> =
  /** Done; `run` is undefined when there was nothing to do (`unchanged`), only a recovery to make, or a dry run (`preview`). */
  (
    | { kind: 'done'; run: R | undefined; unchanged?: { op: RunRecord['op']; version: string }; preview?: Preview }
    /** Failed, and back where it started (`now`): nothing was changed, or it was put back and confirmed healthy. */
    | { kind: 'failed'; run: R; now: Standing }
    /** Failed, and the way back failed too (or there was none): a human must look. */
    | { kind: 'needs-human'; run: R; now: Standing; next: Next[] }
    | { kind: 'refused'; reason: string; next: Next[] }
    | { kind: 'locked'; holder: LockHolder }
  ) & { /** A killed run this one found first and led back. */ recovery?: Recovery<R> | undefined };
