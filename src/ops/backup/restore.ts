import { existsSync, readdirSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { openDatabase, type Queryable } from '../../db/database.js';
import { EmbeddedInUseError, embeddedDataDir, lockEmbedded, openEmbedded } from '../../db/embedded.js';
import { fsyncDir } from '../../shared/files.js';
import type { Executor } from '../exec.js';
import type { DatabaseTarget, Progress } from './create.js';
import { countRows } from './database-facts.js';
import { loadIntoEmbedded, loadIntoPostgres } from './load.js';
import { verifyBackup, rowCountDifferences } from './verify.js';

export interface RestorePlan extends DatabaseTarget {
  file: string;
  onProgress?: (p: Progress) => void;
}

export interface RestoreResult {
  file: string;
  /** Where the data from before the restore was kept, and how to put it back. */
  safetyCopy: string;
  tables: Record<string, number>;
  durationMs: number;
}

/** Refused before anything changed (bad backup, Tenant Plane still running, missing privilege). */
export class RestoreRefused extends Error {}

const SAFETY_PREFIX = 'atlas_pre_restore_';
const UNDONE_PREFIX = 'atlas_undone_restore_';
const STOP_COMMANDS = 'docker compose stop tenant-plane (Docker Compose), kubectl scale deployment/atlasai-tp --replicas=0 -n atlasai (Kubernetes), or tpctl stop (local process)';

/** yyyymmddthhmmssmmm: names of set-aside copies, unique even for restores in the same second. */
const stamp = (at: Date) => at.toISOString().replace(/[-:.Z]/g, '').toLowerCase();

/** SQL that fails the restore transaction unless every table holds the backed-up row count. */
function checkSql(tables: Record<string, number>, lastMigration: string | null): string {
  const checks = Object.entries(tables).map(
    ([table, n]) =>
      `  IF (SELECT count(*) FROM ${table}) <> ${n} THEN RAISE EXCEPTION 'restore check failed: ${table.replace(/'/g, "''")} has % rows, the backup %', (SELECT count(*) FROM ${table}), ${n}; END IF;`,
  );
  if (lastMigration) {
    const name = lastMigration.replace(/'/g, "''");
    checks.push(`  IF (SELECT max(name) FROM public.schema_migrations) IS DISTINCT FROM '${name}' THEN RAISE EXCEPTION 'restore check failed: the applied migrations do not end at ${name}'; END IF;`);
  }
  return `DO $atlas_check$\nBEGIN\n${checks.join('\n')}\nEND\n$atlas_check$;\n`;
}

async function refuseWhileServing(db: Queryable): Promise<void> {
  const [row] = await db.query<{ n: number; clients: string | null }>(
    `SELECT count(*)::int AS n, string_agg(DISTINCT coalesce(client_addr::text, 'local socket'), ', ') AS clients
       FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'atlas-tenant-plane' AND pid <> pg_backend_pid()`,
  );
  if (row && row.n > 0) {
    throw new RestoreRefused(`the Tenant Plane is still connected to this database (${row.n} connection(s) from ${row.clients ?? '?'}); stop it first: ${STOP_COMMANDS}`);
  }
}

async function restorePostgres(plan: RestorePlan & { dbUrl: string }, manifest: { tables: Record<string, number>; lastMigration: string | null; sizeBytes: number }, exec: Executor): Promise<string> {
  const db = await openDatabase({ url: plan.dbUrl, embeddedDir: '', poolSize: 1, applicationName: 'tpctl' });
  const safety = `${SAFETY_PREFIX}${stamp(new Date())}`;
  try {
    await refuseWhileServing(db);
    const [may] = await db.query<{ owns: boolean; create: boolean }>(
      `SELECT pg_has_role(current_user, nspowner, 'MEMBER') AS owns, has_database_privilege(current_database(), 'CREATE') AS create
         FROM pg_namespace WHERE nspname = 'public'`,
    );
    if (!may?.owns || !may.create) {
      throw new RestoreRefused(
        'this user may not set the current data aside (it needs to own schema public and to create schemas in the database); ' +
          'restore as the database owner, or use the manual path: zcat FILE | psql DB_URL',
      );
    }
  } finally {
    await db.close();
  }
  // One transaction: set the current data aside in a schema of its own (the undo), load the
  // backup into a fresh public schema, check every row count, drop older set-aside copies.
  const prologue = `SET lock_timeout = '10s';
ALTER SCHEMA public RENAME TO ${safety};
CREATE SCHEMA public;
GRANT USAGE ON SCHEMA public TO PUBLIC;
`;
  const epilogue = `${checkSql(manifest.tables, manifest.lastMigration)}
DO $atlas_prune$
DECLARE r record;
BEGIN
  FOR r IN SELECT nspname FROM pg_namespace WHERE nspname LIKE '${SAFETY_PREFIX}%' AND nspname <> '${safety}' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
END
$atlas_prune$;
`;
  let read = 0;
  await loadIntoPostgres(plan.dbUrl, plan.file, exec, {
    prologue,
    epilogue,
    onBytes: (n) => plan.onProgress?.({ phase: 'restoring', done: (read += n), total: manifest.sizeBytes }),
  });
  return `schema ${safety} in the same database (undo: tpctl restore --undo)`;
}

async function restoreEmbedded(plan: RestorePlan, manifest: { tables: Record<string, number>; sizeBytes: number }): Promise<string> {
  const live = embeddedDataDir(plan.dataDir);
  const lock = lockEmbedded(live);
  const at = stamp(new Date());
  const staging = path.join(plan.dataDir, `.restoring-${at}`);
  try {
    let read = 0;
    await loadIntoEmbedded(embeddedDataDir(staging), plan.file, (n) => plan.onProgress?.({ phase: 'restoring', done: (read += n), total: manifest.sizeBytes }));
    const restored = await openEmbedded(staging);
    const counts = await countRows(restored, Object.keys(manifest.tables)).finally(() => restored.close());
    const diff = rowCountDifferences(manifest.tables, counts);
    if (diff.length) throw new Error(`the restored data does not match the backup: ${diff.join('; ')}`);
    // The swap: two renames in one directory. openEmbedded recognises the moment in between.
    const aside = `${live}.pre-restore-${at}`;
    if (existsSync(live)) renameSync(live, aside);
    renameSync(embeddedDataDir(staging), live);
    fsyncDir(path.dirname(live));
    for (const old of readdirSync(path.dirname(live)).filter((n) => n.startsWith('pglite.pre-restore-') && path.join(path.dirname(live), n) !== aside)) {
      await rm(path.join(path.dirname(live), old), { recursive: true, force: true });
    }
    return `directory ${aside} (undo: tpctl restore --undo)`;
  } finally {
    await rm(staging, { recursive: true, force: true });
    lock.release();
  }
}

/**
 * Restores a verified backup, all or nothing: refuses a backup that fails verification and a
 * database the Tenant Plane is still using; keeps the data it replaces as a safety copy (so a
 * restore can be undone); commits only when every table holds the backed-up row count.
 */
export async function restoreBackup(plan: RestorePlan, exec: Executor): Promise<RestoreResult> {
  const started = performance.now();
  const verified = await verifyBackup(plan.file, { exec, onProgress: plan.onProgress, checksumOnly: true });
  if (!verified.ok || !verified.manifest) {
    const failed = verified.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    throw new RestoreRefused(`the backup failed verification, nothing was changed: ${failed.join('; ')}`);
  }
  const manifest = verified.manifest;
  const kind = plan.dbUrl ? 'postgres' : 'embedded';
  if (manifest.source !== kind) {
    throw new RestoreRefused(`this is a backup of ${manifest.source === 'postgres' ? 'a PostgreSQL server' : 'the embedded database'}; it restores only into the same kind (set or unset DB_URL)`);
  }
  let safetyCopy: string;
  try {
    safetyCopy = plan.dbUrl ? await restorePostgres({ ...plan, dbUrl: plan.dbUrl }, manifest, exec) : await restoreEmbedded(plan, manifest);
  } catch (err) {
    if (err instanceof EmbeddedInUseError) throw new RestoreRefused(`${err.message}; stop it first: ${STOP_COMMANDS}`);
    throw err;
  }
  return { file: plan.file, safetyCopy, tables: manifest.tables, durationMs: Math.round(performance.now() - started) };
}

/** Puts back the data the newest restore set aside (the undo of that restore). */
export async function undoRestore(target: DatabaseTarget): Promise<string> {
  if (!target.dbUrl) {
    const live = embeddedDataDir(target.dataDir);
    const lock = lockEmbedded(live);
    try {
      const aside = readdirSync(path.dirname(live)).filter((n) => n.startsWith('pglite.pre-restore-')).sort().at(-1);
      if (!aside) throw new RestoreRefused(`no restore to undo: nothing was set aside beside ${live}`);
      const undone = `${live}.undone-${stamp(new Date())}`;
      if (existsSync(live)) renameSync(live, undone);
      renameSync(path.join(path.dirname(live), aside), live);
      fsyncDir(path.dirname(live));
      return `put back ${aside}; the restored data is now ${undone}`;
    } finally {
      lock.release();
    }
  }
  const db = await openDatabase({ url: target.dbUrl, embeddedDir: '', poolSize: 1, applicationName: 'tpctl' });
  try {
    await refuseWhileServing(db);
    const [row] = await db.query<{ name: string }>(`SELECT max(nspname) AS name FROM pg_namespace WHERE nspname LIKE '${SAFETY_PREFIX}%'`);
    if (!row?.name) throw new RestoreRefused('no restore to undo: no atlas_pre_restore_* schema in this database');
    const undone = `${UNDONE_PREFIX}${stamp(new Date())}`;
    await db.transaction(async (tx) => {
      await tx.exec(`ALTER SCHEMA public RENAME TO ${undone}; ALTER SCHEMA ${row.name} RENAME TO public;`);
    });
    return `put back schema ${row.name} as public; the restored data is now schema ${undone}`;
  } finally {
    await db.close();
  }
}
