import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes shared by every tpctl command (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The operation failed, or a check did not pass; the system was left as it was or rolled back. */
  failed: 1,
  /** Bad input, or refused before anything changed. */
  refused: 2,
  /** Failed and could not put things back: a human must look. */
  needsHuman: 3,
  /** Another operation holds the lock. */
  locked: 4,
} as const;

/** An error that reaches the operator as one clear message and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.refused,
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
  run(args: string[], io: Io): Promise<number>;
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
