import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { lintSql } from '../../../src/db/lint/lint.js';
import { RULES, type RuleId } from '../../../src/db/lint/rules.js';

beforeAll(async () => loadModule());

const rulesHit = (sql: string) =>
  lintSql('m.sql', sql)
    .filter((f) => !f.waived)
    .map((f) => f.rule);

/**
 * For every rule: SQL that breaks it, and the nearest SQL that does not. Tables named here
 * (users, "Audit Log", ops.jobs) exist already: they were created by earlier migrations.
 */
const CASES: Record<RuleId, { bad: string[]; good: string[] }> = {
  'drop-object': {
    bad: [
      'DROP TABLE users;',
      'DROP VIEW ops.active_jobs;',
      'DROP TYPE "Mood";',
      'DROP FUNCTION ops.f(int);',
      'DROP SCHEMA ops CASCADE;',
      'DROP INDEX users_email_idx;',
      'DROP SEQUENCE ops.seq;',
      'CREATE SEQUENCE IF NOT EXISTS ops.seq;\nDROP SEQUENCE ops.seq;',
      '-- atlas:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);\nDROP INDEX CONCURRENTLY users_email_idx;',
    ],
    good: ['CREATE TABLE scratch (id int);\nDROP TABLE scratch;', 'CREATE TYPE "Mood" AS ENUM (\'a\'); DROP TYPE "Mood";'],
  },
  'drop-column': {
    bad: ['ALTER TABLE users DROP COLUMN name;', 'ALTER TABLE "Audit Log" DROP COLUMN "Who";', 'ALTER TABLE ops.jobs\n  DROP COLUMN IF EXISTS payload;'],
    good: ['CREATE TABLE ops.tmp (a int, b int); ALTER TABLE ops.tmp DROP COLUMN b;'],
  },
  'drop-constraint': {
    bad: ['ALTER TABLE users DROP CONSTRAINT users_email_key;'],
    good: ['ALTER TABLE users VALIDATE CONSTRAINT users_email_check;'],
  },
  rename: {
    bad: [
      'ALTER TABLE users RENAME TO people;',
      'ALTER TABLE users RENAME COLUMN name TO full_name;',
      'ALTER TABLE users RENAME CONSTRAINT a TO b;',
      "ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';",
      'ALTER INDEX users_email_idx RENAME TO users_mail_idx;',
      'ALTER VIEW ops.v RENAME TO w;',
    ],
    good: ['CREATE TABLE t (a int); ALTER TABLE t RENAME COLUMN a TO b;'],
  },
  'set-schema': {
    bad: ['ALTER TABLE users SET SCHEMA archive;', 'ALTER FUNCTION ops.f() SET SCHEMA public;'],
    good: ['CREATE SCHEMA archive;'],
  },
  'alter-column-type': {
    bad: ['ALTER TABLE users ALTER COLUMN name TYPE varchar(50);', 'ALTER TABLE ops.jobs ALTER COLUMN id SET DATA TYPE bigint;'],
    good: ['ALTER TABLE users ADD COLUMN name_v2 varchar(50);'],
  },
  'add-column-not-null': {
    bad: [
      'ALTER TABLE users ADD COLUMN karma int NOT NULL;',
      'ALTER TABLE "Audit Log" ADD "Level" text NOT NULL;',
      // IF NOT EXISTS may have found the table there: it is not new.
      'CREATE TABLE IF NOT EXISTS users (id int);\nALTER TABLE users ADD COLUMN karma int NOT NULL;',
      'CREATE TABLE IF NOT EXISTS users AS SELECT 1 AS id;\nALTER TABLE users ADD COLUMN karma int NOT NULL;',
    ],
    good: ['ALTER TABLE users ADD COLUMN karma int NOT NULL DEFAULT 0;', 'ALTER TABLE users ADD COLUMN karma int;'],
  },
  'set-not-null': {
    bad: [
      'ALTER TABLE users ALTER COLUMN name SET NOT NULL;',
      'ALTER TABLE users ADD CONSTRAINT name_nn NOT NULL name;',
      'CREATE TABLE IF NOT EXISTS users (id int, name text);\nALTER TABLE users ALTER COLUMN name SET NOT NULL;',
    ],
    good: ['CREATE TABLE t (a int); ALTER TABLE t ALTER COLUMN a SET NOT NULL;'],
  },
  'drop-not-null': {
    bad: ['ALTER TABLE users ALTER COLUMN email DROP NOT NULL;'],
    good: ['ALTER TABLE users ADD COLUMN backup_email text;'],
  },
  'drop-default': {
    bad: ['ALTER TABLE users ALTER COLUMN role DROP DEFAULT;'],
    good: ["ALTER TABLE users ALTER COLUMN role SET DEFAULT 'viewer'; -- atlas:allow set-default same meaning for 1.2"],
  },
  truncate: {
    bad: ['TRUNCATE sessions;', 'TRUNCATE TABLE ops.jobs, users RESTART IDENTITY;'],
    good: ['CREATE TABLE staging (a int); TRUNCATE staging;'],
  },
  'add-constraint': {
    bad: [
      "ALTER TABLE users ADD CONSTRAINT role_ok CHECK (role IN ('admin', 'viewer')) NOT VALID;",
      'ALTER TABLE users ADD FOREIGN KEY (team_id) REFERENCES teams (id);',
      'ALTER TABLE users ADD CONSTRAINT users_name_key UNIQUE (name);',
      'ALTER TABLE ops.jobs ADD CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&);',
      'ALTER TABLE users ADD CONSTRAINT u UNIQUE USING INDEX users_name_idx;',
      '-- atlas:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY users_name_idx ON users (name);',
      "CREATE TABLE IF NOT EXISTS users (id int, role text);\nALTER TABLE users ADD CONSTRAINT role_ok CHECK (role <> '');",
    ],
    good: ['ALTER TABLE users ADD COLUMN team_id int REFERENCES teams (id);', 'CREATE TABLE t (a int); ALTER TABLE t ADD CHECK (a > 0);'],
  },
  'volatile-default': {
    bad: [
      'ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();',
      'ALTER TABLE users ADD COLUMN n bigserial;',
      'ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;',
      'ALTER TABLE users ADD COLUMN r float8 DEFAULT my_random();',
    ],
    good: [
      'ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT now();',
      "ALTER TABLE users ADD COLUMN meta jsonb DEFAULT '{}'::jsonb;",
      'ALTER TABLE users ADD COLUMN at timestamptz DEFAULT CURRENT_TIMESTAMP;',
    ],
  },
  'stored-generated-column': {
    bad: ['ALTER TABLE users ADD COLUMN email_lower text GENERATED ALWAYS AS (lower(email)) STORED;'],
    good: ['ALTER TABLE users ADD COLUMN email_lower text;', 'ALTER TABLE users ADD COLUMN email_lower text GENERATED ALWAYS AS (lower(email)) VIRTUAL;'],
  },
  'index-not-concurrently': {
    bad: [
      'CREATE INDEX users_role_idx ON users (role);',
      'CREATE INDEX ON "Audit Log" ("Who");',
      'CREATE TABLE IF NOT EXISTS users (id int, role text);\nCREATE INDEX users_role_idx ON users (role);',
    ],
    good: ['-- atlas:no-transaction\nCREATE INDEX CONCURRENTLY users_role_idx ON users (role);', 'CREATE TABLE t (a int);\nCREATE INDEX t_a_idx ON t (a);'],
  },
  'concurrently-in-transaction': {
    bad: [
      'CREATE INDEX CONCURRENTLY users_role_idx ON users (role);',
      '-- a comment first\n-- atlas:no-transaction\nCREATE INDEX CONCURRENTLY i ON users (role);',
      'REINDEX TABLE CONCURRENTLY users;',
    ],
    good: ['-- atlas:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_role_idx ON users (role);'],
  },
  'transaction-control': {
    bad: ['BEGIN; CREATE TABLE t (a int); COMMIT;'],
    good: ['CREATE TABLE t (a int);'],
  },
  'waiver-without-reason': {
    bad: ['-- atlas:allow drop-column\nALTER TABLE users DROP COLUMN name;'],
    good: ['-- atlas:allow drop-column the column was added in an unreleased commit\nALTER TABLE users DROP COLUMN name;'],
  },
  'waiver-unknown-rule': {
    bad: ['-- atlas:allow drop-colum typo in the rule id\nALTER TABLE users DROP COLUMN name;'],
    good: ['-- atlas:allow drop-column right id, with a reason\nALTER TABLE users DROP COLUMN name;'],
  },
  'replace-view-or-function': {
    bad: ['CREATE OR REPLACE VIEW active_users AS SELECT * FROM users;', 'CREATE OR REPLACE FUNCTION ops.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;'],
    good: ['CREATE VIEW active_users AS SELECT * FROM users;', 'CREATE FUNCTION ops.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;'],
  },
  'set-default': {
    bad: ["ALTER TABLE users ALTER COLUMN role SET DEFAULT 'viewer';"],
    good: ["ALTER TABLE users ADD COLUMN tier text DEFAULT 'free';"],
  },
  'opaque-body': {
    bad: [
      "DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'users'; END $$;",
      "DO LANGUAGE plpython3u $$ plpy.execute('select 1') $$;",
      "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('DROP TABLE %I', 'x'); END $$;",
    ],
    good: ["DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ro') THEN CREATE ROLE ro; END IF; END $$;"],
  },
  'trigger-on-existing-table': {
    bad: ['CREATE TRIGGER users_audit AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION audit();'],
    good: ['CREATE TABLE t (a int); CREATE TRIGGER t_audit AFTER UPDATE ON t FOR EACH ROW EXECUTE FUNCTION audit();'],
  },
  'row-security': {
    bad: ['ALTER TABLE users ENABLE ROW LEVEL SECURITY;', 'CREATE POLICY own ON users USING (id = current_user_id());'],
    good: ['CREATE TABLE t (a int); CREATE POLICY p ON t USING (true);'],
  },
  revoke: {
    bad: ['REVOKE SELECT ON users FROM reporting;'],
    good: ['GRANT SELECT ON users TO reporting;'],
  },
  'unrecognised-statement': {
    bad: ['ALTER TABLE users DISABLE TRIGGER ALL;', 'CLUSTER users USING users_pkey;', 'ALTER TABLE users SET UNLOGGED;'],
    good: [
      "COMMENT ON TABLE users IS 'people who log in';",
      'ALTER TABLE users ALTER COLUMN name SET STATISTICS 500;',
      'CREATE EXTENSION IF NOT EXISTS pgcrypto;',
    ],
  },
  'add-column-unique': {
    bad: ['ALTER TABLE users ADD COLUMN code text CONSTRAINT users_code_key UNIQUE;', 'ALTER TABLE ops.jobs ADD COLUMN ref bigint PRIMARY KEY;'],
    good: ['ALTER TABLE users ADD COLUMN code text;', 'CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN b int UNIQUE;'],
  },
  'drop-database': {
    bad: ['DROP DATABASE atlas;', 'DROP DATABASE IF EXISTS "atlas-old";'],
    good: ['CREATE SCHEMA archive;'],
  },
  'alter-domain': {
    bad: [
      'ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0);',
      'ALTER DOMAIN email SET NOT NULL;',
      'ALTER DOMAIN email DROP CONSTRAINT email_check;',
    ],
    good: ['CREATE DOMAIN score AS int; ALTER DOMAIN score ADD CONSTRAINT score_check CHECK (VALUE >= 0);'],
  },
  reindex: {
    bad: [
      'REINDEX TABLE users;',
      'REINDEX INDEX users_email_idx;',
      'REINDEX (VERBOSE) TABLE ops.jobs;',
      // The option's value is read, not only its presence.
      '-- atlas:no-transaction\nREINDEX (CONCURRENTLY false) INDEX users_email_idx;',
      '-- atlas:no-transaction\nREINDEX (CONCURRENTLY OFF, VERBOSE) TABLE users;',
      '-- atlas:no-transaction\nREINDEX (CONCURRENTLY 0) TABLE users;',
    ],
    good: [
      '-- atlas:no-transaction\nREINDEX TABLE CONCURRENTLY users;',
      '-- atlas:no-transaction\nREINDEX (CONCURRENTLY) INDEX users_email_idx;',
      '-- atlas:no-transaction\nREINDEX (concurrently True, verbose) TABLE users;',
      "-- atlas:no-transaction\nREINDEX (CONCURRENTLY 'on') TABLE users;",
      '-- atlas:no-transaction\nREINDEX (CONCURRENTLY 1) TABLE users;',
    ],
  },
  'detach-partition': {
    bad: [
      'ALTER TABLE events DETACH PARTITION events_2025;',
      '-- atlas:no-transaction\nALTER TABLE events DETACH PARTITION events_2025 CONCURRENTLY;',
      'ALTER TABLE events DETACH PARTITION events_2025 FINALIZE;',
    ],
    good: ['CREATE TABLE e (a int) PARTITION BY RANGE (a); ALTER TABLE e DETACH PARTITION e1;'],
  },
  'unused-waiver': {
    bad: ['-- atlas:allow drop-column not the rule this breaks\nALTER TABLE users RENAME TO people;'],
    good: ['-- atlas:allow rename the old name was never released\nALTER TABLE users RENAME TO people;'],
  },
  backfill: {
    bad: [
      "UPDATE users SET role = 'viewer' WHERE role IS NULL;",
      "INSERT INTO settings (key, value) VALUES ('a', '1');",
      'DELETE FROM sessions WHERE expires_at < now();',
    ],
    good: ['SELECT 1;'],
  },
  'enum-add-value': {
    bad: ["ALTER TYPE mood ADD VALUE 'meh';", "ALTER TYPE ops.\"Level\" ADD VALUE IF NOT EXISTS 'trace' BEFORE 'debug';"],
    good: ["CREATE TYPE mood AS ENUM ('a'); ALTER TYPE mood ADD VALUE 'b';"],
  },
};

