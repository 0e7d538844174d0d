import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import zlib from 'node:zlib';

export interface FileDigest {
  sizeBytes: number;
  sha256: string;
  /** Bytes the gzip stream decompresses to; undefined when it does not decompress. */
  uncompressedBytes: number | undefined;
  gzipError: string | undefined;
}

/**
 * Reads a backup once: its SHA-256, and whether its whole gzip stream (every member, every
 * CRC) decompresses, and to how many bytes.
 */
export async function digestBackup(file: string, onBytes: (n: number) => void = () => {}): Promise<FileDigest> {
  const hash = createHash('sha256');
  const gunzip = zlib.createGunzip();
  let sizeBytes = 0;
  let uncompressed = 0;
  let gzipError: string | undefined;
  gunzip.on('data', (d: Buffer) => (uncompressed += d.length));
  const inflated = new Promise<void>((resolve) => {
    gunzip.once('end', resolve);
    gunzip.once('error', (err) => {
      gzipError = err.message;
      resolve();
    });
  });
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    sizeBytes += buf.length;
    hash.update(buf);
    onBytes(buf.length);
    if (!gzipError && !gunzip.write(buf)) await Promise.race([new Promise((r) => gunzip.once('drain', r)), inflated]);
  }
  gunzip.end();
  await inflated;
  return { sizeBytes, sha256: hash.digest('hex'), uncompressedBytes: gzipError ? undefined : uncompressed, gzipError };
}

/** SHA-256 and size of the bytes a reader goes through, taken as it reads them. */
export function readingDigest(): { add: (chunk: Buffer) => void; result: () => { sizeBytes: number; sha256: string } } {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  return {
    add(chunk) {
      sizeBytes += chunk.length;
      hash.update(chunk);
    },
    result: () => ({ sizeBytes, sha256: hash.digest('hex') }),
  };
}

/** SHA-256 and size of a file, read once. */
export async function sha256File(file: string, onBytes: (n: number) => void = () => {}): Promise<{ sizeBytes: number; sha256: string }> {
  const digest = readingDigest();
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    onBytes((chunk as Buffer).length);
    digest.add(chunk as Buffer);
  }
  return digest.result();
}
