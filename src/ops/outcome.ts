import { EmbeddedInUseError } from '../db/embedded.js';
import type { LockHolder } from '../shared/file-lock.js';
import type { Journal, StepName } from './journal.js';
import type { RunRecord } from './run-record.js';

/**
 * How an operation ends, as data: the one vocabulary of results. The CLI maps each kind to its
 * documented exit code and words the facts; nothing here names a flag, a variable or a script.
 */
export type OutcomeKind = 'done' | 'failed' | 'refused' | 'needs-human' | 'locked';

/** A setting the operator can change, by what it means (the CLI knows its variable). */
export type Setting = 'database' | 'log-dir' | 'image' | 'compose-file';

/** What to do next, as data; the CLI turns it into the command to type. */
export type Next =
  | { do: 'rollback'; to?: string | undefined }
  /** The restore path: the newest backup taken at or before `to` (undefined: none in `backupDir`). */
  | { do: 'rollback-restoring'; to: string; backup: string | undefined; backupDir: string }
  | { do: 'upgrade'; to: string }
  | { do: 'name-rollback-target'; available: string[] }
  | { do: 'skip-backup' }
  | { do: 'set'; setting: Setting }
  | { do: 'restore-undo' }
  | { do: 'manual-restore' }
  | { do: 'stop-tenant-plane' }
  | { do: 'start-local'; naming?: 'version' }
  | { do: 'add-release' }
  | { do: 'build-image'; version: string }
  | { do: 'status' }
  | { do: 'read-log'; log: string };

/** Refused before anything changed: bad input, or a set-up that cannot be worked on as asked. */
export class Refused extends Error {
  constructor(
    message: string,
    readonly next: Next[] = [],
  ) {
    super(message);
  }
}

/** Failed, and nothing was changed (or it was put back). */
export class Failed extends Error {
  constructor(
    message: string,
    readonly next: Next[] = [],
  ) {
    super(message);
  }
}

/** The outcome an error stands for, when it is one of ours; undefined for a bug. */
export function kindOfError(err: unknown): 'refused' | 'failed' | undefined {
  if (err instanceof Refused || err instanceof EmbeddedInUseError) return 'refused';
  if (err instanceof Failed) return 'failed';
  return undefined;
}

/** Where the Tenant Plane stands at the end: the version it is configured for, and whether it was seen healthy. */
export interface Standing {
  version: string | undefined;
  /** `untouched`: this run did not change what runs, so it is as it was. */
  health: 'healthy' | 'untouched' | 'not healthy';
}

/** A run that was killed, found by the next one, and what was done about it. */
export interface Recovery {
  interrupted: Journal;
  /** The version it was led back to. */
  target: string;
  /** The run that led it back; undefined when the target already ran healthy. */
  run: RunRecord | undefined;
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

export type Outcome = (
  /** Done; `run` is undefined when there was nothing to do (`unchanged`), only a recovery to make, or a dry run (`preview`). */
  | { kind: 'done'; run: RunRecord | undefined; unchanged?: { op: RunRecord['op']; version: string }; preview?: Preview }
  /** Failed, and back where it started (`now`): nothing was changed, or it was put back and confirmed healthy. */
  | { kind: 'failed'; run: RunRecord; now: Standing }
  /** Failed, and the way back failed too (or there was none): a human must look. */
  | { kind: 'needs-human'; run: RunRecord; now: Standing; next: Next[] }
  | { kind: 'refused'; reason: string; next: Next[] }
  | { kind: 'locked'; holder: LockHolder }
) & { /** A killed run this one found first and led back. */ recovery?: Recovery | undefined };
