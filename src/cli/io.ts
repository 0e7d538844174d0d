import type { OutcomeKind } from '../ops/engine/outcome.js';

/** What a command reads and writes, and how it ends on bad input: the bottom of the CLI. */

/** An error that reaches the operator as one clear message, ending the command as `kind`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly kind: OutcomeKind = 'refused',
  ) {
    super(message);
  }
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Whether standard error is a terminal (progress is drawn only there). */
  isTTY: boolean;
}
