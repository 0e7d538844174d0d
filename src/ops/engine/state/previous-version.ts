import { readFileSync } from 'node:fs';
import { parseVersion, VersionError } from '../../../shared/version.js';
import { writeFileAtomic } from '../../../shared/files.js';

/** `./data/.atlas-previous-version`: the version an upgrade left, as one line (`1.2.2`). */
export function writePreviousVersion(file: string, version: string): void {
  writeFileAtomic(file, `${parseVersion(version).text}\n`);
}

/** The recorded previous version, or undefined when there is none (or it is not a version). */
export function readPreviousVersion(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return parseVersion(text.trim()).text;
  } catch (err) {
    if (err instanceof VersionError) return undefined;
    throw err;
  }
}

/** The file as the lifecycle's step writes it. */
export interface PreviousVersion {
  readonly file: string;
  write(version: string): Promise<void>;
}

export const previousVersionFile = (file: string): PreviousVersion => ({ file, write: async (version) => writePreviousVersion(file, version) });
