import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireFileLock, LockHeldError } from '../../src/shared/file-lock.js';
import { hashPassword, passwordProblem, verifyPassword } from '../../src/shared/password.js';
import { connection } from '../../src/ops/backup/pg-tools.js';
import { redactCredentials, redactSecrets, redactUrl, urlSecrets } from '../../src/shared/redact.js';
import { compareVersions, parseVersion, readAppVersion } from '../../src/shared/version.js';
import { tempDir } from '../support/temp.js';

describe('versions', () => {
  it('accepts release versions and orders them as semver does', () => {
    expect(parseVersion('1.3.0')).toMatchObject({ major: 1, minor: 3, patch: 0, prerelease: undefined });
    expect(parseVersion('2.0.0-rc.1').prerelease).toBe('rc.1');
    expect(['1.10.0', '1.2.2', '1.3.0-rc.1', '1.3.0', '0.9.9'].sort(compareVersions)).toEqual(['0.9.9', '1.2.2', '1.3.0-rc.1', '1.3.0', '1.10.0']);
  });

  it.each(['latest', '', 'v1.3.0', '1.3', '01.3.0', '1.3.0; rm -rf /', '1.3.0\n', '../1.3.0', '1.3.0 ', '$(id)', '1.3.0-', '1.3.0+build'])(
    'refuses %j with a message that quotes it harmlessly',
    (text) => {
      expect(() => parseVersion(text)).toThrow(/is not a release version: expected MAJOR\.MINOR\.PATCH/);
      try {
        parseVersion(text);
      } catch (err) {
        expect((err as Error).message).not.toContain('\n');
      }
    },
  );

  it('reads the baked-in .atlas-version, else package.json', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ version: '1.2.2' }));
    expect(readAppVersion(dir)).toBe('1.2.2');
    writeFileSync(path.join(dir, '.atlas-version'), '1.3.0\n');
    expect(readAppVersion(dir)).toBe('1.3.0');
    writeFileSync(path.join(dir, '.atlas-version'), 'garbage\n');
    expect(() => readAppVersion(dir)).toThrow(/not a release version/);
  });
});

describe('redaction', () => {
  it('hides the password of a connection URL, and every known secret in text', () => {
    expect(redactUrl('postgresql://atlasusr:p%40ss@db:5432/atlas')).toBe('postgresql://atlasusr:***@db:5432/atlas');
    expect(redactUrl('postgresql://db/atlas')).toBe('postgresql://db/atlas');
    expect(redactUrl('not a url://u:secret@h')).toBe('not a url://u:***@h');
    expect(urlSecrets('postgresql://u:p%40ss@h/db')).toEqual(['p%40ss', 'p@ss']);
    // libpq also takes the password as a parameter: found, redacted, and kept off argv.
    const query = 'postgresql://u@h:5432/db?sslmode=require&password=s%3Dcr%2Bt';
    expect(urlSecrets(query)).toEqual(['s%3Dcr%2Bt', 's=cr+t']);
    expect(redactUrl(query)).toBe('postgresql://u@h:5432/db?sslmode=require&password=***');
    expect(connection(query)).toEqual({ url: 'postgresql://u@h:5432/db?sslmode=require', env: { PGPASSWORD: 's=cr+t' } });
    expect(connection('postgresql://u:p%40ss@h/db')).toEqual({ url: 'postgresql://u@h/db', env: { PGPASSWORD: 'p@ss' } });
    expect(redactSecrets('connect p@ss and p%40ss', urlSecrets('postgresql://u:p%40ss@h/db'))).toBe('connect *** and ***');
    expect(redactSecrets('nothing here', [''])).toBe('nothing here');
  });
});

describe('credentials found by their form', () => {
  it("redacts every credential the Tenant Plane issues, sessions too, and libpq's password= keyword form", () => {
    const session = `ats_${'s'.repeat(43)}`;
    expect(redactCredentials(`cookie atlas_session=${session}; token atp_${'t'.repeat(43)}`)).toBe('cookie atlas_session=ats_***; token atp_***');
    expect(redactCredentials("host=db user=atlas password=s3cret dbname=atlas and password = 'p w\\'d' sslmode=require")).toBe(
      'host=db user=atlas password=*** dbname=atlas and password = *** sslmode=require',
    );
    expect(redactCredentials('postgresql://u@h/db?sslmode=require&password=s3cret&x=1')).toBe('postgresql://u@h/db?sslmode=require&password=***&x=1');
    expect(redactCredentials('nothing: a password is asked for, ats_short')).toBe('nothing: a password is asked for, ats_short');
  });
});

describe('passwords', () => {
  it('verifies the right password only, with the scrypt parameters stored beside the hash', async () => {
    const hash = await hashPassword('correct-horse-battery');
    expect(hash).toMatch(/^scrypt\$65536\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct-horse-battery', hash)).toBe(true);
    expect(await verifyPassword('correct-horse-batterY', hash)).toBe(false);
    expect(await verifyPassword('x', 'md5$whatever')).toBe(false);
    expect(passwordProblem('short')).toMatch(/at least 12/);
    expect(passwordProblem('long-enough-pw')).toBeUndefined();
  });
});

describe('lock files', () => {
  it('refuses a second holder while the first lives, and names it', () => {
    const file = path.join(tempDir(), 'op.lock');
    const lock = acquireFileLock(file, 'tpctl upgrade --to 1.3.0');
    try {
      expect(() => acquireFileLock(file, 'tpctl rollback')).toThrow(LockHeldError);
      try {
        acquireFileLock(file, 'tpctl rollback');
      } catch (err) {
        expect((err as LockHeldError).holder).toMatchObject({ pid: process.pid, host: os.hostname(), what: 'tpctl upgrade --to 1.3.0' });
      }
    } finally {
      lock.release();
    }
    const again = acquireFileLock(file, 'tpctl rollback');
    expect(again.tookOverFrom).toBeUndefined();
    again.release();
  });

  it('takes over the lock of a holder that died, and says whose it was', async () => {
    const file = path.join(tempDir(), 'op.lock');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    const pid = child.pid!;
    writeFileSync(file, JSON.stringify({ pid, host: os.hostname(), since: '2026-11-26T00:00:00Z', what: 'tpctl upgrade' }));
    expect(() => acquireFileLock(file, 'tpctl rollback')).toThrow(LockHeldError);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const lock = acquireFileLock(file, 'tpctl rollback');
    expect(lock.tookOverFrom).toMatchObject({ pid, what: 'tpctl upgrade' });
    lock.release();
  });
});
