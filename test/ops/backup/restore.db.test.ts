import { readdirSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/database.js';
import type { RestoreResult } from '../../../src/ops/backup/restore.js';
import { comparison, type TableSince } from '../../../src/ops/backup/since-backup.js';
import { tableShapes } from '../../../src/ops/backup/table-shapes.js';
import { eventually } from '../../support/api-client.js';
import { backends, sharedPostgres } from '../../support/backends.js';
import { createBackup, setAsideCopies, setUp, untilLoading, withDb, type Kind, type Setup } from '../../support/backup-setup.js';
import { fingerprint } from '../../support/fingerprint.js';
import { tpctl } from '../../support/tpctl.js';

/** What a restore of `file` reports, as data. */
async function restoreJson(setup: Setup, args: string[]): Promise<RestoreResult> {
  const res = await tpctl(['restore', ...args, '--json'], setup.env);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as RestoreResult;
}

const counts = (tables: TableSince[]) => Object.fromEntries(tables.map((t) => [t.table, t.kind === 'compared' ? [t.created, t.changed, t.deleted] : t.kind]));

const one = async <R extends Record<string, unknown>>(db: Database, sql: string) => (await db.query<R>(sql))[0];

describe.each<Kind>(['postgres', 'embedded'])(
  'what a restore discards, and --keep-new, on %s',
  (kind) => {
    it('reports per table the rows created, changed and deleted since the backup, exactly as they were made', async () => {
      const setup = await setUp(kind);
      const file = await createBackup(setup);
      await withDb(setup, (db) =>
        db.exec(`INSERT INTO incidents (title, severity) VALUES ('new 1', 'low'), ('new 2', 'low'), ('new 3', 'high');
               UPDATE incidents SET title = 'edited since' WHERE id IN (2, 5);
               DELETE FROM incident_events WHERE id IN (4, 8);
               INSERT INTO users (email, name, role, password_hash) VALUES ('new@example.com', 'New', 'viewer', 'scrypt$1$1$1$x$y');
               INSERT INTO settings (key, value) VALUES ('theme', '"dark"');`),
      );
      const text = await tpctl(['restore', file], setup.env);
      expect(text.code).toBe(0);
      const lines = text.stdout.split('\n');
      expect(lines).toContain('incidents: 3 created, 2 changed, 0 deleted since the backup');
      expect(lines).toContain("  changed (the backup's values are restored): 2, 5");
      expect(lines).toContain('incident_events: 0 created, 0 changed, 2 deleted since the backup');
      expect(lines).toContain('  deleted (they come back): 4, 8');
      // What is lost first, in one line; the tables with nothing since the backup named in one line, not listed.
      expect(lines[1]).toBe(
        "since the backup: 5 rows created (discarded), 2 changed (the backup's values come back), 2 deleted (they come back), in 4 of 18 tables",
      );
      expect(lines.filter((l) => /^\w+: \d+ created, \d+ changed, \d+ deleted since the backup$/.test(l))).toHaveLength(4);
      expect(
        lines
          .find((l) => l.startsWith('unchanged since the backup: '))
          ?.split(': ')[1]
          ?.split(', '),
      ).toHaveLength(14);

      // The same again, as data: the restore put the backup back, so the same edits count the same.
      await withDb(setup, (db) =>
        db.exec(`INSERT INTO incidents (title, severity) VALUES ('new 1', 'low'), ('new 2', 'low'), ('new 3', 'high');
               UPDATE incidents SET title = 'edited since' WHERE id IN (2, 5);
               DELETE FROM incident_events WHERE id IN (4, 8);`),
      );
      const result = await restoreJson(setup, [file]);
      const zero = Object.fromEntries(result.sinceBackup.tables.map((t) => [t.table, [0, 0, 0]]));
      expect(counts(result.sinceBackup.tables)).toEqual({ ...zero, incidents: [3, 2, 0], incident_events: [0, 0, 2] });
      expect(result.sinceBackup.carried).toBeUndefined();
      expect(result.sinceBackup.compareMs).toBeGreaterThanOrEqual(0);
    });

    it('reports a table the backup does not have, and counts the rows of a table without a primary key', async () => {
      const setup = await setUp(kind);
      await withDb(setup, (db) => db.exec(`CREATE TABLE audit_notes (note text); INSERT INTO audit_notes VALUES ('a'), ('b');`));
      const file = await createBackup(setup);
      await withDb(setup, (db) =>
        db.exec(`INSERT INTO audit_notes VALUES ('c');
               CREATE TABLE incident_tags (incident_id bigint PRIMARY KEY, tag text); INSERT INTO incident_tags VALUES (1, 'disk'), (2, 'net');`),
      );
      const res = await tpctl(['restore', file, '--dry-run'], setup.env);
      expect(res.code).toBe(0);
      const lines = res.stdout.split('\n');
      expect(lines).toContain('incident_tags: not in the backup: its 2 rows are discarded');
      expect(lines).toContain('audit_notes: no primary key to compare by: 3 rows now, 2 in the backup');
    });

    it('--dry-run loads, compares and reports, and changes nothing: row counts and checksums of every table, nothing left beside', async () => {
      const setup = await setUp(kind);
      const file = await createBackup(setup);
      await withDb(setup, (db) =>
        db.exec(`INSERT INTO incidents (title, severity) VALUES ('new', 'low'); UPDATE incidents SET title = 'edited' WHERE id = 3;`),
      );
      const before = await withDb(setup, fingerprint);
      for (const args of [['--dry-run'], ['--dry-run', '--keep-new']]) {
        const res = await tpctl(['restore', file, ...args], setup.env);
        expect(res.code).toBe(0);
        expect(res.stdout).toMatch(/^dry run: \S+ would restore 18 tables, \d+ rows, in [\d.]+ s; nothing was changed\n/);
        expect(res.stdout).toContain('\nincidents: 1 created, 1 changed, 0 deleted since the backup\n');
        expect(res.stdout).not.toContain('kept as');
        if (args.includes('--keep-new')) expect(res.stdout).toContain('  carried over: 1 of 1');
        expect(await withDb(setup, fingerprint)).toEqual(before);
        expect(await setAsideCopies(kind, setup)).toEqual([]);
      }
    });

    it("--keep-new carries the rows created since: restored columns only, parents first, ids continue past them; rows changed since get the backup's values and are listed", async () => {
      const setup = await setUp(kind);
      const file = await createBackup(setup);
      const [incident] = await withDb(setup, async (db) => {
        // What a newer version did: a column added, then used.
        await db.exec(`ALTER TABLE incidents ADD COLUMN risk_score int`);
        const rows = await db.query<{ id: string | number }>(`INSERT INTO incidents (title, severity, risk_score) VALUES ('carried', 'high', 7) RETURNING id`);
        await db.exec(`INSERT INTO incident_events (incident_id, actor, kind, detail) VALUES (${rows[0]!.id}, 'op@example.com', 'comment', '{"note": "carried too"}');
                     UPDATE incidents SET title = 'damaged' WHERE id = 1;
                     INSERT INTO sessions (token_hash, user_id, expires_at) SELECT 'new-session', id, now() + interval '1 day' FROM users LIMIT 1;`);
        return rows;
      });
      const id = Number(incident!.id);
      const result = await restoreJson(setup, [file, '--keep-new']);
      const incidents = result.sinceBackup.tables.find((t) => t.table === 'incidents');
      expect(incidents).toMatchObject({ created: 1, changed: 1, columnsNotInBackup: ['risk_score'], keys: { created: [String(id)], changed: ['1'] } });
      const carried = Object.fromEntries((result.sinceBackup.carried ?? []).map((c) => [c.table, c]));
      expect(carried.incidents).toMatchObject({ carried: 1, columnsLeftBehind: ['risk_score'], leftOut: [] });
      expect(carried.incident_events).toMatchObject({ carried: 1, leftOut: [] });
      expect(carried.sessions).toMatchObject({ carried: 0, neverCarried: expect.stringContaining('sign-ins end with a restore') as unknown });

      await withDb(setup, async (db) => {
        expect(await one(db, `SELECT title FROM incidents WHERE id = ${id}`)).toEqual({ title: 'carried' });
        expect(await one(db, `SELECT count(*)::int AS n FROM incident_events WHERE incident_id = ${id}`)).toEqual({ n: 1 });
        expect(await one(db, `SELECT title FROM incidents WHERE id = 1`)).not.toEqual({ title: 'damaged' });
        expect(
          await one(
            db,
            `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'incidents' AND column_name = 'risk_score' AND table_schema = 'public'`,
          ),
        ).toEqual({ n: 0 });
        expect(await one(db, `SELECT count(*)::int AS n FROM sessions WHERE token_hash = 'new-session'`)).toEqual({ n: 0 });
        // The identity continues past the carried id.
        const [next] = await db.query<{ id: string | number }>(`INSERT INTO incidents (title, severity) VALUES ('after', 'low') RETURNING id`);
        expect(Number(next!.id)).toBeGreaterThan(id);
      });
    });

    it('a carried row that breaks a constraint of the restored schema is left out with the reason, and the rest goes in', async () => {
      const setup = await setUp(kind);
      const file = await createBackup(setup);
      await withDb(setup, (db) =>
        // The user of the backup deleted since, and a new one with the same address: UNIQUE refuses it beside the restored one.
        db.exec(`DELETE FROM users WHERE email = 'user1@example.com';
               INSERT INTO users (email, name, role, password_hash) VALUES ('user1@example.com', 'Again', 'viewer', 'scrypt$1$1$1$x$y'), ('fresh@example.com', 'Fresh', 'viewer', 'scrypt$1$1$1$x$y');`),
      );
      const text = await tpctl(['restore', file, '--keep-new'], setup.env);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('\nusers: 2 created, 0 changed, 1 deleted since the backup\n');
      expect(text.stdout).toContain('  carried over: 1 of 2');
      expect(text.stdout).toMatch(/\n {2}left out [0-9a-f-]{36}: duplicate key value violates unique constraint "users_email_key"/);
      await withDb(setup, async (db) => {
        expect(
          (await db.query<{ name: string }>(`SELECT name FROM users WHERE email IN ('user1@example.com', 'fresh@example.com') ORDER BY email`)).map(
            (r) => r.name,
          ),
        ).toEqual(['Fresh', 'User 1']);
      });
    });

    it('a failure of the carry at the swap leaves the database exactly as it was before the restore', async () => {
      const setup = await setUp(kind);
      // A constraint of the backed-up schema checked only at commit: the carry passes it row by row, and the swap then fails whole.
      await withDb(setup, (db) =>
        db.exec(`ALTER TABLE incidents ADD COLUMN tag text; UPDATE incidents SET tag = 'k' || id;
               ALTER TABLE incidents ADD CONSTRAINT one_tag UNIQUE (tag) DEFERRABLE INITIALLY DEFERRED;`),
      );
      const file = await createBackup(setup);
      await withDb(setup, (db) =>
        db.exec(`ALTER TABLE incidents DROP CONSTRAINT one_tag;
               INSERT INTO incidents (title, severity, tag) VALUES ('fine', 'low', 'new'), ('clash', 'low', 'k1');
               UPDATE incidents SET title = 'edited' WHERE id = 2;`),
      );
      const before = await withDb(setup, fingerprint);
      const res = await tpctl(['restore', file, '--keep-new'], setup.env);
      expect(res.stderr).toContain('duplicate key value violates unique constraint "one_tag"');
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('nothing was changed: the database is as it was before the restore');
      expect(await withDb(setup, fingerprint)).toEqual(before);
      expect(await setAsideCopies(kind, setup)).toEqual([]);
    });
    // A ceiling, not a measure: the embedded runs do their WebAssembly set-up and restores on a loaded 2-core machine.
  },
  180_000,
);

describe('restore flags', () => {
  it('refuses what does not go together, before touching anything', async () => {
    const setup = await setUp('embedded');
    for (const args of [
      ['--undo', '--keep-new'],
      ['--undo', '--dry-run'],
    ]) {
      const res = await tpctl(['restore', ...args], setup.env);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/--undo takes no file and no other flag/);
    }
    const rollback = await tpctl(['rollback', '--to', '1.2.2', '--keep-new', '--runtime', 'local'], setup.env);
    expect(rollback.code).toBe(2);
    expect(rollback.stderr).toContain('--keep-new carries rows into a restored database: it needs --restore BACKUP_FILE');
  });
});

