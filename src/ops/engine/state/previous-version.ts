import { rmSync } from 'node:fs';
import { parseVersion, readVersionFile } from '../../../shared/version.js';
import { writeFileAtomic } from '../../../shared/files.js';

/** `./data/.atlas-previous-version`: the version an upgrade left, as one line (`1.2.2`); undefined removes it. */
export function writePreviousVersion(file: string, version: string | undefined): void {
  if (version === undefined) rmSync(file, { force: true });
  else writeFileAtomic(file, `${parseVersion(version).text}\n`);
}

/** The recorded previous version, or undefined when there is none (or it is not a version). */
export const readPreviousVersion = readVersionFile;

/** The file as the lifecycle's step writes it. */
export interface PreviousVersion {
  readonly file: string;
  write(version: string | undefined): Promise<void>;
}

export const previousVersionFile = (file: string): PreviousVersion => ({ file, write: async (version) => writePreviousVersion(file, version) });
