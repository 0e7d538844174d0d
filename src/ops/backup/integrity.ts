import { createHash } from 'node:crypto';

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
