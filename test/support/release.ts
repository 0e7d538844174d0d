import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';
import { checkoutKey } from './image-cache.js';
import { tempDir } from './temp.js';
import { toolsCacheDir } from './tools-cache.js';

export interface ReleaseOptions {
  version: string;
  /** Migration files to add or replace: name → SQL. */
  migrations?: Record<string, string>;
  /**
   * Its start-up check demands its own latest migration: it refuses to start on a schema that a
   * newer version moved ahead (where ours serves on it), as some products' older versions do.
   */
  refusesSchemaAhead?: boolean;
}

/** The line of the built server that accepts a schema ahead, and what a strict version does there instead. */
const ACCEPTS_AHEAD = "log.warn({ ahead: result.state.ahead }, 'the schema is ahead of this version (as after a rollback); serving on it');";
const REFUSES_AHEAD = "throw new Error(`this version runs only on its own latest migration; the schema is ahead: ${result.state.ahead.join(', ')}`);";

/** This checkout's built dist/server/start.js, as a strict version has it (refusesSchemaAhead). */
export function strictStartJs(): string {
  const start = path.join(appRoot, 'dist', 'server', 'start.js');
  const code = readFileSync(start, 'utf8');
  if (!code.includes(ACCEPTS_AHEAD)) throw new Error(`${start} no longer has the line a strict release replaces: update test/support/release.ts`);
  return code.replace(ACCEPTS_AHEAD, REFUSES_AHEAD);
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
  if (options.refusesSchemaAhead) writeFileSync(path.join(dir, 'dist', 'server', 'start.js'), strictStartJs());
  return dir;
}

export interface CheckoutRelease {
  version: string;
  /** The checkout's release.json, as a developer declares it. */
  declared: { minimumUpgradeFrom?: string };
  /** Migration files added to the checkout's: name → SQL. */
  migrations: Record<string, string>;
}

/** A copy of this checkout as a developer has one (its dependencies shared), into `dir`; returns `dir`. */
export function copyCheckout(dir: string): string {
  for (const item of ['src', 'scripts', 'migrations', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'release.json']) {
    cpSync(path.join(appRoot, item), path.join(dir, item), { recursive: true });
  }
  symlinkSync(path.join(appRoot, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** A built release nothing asked for in this long is removed from the cache. */
const UNUSED_FOR_MS = 2 * 24 * 3600_000;

function removeUnused(cache: string): void {
  for (const name of readdirSync(cache)) {
    const dir = path.join(cache, name);
    if (Date.now() - statSync(dir).mtimeMs > UNUSED_FOR_MS) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A release built as a developer builds one: a copy of this checkout with its own release.json
 * and migrations, staged by its scripts/build-release.sh (which builds the code, lints the
 * migrations and writes release.json). Returns the staged release's directory, which is shared:
 * kept by content (the checkout, as the images are, and the options) in the tools' cache, so that
 * each is built once, whichever file or run asks first. Read it; never change it.
 */
export function buildRelease(options: CheckoutRelease): string {
  const cache = path.join(toolsCacheDir(), 'releases');
  const key = createHash('sha256').update(checkoutKey()).update(JSON.stringify(options)).digest('hex');
  const dir = path.join(cache, key.slice(0, 32));
  if (existsSync(path.join(dir, 'release.json'))) {
    utimesSync(dir, new Date(), new Date());
    return dir;
  }
  mkdirSync(cache, { recursive: true });
  removeUnused(cache);
  const checkout = copyCheckout(tempDir(`atlas-checkout-${options.version}-`));
  writeFileSync(path.join(checkout, 'release.json'), `${JSON.stringify(options.declared)}\n`);
  for (const [name, sql] of Object.entries(options.migrations)) writeFileSync(path.join(checkout, 'migrations', name), sql);
  const staging = `${dir}.${process.pid}`;
  execFileSync('bash', [path.join(checkout, 'scripts', 'build-release.sh'), staging], {
    env: { ...process.env, ATLAS_VERSION: options.version },
    stdio: 'pipe',
  });
  try {
    renameSync(staging, dir);
  } catch (err) {
    // Built meanwhile by another file or run: theirs is the same.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'release.json'))) throw err;
  }
  return dir;
}

/** 1.2.2 as this checkout declares itself (its release.json). */
export const RELEASE_1_2_2: CheckoutRelease = {
  version: '1.2.2',
  declared: JSON.parse(readFileSync(path.join(appRoot, 'release.json'), 'utf8')) as CheckoutRelease['declared'],
  migrations: {},
};

/** The releases the compatibility checks are proven with, on Docker Compose and the local runtime. */
export const PRIORITY = { '0900_incident_priority.sql': 'ALTER TABLE incidents ADD COLUMN priority integer;\n' };
/** Titles unique from here on: past the linter under its waivers, and on an empty database; not on data that holds two alike. */
export const UNIQUE_TITLE = {
  '0920_unique_incident_title.sql':
    '-- atlas:allow add-constraint titles are unique from 1.3.1 on\n-- atlas:allow index-not-concurrently the table is small\nCREATE UNIQUE INDEX incidents_title_key ON incidents (title);\n',
};
export const RELEASES_WITH_METADATA = {
  /** Can only be upgraded to from 1.3.0 on. */
  '2.0.0': { version: '2.0.0', declared: { minimumUpgradeFrom: '1.3.0' }, migrations: PRIORITY },
  /** Adds a column, then drops it under a waiver: not additive, so 1.2.2 is not let run on what it leaves. */
  '1.3.1': {
    version: '1.3.1',
    declared: { minimumUpgradeFrom: '1.2.0' },
    migrations: {
      '0910_incident_nickname.sql': 'ALTER TABLE incidents ADD COLUMN nickname text;\n',
      '0911_drop_incident_nickname.sql':
        '-- atlas:allow drop-column the nickname was never shown; going back needs a restore\nALTER TABLE incidents DROP COLUMN nickname;\n',
    },
  },
} satisfies Record<string, CheckoutRelease>;
