import { closeSync, constants, createReadStream, mkdtempSync, open, openSync, read, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { openNoFollow } from '../../shared/files.js';
import { readingDigest } from './integrity.js';

const KEEP_OPEN = { open, read, close: (_fd: number, done: (err: null) => void) => done(null) };

/**
 * The bytes of a backup that were checked, and only those. They are copied, as they are summed,
 * into a file of this process's own (created new in a directory of its own, mode 0600, its name
 * removed at once: only this descriptor reaches it), and every load reads them back from there.
 * Editing or swapping the backup file after its check changes nothing that is loaded.
 */
export class CheckedCopy {
  private constructor(
    private readonly fd: number,
    readonly sizeBytes: number,
    readonly sha256: string,
  ) {}

  /** Copies `file` (not through a link) in TMPDIR, summing it; `onBytes` hears each piece. */
  static async take(file: string, onBytes: (n: number) => void = () => {}): Promise<CheckedCopy> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-backup-'));
    const copyPath = path.join(dir, 'backup.sql.gz');
    const fd = openSync(copyPath, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    unlinkSync(copyPath);
    rmdirSync(dir);
    const source = openNoFollow(file);
    if (source === undefined) {
      closeSync(fd);
      throw Object.assign(new Error(`${file} does not exist`), { code: 'ENOENT' });
    }
    try {
      const digest = readingDigest();
      for await (const chunk of createReadStream('', { fd: source, highWaterMark: 1 << 20 })) {
        const buf = chunk as Buffer;
        digest.add(buf);
        for (let written = 0; written < buf.length;) written += writeSync(fd, buf, written);
        onBytes(buf.length);
      }
      const { sizeBytes, sha256 } = digest.result();
      return new CheckedCopy(fd, sizeBytes, sha256);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The checked bytes from the start, as often as needed; `onRead` hears each piece. */
  read(onRead?: (chunk: Buffer) => void): Readable {
    // Its descriptor is the copy's: ending or destroying the stream must not close it.
    const file = createReadStream('', { fd: this.fd, start: 0, fs: KEEP_OPEN, highWaterMark: 1 << 20 });
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

  close(): void {
    closeSync(this.fd);
  }
}
