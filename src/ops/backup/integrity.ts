import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

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
