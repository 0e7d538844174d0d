import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../db/open.js';
import { type Database, type Queryable } from '../../db/database.js';
import { EmbeddedInUseError, embeddedDataDir, lockEmbedded } from '../../db/embedded.js';
import { fsyncDir } from '../../shared/files.js';
import { newestSetAside, setAsideDirectory, setAsideDirectoryKind, setAsideSchema, setAsideSchemaKind, setAsideToDrop } from '../../shared/names.js';
import type { Executor } from '../core/exec.js';
import { Failed, Refused } from '../core/errors.js';
import type { DatabaseTarget, Progress } from './create.js';
import { rowCountDifferences, userTables } from './database-facts.js';
import { carryCreatedRows } from './carry.js';
import { keepCredentialsRevoked, type CredentialsKept } from './credentials.js';
import { asLoadError, LoadError, loadIntoSchema, refusedByDatabase } from './load.js';
import { COMPARE_SESSIONS, sinceBackup, withCreatedRows, type SinceBackup } from './since-backup.js';
import type { BackupManifest } from './manifest.js';
import { checkedBackup } from './verify.js';
import { LEAN_PROCESS_FLAGS, loadEmbeddedApart } from './embedded-load-apart.js';
import { timed } from '../../shared/timed.js';
import { PrivateFile, type CheckedCopy } from './checked-copy.js';

export interface RestorePlan extends DatabaseTarget {
  file: string;
  /** Load, compare and report, then drop the loaded copy: the live data is not touched. */
  dryRun?: boolean;
  /** Carry the rows created since the backup into the restored data, within the swap. */
  keepNew?: boolean;
  /**
   * Asked once the backup is loaded and compared, before the swap, with what the restore would
   * discard (nothing else writes the data then: the Tenant Plane is stopped); no: nothing changes.
   */
  confirm?: (since: SinceBackup) => Promise<boolean>;
  onProgress?: (p: Progress) => void;
}

/** A copy of the data that a restore (or its undo) set aside: a schema in the same database, or a directory beside the embedded one. */
export interface SetAside {
  kind: 'schema' | 'directory';
  name: string;
}

export interface RestoreResult {
  file: string;
  dryRun: boolean;
  /** Where the data from before the restore was kept: what `undoRestore` puts back (none in a dry run). */
  safetyCopy: SetAside | null;
  /** What the operator may want to know (an older copy that could not be dropped yet). */
  notes: string[];
  tables: Record<string, number>;
  sinceBackup: SinceBackup;
  /** The sessions ended and the credentials kept revoked (in a dry run: what the restore would do). */
  credentials: CredentialsKept;
  durationMs: number;
}

/** The checked bytes of the backup, read for the load: progress by the bytes read. */
function loading(copy: CheckedCopy, onProgress: RestorePlan['onProgress']) {
  let read = 0;
  return copy.read((chunk) => onProgress?.({ phase: 'restoring', done: (read += chunk.length), total: copy.sizeBytes }));
}

/** The Tenant Plane must not be using the database while it is swapped. */
const notWhileServing = (detail: string) => new Refused(`the Tenant Plane is still connected to this database (${detail})`, [{ do: 'stop-tenant-plane' }]);

const LOCK_NOT_AVAILABLE = '55P03';
/** How long a restore waits for another session's writes to the live data to end. */
const HOLD_TIMEOUT = '15s';

/** The live tables could not be held still: a session other than the Tenant Plane's is writing to them. */
function heldElsewhere(err: unknown): never {
  if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw err;
  throw new Refused(
    `another session kept writing to the live data for ${HOLD_TIMEOUT} (an open transaction? pg_stat_activity shows it): the restore holds the live tables still from the load to the swap; end that session, then restore again`,
  );
}

/**
 * Drops the copies earlier restores set aside (a restore keeps one: the data it replaces) and
 * the schemas of failed ones, without waiting for locks: autovacuum may still be working
 * through a copy's tables, and PostgreSQL would let a DROP wait up to a second per table
 * before cancelling it. Never fails the restore: returns a note for each copy left.
 */