describe('restoring the embedded database when its live data cannot be read', () => {
  it('stops before the load with the reason the process that reads it gave, and changes nothing', async () => {
    const setup = await setUp('embedded');
    const file = await createBackup(setup);
    const dataDir = setup.env.ATLAS_DATA_DIR!;
    const control = path.join(dataDir, 'pglite', 'global', 'pg_control');
    truncateSync(control, 10);
    const before = readdirSync(dataDir).sort();
    const res = await tpctl(['restore', file], setup.env);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toBe(
      `tpctl restore: the live embedded data in ${path.dirname(path.dirname(control))} could not be read for the comparison (exit 1): RuntimeError: Aborted(). Build with -sASSERTIONS for more info.\n`,
    );
    expect(readdirSync(dataDir).sort()).toEqual(before);
    expect(statSync(control).size).toBe(10);
  });
});

describe.each(backends)('the comparison of two copies of a table on $name', (backend) => {
  it('finds the same rows created, changed and deleted whichever way the copies are joined, with keys of several columns and columns of types that do not hash', async () => {
    const db = await backend.open();
    try {
      const table = `(region text, id bigint, note json, tags text[], score numeric, PRIMARY KEY (region, id))`;
      await db.exec(`CREATE SCHEMA live; CREATE SCHEMA backup; CREATE TABLE live.t ${table}; CREATE TABLE backup.t ${table};
        INSERT INTO backup.t SELECT 'eu', g, '{"n": 1}', ARRAY['a'], g FROM generate_series(1, 100) g;
        INSERT INTO live.t SELECT * FROM backup.t WHERE id > 2;
        UPDATE live.t SET note = '{"n": 2}' WHERE id = 10;
        UPDATE live.t SET tags = ARRAY['a', 'b'] WHERE id = 11;
        UPDATE live.t SET score = NULL WHERE id = 12;
        INSERT INTO live.t VALUES ('us', 1, null, null, 1), ('eu', 101, '{}', '{}', 0);`);
      const [live, backup] = [(await tableShapes(db, 'live')).get('t')!, (await tableShapes(db, 'backup')).get('t')!];
      for (const form of ['in-order', 'hashed'] as const) {
        const sql = comparison('live', 'backup', live, backup, form);
        expect(await db.query(sql.counts), form).toEqual([{ created: 2, changed: 3, deleted: 2 }]);
        expect(
          (await db.query<{ key: string }>(sql.keys('changed'))).map((r) => r.key),
          form,
        ).toEqual(['(eu,10)', '(eu,11)', '(eu,12)']);
        expect(
          (await db.query<{ key: string }>(sql.keys('deleted'))).map((r) => r.key),
          form,
        ).toEqual(['(eu,1)', '(eu,2)']);
        expect(
          (await db.query<{ key: string }>(sql.keys('created'))).map((r) => r.key),
          form,
        ).toEqual(['(eu,101)', '(us,1)']);
      }
    } finally {
      await db.close();
    }
  });
});

