import os from 'node:os';
import path from 'node:path';

/** Where the tests keep what they build outside the clone (tools by version, images by content), so that a clean clone on the same machine reuses it. */
export function toolsCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'atlas-tools');
}