async function dropSetAside(url: string, keep: string): Promise<string[]> {
  const left = (name: string, why: string) =>
    `schema ${name}, set aside by an earlier restore, ${why}: the next restore drops it (or DROP SCHEMA ${name} CASCADE)`;
  return connected(url, (db) =>
    db.transaction(async (tx) => {
      const old = setAsideToDrop(await schemaNames(tx), setAsideSchemaKind, keep);
      const notes: string[] = [];
      await tx.exec(`SET LOCAL lock_timeout = '100ms'`);
      for (const name of old) {
        await tx.exec('SAVEPOINT atlas_prune');
        try {
          await tx.exec(`DROP SCHEMA "${name}" CASCADE`);
        } catch (err) {
          await tx.exec('ROLLBACK TO SAVEPOINT atlas_prune');
          const code = (err as { code?: string }).code;
          notes.push(
            left(name, code === LOCK_NOT_AVAILABLE ? 'is in use (autovacuum, or a session reading it)' : `could not be dropped (${(err as Error).message})`),
          );
        }
      }
      return notes;
    }),
  ).catch((err: Error) => [`the copies earlier restores set aside could not be dropped (${err.message}): the next restore tries again`]);
}

async function schemaNames(db: Queryable): Promise<string[]> {
  return (await db.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'atlas%'`)).map((r) => r.name);
}

/** Runs `fn` on connections of its own (one unless told), as tpctl (which the check below does not count as serving). */
async function connected<T>(url: string, fn: (db: Database) => Promise<T>, poolSize = 1): Promise<T> {
  const db = await openDatabase({ url, embeddedDir: '', poolSize, applicationName: 'tpctl' });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function refuseWhileServing(db: Queryable): Promise<void> {
  const [row] = await db.query<{ n: number; clients: string | null }>(
    `SELECT count(*)::int AS n, string_agg(DISTINCT coalesce(client_addr::text, 'local socket'), ', ') AS clients
       FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'atlas-tenant-plane' AND pid <> pg_backend_pid()`,
  );
  if (row && row.n > 0) throw notWhileServing(`${row.n} connection(s) from ${row.clients ?? '?'}`);
}

type Swapped = Pick<RestoreResult, 'safetyCopy' | 'notes' | 'sinceBackup' | 'credentials'>;

/** The operator's yes, where the plan asks for it; anything else refuses the restore before the swap. */
async function confirmed(plan: RestorePlan, since: SinceBackup): Promise<void> {
  if (plan.confirm && !(await plan.confirm(since))) throw new Refused('not restored: the answer was not yes; nothing was changed');
}

async function restorePostgres(plan: RestorePlan & { dbUrl: string }, manifest: BackupManifest, copy: CheckedCopy, exec: Executor): Promise<Swapped> {
  const at = new Date();
  const safety = setAsideSchema('pre-restore', at);
  const incoming = setAsideSchema('incoming', at);
  await connected(plan.dbUrl, async (db) => {
    if (!plan.dryRun) await refuseWhileServing(db);
    const [may] = await db.query<{ owns: boolean; create: boolean }>(
      `SELECT pg_has_role(current_user, nspowner, 'MEMBER') AS owns, has_database_privilege(current_database(), 'CREATE') AS create
         FROM pg_namespace WHERE nspname = 'public'`,
    );
    if (!may?.owns || !may.create) {
      throw new Refused(
        'this user may not set the current data aside (it needs to own schema public and to create schemas in the database); restore as the database owner',
        [{ do: 'manual-restore' }],
      );
    }
    await db.exec(`CREATE SCHEMA ${incoming}; GRANT USAGE ON SCHEMA ${incoming} TO PUBLIC;`);
  });
  const dropIncoming = () => connected(plan.dbUrl, (db) => db.exec(`DROP SCHEMA IF EXISTS ${incoming} CASCADE`));
  // Load into that schema over several sessions and compare it with the manifest; then, in one
  // transaction, compare it with the live data, swap it in (setting the live data aside: the
  // undo) and carry what was created since. Until that commits, schema public is untouched.
  // Once it committed, the copies earlier restores set aside are dropped: a restore that fails keeps the undo.
  const load = async () => {
    const loaded = await loadIntoSchema(plan.dbUrl, loading(copy, plan.onProgress), incoming, exec, {
      onSteps: (done, total) => plan.onProgress?.({ phase: 'building indexes and checking constraints', done, total, unit: 'steps' }),
    });
    const diff = rowCountDifferences(manifest.tables, loaded);
    if (diff.length) throw new LoadError(`the loaded data does not match the backup: ${diff.join('; ')}`);
  };
  const onTable = (done: number, total: number) => plan.onProgress?.({ phase: 'comparing with the live data, tables', done, total, unit: 'steps' });
  const compare = () => timed(() => connected(plan.dbUrl, (db) => sinceBackup(db, 'public', incoming, onTable), COMPARE_SESSIONS));
  try {
    if (plan.dryRun) {
      await load();
      const [tables, compareMs] = await compare();
      // What would be carried, and which credentials kept revoked, done in the loaded copy, which then goes.
      const [[carried, credentials], carryMs] = await timed(() =>
        connected(plan.dbUrl, (db) =>
          db.transaction(
            async (tx) =>
              [
                plan.keepNew ? await carryCreatedRows(tx, 'public', incoming, withCreatedRows(tables)) : undefined,
                await keepCredentialsRevoked(tx, 'public', incoming),
              ] as const,
          ),
        ),
      );
      await dropIncoming();
      return { safetyCopy: null, notes: [], sinceBackup: { tables, carried, compareMs, carryMs }, credentials };
    }
    const swapped = await connected(plan.dbUrl, (db) =>
      db.transaction(async (tx): Promise<Pick<Swapped, 'sinceBackup' | 'credentials'>> => {
        // The live data holds still from the load to the swap (SHARE: reads go on, writes wait),
        // so that what is compared is what is set aside and carried. Taken while the load runs:
        // autovacuum working on a table gives way only after a second.
        const live = await userTables(tx);
        const held = live.length
          ? tx.exec(`SET LOCAL lock_timeout = '${HOLD_TIMEOUT}'; LOCK TABLE ${live.join(', ')} IN SHARE MODE`).catch(heldElsewhere)
          : undefined;
        await Promise.all([held, load()]);
        await refuseWhileServing(tx); // it may have been started again during the load
        const [tables, compareMs] = await compare();
        await confirmed(plan, { tables, carried: undefined, compareMs, carryMs: 0 });
        await tx.exec(`SET LOCAL lock_timeout = '10s'; ALTER SCHEMA public RENAME TO ${safety}; ALTER SCHEMA ${incoming} RENAME TO public;`);
        const [last] = await tx.query<{ name: string | null }>('SELECT max(name) AS name FROM public.schema_migrations');
        if ((last?.name ?? null) !== manifest.lastMigration) {
          throw new LoadError(`the applied migrations of the loaded data end at ${last?.name ?? 'none'}, the backup's at ${manifest.lastMigration ?? 'none'}`);
        }
        const [carried, carryMs] = await timed(async () => (plan.keepNew ? carryCreatedRows(tx, safety, 'public', withCreatedRows(tables)) : undefined));
        const credentials = await keepCredentialsRevoked(tx, safety, 'public');
        return { sinceBackup: { tables, carried, compareMs, carryMs }, credentials };
      }),
    ).catch(refusedByDatabase('the swap'));
    const notes = await dropSetAside(plan.dbUrl, safety);
    return { safetyCopy: { kind: 'schema', name: safety }, notes, ...swapped };
  } catch (err) {
    const dropped = await dropIncoming().then(
      () => '',
      (e: Error) => ` (the partly loaded schema ${incoming} is left until the next restore drops it: ${e.message})`,
    );
    if (err instanceof LoadError) throw new LoadError(`${err.message}${dropped}`);
    throw err;
  }
}

