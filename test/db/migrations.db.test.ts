import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { type Database } from '../../src/db/database.js';
import { loadMigrations, migrate, MigrationError, readSchemaState } from '../../src/db/migrations.js';
import { backends, sharedPostgres } from '../support/backends.js';
import { migrationsDir } from '../support/temp.js';

const FIRST = { '0001_widgets.sql': 'CREATE TABLE widgets (id int PRIMARY KEY, name text);' };
const SECOND = { ...FIRST, '0002_widget_colour.sql': 'ALTER TABLE widgets ADD COLUMN colour text;' };

async function tables(db: Database): Promise<string[]> {
  const rows = await db.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
  return rows.map((r) => r.t);
}

describe('loadMigrations', () => {
  it('reads NNNN_name.sql files in order with their checksums', () => {
    const files = loadMigrations(migrationsDir({ '0002_b.sql': 'SELECT 2;', '0001_a.sql': 'SELECT 1;', 'README.md': 'x' }));
    expect(files.map((f) => f.name)).toEqual(['0001_a.sql', '0002_b.sql']);
    expect(files[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a misnamed migration file instead of skipping it', () => {
    expect(() => loadMigrations(migrationsDir({ '0001_a.sql': 'SELECT 1;', 'add-users.sql': 'SELECT 2;' }))).toThrow(/rename: add-users\.sql/);
  });

  it("ships this project's own migrations under valid names", () => {
    expect(loadMigrations().length).toBeGreaterThan(0);
  });
});

describe.each(backends)('migrate on $name', (backend) => {
  let db: Database;
  afterEach(async () => db?.close());

  it('applies pending migrations once, recording name, checksum and app version', async () => {
    db = await backend.open();
    const first = await migrate(db, loadMigrations(migrationsDir(SECOND)), '1.3.0');
    expect(first.applied).toEqual(['0001_widgets.sql', '0002_widget_colour.sql']);
    const again = await migrate(db, loadMigrations(migrationsDir(SECOND)), '1.3.0');
    expect(again.applied).toEqual([]);
    expect(again.state.canRun).toBe(true);
    const [row] = await db.query('SELECT app_version, checksum FROM schema_migrations WHERE name = $1', ['0002_widget_colour.sql']);
    expect(row).toMatchObject({ app_version: '1.3.0', checksum: loadMigrations(migrationsDir(SECOND))[1]?.checksum });
  });

  it('refuses an applied migration whose file changed, before applying anything', async () => {
    db = await backend.open();
    await migrate(db, loadMigrations(migrationsDir(FIRST)), '1.2.2');
    const edited = migrationsDir({ ...SECOND, '0001_widgets.sql': 'CREATE TABLE widgets (id bigint PRIMARY KEY);' });
    await expect(migrate(db, loadMigrations(edited), '1.3.0')).rejects.toThrow(/applied migration 0001_widgets\.sql changed since they were applied/);
    const state = await readSchemaState(db, loadMigrations(edited));
    expect(state.pending).toEqual(['0002_widget_colour.sql']);
    expect(state.changed.map((c) => c.name)).toEqual(['0001_widgets.sql']);
    expect(state.canRun).toBe(false);
  });

  it('rolls back a migration that fails half-way and records nothing for it', async () => {
    db = await backend.open();
    const broken = migrationsDir({
      ...FIRST,
      '0002_half.sql': 'CREATE TABLE gadgets (id int);\nINSERT INTO no_such_table VALUES (1);',
    });
    await expect(migrate(db, loadMigrations(broken), '1.3.0')).rejects.toThrow(
      /^migration 0002_half\.sql failed at statement 2 of 2 \(INSERT INTO no_such_table VALUES \(1\)\) and was rolled back: relation "no_such_table" does not exist$/,
    );
    expect(await tables(db)).toEqual(['schema_migrations', 'widgets']);
    const state = await readSchemaState(db, loadMigrations(broken));
    expect(state.pending).toEqual(['0002_half.sql']);
  });

  it('applies a `-- atlas:no-transaction` migration statement by statement (CREATE INDEX CONCURRENTLY)', async () => {
    db = await backend.open();
    const concurrent = migrationsDir({
      ...FIRST,
      '0002_index.sql':
        '-- atlas:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_name_idx ON widgets (name);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_id_name_idx ON widgets (id, name);\n',
    });
    const result = await migrate(db, loadMigrations(concurrent), '1.3.0');
    expect(result.applied).toEqual(['0001_widgets.sql', '0002_index.sql']);
    const indexes = await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'widgets' ORDER BY 1`);
    expect(indexes.map((i) => i.indexname)).toEqual(['widgets_id_name_idx', 'widgets_name_idx', 'widgets_pkey']);
  });

  it('stops a no-transaction migration at the failing statement, records nothing, and runs it again next time', async () => {
    db = await backend.open();
    const broken = {
      ...FIRST,
      '0002_index.sql':
        '-- atlas:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_name_idx ON widgets (name);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS bad_idx ON widgets (no_such_column);\n',
    };
    await expect(migrate(db, loadMigrations(migrationsDir(broken)), '1.3.0')).rejects.toThrow(
      /0002_index\.sql \(no transaction\) failed at statement 2 of 2 \(CREATE INDEX CONCURRENTLY IF NOT EXISTS bad_idx ON widgets \(no_such_column\)\): .*no_such_column.*must be idempotent/,
    );
    expect((await readSchemaState(db, loadMigrations(migrationsDir(broken)))).pending).toEqual(['0002_index.sql']);
    const fixed = { ...broken, '0002_index.sql': broken['0002_index.sql'].replace('no_such_column', 'id') };
    expect((await migrate(db, loadMigrations(migrationsDir(fixed)), '1.3.0')).applied).toEqual(['0002_index.sql']);
  });

  it('times each migration and names the strongest lock it held on a table that was there before, not on one it created', async () => {
    db = await backend.open();
    await migrate(db, loadMigrations(migrationsDir(FIRST)), '1.2.2');
    const next = {
      ...SECOND,
      '0003_parts.sql': 'CREATE TABLE parts (id int);\nCREATE INDEX parts_id_idx ON parts (id);\n',
      '0004_touch.sql': "UPDATE widgets SET name = 'x' WHERE false;\n",
      '0005_index.sql': '-- atlas:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_name_idx ON widgets (name);\n',
    };
    const result = await migrate(db, loadMigrations(migrationsDir(next)), '1.3.0');
    expect(result.timings.map((t) => ({ name: t.name, lock: t.lock && { mode: t.lock.mode, relation: t.lock.relation } }))).toEqual([
      { name: '0002_widget_colour.sql', lock: { mode: 'ACCESS EXCLUSIVE', relation: 'widgets' } },
      { name: '0003_parts.sql', lock: null },
      { name: '0004_touch.sql', lock: { mode: 'ROW EXCLUSIVE', relation: 'widgets' } },
      { name: '0005_index.sql', lock: null },
    ]);
    for (const t of result.timings) {
      expect(t.durationMs).toBeGreaterThanOrEqual(0);
      if (t.lock) expect(t.lock.heldMs).toBeLessThanOrEqual(t.durationMs);
    }
  });

  it("names the statement and PostgreSQL's error with its detail: a unique index over duplicated values names the key", async () => {
    db = await backend.open();
    await migrate(db, loadMigrations(migrationsDir(FIRST)), '1.2.2');
    await db.exec("INSERT INTO widgets VALUES (1, 'bolt'), (2, 'bolt'), (3, 'nut')");
    const unique = { ...FIRST, '0002_unique_name.sql': 'CREATE UNIQUE INDEX widgets_name_key ON widgets (name);\n' };
    await expect(migrate(db, loadMigrations(migrationsDir(unique)), '1.3.0')).rejects.toThrow(
      /^migration 0002_unique_name\.sql failed at statement 1 of 1 \(CREATE UNIQUE INDEX widgets_name_key ON widgets \(name\)\) and was rolled back: could not create unique index "widgets_name_key" \(Key \(name\)=\(bolt\) is duplicated\.\)$/,
    );
  });

  it('accepts a schema ahead of the code (after a rollback) and reports it', async () => {
    db = await backend.open();
    await migrate(db, loadMigrations(migrationsDir(SECOND)), '1.3.0');
    const older = await migrate(db, loadMigrations(migrationsDir(FIRST)), '1.2.2');
    expect(older.applied).toEqual([]);
    expect(older.state.ahead).toEqual(['0002_widget_colour.sql']);
    expect(older.state.canRun).toBe(true);
  });
  it("records each migration's lint verdict: additive, or the rules a waiver let through", async () => {
    db = await backend.open();
    const dropped = { ...SECOND, '0003_drop_colour.sql': '-- atlas:allow drop-column the colour was never shown\nALTER TABLE widgets DROP COLUMN colour;\n' };
    await migrate(db, loadMigrations(migrationsDir(dropped)), '1.3.1');
    const rows = await db.query<{ name: string; breaking_rules: string[] }>('SELECT name, breaking_rules FROM schema_migrations ORDER BY name');
    expect(rows).toEqual([
      { name: '0001_widgets.sql', breaking_rules: [] },
      { name: '0002_widget_colour.sql', breaking_rules: [] },
      { name: '0003_drop_colour.sql', breaking_rules: ['drop-column'] },
    ]);
  });

  it('refuses a schema a newer version changed in a way that is not additive, naming the migration and the rule', async () => {
    db = await backend.open();
    const dropped = { ...SECOND, '0003_drop_colour.sql': '-- atlas:allow drop-column the colour was never shown\nALTER TABLE widgets DROP COLUMN colour;\n' };
    await migrate(db, loadMigrations(migrationsDir(dropped)), '1.3.1');
    const state = await readSchemaState(db, loadMigrations(migrationsDir(SECOND)));
    expect(state.breaking).toEqual([{ name: '0003_drop_colour.sql', rules: ['drop-column'], appliedBy: '1.3.1' }]);
    expect(state.canRun).toBe(false);
    await expect(migrate(db, loadMigrations(migrationsDir(SECOND)), '1.3.0')).rejects.toThrow(
      /cannot run on this schema: 0003_drop_colour\.sql \(applied by 1\.3\.1\) is not additive: drop-column; restore a backup taken at or before this version/,
    );
  });

  it('reads a schema_migrations table from before verdicts were recorded: unknown verdicts do not block, and the column is added', async () => {
    db = await backend.open();
    await db.exec(`CREATE TABLE schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, app_version text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer NOT NULL);
      INSERT INTO schema_migrations (name, checksum, app_version, duration_ms) VALUES ('0009_old.sql', 'x', '1.2.9', 1);`);
    const before = await readSchemaState(db, loadMigrations(migrationsDir(FIRST)));
    expect(before.applied[0]).toMatchObject({ name: '0009_old.sql', breakingRules: null });
    expect(before.breaking).toEqual([]);
    await migrate(db, loadMigrations(migrationsDir(FIRST)), '1.3.0');
    const [row] = await db.query<{ breaking_rules: string[] | null }>(`SELECT breaking_rules FROM schema_migrations WHERE name = '0001_widgets.sql'`);
    expect(row?.breaking_rules).toEqual([]);
  });
});

describe('migrate with several processes at once (PostgreSQL)', () => {
  it('three pools migrating one empty database together apply each migration exactly once', async () => {
    const url = await sharedPostgres().createDatabase();
    const dbs = await Promise.all([1, 2, 3].map(() => openDatabase({ url, embeddedDir: '' })));
    const slow = migrationsDir({ ...SECOND, '0003_slow.sql': 'SELECT pg_sleep(0.3); CREATE TABLE slow (id int);' });
    try {
      const results = await Promise.all(dbs.map((db) => migrate(db, loadMigrations(slow), '1.3.0')));
      const appliedBy = results.map((r) => r.applied.length).sort();
      expect(appliedBy).toEqual([0, 0, 3]);
      const rows = await dbs[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(rows[0]?.n).toBe(3);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  it('refuses a changed migration with MigrationError, a clear type for the caller', async () => {
    const url = await sharedPostgres().createDatabase();
    const db = await openDatabase({ url, embeddedDir: '' });
    try {
      await migrate(db, loadMigrations(migrationsDir(FIRST)), '1.2.2');
      const edited = migrationsDir({ '0001_widgets.sql': 'CREATE TABLE widgets (id int);' });
      await expect(migrate(db, loadMigrations(edited), '1.3.0')).rejects.toBeInstanceOf(MigrationError);
    } finally {
      await db.close();
    }
  });
});
