/**
 * What the engine runs: steps that declare what they read from earlier steps and what they
 * produce for later ones. The engine carries those values by their declared outputs without
 * knowing their fields, and keeps the ones an output asks it to in the run record and the
 * journal.
 */

/**
 * Where a value is kept: `run` only within the run (a started candidate); `record` also in the
 * run record (`tpctl history --json`); `journal` in the record and in the journal too, so that
 * the run after a killed one knows it (strings only).
 */
export type Keeping = 'run' | 'record' | 'journal';

/** A value one step hands to later ones, by name. */
export interface Output<T, K extends Keeping = Keeping> {
  readonly name: string;
  readonly kept: K;
  /** Only carries T for the type checker. */
  readonly value?: T;
}

export function output<T>(name: string): Output<T, 'run'>;
export function output<T>(name: string, kept: 'record' | 'journal'): Output<T, 'record' | 'journal'>;
export function output<T>(name: string, kept: Keeping = 'run'): Output<T> {
  return { name, kept };
}

/** The values of a run, as one step sees them: only what it declared. */
export interface Facts {
  /** A declared input; undefined when no earlier step produced it. */
  get<T>(o: Output<T>): T | undefined;
  /** A declared output. */
  put<T>(o: Output<T>, value: T): void;
}

/** A step's name: lower case words joined by '-', as the journal and the run log show it. */
export type StepName = string;

export interface Action {
  name: StepName;
  /** What it does, for the run log and the dry run. */
  what: string;
  reads?: readonly Output<unknown>[];
  produces?: readonly Output<unknown>[];
  /** Does the work; returns what was found or done, for the log and the record, or why it could not check. */
  run(facts: Facts): Promise<string | Skipped>;
}

/** What a check that could not check returns: logged and recorded as skipped, never as passed. */
export class Skipped {
  constructor(readonly reason: string) {}
}

export interface Step extends Action {
  /** Puts back what the step changes; absent when it changes nothing that must be put back. */
  undo?: Undo;
  /** A failure of the step itself changes nothing (so its undo is not needed then). */
  atomic?: boolean;
  /** It changes what runs and nothing can put that back: a failure after it needs a human. */
  final?: boolean;
  /** It only reads (a check that may refuse): a dry run runs it too. */
  readsOnly?: boolean;
  /**
   * It works on a copy, apart from production (a rehearsal): its failure refuses the operation,
   * and its undo removes only what it made there.
   */
  rehearsal?: boolean;
}

export interface Undo extends Action {
  /** It (re)starts the Tenant Plane, or gives the traffic back to it: the version we are back on is then confirmed healthy. */
  restarts: boolean;
  /** It switches the version back from the target: the history records a ROLLBACK line. */
  switchesBack?: boolean;
}

/** What a step's name must look like: the journal holds it, and an edited journal must not put anything else in a message. */
export const STEP_NAME = /^[a-z][a-z-]{0,39}$/;
