import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EmbeddedInUseError } from '../db/embedded.js';
import { Failed, Refused } from '../ops/core/errors.js';
import type { OutcomeKind } from '../ops/engine/outcome.js';

/**
 * The exit codes of every tpctl command (documented in the README): the one table. `failed`
 * also covers a check that did not pass; `refused` bad input, or refused before anything changed.
 */
export const EXIT_CODES = { done: 0, failed: 1, refused: 2, 'needs-human': 3, locked: 4 } as const satisfies Record<OutcomeKind, number>;

/** The outcome an error stands for, when it is one of ours; undefined for a bug. */
export function kindOfError(err: unknown): 'refused' | 'failed' | undefined {
  if (err instanceof Refused || err instanceof EmbeddedInUseError) return 'refused';
  if (err instanceof Failed) return 'failed';
  return undefined;
}

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

export interface Command {
  /** Full help: usage, what it does, options, examples. */
  help: string;
  /** Runs it; how it ended decides the exit code. */
  run(args: string[], io: Io): Promise<OutcomeKind>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict flag parsing: an unknown flag or a stray argument is bad input, not ignored. */
export function parseFlags<T extends Options>(args: string[], options: T, positionals = 0) {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
    if (parsed.positionals.length > positionals) {
      throw new CliError(`unexpected argument "${parsed.positionals[positionals]}"`);
    }
    return parsed;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

export async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
