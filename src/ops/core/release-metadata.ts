import path from 'node:path';
import { breakingRules, countBySeverity, lintMigrations } from '../../db/lint/lint.js';
import { loadMigrations, MIGRATIONS_DIR } from '../../db/migrations.js';
import { isObject, isStringList, parseJson } from '../../shared/json.js';
import { isVersion, printable } from '../../shared/version.js';
import { Refused } from './errors.js';

/**
 * What a release says about itself, before anything of it runs: its migrations with their lint
 * verdicts, the oldest version it can be upgraded from, and the oldest it can be rolled back to
 * without a restore. Declared in the repository's release.json (`{"minimumUpgradeFrom": "1.2.0"}`),
 * completed by the build (`tpctl release describe`), shipped as /app/release.json and, on the
 * image, as the label below.
 */
export const RELEASE_FILE = 'release.json';
export const RELEASE_LABEL = 'org.atlasai.release';

export interface ReleaseMigration {
  name: string;
  checksum: string;
  /** `additive`, or `waived`: it breaks the rules named, on purpose (an `-- atlas:allow` waiver). */
  verdict: 'additive' | 'waived';
  waivedRules: string[];
}

export interface ReleaseMetadata {
  format: 'atlas-release-1';
  version: string;
  /** An upgrade to this release from an older version is refused: upgrade to this one first. */
  minimumUpgradeFrom: string | null;
  /**
   * The oldest version that runs on this release's schema, so a rollback to it needs no restore;
   * null: any (every migration is additive). A release with a waived migration cannot tell which
   * older versions already had it, so it names itself; the schema check before a rollback, made
   * against what the database records, is the exact one.
   */
  oldestRollbackWithoutRestore: string | null;
  migrations: ReleaseMigration[];
}

export interface DeclaredRelease {
  minimumUpgradeFrom: string | null;
}

function parseObject(text: string, source: string): Record<string, unknown> {
  const parsed = parseJson(text);
  if (!parsed) throw new Refused(`${source} is not valid JSON`);
  if (!isObject(parsed.value)) throw new Refused(`${source} is not a JSON object`);
  return parsed.value;
}

function optionalVersion(value: unknown, field: string, source: string): string | null {
  if (value === undefined || value === null) return null;
  if (!isVersion(value))
    throw new Refused(
      `${source}: ${field} is ${typeof value === 'string' ? `"${printable(value)}"` : `a ${typeof value}`}, not a release version such as 1.3.0`,
    );
  return value;
}

/** The repository's release.json, as a developer writes it. */
export function parseDeclared(text: string, source: string): DeclaredRelease {
  const o = parseObject(text, source);
  const unknown = Object.keys(o).filter((k) => k !== 'minimumUpgradeFrom');
  if (unknown.length)
    throw new Refused(
      `${source}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => printable(k)).join(', ')} (only minimumUpgradeFrom is declared; the build completes the rest)`,
    );
  return { minimumUpgradeFrom: optionalVersion(o.minimumUpgradeFrom, 'minimumUpgradeFrom', source) };
}

/**
 * Completes the declared metadata for a release: refused when a migration breaks a rule without
 * a waiver or does not parse, since such a release must not ship.
 */
export async function describeRelease(version: string, declared: DeclaredRelease, dir: string = MIGRATIONS_DIR): Promise<ReleaseMetadata> {
  const report = await lintMigrations([dir]);
  const counts = countBySeverity(report);
  if (counts.violations || report.parseErrors.length) {
    throw new Refused(
      `the migrations in ${dir} do not pass the lint (${counts.violations} violations, ${report.parseErrors.length} not parsed): run tpctl migrate lint ${dir}`,
    );
  }
  const migrations = loadMigrations(dir).map((f): ReleaseMigration => {
    const waivedRules = breakingRules(report.findings.filter((x) => path.basename(x.file) === f.name));
    return { name: f.name, checksum: f.checksum, verdict: waivedRules.length ? 'waived' : 'additive', waivedRules };
  });
  return {
    format: 'atlas-release-1',
    version,
    minimumUpgradeFrom: declared.minimumUpgradeFrom,
    oldestRollbackWithoutRestore: migrations.some((m) => m.verdict === 'waived') ? version : null,
    migrations,
  };
}

function parseMigration(value: unknown, source: string): ReleaseMigration {
  const ok =
    isObject(value) &&
    typeof value.name === 'string' &&
    typeof value.checksum === 'string' &&
    /^[0-9a-f]{64}$/.test(value.checksum) &&
    (value.verdict === 'additive' || value.verdict === 'waived') &&
    isStringList(value.waivedRules) &&
    (value.verdict === 'waived') === value.waivedRules.length > 0;
  if (!ok) throw new Refused(`${source}: a migration entry is not {name, checksum, verdict, waivedRules}`);
  return {
    name: value.name as string,
    checksum: value.checksum as string,
    verdict: value.verdict as ReleaseMigration['verdict'],
    waivedRules: value.waivedRules as string[],
  };
}

/** A release's metadata as shipped (a file, an image label): read as hostile input. */
export function parseReleaseMetadata(text: string, source: string): ReleaseMetadata {
  const o = parseObject(text, source);
  if (o.format !== 'atlas-release-1') throw new Refused(`${source}: format is not atlas-release-1`);
  if (!isVersion(o.version)) throw new Refused(`${source}: version is not a release version`);
  if (!Array.isArray(o.migrations)) throw new Refused(`${source}: migrations is not a list`);
  return {
    format: 'atlas-release-1',
    version: o.version,
    minimumUpgradeFrom: optionalVersion(o.minimumUpgradeFrom, 'minimumUpgradeFrom', source),
    oldestRollbackWithoutRestore: optionalVersion(o.oldestRollbackWithoutRestore, 'oldestRollbackWithoutRestore', source),
    migrations: o.migrations.map((m) => parseMigration(m, source)),
  };
}