describe('restoring PostgreSQL while another session writes to the live data', () => {
  /** A session of its own, as an operator's psql would be (not the Tenant Plane's). */
  async function otherSession(url: string) {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: url, application_name: 'psql' });
    await client.connect();
    return client;
  }

  it('holds the live data still from the load to the swap: a write waits for the swap, then lands in the restored data', async () => {
    const setup = await setUp('postgres', 25);
    const file = await createBackup(setup);
    const restore = tpctl(['restore', file, '--json'], setup.env);
    await untilLoading(sharedPostgres(), setup.env.DB_URL!);
    const writer = await otherSession(setup.env.DB_URL!);
    try {
      await eventually('the live tables held still', async () =>
        (
          await writer.query(
            `SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'incidents' AND l.mode = 'ShareLock' AND l.granted`,
          )
        ).rowCount
          ? true
          : undefined,
      );
      let written = false;
      const write = writer.query(`INSERT INTO incidents (title, severity) VALUES ('written during the restore', 'low')`).then(() => (written = true));
      const res = await restore;
      expect(res.code).toBe(0);
      const result = JSON.parse(res.stdout) as RestoreResult;
      // Not compared, not set aside: it waited, and PostgreSQL found the table by its name again after the swap.
      expect(result.sinceBackup.tables.find((t) => t.table === 'incidents')).toMatchObject({ created: 0 });
      await write;
      expect(written).toBe(true);
      expect((await writer.query(`SELECT 1 FROM public.incidents WHERE title = 'written during the restore'`)).rowCount).toBe(1);
      expect((await writer.query(`SELECT 1 FROM ${result.safetyCopy!.name}.incidents WHERE title = 'written during the restore'`)).rowCount).toBe(0);
    } finally {
      await writer.end();
    }
  });

  it('refuses, changing nothing, when another session keeps a write to the live data open', async () => {
    const setup = await setUp('postgres');
    const file = await createBackup(setup);
    const writer = await otherSession(setup.env.DB_URL!);
    try {
      await writer.query(`BEGIN; INSERT INTO incidents (title, severity) VALUES ('not committed', 'low')`);
      const before = await withDb(setup, fingerprint);
      const res = await tpctl(['restore', file], setup.env);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('another session kept writing to the live data for 15s (an open transaction? pg_stat_activity shows it)');
      expect(await withDb(setup, fingerprint)).toEqual(before);
      expect(await setAsideCopies('postgres', setup)).toEqual([]);
    } finally {
      await writer.end();
    }
  }, 60_000);
});
