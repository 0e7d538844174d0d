import { readFileSync } from 'node:fs';
import { parseVersion } from '../../../shared/version.js';
import { writeFileAtomic } from '../../../shared/files.js';

/** `./data/.atlas-previous-version`: the version an upgrade left, as one line (`1.2.2`). */
export function writePreviousVersion(file: string, version: string): void {
  writeFileAtomic(file, `${parseVersion(version).text}\n`);
}

/** The recorded previous version, or undefined when there is none (or it is not a version). */
export function readPreviousVersion(file: string): string | undefined {
  try {
    return parseVersion(readFileSync(file, 'utf8').trim()).text;
  } catch {
    return undefined;
  }
}
