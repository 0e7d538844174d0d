import { closeSync, constants, createReadStream, mkdtempSync, open, openSync, read, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { openNoFollow } from '../../shared/files.js';
import { readingDigest } from './integrity.js';

const KEEP_OPEN = { open, read, close: (_fd: number, done: (err: null) => void) => done(null) };

/**
 * A file of this process's own in TMPDIR: created new in a directory of its own, mode 0600, its
 * name removed at once, so that only this descriptor reaches it. Written once, read as often as
 * needed; gone with the descriptor.
 */
export class PrivateFile {
  /** Its descriptor, which a child process may be given to read it. */
  private constructor(readonly fd: number) {}

  /** Writes `chunks` to a new private file; `onBytes` hears each piece. */
  static of(chunks: AsyncIterable<Buffer>, onBytes: (chunk: Buffer) => void = () => {}): Promise<PrivateFile> {
    return PrivateFile.writtenBy(async (fd) => {
      for await (const chunk of chunks) {
        for (let written = 0; written < chunk.length;) written += writeSync(fd, chunk, written);
        onBytes(chunk);
      }
    });
  }

  /** A new private file, written by `write` through its descriptor (which may be handed to a child process). */
  static async writtenBy(write: (fd: number) => Promise<void>): Promise<PrivateFile> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-backup-'));
    const name = path.join(dir, 'private');
    const fd = openSync(name, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    unlinkSync(name);
    rmdirSync(dir);
    try {
      await write(fd);
      return new PrivateFile(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The bytes from the start; `onRead` hears each piece. */
  read(onRead?: (chunk: Buffer) => void): Readable {
    return readDescriptor(this.fd, onRead);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The bytes of an open file from its start (read by position: the descriptor's offset is not used); `onRead` hears each piece. */
export function readDescriptor(fd: number, onRead?: (chunk: Buffer) => void): Readable {
  // The descriptor is the file's: ending or destroying the stream must not close it.
  const file = createReadStream('', { fd, start: 0, fs: KEEP_OPEN, highWaterMark: 1 << 20 });
  if (!onRead) return file;
  // Heard on the way through, not by a 'data' listener, which would let bytes flow before the reader is there.
  const heard = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onRead(chunk);
      done(null, chunk);
    },
  });
  file.on('error', (err) => heard.destroy(err));
  return file.pipe(heard).on('close', () => file.destroy());
}

/**
 * The bytes of a backup that were checked, and only those: copied, as they are summed, into a
 * PrivateFile, from which every load reads them back. Editing or swapping the backup file after
 * its check changes nothing that is loaded.
 */
export class CheckedCopy {
  private constructor(
    private readonly file: PrivateFile,
    readonly sizeBytes: number,
    readonly sha256: string,
  ) {}

  /** Copies `file` (not through a link), summing it; `onBytes` hears each piece. */
  static async take(file: string, onBytes: (n: number) => void = () => {}): Promise<CheckedCopy> {
    const source = openNoFollow(file);
    if (source === undefined) throw Object.assign(new Error(`${file} does not exist`), { code: 'ENOENT' });
    const digest = readingDigest();
    const chunks = createReadStream('', { fd: source, highWaterMark: 1 << 20 });
    // Destroyed however the copy ends: a copy that fails before reading must not leave the source open.
    const copy = await PrivateFile.of(chunks as AsyncIterable<Buffer>, (chunk) => {
      digest.add(chunk);
      onBytes(chunk.length);
    }).finally(() => chunks.destroy());
    const { sizeBytes, sha256 } = digest.result();
    return new CheckedCopy(copy, sizeBytes, sha256);
  }

  /** The private file's descriptor, which a child process may be given to read the checked bytes. */
  get fd(): number {
    return this.file.fd;
  }

  /** The checked bytes from the start, as often as needed; `onRead` hears each piece. */
  read(onRead?: (chunk: Buffer) => void): Readable {
    return this.file.read(onRead);
  }

  close(): void {
    this.file.close();
  }
}
