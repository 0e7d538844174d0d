import { closeSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import { readJsonFile } from './files.js';

/** Who holds a lock file, as written in it. */
export interface LockHolder {
  pid: number;
  host: string;
  since: string;
  what: string;
}

export class LockHeldError extends Error {
  constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    super(`${file} is held by "${holder.what}" (pid ${holder.pid} on ${holder.host}) since ${holder.since}`);
  }
}

export interface FileLock {
  readonly holder: LockHolder;
  /** Set when a dead holder's lock was taken over: that holder. */
  readonly tookOverFrom: LockHolder | undefined;
  release(): void;
}

/** Whether a process of this host lives. A zombie (killed, not yet reaped) does not. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Whether the process a lock or journal names lives; one on another host cannot be told, so it is taken to live. */
export function holderAlive(holder: Pick<LockHolder, 'pid' | 'host'>): boolean {
  if (holder.host !== os.hostname()) return true;
  return processAlive(holder.pid);
}

/** The holder written in a lock file; undefined when the file is missing or not of that form. */
function readHolder(file: string): LockHolder | undefined {
  const h = readJsonFile<Partial<LockHolder>>(file);
  const valid = h && Number.isSafeInteger(h.pid) && (h.pid ?? 0) > 0 && typeof h.host === 'string' && typeof h.since === 'string' && typeof h.what === 'string';
  return valid ? (h as LockHolder) : undefined;
}

function tryCreate(file: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(holder));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes an exclusive lock file naming this process. A lock whose holder process is gone (on
 * this host) is taken over; a live holder makes this throw LockHeldError. (Two processes taking
 * over the same dead lock in the same instant are not serialized: a known, narrow gap.)
 */
export function acquireFileLock(file: string, what: string): FileLock {
  const holder: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), what };
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file, holder)) {
      return {
        holder,
        tookOverFrom,
        release() {
          if (readHolder(file)?.pid === holder.pid) unlinkSync(file);
        },
      };
    }
    const current = readHolder(file);
    if (current && holderAlive(current)) throw new LockHeldError(file, current);
    tookOverFrom = current ?? { pid: 0, host: 'unknown', since: 'unknown', what: 'an unreadable lock file' };
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const current = readHolder(file);
  if (current) throw new LockHeldError(file, current);
  throw new Error(`could not take the lock ${file}`);
}