const besideEmbedded = (live: string) => readdirSync(path.dirname(live));

/** The live embedded data as SQL in a private file (none when there is no live data), and how long the dump took. */
interface LiveDump {
  file: PrivateFile | undefined;
  ms: number;
}

const LIVE_TABLES_PROCESS = fileURLToPath(new URL('./live-tables-process.js', import.meta.url));

/**
 * The live embedded data, dumped before the backup is loaded, by a process of its own (one
 * process may open each PGlite directory, and an instance's memory goes only with its process):
 * the restore's memory stays that of one instance. The caller holds the live directory's lock,
 * so nothing changes it meanwhile.
 */
async function dumpLiveApart(live: string): Promise<LiveDump> {
  if (!existsSync(live)) return { file: undefined, ms: 0 };
  // The child writes into the private file through its own descriptor 3: no byte passes through this process.
  const [file, ms] = await timed(() =>
    PrivateFile.writtenBy(async (fd) => {
      const child = spawn(process.execPath, [...LEAN_PROCESS_FLAGS, LIVE_TABLES_PROCESS, live], { stdio: ['pipe', 'ignore', 'pipe', fd] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4096)));
      const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
      if (code !== 0) {
        throw new Failed(
          `the live embedded data in ${live} could not be read for the comparison (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`,
        );
      }
    }),
  );
  return { file, ms };
}

