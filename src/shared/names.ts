import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * The names tpctl gives to what it keeps: UTC stamps, backup files, run logs, and the copies a
 * restore sets aside (schemas in PostgreSQL, directories beside the embedded database). This
 * module alone spells and parses them. (Shared: the embedded database recognises a restore
 * that was cut short by the copies it left.)
 */

/** UTC, yyyymmddThhmmss: history lines, run logs, backup files. */
export function utcStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '');
}

/** yyyymmddthhmmssmmm: set-aside copies, unique even for restores in the same second (lower case: a PostgreSQL name). */
/** The ISO time a utcStamp stands for (`20260326T100000` → `2026-03-26T10:00:00.000Z`). */
export function stampTime(stamp: string): string {
  return `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}.000Z`;
}

function fineStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:.Z]/g, '')
    .toLowerCase();
}

const BACKUP_RE = /^db-backup-(.+)-(\d{8}T\d{6})\.sql\.gz$/;

/** `db-backup-<version>-<UTC stamp>.sql.gz`, as the operator guide names them. */
export function backupFileName(version: string, at: Date): string {
  return backupName(version, utcStamp(at));
}

/** How the backup of a version will be named, for a plan that has not taken it yet. */
export function backupFilePattern(version: string): string {
  return backupName(version, '<UTC time>');
}

const backupName = (version: string, stamp: string) => `db-backup-${version}-${stamp}.sql.gz`;

export function parseBackupFileName(name: string): { version: string; stamp: string } | undefined {
  const m = BACKUP_RE.exec(name);
  return m ? { version: m[1] ?? '', stamp: m[2] ?? '' } : undefined;
}

/** `upgrade-<UTC stamp>.log`, `rollback-<UTC stamp>.log`: one log per run. */
export function runLogName(op: 'upgrade' | 'rollback' | 'drill', at: Date): string {
  return `${op}-${utcStamp(at)}.log`;
}

/**
 * A scratch database on the live one's server, named for the run that makes it (its start) and
 * the live database it copies (several deployments may share a server): a rehearsal's
 * `atlas_rehearsal_20261206t101500_3f2a9c`, a restore drill's `atlas_drill_…`. The run after a
 * killed one finds it by the killed run's start.
 */
export function scratchDatabaseName(purpose: 'rehearsal' | 'drill', runStartedAt: Date, liveDbUrl: string): string {
  return `atlas_${purpose}_${utcStamp(runStartedAt).toLowerCase()}_${scratchOwner(liveDbUrl)}`;
}

/** What ends the names of a live database's scratch databases: its server and name, hashed (a password or user may change). */
export function scratchOwner(liveDbUrl: string): string {
  const url = URL.canParse(liveDbUrl) ? new URL(liveDbUrl) : undefined;
  return createHash('sha256')
    .update(url ? `${url.host}${url.pathname}` : liveDbUrl)
    .digest('hex')
    .slice(0, 6);
}

/**
 * The setting in which tpctl records the newest backup proven to restore (a rehearsal's copy, a
 * drill): `{ backup, takenAt, provenAt }`. /metrics reads it.
 */
export const PROVEN_RESTORE_SETTING = 'backup.last_proven_restore';

/** `atlas-support-<UTC stamp>.tar.gz`: what `tpctl support-bundle` writes. */
export function supportBundleName(at: Date): string {
  return `atlas-support-${utcStamp(at)}.tar.gz`;
}

/**
 * What a restore sets aside: the data it replaced (`pre-restore`, what `restore --undo` puts
 * back), the restored data an undo replaced (`undone`), and a load not swapped in (`incoming`).
 */
export type SetAsideKind = 'pre-restore' | 'undone' | 'incoming';
const KINDS: readonly SetAsideKind[] = ['pre-restore', 'undone', 'incoming'];

/** `atlas_pre_restore_<stamp>`, `atlas_undone_restore_<stamp>`, `atlas_incoming_restore_<stamp>`. */
export function setAsideSchema(kind: SetAsideKind, at: Date): string {
  return `atlas_${kind === 'pre-restore' ? 'pre' : kind}_restore_${fineStamp(at)}`;
}

/** Every set-aside schema, as a pg_dump pattern: none of them is part of the data. */
export const SET_ASIDE_SCHEMA_PATTERN = 'atlas_*_restore_*';

const SCHEMA_RE = /^atlas_(pre|undone|incoming)_restore_\d{8}t\d{9}$/;

export function setAsideSchemaKind(name: string): SetAsideKind | undefined {
  const m = SCHEMA_RE.exec(name);
  return m ? (m[1] === 'pre' ? 'pre-restore' : (m[1] as SetAsideKind)) : undefined;
}

/** Beside the embedded database's directory `pglite`: `pglite.pre-restore-<stamp>`, `pglite.undone-<stamp>`, `pglite.incoming-<stamp>`. */
export function setAsideDirectory(live: string, kind: SetAsideKind, at: Date): string {
  return `${live}.${kind}-${fineStamp(at)}`;
}

/** The kind of a copy named `name` set aside beside the directory `live` (a path; only its last part counts). */
export function setAsideDirectoryKind(live: string, name: string): SetAsideKind | undefined {
  const prefix = `${path.basename(live)}.`;
  if (!name.startsWith(prefix)) return undefined;
  const m = /^([a-z-]+)-\d{8}t\d{9}$/.exec(name.slice(prefix.length));
  return KINDS.find((k) => k === m?.[1]);
}

/**
 * The clean-up of every kind of set-aside copy: a restore keeps one copy, the data it replaced
 * (`keep`); every other copy found, whatever its kind, is to be dropped.
 */
export function setAsideToDrop(found: readonly string[], kindOf: (name: string) => SetAsideKind | undefined, keep: string): string[] {
  return found.filter((name) => name !== keep && kindOf(name) !== undefined);
}

/** The newest copy of a kind (stamps sort as times). */
export function newestSetAside(found: readonly string[], kindOf: (name: string) => SetAsideKind | undefined, kind: SetAsideKind): string | undefined {
  return found
    .filter((name) => kindOf(name) === kind)
    .sort()
    .at(-1);
}
