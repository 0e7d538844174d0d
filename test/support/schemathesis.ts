import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toolsCacheDir } from './tools-cache.js';

/** The schemathesis the suite fuzzes with: pinned, so that a run is the same run tomorrow. */
export const SCHEMATHESIS_VERSION = '4.32.5';

/**
 * The `st` program of a virtual environment kept outside the clone, by version
 * (~/.cache/atlas-tools/schemathesis-<version>), made from PyPI on first use. A venv's scripts
 * name its own path, so it is made where it lives; `.ready` is written last, and a directory
 * without it (a run killed half-way) is made again.
 */
export function schemathesis(): string {
  const dir = path.join(toolsCacheDir(), `schemathesis-${SCHEMATHESIS_VERSION}`);
  const ready = path.join(dir, '.ready');
  if (!existsSync(ready)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.dirname(dir), { recursive: true });
    execFileSync('python3', ['-m', 'venv', dir], { stdio: 'inherit' });
    execFileSync(path.join(dir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`], {
      stdio: 'inherit',
    });
    writeFileSync(ready, `${SCHEMATHESIS_VERSION}\n`);
  }
  return path.join(dir, 'bin', 'st');
}