async function restoreEmbedded(plan: RestorePlan, manifest: BackupManifest, copy: CheckedCopy): Promise<Swapped> {
  const live = embeddedDataDir(plan.dataDir);
  const lock = lockEmbedded(live);
  const at = new Date();
  const staging = setAsideDirectory(live, 'incoming', at);
  let liveDump: LiveDump | undefined;
  try {
    liveDump = await dumpLiveApart(live);
    const job = { dir: embeddedDataDir(staging), keptIn: plan.dataDir, tables: manifest.tables, compare: true, keepNew: Boolean(plan.keepNew) };
    const loaded = await loadEmbeddedApart(job, copy, liveDump.file, (done) => plan.onProgress?.({ phase: 'restoring', done, total: copy.sizeBytes }));
    if (loaded.differences.length) throw new LoadError(`the restored data does not match the backup: ${loaded.differences.join('; ')}`);
    const since = loaded.since!;
    since.sinceBackup.compareMs += liveDump.ms;
    if (plan.dryRun) return { safetyCopy: null, notes: [], ...since };
    await confirmed(plan, since.sinceBackup);
    // The swap: two renames in one directory. openEmbedded recognises the moment in between.
    const aside = setAsideDirectory(live, 'pre-restore', at);
    if (existsSync(live)) renameSync(live, aside);
    renameSync(embeddedDataDir(staging), live);
    fsyncDir(path.dirname(live));
    for (const old of setAsideToDrop(besideEmbedded(live), (n) => setAsideDirectoryKind(live, n), path.basename(aside))) {
      await rm(path.join(path.dirname(live), old), { recursive: true, force: true });
    }
    return { safetyCopy: { kind: 'directory', name: aside }, notes: [], ...since };
  } finally {
    liveDump?.file?.close();
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
  const { manifest, copy, trusted } = await checkedBackup(plan.file, plan, plan.onProgress);
  let swapped: Swapped;
  try {
    const kind = plan.dbUrl ? 'postgres' : 'embedded';
    if (manifest.source !== kind) {
      throw new Refused(
        `this is a backup of ${manifest.source === 'postgres' ? 'a PostgreSQL server' : 'the embedded database'}; it restores only into the same kind`,
        [{ do: 'set', setting: 'database' }],
      );
    }
    swapped = plan.dbUrl ? await restorePostgres({ ...plan, dbUrl: plan.dbUrl }, manifest, copy, exec) : await restoreEmbedded(plan, manifest, copy);
  } catch (err) {
    if (err instanceof EmbeddedInUseError) throw new Refused(err.message, [{ do: 'stop-tenant-plane' }]);
    const failure = err instanceof LoadError ? err : asLoadError(err);
    if (failure) throw new LoadError(`${failure.message}\nnothing was changed: the database is as it was before the restore`);
    throw err;
  } finally {
    copy.close();
  }
  const notes = trusted ? [trusted, ...swapped.notes] : swapped.notes;
  return { file: plan.file, dryRun: Boolean(plan.dryRun), ...swapped, notes, tables: manifest.tables, durationMs: Math.round(performance.now() - started) };
}

/** Puts back the data the newest restore set aside (the undo of that restore); the restored data is set aside in turn. */
export async function undoRestore(target: DatabaseTarget): Promise<{ putBack: SetAside; restored: SetAside }> {
  const at = new Date();
  if (!target.dbUrl) {
    const live = embeddedDataDir(target.dataDir);
    const lock = lockEmbedded(live);
    try {
      const aside = newestSetAside(besideEmbedded(live), (n) => setAsideDirectoryKind(live, n), 'pre-restore');
      if (!aside) throw new Refused(`no restore to undo: nothing was set aside beside ${live}`);
      const undone = setAsideDirectory(live, 'undone', at);
      if (existsSync(live)) renameSync(live, undone);
      renameSync(path.join(path.dirname(live), aside), live);
      fsyncDir(path.dirname(live));
      return { putBack: { kind: 'directory', name: path.join(path.dirname(live), aside) }, restored: { kind: 'directory', name: undone } };
    } finally {
      lock.release();
    }
  }
  return connected(target.dbUrl, async (db) => {
    await refuseWhileServing(db);
    const aside = newestSetAside(await schemaNames(db), setAsideSchemaKind, 'pre-restore');
    if (!aside) throw new Refused('no restore to undo: this database holds no copy set aside by a restore');
    const undone = setAsideSchema('undone', at);
    await db.transaction(async (tx) => {
      await tx.exec(`ALTER SCHEMA public RENAME TO ${undone}; ALTER SCHEMA ${aside} RENAME TO public;`);
    });
    return { putBack: { kind: 'schema', name: aside }, restored: { kind: 'schema', name: undone } };
  });
}
