import { cpSync, existsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';
import { tempDir } from './backends.js';

export interface ReleaseOptions {
  version: string;
  /** Migration files to add or replace: name → SQL. */
  migrations?: Record<string, string>;
}

/**
 * A release of the Tenant Plane as it is shipped (built code, migrations, version file) in a
 * directory of its own, so a test can run several versions side by side.
 */
export function makeRelease(options: ReleaseOptions): string {
  if (!existsSync(path.join(appRoot, 'dist', 'cli', 'server.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  const dir = tempDir(`atlas-release-${options.version}-`);
  for (const item of ['dist', 'migrations', 'package.json']) {
    cpSync(path.join(appRoot, item), path.join(dir, item), { recursive: true });
  }
  symlinkSync(path.join(appRoot, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, '.atlas-version'), `${options.version}\n`);
  for (const [name, sql] of Object.entries(options.migrations ?? {})) {
    writeFileSync(path.join(dir, 'migrations', name), sql);
  }
  return dir;
}
