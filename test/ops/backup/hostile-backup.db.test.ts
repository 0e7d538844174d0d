import { chmodSync, chownSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../support/temp.js';
import { createBackup, rewrittenCopy, setUp, withDb, type Kind, type Setup } from '../../support/backup-setup.js';
import { fingerprint } from '../../support/fingerprint.js';
import { tpctl } from '../../support/tpctl.js';

/**
 * A backup is data, never code: backups edited to run commands on the host, on the database
 * server or as a new superuser are refused by every path that reads a backup, before any of
 * it runs, whether the edit left the signature broken, or someone holding the key signed it.
 */
const marks = tempDir('atlas-pwn-');
const mark = (n: number) => path.join(marks, `pwn${n}`);

/** Each payload goes right after the dump's `SET row_security = off;`, before any table. */
const PAYLOADS: [name: string, sql: string, refusal: RegExp][] = [
  ['a psql meta-command on a later line of a statement', `SELECT 1\n\\! id > ${mark(1)}\n;\n`, /not a statement PostgreSQL parses/],
  ['a psql meta-command on a line of its own', `\\! id > ${mark(2)}\n`, /a psql command, which a restore never runs: \\\\! id/],
  ['COPY ... TO PROGRAM', `COPY (SELECT 1) TO PROGRAM 'id > ${mark(3)}';\n`, /a COPY other than FROM stdin/],
  [
    'COPY ... PROGRAM inside a DO block',
    `DO $x$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id > ${mark(4)}'''; END $x$;\n`,
    /the backup holds DO, which a restore never runs/,
  ],
  [
    'a role created by a function body, called by a trigger before the rows',
    `CREATE FUNCTION public.atlas_pwn() RETURNS trigger LANGUAGE plpgsql AS $x$ BEGIN CREATE ROLE atlas_pwned SUPERUSER LOGIN; RETURN NULL; END $x$;\n` +
      `CREATE TABLE public.atlas_pwn_t (x int);\nCREATE TRIGGER atlas_pwn AFTER INSERT ON public.atlas_pwn_t FOR EACH STATEMENT EXECUTE FUNCTION public.atlas_pwn();\n`,
    /a function that no migration defines \(public\.atlas_pwn\)/,
  ],
  [
    'our own function with another body',
    `CREATE FUNCTION public.atlas_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN CREATE ROLE atlas_pwned SUPERUSER; RETURN NULL; END $$;\n`,
    /a function that no migration defines \(public\.atlas_announce_change\)/,
  ],
  ['a role granted', `GRANT pg_write_server_files TO CURRENT_USER;\n`, /the backup holds GRANT ROLE/],
  ['a server file read into a table', `SELECT pg_catalog.pg_read_file('/etc/passwd');\n`, /a call of pg_catalog\.pg_read_file/],
];

const inject = (payload: string) => (sql: string) => {
  const at = sql.indexOf('SET row_security = off;\n');
  expect(at).toBeGreaterThan(0);
  return `${sql.slice(0, at)}SET row_security = off;\n${payload}${sql.slice(at + 'SET row_security = off;\n'.length)}`;
};

/** A copy of a real backup, under another name, edited to carry the payload; signed again or not. */
function crafted(setup: Setup, original: string, payload: string, signed: boolean): string {
  return rewrittenCopy(setup.env.ATLAS_DATA_DIR!, original, Math.random().toString(36).slice(2, 8), inject(payload), signed);
}

async function nothingRan(kind: Kind, setup: Setup): Promise<void> {
  expect(readdirSync(marks)).toEqual([]);
  if (kind === 'postgres') {
    const roles = await withDb(setup, (db) => db.query(`SELECT rolname FROM pg_roles WHERE rolname = 'atlas_pwned'`));
    expect(roles).toEqual([]);
  }
}

describe.each(['postgres', 'embedded'] as const)('a hostile backup on %s', (kind) => {
  let setup: Setup;
  let original: string;
  beforeAll(async () => {
    setup = await setUp(kind);
    original = await createBackup(setup);
  });

  it.each(PAYLOADS)(
    '%s, signed again by someone who holds the key: refused by verify, --restore-test, restore and its dry run',
    async (_name, payload, refusal) => {
      const file = crafted(setup, original, payload, true);
      const before = await withDb(setup, fingerprint);
      for (const args of [
        ['backup', 'verify', file],
        ['backup', 'verify', file, '--restore-test'],
      ]) {
        const res = await tpctl(args, setup.env);
        expect(res.stdout).toMatch(new RegExp(`FAIL content: .*${refusal.source}`));
        expect(res.stdout).not.toContain('restore test');
        expect(res.code).toBe(1);
      }
      for (const args of [
        ['restore', file, '--dry-run'],
        ['restore', file],
        ['restore', file, '--trust-unsigned'],
      ]) {
        const res = await tpctl(args, setup.env);
        expect(res.stderr).toMatch(refusal);
        expect(res.stderr).toContain('nothing of it was run');
        expect(res.code).toBe(2);
      }
      expect(await withDb(setup, fingerprint)).toEqual(before);
      await nothingRan(kind, setup);
    },
  );

  it.each(PAYLOADS)('%s, its manifest made to match but not signed again: refused on the signature, before a byte is read', async (_name, payload) => {
    const file = crafted(setup, original, payload, false);
    const verify = await tpctl(['backup', 'verify', file, '--restore-test'], setup.env);
    expect(verify.stdout).toMatch(/FAIL signature: the signature does not match the manifest \(key [0-9a-f]{16}\): it may have been made elsewhere or altered/);
    expect(verify.stdout).not.toMatch(/sha256|content|restore test/);
    expect(verify.code).toBe(1);
    for (const args of [
      ['restore', file, '--dry-run'],
      ['restore', file],
    ]) {
      const res = await tpctl(args, setup.env);
      expect(res.stderr).toMatch(/^tpctl restore: the backup failed verification, nothing was changed: signature: the signature does not match/);
      expect(res.code).toBe(2);
    }
    await nothingRan(kind, setup);
  });

  it('an unsigned backup is refused, saying how to sign or trust it; trusted, it restores and says it was trusted; signed, it restores plainly', async () => {
    const file = crafted(setup, original, '', false);
    const refused = await tpctl(['restore', file, '--dry-run'], setup.env);
    expect(refused.stderr).toContain('sign it with tpctl backup sign FILE, or accept it once with --trust-unsigned');
    expect(refused.code).toBe(2);
    const trusted = await tpctl(['restore', file, '--dry-run'], { ...setup.env, ATLAS_TRUST_UNSIGNED: '1' });
    expect(trusted.stdout).toContain('accepted because --trust-unsigned (ATLAS_TRUST_UNSIGNED=1) was given');
    expect(trusted.code).toBe(0);
    const signed = await tpctl(['backup', 'sign', file], setup.env);
    expect(signed.stdout).toMatch(/: checked, and signed with key [0-9a-f]{16} of /);
    expect(signed.code).toBe(0);
    const plain = await tpctl(['restore', file, '--dry-run'], setup.env);
    expect(plain.stdout).not.toContain('trust');
    expect(plain.code).toBe(0);
  });

  it('backup sign refuses a backup that fails another check, and signs nothing', async () => {
    const file = crafted(setup, original, PAYLOADS[2]![1], false);
    const res = await tpctl(['backup', 'sign', file], setup.env);
    expect(res.stdout).toMatch(/NOT signed, a check failed:\n {2}FAIL content: /);
    expect(res.code).toBe(1);
    expect((await tpctl(['restore', file, '--dry-run'], setup.env)).stderr).toContain('signature: the signature does not match');
  });

  it('a key rotated: older backups still verify, new ones are signed with the new key; a keyring readable by others is refused', async () => {
    const rotated = await tpctl(['backup', 'rotate-key'], setup.env);
    expect(rotated.stdout).toMatch(/^new signing key ([0-9a-f]{16}) in .*backup-keys; 1 older key\(s\) kept/);
    const verify = await tpctl(['backup', 'verify', original], setup.env);
    expect(verify.code).toBe(0);
    const other = tempDir();
    const elsewhere = await tpctl(['backup', 'verify', original], { ...setup.env, ATLAS_BACKUP_KEY_FILE: path.join(other, 'keys') });
    expect(elsewhere.stdout).toMatch(/FAIL signature: signed by key [0-9a-f]{16}, which is not in the keyring/);
    expect(existsSync(path.join(other, 'keys'))).toBe(false);

    const keyFile = path.join(setup.env.ATLAS_DATA_DIR!, 'backup-keys');
    chmodSync(keyFile, 0o644);
    const exposed = await tpctl(['backup', 'verify', original], setup.env);
    expect(exposed.stderr).toContain(`the backup keyring ${keyFile} may be read or written by others (mode 644): chmod 600 ${keyFile}`);
    expect(exposed.code).toBe(2);
    chmodSync(keyFile, 0o600);
    if (process.getuid?.() === 0) {
      // Whoever owns the data directory could swap in a keyring of theirs: as root, tpctl reads root's only.
      chownSync(keyFile, 10001, 10001);
      const theirs = await tpctl(['backup', 'verify', original], setup.env);
      expect(theirs.stderr).toContain(`the backup keyring ${keyFile} belongs to uid 10001, not root, who runs tpctl: chown root ${keyFile}`);
      expect(theirs.code).toBe(2);
      chownSync(keyFile, 0, 0);
    }
  });
});

describe('what psql would take for the end of the rows', () => {
  it('a COPY row starting with \\. followed by more is refused before it reaches psql', async () => {
    const setup = await setUp('postgres');
    const original = await createBackup(setup);
    const file = rewrittenCopy(
      setup.env.ATLAS_DATA_DIR!,
      original,
      'rows',
      (sql) => sql.replace(/^(COPY public\.incidents .*\n)/m, `$1\\.\r\n\\! id > ${mark(9)}\n`),
      true,
    );
    const res = await tpctl(['restore', file], setup.env);
    expect(res.stderr).toContain('a row of public.incidents starts with \\. (the end-of-rows mark) and goes on');
    expect(res.code).toBe(2);
    await nothingRan('postgres', setup);
  });
});
