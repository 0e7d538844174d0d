import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from './app-root.js';
import { readTextIfPresent } from './files.js';

/** Release versions are plain semantic versions: 1.3.0, 1.4.0-rc.1. */
const VERSION_RE = /^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})(?:-([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*))?$/;

export class VersionError extends Error {}

export interface Version {
  major: number;
  minor: number;
  patch: number;
  prerelease: string | undefined;
  text: string;
}

export function parseVersion(text: string): Version {
  const m = VERSION_RE.exec(text);
  if (!m) {
    throw new VersionError(`"${printable(text)}" is not a release version: expected MAJOR.MINOR.PATCH such as 1.3.0 (optionally -rc.1)`);
  }
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease: m[4], text };
}

/** Whether a value is a release version, written exactly as one (no surrounding text). */
export function isVersion(value: unknown): value is string {
  return typeof value === 'string' && VERSION_RE.test(value);
}

/** Orders versions as semver does: numbers first, and a prerelease before its release. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  const byNumber = x.major - y.major || x.minor - y.minor || x.patch - y.patch;
  if (byNumber !== 0) return Math.sign(byNumber);
  if (x.prerelease === y.prerelease) return 0;
  if (x.prerelease === undefined) return 1;
  if (y.prerelease === undefined) return -1;
  return x.prerelease < y.prerelease ? -1 : 1;
}

/**
 * The version baked into this build: `.atlas-version` at the package root (written by the
 * image and release builds), else package.json's version when run from source.
 */
export function readAppVersion(root: string = appRoot): string {
  const versionFile = path.join(root, '.atlas-version');
  const text = existsSync(versionFile)
    ? readFileSync(versionFile, 'utf8').trim()
    : (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return parseVersion(text).text;
}

/** Shows an untrusted string in an error message without letting it forge lines or escapes. */
export function printable(text: string, max = 80): string {
  const shown = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(shown).slice(1, -1);
}

/**
 * A one-line version file (`.atlas-previous-version`, `releases/current`): undefined when it is
 * missing or does not hold a version; any other failure to read it is an error.
 */
export function readVersionFile(file: string): string | undefined {
  const text = readTextIfPresent(file)?.trim();
  return isVersion(text) ? parseVersion(text).text : undefined;
}
