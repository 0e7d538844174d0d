import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * A path that tpctl refuses to follow: a link (or something other than a regular file) where
 * it keeps its state. Running as root, following it would let whoever can write the directory
 * make root write or read any file.
 */
export class UnsafePathError extends Error {}

const linkRefused = (file: string) =>
  new UnsafePathError(`${file} is a symbolic link: refused, tpctl does not follow links where it keeps its state (remove it: rm ${file})`);

/** Opens a file without following a link at its last component; undefined when it does not exist. */
export function openNoFollow(file: string, flags: number = constants.O_RDONLY, mode = 0o600): number | undefined {
  let fd: number;
  try {
    fd = openSync(file, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !(flags & constants.O_CREAT)) return undefined;
    if (code === 'ELOOP') throw linkRefused(file);
    throw err;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new UnsafePathError(`${file} is not a regular file: refused`);
  }
  return fd;
}

/** A file's text, or undefined when it does not exist; a link is refused, any other failure is an error. */
export function readTextIfPresent(file: string): string | undefined {
  const fd = openNoFollow(file);
  if (fd === undefined) return undefined;
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** A small JSON state file (a lock, a journal, a record): undefined when it is missing or unreadable (a link is refused). */
export function readJsonFile<T>(file: string): T | undefined {
  let text: string | undefined;
  try {
    text = readTextIfPresent(file);
  } catch (err) {
    if (err instanceof UnsafePathError) throw err;
    return undefined;
  }
  try {
    return text === undefined ? undefined : (JSON.parse(text) as T);
  } catch {
    return undefined;
  }
}

/** Appends to a file (created with `mode` when missing) that is not a link. */
export function appendText(file: string, text: string, mode = 0o640): void {
  const fd = openNoFollow(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, mode)!;
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses, when this process runs as root, a directory where it keeps state that is a link or
 * that others than its owner may write (as sshd's StrictModes refuses such a ~/.ssh): whoever
 * can write it could plant the links the rest of this module refuses to follow.
 */
export function refuseUnsafeDir(dir: string, what: string): void {
  if (process.getuid?.() !== 0) return;
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    return; // made later, by tpctl, with its own mode
  }
  if (stat.isSymbolicLink()) throw new UnsafePathError(`the ${what} ${dir} is a symbolic link: refused when running as root; name the real directory`);
  if (stat.mode & 0o022)
    throw new UnsafePathError(
      `the ${what} ${dir} may be written by others than its owner (mode ${(stat.mode & 0o777).toString(8)}): refused when running as root; chmod go-w ${dir}`,
    );
}

/** fsync of a directory, so that a rename in it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file so that it is either the old content or the new, never half: a temporary file
 * in the same directory, fsync, rename over the target, fsync of the directory. The temporary
 * file has a name nobody can predict and is created new (O_EXCL, O_NOFOLLOW): a link planted
 * in the directory is never written through.
 */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o644): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      /* never created, or already renamed */
    }
    throw err;
  }
  fsyncDir(path.dirname(file));
}