describe('every rule', () => {
  it('has cases here', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(RULES).sort());
  });

  describe.each(Object.entries(CASES))('%s', (rule, { bad, good }) => {
    it.each(bad)('fires on %s', (sql) => {
      expect(rulesHit(sql)).toContain(rule);
    });
    it.each(good)('stays quiet on %s', (sql) => {
      expect(rulesHit(sql)).not.toContain(rule);
    });
  });
});

describe('findings', () => {
  it('point at the line and column of each statement, several on one line and across lines', () => {
    const sql =
      '-- header comment\nCREATE TABLE ok (id int);  ALTER TABLE users DROP COLUMN a; ALTER TABLE users\n  RENAME COLUMN b\n  TO c;\n/* block */ TRUNCATE "Audit Log";';
    const found = lintSql('0002_x.sql', sql).map((f) => [f.rule, f.line, f.column, f.statement]);
    expect(found).toEqual([
      ['drop-column', 2, 28, 'ALTER TABLE users DROP COLUMN a'],
      ['rename', 2, 61, 'ALTER TABLE users'],
      ['truncate', 5, 13, 'TRUNCATE "Audit Log"'],
    ]);
  });

  it('count columns in characters, not bytes, after non-ASCII text', () => {
    const [f] = lintSql('m.sql', "COMMENT ON TABLE users IS 'Benutzer — Übersicht'; DROP TABLE users;");
    expect([f?.line, f?.column]).toEqual([1, 51]);
  });

  it('keep quoted and schema-qualified names apart from plain ones', () => {
    expect(rulesHit('CREATE TABLE "Users" (a int); DROP TABLE users;')).toEqual(['drop-object']);
    expect(rulesHit('CREATE TABLE ops.t (a int); DROP TABLE public.t;')).toEqual(['drop-object']);
    expect(rulesHit('CREATE TABLE ops.t (a int); DROP TABLE ops.t;')).toEqual([]);
    expect(lintSql('m.sql', 'ALTER TABLE "Audit Log" DROP COLUMN "Who";')[0]?.subject).toBe('Audit Log.Who');
  });

  it('see through DO blocks: violations inside count, and are marked as inside', () => {
    const [f] = lintSql('m.sql', 'DO $$\nBEGIN\n  ALTER TABLE users DROP COLUMN name;\nEND\n$$;');
    expect(f).toMatchObject({ rule: 'drop-column', severity: 'violation', context: 'inside DO block', subject: 'users.name' });
  });

  it('report what a function body would do for review, since the migration does not run it', () => {
    const found = lintSql('m.sql', 'CREATE FUNCTION purge() RETURNS void LANGUAGE plpgsql AS $$ BEGIN TRUNCATE users; END $$;');
    expect(found).toEqual([expect.objectContaining({ rule: 'truncate', severity: 'review', context: 'inside function purge' })]);
  });

  it('list waivers with their reasons, and do not count them', () => {
    const found = lintSql('m.sql', 'ALTER TABLE users DROP COLUMN tmp; -- atlas:allow drop-column added and dropped before any release\nDROP TABLE users;');
    expect(found.map((f) => [f.rule, f.waived])).toEqual([
      ['drop-column', 'added and dropped before any release'],
      ['drop-object', undefined],
    ]);
  });

  it('carry what breaks and the safe alternative', () => {
    const [f] = lintSql('m.sql', 'ALTER TABLE users DROP COLUMN name;');
    expect(f?.breaks).toMatch(/previous version still reads and writes this column/);
    expect(f?.instead).toMatch(/stop reading and writing the column in one release.*drop it in a later release/);
  });
});
