import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../../src/db/migrations.js';
import { backupMigrations } from '../../../src/ops/backup/backup-migrations.js';
import { readManifest, writeManifest, type BackupManifest } from '../../../src/ops/backup/manifest.js';
import { applyRetention } from '../../../src/ops/backup/retention.js';
import { sharedPostgres } from '../../support/backends.js';
import { tempDir } from '../../support/temp.js';
import { createBackup, rewriteBackup, setAsideCopies, setUp, untilLoading, withDb, type Kind, type Setup } from '../../support/backup-setup.js';
import { fingerprint } from '../../support/fingerprint.js';
import { PG_PASSWORD, PostgresServer } from '../../support/postgres-server.js';
import { startServer } from '../../support/server-process.js';
import { tpctl } from '../../support/tpctl.js';

const SHIPPED = loadMigrations().map((m) => m.name);

describe.each<Kind>(['postgres', 'embedded'])('backup and restore on %s', (kind) => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp(kind);
  });

  it("the migrations a backup holds are read from the dump, with their verdicts (the restore path's schema check)", async () => {
    await withDb(setup, (db) =>
      db.exec(
        `INSERT INTO schema_migrations (name, checksum, app_version, duration_ms, breaking_rules) VALUES ('0900_drop.sql', 'c\\\\d', '1.3.1', 1, '{drop-column,rename}')`,
      ),
    );
    try {
      const applied = await backupMigrations(await createBackup(setup));
      const live = await withDb(setup, (db) => db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name'));
      expect(applied.map((m) => m.name)).toEqual(live.map((r) => r.name));
      expect(applied.at(-1)).toMatchObject({ name: '0900_drop.sql', checksum: 'c\\\\d', appVersion: '1.3.1', breakingRules: ['drop-column', 'rename'] });
      expect(applied[0]).toMatchObject({ breakingRules: [], appliedAt: expect.any(Date) as unknown });
    } finally {
      await withDb(setup, (db) => db.exec(`DELETE FROM schema_migrations WHERE name = '0900_drop.sql'`));
    }
  });

  it('create writes a 0600 .sql.gz with a manifest that describes it', async () => {
    const file = await createBackup(setup);
    expect(path.basename(file)).toMatch(/^db-backup-1\.3\.0-\d{8}T\d{6}\.sql\.gz$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const manifest = readManifest(file);
    const counts = await withDb(setup, async (db) => db.query<{ n: number }>('SELECT count(*)::int AS n FROM public.incidents'));
    expect(manifest).toMatchObject({
      format: 'atlas-backup-1',
      appVersion: '1.3.0',
      source: kind,
      reason: 'manual',
      sizeBytes: statSync(file).size,
      lastMigration: SHIPPED.at(-1),
      tables: expect.objectContaining({ 'public.incidents': counts[0]?.n }) as unknown,
    });
    expect(manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.verifiedAt).not.toBeNull();
    expect(manifest.postgres.server).toMatch(/^\d+\.\d+/);
    expect(readdirSync(setup.logDir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('create → verify → restore: the backed-up data comes back, rows written after it are gone', async () => {
    const before = await withDb(setup, fingerprint);
    const file = await createBackup(setup);
    const verify = await tpctl(['backup', 'verify', file], setup.env);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(
      /verified\n {2}ok {3}manifest.*\n {2}ok {3}signature: signed by key [0-9a-f]{16}\n {2}ok {3}size.*\n {2}ok {3}sha256.*\n {2}ok {3}gzip: inflates to \d+ bytes\n {2}ok {3}content: /,
    );

    await withDb(setup, async (db) => {
      await db.exec(`INSERT INTO incidents (title, severity) VALUES ('written after the backup', 'low');
                     DELETE FROM incident_events WHERE id % 2 = 0;
                     INSERT INTO schema_migrations (name, checksum, app_version, duration_ms) VALUES ('0900_future.sql', 'x', '1.4.0', 1);`);
    });
    expect(await withDb(setup, fingerprint)).not.toEqual(before);

    const res = await tpctl(['restore', file], setup.env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.trimEnd()).toMatch(
      /^restored .*: \d+ tables, \d+ rows, in [\d.]+ s\nsince the backup: .*, in \d+ of 18 tables\n(unchanged since the backup: .*\n)?(\w+: \d+ created, .*\n( {2}.*\n)*)+sessions ended: \d+ \(everyone signs in again\)\n(.* kept .*\n)*the data from before the restore is kept as .*\(undo: tpctl restore --undo\)$/,
    );
    expect(await withDb(setup, fingerprint)).toEqual(before);
    const after = await withDb(setup, (db) => db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name'));
    expect(after.map((r) => r.name)).toEqual(SHIPPED);
  });

  const setAside = () => setAsideCopies(kind, setup);

  it('restore --undo puts back the data the restore replaced; the next restore keeps one copy only', async () => {
    const file = await createBackup(setup);
    await withDb(setup, (db) => db.exec(`INSERT INTO incidents (title, severity) VALUES ('keep me', 'high')`));
    const changed = await withDb(setup, fingerprint);
    expect(await tpctl(['restore', file], setup.env)).toMatchObject({ code: 0, stderr: '' });
    expect(await withDb(setup, fingerprint)).not.toEqual(changed);
    const undo = await tpctl(['restore', '--undo'], setup.env);
    expect(undo.code).toBe(0);
    expect(undo.stdout).toMatch(
      /^put back (schema atlas_pre_restore_|directory \S+pglite\.pre-restore-)\w+.*; the restored data is now (schema atlas_undone_restore_|directory \S+pglite\.undone-)/,
    );
    expect(await withDb(setup, fingerprint)).toEqual(changed);
    expect((await setAside()).map((n) => n.replace(/\d{8}t\d{9}$/, ''))).toEqual([kind === 'postgres' ? 'atlas_undone_restore_' : 'pglite.undone-']);

    // The copy an undo set aside is dropped by the next restore, like every older copy.
    expect(await tpctl(['restore', file], setup.env)).toMatchObject({ code: 0, stderr: '' });
    expect((await setAside()).map((n) => n.replace(/\d{8}t\d{9}$/, ''))).toEqual([kind === 'postgres' ? 'atlas_pre_restore_' : 'pglite.pre-restore-']);
  });

  it.each([
    ['truncated', (f: string) => truncateSync(f, Math.floor(statSync(f).size / 2)), /FAIL size.*\n.*FAIL sha256: [0-9a-f]{64} differs from the manifest's/],
    ['one byte flipped', (f: string) => flipByte(f), /FAIL sha256: [0-9a-f]{64} differs from the manifest's/],
    ['without its manifest', (f: string) => unlinkSync(`${f}.manifest.json`), /FAIL manifest: no manifest beside/],
    ['with extra bytes appended', (f: string) => appendFileSync(f, 'garbage'), /FAIL size.*\n.*FAIL sha256/],
    [
      'edited whole, its manifest made to match, but not signed again',
      (f: string) => rewriteBackup(setup.env.ATLAS_DATA_DIR!, f, (sql) => `${sql}-- edited\n`, false),
      /FAIL signature: the signature does not match the manifest/,
    ],
  ])('a backup %s fails verify and makes restore refuse, changing nothing', async (_name, damage, message) => {
    const file = await createBackup(setup);
    damage(file);
    // Matched whole, so that a failure shows what tpctl said on stderr too.
    expect(await tpctl(['backup', 'verify', file], setup.env)).toMatchObject({ code: 1, stdout: expect.stringMatching(message) as string });
    const before = await withDb(setup, fingerprint);
    const res = await tpctl(['restore', file], setup.env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^tpctl restore: the backup failed verification, nothing was changed: /);
    expect(await withDb(setup, fingerprint)).toEqual(before);
  });
});

function flipByte(file: string): void {
  const data = readFileSync(file);
  const at = Math.floor(data.length / 2);
  data[at] = (data[at] ?? 0) ^ 0xff;
  writeFileSync(file, data);
}

describe('restoring PostgreSQL', () => {
  it('two restores at once: the second is refused with exit 4 while the first holds the lock; the first goes through', async () => {
    const setup = await setUp('postgres');
    const file = await createBackup(setup);
    // A session writing to the live data holds the first restore still, lock held, until it ends.
    const { default: pg } = await import('pg');
    const writer = new pg.Client({ connectionString: setup.env.DB_URL });
    await writer.connect();
    await writer.query(`BEGIN; UPDATE incidents SET title = title WHERE id = (SELECT min(id) FROM incidents)`);
    const first = tpctl(['restore', file], setup.env);
    const waiting = `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.application_name = 'tpctl'`;
    const deadline = Date.now() + 30_000;
    while (!(await writer.query(waiting)).rowCount) {
      if (Date.now() > deadline) throw new Error('the first restore never waited for the writer');
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = await tpctl(['restore', file], setup.env);
    expect(second.stderr).toMatch(/^tpctl restore: another operation is under way: "tpctl restore \S+" \(pid \d+ on \S+\) has held the lock since /);
    expect(second.code).toBe(4);
    await writer.query('COMMIT');
    await writer.end();
    expect(await first).toMatchObject({ code: 0, stderr: '' });
  });

  it('a restore that fails keeps the undo of the one before: restore --undo still puts back the data before it', async () => {
    const setup = await setUp('postgres', 2);
    const file = await createBackup(setup);
    await withDb(setup, (db) => db.exec(`INSERT INTO incidents (title, severity) VALUES ('before the restores', 'high')`));
    const beforeRestores = await withDb(setup, fingerprint);
    expect(await tpctl(['restore', file], setup.env)).toMatchObject({ code: 0, stderr: '' });
    const broken = await createBackup(setup);
    rewriteBackup(setup.env.ATLAS_DATA_DIR!, broken, (sql) => sql.replace(/^(COPY public\.incidents .*\n)\d+/m, '$1not-a-number'), true);
    const failed = await tpctl(['restore', broken], setup.env);
    expect(failed.code).toBe(1);
    const undo = await tpctl(['restore', '--undo'], setup.env);
    expect(undo.stdout).toMatch(/^put back schema atlas_pre_restore_/);
    expect(undo.code).toBe(0);
    expect(await withDb(setup, fingerprint)).toEqual(beforeRestores);
  });

  it('refuses while the Tenant Plane is connected, saying how to stop it, and restores once it is stopped', async () => {
    const setup = await setUp('postgres');
    const file = await createBackup(setup);
    const server = await startServer({ DB_URL: setup.env.DB_URL! });
    const refused = await tpctl(['restore', file], setup.env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the Tenant Plane is still connected to this database');
    expect(refused.stderr).toContain('docker compose stop tenant-plane');
    server.child.kill('SIGTERM');
    await server.exited;
    expect((await tpctl(['restore', file], setup.env)).code).toBe(0);
  });

  it('refuses to swap in the loaded data when the Tenant Plane was started again during the load', async () => {
    const setup = await setUp('postgres', 25);
    const file = await createBackup(setup);
    await withDb(setup, (db) => db.exec(`UPDATE incidents SET title = 'changed after the backup' WHERE id % 3 = 0`));
    const before = await withDb(setup, fingerprint);
    const restore = tpctl(['restore', file], setup.env);
    await untilLoading(sharedPostgres(), setup.env.DB_URL!);
    // What the Tenant Plane's pool looks like to PostgreSQL: a connection that names itself.
    const { default: pg } = await import('pg');
    const tenantPlane = new pg.Client({ connectionString: setup.env.DB_URL, application_name: 'atlas-tenant-plane' });
    await tenantPlane.connect();
    try {
      const res = await restore;
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('the Tenant Plane is still connected to this database');
    } finally {
      await tenantPlane.end();
    }
    expect(await withDb(setup, fingerprint)).toEqual(before);
    expect(await withDb(setup, (db) => db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas%'`))).toEqual([]);
  });

  it('does not wait for an older set-aside copy that is in use: it leaves it for the next restore, and says so', async () => {
    const setup = await setUp('postgres');
    const file = await createBackup(setup);
    expect((await tpctl(['restore', file], setup.env)).code).toBe(0);
    const [older] = await withDb(setup, (db) =>
      db.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'atlas_pre_restore_%'`),
    );
    const { default: pg } = await import('pg');
    const reader = new pg.Client({ connectionString: setup.env.DB_URL });
    await reader.connect();
    try {
      await reader.query(`BEGIN; LOCK TABLE ${older!.name}.incidents IN ACCESS SHARE MODE`);
      const res = await tpctl(['restore', file], setup.env);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(
        `schema ${older!.name}, set aside by an earlier restore, is in use (autovacuum, or a session reading it): the next restore drops it`,
      );
    } finally {
      await reader.end();
    }
    const schemas = () => withDb(setup, (db) => db.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'atlas%' ORDER BY 1`));
    expect((await schemas()).map((r) => r.name)).toContain(older!.name);
    expect(await tpctl(['restore', file], setup.env)).toMatchObject({ code: 0, stdout: expect.not.stringContaining('in use') as unknown });
    expect(await schemas()).toHaveLength(1);
  });

  it('zcat FILE | psql DB_URL over a database upgraded since restores the backed-up state, and the upgrade then works again', async () => {
    const setup = await setUp('postgres');
    const before = await withDb(setup, fingerprint);
    const file = await createBackup(setup);
    const upgrade = `CREATE TABLE incident_tags (incident_id bigint REFERENCES incidents (id), tag text);
      ALTER TABLE incidents ADD COLUMN priority int;
      CREATE TYPE urgency AS ENUM ('low', 'high');
      CREATE FUNCTION incident_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM incidents';
      CREATE VIEW open_incidents AS SELECT * FROM incidents WHERE status = 'open';`;
    await withDb(setup, (db) =>
      db.exec(`${upgrade} INSERT INTO schema_migrations (name, checksum, app_version, duration_ms) VALUES ('0900_tags.sql', 'x', '1.4.0', 1);`),
    );

    const url = new URL(setup.env.DB_URL!);
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password) };
    url.password = '';
    execFileSync('sh', ['-c', `zcat '${file}' | psql -q '${url.toString()}'`], { env, stdio: 'pipe' });

    expect(await withDb(setup, fingerprint)).toEqual(before);
    const leftovers = await withDb(setup, (db) =>
      db.query(`SELECT 1 FROM pg_class WHERE relname IN ('incident_tags', 'open_incidents')
                UNION ALL SELECT 1 FROM pg_type WHERE typname = 'urgency'
                UNION ALL SELECT 1 FROM pg_proc WHERE proname = 'incident_count'
                UNION ALL SELECT 1 FROM information_schema.columns WHERE table_name = 'incidents' AND column_name = 'priority'`),
    );
    expect(leftovers).toEqual([]);
    // The next upgrade applies the same migration again, cleanly.
    await withDb(setup, (db) => db.exec(upgrade));
  });

  it('a restore that fails half-way (the server stops) leaves the previous data exactly as it was', async () => {
    const server = await PostgresServer.start();
    try {
      const setup = await setUp('postgres', 25, server);
      const file = await createBackup(setup);
      await withDb(setup, (db) => db.exec(`UPDATE incidents SET title = 'changed after the backup' WHERE id % 3 = 0`));
      const before = await withDb(setup, fingerprint);

      const restore = tpctl(['restore', file], setup.env);
      await untilLoading(server, setup.env.DB_URL!);
      await server.halt();
      const res = await restore;
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('nothing was changed: the database is as it was before the restore');
      expect(res.stderr).toMatch(/the partly loaded schema atlas_incoming_restore_\w+ is left until the next restore drops it/);
      await server.resume();
      expect(await withDb(setup, fingerprint)).toEqual(before);
      const schemas = () => withDb(setup, (db) => db.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas%' ORDER BY 1`));
      expect((await schemas()).map((r) => r.nspname)).toEqual([expect.stringMatching(/^atlas_incoming_restore_/)]);

      expect(await tpctl(['restore', file], setup.env)).toMatchObject({ code: 0, stderr: '' });
      expect((await schemas()).map((r) => r.nspname)).toEqual([expect.stringMatching(/^atlas_pre_restore_/)]);
    } finally {
      await server.destroy();
    }
  });

  it('refuses a backup holding what our migrations never make (types, views, functions of its own), before any of it runs; zcat | psql still takes it', async () => {
    const setup = await setUp('postgres', 10);
    await withDb(setup, (db) =>
      db.exec(`CREATE TYPE public.mood AS ENUM ('calm', 'tense');
               CREATE SEQUENCE public.note_seq;
               CREATE TABLE public."Odd Notes" (id integer PRIMARY KEY DEFAULT nextval('public.note_seq'::regclass),
                 mood public.mood NOT NULL DEFAULT 'calm', incident_id bigint REFERENCES public.incidents (id), body text);
               CREATE FUNCTION public.note_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM public."Odd Notes" $$;
               CREATE FUNCTION public.shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.body := upper(NEW.body); RETURN NEW; END $$;
               CREATE TRIGGER notes_shout BEFORE INSERT ON public."Odd Notes" FOR EACH ROW EXECUTE FUNCTION public.shout();
               CREATE VIEW public.tense_notes AS SELECT n.id, n.body FROM public."Odd Notes" n WHERE n.mood = 'tense';
               INSERT INTO public."Odd Notes" (mood, incident_id, body)
                 SELECT 'tense', id, E'a note; with \\\\. and \\' quote\\nand a newline' FROM public.incidents ORDER BY id LIMIT 5;`),
    );
    const before = await withDb(setup, fingerprint);
    const file = await createBackup(setup);
    await withDb(setup, (db) =>
      db.exec(`INSERT INTO public."Odd Notes" (body) VALUES ('after'); DROP VIEW public.tense_notes; DROP FUNCTION public.note_count();`),
    );

    const after = await withDb(setup, fingerprint);
    const refused = await tpctl(['restore', file], setup.env);
    expect(refused.stderr).toMatch(/^tpctl restore: the backup holds CREATE ENUM, which a restore never runs: CREATE TYPE public\.mood AS ENUM/);
    expect(refused.code).toBe(2);
    expect(await withDb(setup, fingerprint)).toEqual(after);
    const verify = await tpctl(['backup', 'verify', file], setup.env);
    expect(verify.stdout).toMatch(/FAIL content: the backup holds CREATE ENUM, which a restore never runs/);
    expect(verify.code).toBe(1);

    // By hand, as the backup's own header says: the operator's choice, outside tpctl.
    execFileSync('sh', ['-c', `zcat "$1" | psql -v ON_ERROR_STOP=1 -q "$2"`, 'sh', file, setup.env.DB_URL!], { stdio: 'ignore' });
    expect(await withDb(setup, fingerprint)).toEqual(before);
    await withDb(setup, async (db) => {
      expect(await db.query(`SELECT public.note_count()::int AS n, (SELECT count(*)::int FROM public.tense_notes) AS tense`)).toEqual([{ n: 5, tense: 5 }]);
      // The sequence goes on from where it was, the trigger fires, and both live in public again.
      expect(await db.query(`INSERT INTO public."Odd Notes" (body) VALUES ('quiet') RETURNING id, body`)).toEqual([{ id: 6, body: 'QUIET' }]);
      const [fn] = await db.query<{ body: string }>(`SELECT prosrc AS body FROM pg_proc WHERE proname = 'note_count'`);
      expect(fn?.body).toContain('FROM public."Odd Notes"');
    });
  });

  it('a signed backup with a row PostgreSQL refuses fails the restore half-way, and nothing is changed or left behind', async () => {
    const setup = await setUp('postgres', 5);
    const file = await createBackup(setup);
    rewriteBackup(setup.env.ATLAS_DATA_DIR!, file, (sql) => sql.replace(/^(COPY public\.incidents .*\n)\d+/m, '$1not-a-number'), true);
    const before = await withDb(setup, fingerprint);
    const res = await tpctl(['restore', file], setup.env);
    expect(res.stderr).toMatch(/exited with 3: ERROR: {2}invalid input syntax for type bigint: "not-a-number"/);
    expect(res.stderr).toContain('nothing was changed: the database is as it was before the restore');
    expect(res.code).toBe(1);
    expect(await withDb(setup, fingerprint)).toEqual(before);
    expect(await withDb(setup, (db) => db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas%'`))).toEqual([]);
  });

  it('backup verify --restore-test restores into a scratch database, compares row counts, and drops it', async () => {
    const setup = await setUp('postgres');
    const file = await createBackup(setup);
    const res = await tpctl(['backup', 'verify', file, '--restore-test'], setup.env);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      /ok {3}restore test: restored into scratch database (atlas_restore_test_\w+) on the same server: \d+ tables, row counts match; dropped it/,
    );
    const scratch = /scratch database (\w+)/.exec(res.stdout)?.[1];
    expect((await sharedPostgres().sql(`SELECT 1 FROM pg_database WHERE datname = '${scratch}'`)).rowCount).toBe(0);
  });
});

describe('what backups never show', () => {
  it('the password in DB_URL is in no process argument, output or error', async () => {
    const setup = await setUp('postgres', 25);
    const child = spawn(process.execPath, [path.resolve('dist/cli/tpctl.js'), 'backup', 'create'], { env: { PATH: process.env.PATH ?? '', ...setup.env } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    let sawPgDump = false;
    let processes = '';
    while (child.exitCode === null) {
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      processes += ps;
      if (/pg_dump --format=plain/.test(ps)) sawPgDump = true;
      await new Promise((r) => setTimeout(r, 10));
    }
    await exited;
    expect(child.exitCode).toBe(0);
    expect(sawPgDump).toBe(true);
    expect(processes).toMatch(
      /pg_dump --format=plain --no-owner --no-privileges --exclude-schema=atlas_\*_restore_\* --dbname postgresql:\/\/atlasusr@127\.0\.0\.1/,
    );
    expect(processes).not.toContain(PG_PASSWORD);
    expect(output).not.toContain(PG_PASSWORD);

    const failed = await tpctl(['backup', 'create'], { ...setup.env, DB_URL: setup.env.DB_URL!.replace(/:(\d+)\//, ':1/') });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('cannot read the database at postgresql://atlasusr:***@127.0.0.1:1/');
    expect(failed.stderr + failed.stdout).not.toContain(PG_PASSWORD);
  });

  it('says what to install when pg_dump is missing', async () => {
    const setup = await setUp('postgres');
    const res = await tpctl(['backup', 'create'], { ...setup.env, PATH: '/nonexistent' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('pg_dump is not installed: install the PostgreSQL client tools');
    expect(readdirSync(setup.logDir)).toEqual([]);
  });

  it('says what to install when psql is missing for a restore, and changes nothing', async () => {
    const setup = await setUp('postgres');
    const file = await createBackup(setup);
    const before = await withDb(setup, fingerprint);
    const res = await tpctl(['restore', file], { ...setup.env, PATH: '/nonexistent' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('psql is not installed: install the PostgreSQL client tools');
    expect(await withDb(setup, fingerprint)).toEqual(before);
    expect(await withDb(setup, (db) => db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas%'`))).toEqual([]);
  });
});

describe('backup files', () => {
  it('a disk that fills up during the backup leaves no file under the final name, and a clear error', async () => {
    const setup = await setUp('postgres', 0);
    // Rows that compress poorly, so that the dump outgrows the small disk half-way.
    await withDb(setup, (db) =>
      db.exec(
        `INSERT INTO settings (key, value) SELECT 'noise.' || g, to_jsonb((SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 64) s)) FROM generate_series(1, 400) g`,
      ),
    );
    const small = tempDir('atlas-small-disk-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0750', 'tmpfs', small]);
    try {
      const res = await tpctl(['backup', 'create'], { ...setup.env, ATLAS_LOG_DIR: small });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`the disk holding ${small} filled up during the backup; nothing was kept`);
      expect(readdirSync(small)).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('an ATLAS_LOG_DIR that cannot be written is a clear error', async () => {
    const setup = await setUp('postgres');
    const file = path.join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const res = await tpctl(['backup', 'create'], { ...setup.env, ATLAS_LOG_DIR: path.join(file, 'backups') });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/the backup directory .* cannot be used .*: create it writable \(mkdir -p .*\); set ATLAS_LOG_DIR to another directory/);
  });

  it('retention keeps ATLAS_BACKUP_KEEP backups once a new one is verified, and lists them newest first', async () => {
    const setup = await setUp('postgres');
    const [first, second] = [await createBackup(setup), await createBackup(setup)];
    const res = await tpctl(['backup', 'create'], { ...setup.env, ATLAS_BACKUP_KEEP: '2' });
    expect(res.code).toBe(0);
    const newest = /^backup: (.*)$/m.exec(res.stdout)?.[1] ?? '';
    expect(res.stdout).toContain(`removed (ATLAS_BACKUP_KEEP=2): ${first}`);
    expect(existsSync(first)).toBe(false);
    expect(existsSync(`${first}.manifest.json`)).toBe(false);

    const list = await tpctl(['backup', 'list'], setup.env);
    expect(list.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^VERSION +TAKEN \(UTC\) +SIZE +REASON +VERIFIED +FILE$/) as string,
      expect.stringMatching(
        new RegExp(`^1\\.3\\.0 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +[\\d.]+ MB +manual +yes .* ${path.basename(newest)}$`),
      ) as string,
      expect.stringMatching(new RegExp(`^1\\.3\\.0 .* manual +yes .* ${path.basename(second)}$`)) as string,
    ]);
    expect((await tpctl(['backup', 'create'], { ...setup.env, ATLAS_BACKUP_KEEP: 'all' })).stderr).toContain('ATLAS_BACKUP_KEEP=all is not valid');
  });

  it('retention never removes the newest verified backup, even past the count', () => {
    const dir = tempDir('atlas-retention-');
    const names = ['20260101T000000', '20260102T000000', '20260103T000000', '20260104T000000'].map((t) => path.join(dir, `db-backup-1.2.2-${t}.sql.gz`));
    for (const file of names) writeFileSync(file, 'x');
    // Only the second oldest was ever verified; the two newest have no manifest (interrupted runs).
    writeManifest(names[0]!, { ...sampleManifest, verifiedAt: null });
    writeManifest(names[1]!, { ...sampleManifest, verifiedAt: '2026-01-02T00:00:05.000Z' });
    const removed = applyRetention(dir, 1);
    expect(removed).toEqual([names[2], names[0]]);
    expect(
      readdirSync(dir)
        .filter((n) => n.endsWith('.sql.gz'))
        .sort(),
    ).toEqual([path.basename(names[1]!), path.basename(names[3]!)]);
  });
});

const sampleManifest: BackupManifest = {
  format: 'atlas-backup-1',
  file: 'x.sql.gz',
  appVersion: '1.2.2',
  lastMigration: null,
  source: 'postgres',
  postgres: { server: '15', client: '15' },
  reason: 'manual',
  createdAt: '2026-01-01T00:00:00.000Z',
  durationMs: 1,
  sizeBytes: 1,
  uncompressedBytes: 1,
  sha256: 'x',
  tables: {},
  verifiedAt: null,
};

describe('progress and tool checks', () => {
  it('shows progress (bytes, rate, time left) on a terminal, and nothing when not on one', async () => {
    const setup = await setUp('postgres', 10);
    const env = { ...process.env, ...setup.env };
    // `script` gives tpctl a real pseudo-terminal.
    const onTerminal = execFileSync('script', ['-qec', `${process.execPath} ${path.resolve('dist/cli/tpctl.js')} backup create`, '/dev/null'], {
      env,
      encoding: 'utf8',
    });
    expect(onTerminal).toMatch(/dumping: [\d.]+ MB of ~\d+ MB, [\d.]+ MB\/s(, about \d+ s left)?/);
    const piped = await tpctl(['backup', 'create'], setup.env);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toMatch(/MB\/s/);

    const file = (JSON.parse((await tpctl(['backup', 'list', '--json'], setup.env)).stdout) as { file: string }[])[0]!.file;
    // --yes: on a terminal a restore would ask before the swap (restore-prompt.db.test.ts).
    const restoring = execFileSync('script', ['-qec', `${process.execPath} ${path.resolve('dist/cli/tpctl.js')} restore ${file} --yes`, '/dev/null'], {
      env,
      encoding: 'utf8',
    });
    expect(restoring).toMatch(/restoring: [\d.]+ MB of ~\d+ MB/);
    expect(restoring).toMatch(/building indexes and checking constraints: \d+ of \d+, \d+ s/);
  });

  it('refuses a pg_dump older than the server, saying what to install', async () => {
    const setup = await setUp('postgres');
    const bin = tempDir('atlas-old-pg-dump-');
    writeFileSync(path.join(bin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.11"\n', { mode: 0o755 });
    const res = await tpctl(['backup', 'create'], { ...setup.env, PATH: `${bin}:${process.env.PATH ?? ''}` });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /pg_dump \(PostgreSQL\) 14\.11 is older than the PostgreSQL 15 server and cannot dump it: install the PostgreSQL client tools of the same major version as the server \(Debian\/Ubuntu: apt-get install postgresql-client-15\)/,
    );
  });

  it('refuses to back up the embedded database while the Tenant Plane holds it', async () => {
    const setup = await setUp('embedded');
    const server = await startServer({ ATLAS_DATA_DIR: setup.env.ATLAS_DATA_DIR! });
    try {
      const res = await tpctl(['backup', 'create'], setup.env);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/the embedded database in .* is in use by .*pid \d+/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe.runIf(process.getuid?.() === 0)('a disk that fills up at the manifest', () => {
  it('leaves no backup under its final name without its manifest, as its message says (a tmpfs with room for one file)', async () => {
    const setup = await setUp('embedded');
    const full = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,nr_inodes=2,mode=0750', 'tmpfs', full]);
    try {
      const res = await tpctl(['backup', 'create'], { ...setup.env, ATLAS_LOG_DIR: full });
      expect(res.stderr).toContain(`the disk holding ${full} filled up during the backup; nothing was kept`);
      expect(res.code).toBe(1);
      expect(readdirSync(full)).toEqual([]);
    } finally {
      execFileSync('umount', [full]);
    }
  });
});
