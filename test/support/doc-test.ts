import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';
import { escapeRegExp, missingLines, newestLike, shellBlocks, type ShellBlock } from './guide-blocks.js';
import { runProcess } from './tpctl.js';

/**
 * What the doc tests of docs/operations/ share: the shell blocks of a page, and running one as
 * the page says, from a deployment's directory (the rules are at the end of
 * rollback-and-recovery.md).
 */
export const blocksOf = (doc: string) => shellBlocks(readFileSync(path.join(appRoot, 'docs', 'operations', doc), 'utf8'));

/** A deployment the blocks run in: its directory, environment, log directory, public port and PostgreSQL. */
export interface Place {
  dir: string;
  env: Record<string, string>;
  logDir: string;
  port: number;
  dbUrl?: string;
  /** A command the blocks run under, e.g. nsenter into the test cluster's network namespace. */
  enter?: string[];
}

/** The guide's names for this machine's (the guide's last section lists them). */
function localize(text: string, place: Place): string {
  let out = text.replaceAll('/var/log/atlas', place.logDir).replaceAll('localhost:3000', `127.0.0.1:${place.port}`);
  if (place.dbUrl) out = out.replaceAll('postgresql://atlasusr:password@localhost:5432/atlas', place.dbUrl);
  out = out.replace(new RegExp(`${escapeRegExp(place.logDir)}/[\\w.-]*(?:\\d{8}T\\d{6}|<timestamp>)(?:[\\w.-]*\\w)?`, 'g'), newestLike);
  // A backup named without its directory (a Kubernetes volume's): the newest such in the log directory.
  return out.replace(/(?<![\w/.-])db-backup-[\w.-]*\d{8}T\d{6}\.sql\.gz/g, (name) => path.basename(newestLike(path.join(place.logDir, name))));
}

/** npm as `npx` runs it: never asked to fetch a package (a tpctl it does not find locally fails). */
export const NPM_OFFLINE = { HOME: process.env.HOME ?? '/root', npm_config_offline: 'true', npm_config_update_notifier: 'false' };

/** `npx tpctl` in a deployment's directory runs this checkout's tpctl, as installed there. */
export function installTpctl(place: Place): void {
  const bin = path.join(place.dir, 'node_modules', '.bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'tpctl'), `#!/bin/sh\nexec node ${path.join(appRoot, 'dist', 'cli', 'tpctl.js')} "$@"\n`);
  chmodSync(path.join(bin, 'tpctl'), 0o755);
  Object.assign(place.env, NPM_OFFLINE);
}

/** Runs one block; returns what went wrong, or undefined. */
export async function runBlock(block: ShellBlock, place: Place): Promise<string | undefined> {
  const [file, ...args] = [...(place.enter ?? []), 'bash', '-e', '-c', localize(block.script, place)];
  const res = await runProcess(file, args, place.env, { cwd: place.dir });
  const missing = missingLines(
    block.expected.map((e) => ({ ...e, text: localize(e.text, place) })),
    res.stdout,
  );
  if (res.code === block.exit && missing.length === 0) return undefined;
  return [
    `the guide's block at line ${block.line} ${res.code === block.exit ? 'did not print' : `exited ${res.code}, not ${block.exit}`}`,
    ...missing.map((m) => `  missing${m.shape ? ' (shape)' : ''}: ${m.text}`),
    `stdout:\n${res.stdout}`,
    `stderr:\n${res.stderr.slice(-3000)}`,
  ].join('\n');
}

export const title = (b: ShellBlock) => `line ${b.line}: ${b.script.split('\n').find((l) => l.trim() && !l.startsWith('#'))}`;
