import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EmbeddedInUseError } from '../db/embedded.js';
import { Failed, Refused } from '../ops/core/errors.js';
import type { OutcomeKind } from '../ops/engine/outcome.js';
import { UnsafePathError } from '../shared/files.js';
import { parseVersion, VersionError } from '../shared/version.js';
import type { Factory } from './factory.js';
import { CliError } from './io.js';

/**
 * The exit codes of every tpctl command (documented in the README): the one table. `failed`
 * also covers a check that did not pass; `refused` bad input, or refused before anything changed.
 */
export const EXIT_CODES = { done: 0, failed: 1, refused: 2, 'needs-human': 3, locked: 4 } as const satisfies Record<OutcomeKind, number>;

/** The outcome an error stands for, when it is one of ours; undefined for a bug. */
export function kindOfError(err: unknown): 'refused' | 'failed' | undefined {
  if (err instanceof Refused || err instanceof EmbeddedInUseError || err instanceof UnsafePathError) return 'refused';
  if (err instanceof Failed) return 'failed';
  return undefined;
}

export interface Command {
  /** Full help: usage, what it does, options, examples. */
  help: string;
  /** Runs it with what the factory builds from the environment; how it ended decides the exit code. */
  run(args: string[], f: Factory): Promise<OutcomeKind>;
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

const MOVING_TAGS = new Set(['latest', 'stable', 'edge', 'main', 'master', 'nightly', 'dev', 'current', 'beta', 'lts']);

/** A version to move to, checked before anything else happens: no shell, path or moving tag passes. */
export function targetVersion(text: string, variable: string): string {
  if (MOVING_TAGS.has(text.toLowerCase())) {
    throw new CliError(
      `"${text}" is a moving tag: it names different images over time, so an upgrade to it could not be checked, recorded or rolled back to; name the exact version, e.g. ${variable}=1.3.0`,
    );
  }
  try {
    return parseVersion(text).text;
  } catch (err) {
    if (err instanceof VersionError) throw new CliError(`${variable}: ${err.message}`);
    throw err;
  }
}
