import { existsSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { rewrittenCopy } from '../support/backup-setup.js';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { buildRelease, makeRelease, PRIORITY, RELEASE_1_2_2, RELEASES_WITH_METADATA } from '../support/release.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/**
 * The checks before a switch on the local runtime, on PostgreSQL: the target release's own
 * tpctl checks the live schema; 2.0.0 and 1.3.1 are built by scripts/build-release.sh from
 * copies of this checkout with their own release.json and migrations.
 */
const dir = tempDir('atlas-local-checks-');
let env: Record<string, string>;

const script = (name: string, extra: Record<string, string> = {}) => runProcess('bash', [`scripts/${name}`], { ...env, ...extra }, { cwd: dir });
const local = (args: string[]) => tpctl(args, env, { cwd: dir });
const read = (file: string) => {
  try {
    return readFileSync(path.join(dir, 'data', file), 'utf8');
  } catch {
    return '';
  }
};
const snapshot = () => ({ current: read('releases/current'), history: read('.atlas-upgrade-history'), previous: read('.atlas-previous-version') });
const logOf = (stdout: string) => readFileSync(/Log: (\S+?)(;|$)/m.exec(stdout)?.[1] ?? '', 'utf8');
async function healthyVersion(): Promise<string> {
  return ((await (await fetch(env.HEALTH_URL!)).json()) as { version: string }).version;
}

beforeAll(async () => {
  // 1.3.0 is made as releases were before they carried metadata: its path is not checked.
  const built = [RELEASE_1_2_2, ...Object.values(RELEASES_WITH_METADATA)].map(buildRelease);
  const releases = [makeRelease({ version: '1.3.0', migrations: PRIORITY }), ...built];
  // The port is taken after the builds (a minute and more): a free port left that long may be another's.
  env = { ...localRuntimeEnv(dir, await freePort()), DB_URL: await sharedPostgres().createDatabase('localchecks') };
  symlinkSync(path.join(appRoot, 'scripts'), path.join(dir, 'scripts'));
  for (const release of releases) expect((await local(['release', 'add', release])).code).toBe(0);
  const started = await local(['local', 'start', '--version', '1.2.2']);
  expect(started.code, started.stdout + started.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await local(['local', 'stop']);
});

describe('the local runtime on PostgreSQL: know before switching', () => {
  it('2.0.0 (minimumUpgradeFrom 1.3.0) is refused from 1.2.2 naming the stop, nothing changed; from 1.3.0 it goes through; an ordinary rollback passes the schema check', async () => {
    const before = snapshot();
    const refused = await script('upgrade-tp.sh', { ATLAS_VERSION: '2.0.0' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      '2.0.0 cannot be upgraded to from 1.2.2: it needs 1.3.0 or newer (minimumUpgradeFrom in its release.json); upgrade to 1.3.0 first: ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh\nnothing was changed',
    );
    expect(snapshot()).toEqual(before);

    expect((await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' })).code).toBe(0);
    const upgraded = await script('upgrade-tp.sh', { ATLAS_VERSION: '2.0.0' });
    expect(upgraded.code).toBe(0);
    const log = logOf(upgraded.stdout);
    expect(log).toMatch(/ {3}path-check ok in \d+ ms: 2\.0\.0 can be upgraded to from 1\.3\.0 or newer; 1\.3\.0 runs\n/);
    expect(log).toMatch(/\$ \S+node \S+\/releases\/2\.0\.0\/dist\/cli\/tpctl\.js migrate status --json\n/);
    expect(log).toMatch(/ {3}schema-check ok in \d+ ms: 2\.0\.0 can run on the schema as it is\n/);
    expect(await healthyVersion()).toBe('2.0.0');

    const back = await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2' });
    expect(back.code).toBe(0);
    expect(logOf(back.stdout)).toMatch(/ {3}schema-check ok in \d+ ms: 1\.2\.2 can run on the schema as it is\n/);
    expect(await healthyVersion()).toBe('1.2.2');
  });

  it('after 1.3.1 (a column dropped under a waiver), the rollback to 1.2.2 is refused naming the migration and the 1.2.2 backup; with RESTORE_DB=1 and that file it goes through', async () => {
    const upgraded = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.1' });
    expect(upgraded.code).toBe(0);
    const backup = /pre-upgrade backup: (\S+)/.exec(upgraded.stdout)?.[1] ?? '';
    expect(path.basename(backup)).toMatch(/^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/);
    // The newest backup taken at or before 1.2.2, among the others.
    expect(readdirSync(env.ATLAS_LOG_DIR!).filter((n) => n.endsWith('.sql.gz')).length).toBeGreaterThan(1);
    const before = snapshot();
    const safePath = `RESTORE_DB=1 DB_BACKUP_FILE=${backup} ATLAS_VERSION=1.2.2 bash scripts/rollback-tp.sh`;

    const dry = await local(['rollback', '--to', '1.2.2', '--dry-run']);
    expect(dry.code).toBe(2);
    const refused = await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `1.2.2 cannot run on the schema as it is: 0911_drop_incident_nickname.sql (applied by 1.3.1) is not additive: drop-column; restore the newest backup taken at or before 1.2.2: ${safePath}\nnothing was changed`,
    );
    expect(snapshot()).toEqual(before);
    expect(await healthyVersion()).toBe('1.3.1');

    // A copy of that backup carrying a command, signed by someone who holds the key: refused before anything stops.
    const pwned = path.join(dir, 'pwned');
    const hostile = rewrittenCopy(
      path.join(dir, 'data'),
      backup,
      'hostile',
      (sql) => sql.replace('SET row_security = off;\n', `$&COPY (SELECT 1) TO PROGRAM 'touch ${pwned}';\n`),
      true,
    );
    const hostileRun = await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2', RESTORE_DB: '1', DB_BACKUP_FILE: hostile });
    expect(hostileRun.stderr).toContain('failed verification: content: the backup holds a COPY other than FROM stdin, which a restore never runs');
    expect(hostileRun.code).toBe(2);
    expect(existsSync(pwned)).toBe(false);
    expect(snapshot()).toEqual(before);
    expect(await healthyVersion()).toBe('1.3.1');

    const restored = await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2', RESTORE_DB: '1', DB_BACKUP_FILE: backup });
    expect(restored.stdout).toMatch(/^rolled back 1\.3\.1 -> 1\.2\.2 in [\d.]+ s; 1\.2\.2 is healthy, on the database restored from/);
    expect(restored.code).toBe(0);
    expect(logOf(restored.stdout)).toContain(`schema-check ok in`);
    expect(logOf(restored.stdout)).toMatch(
      new RegExp(` {3}schema-check ok in \\d+ ms: 1\\.2\\.2 can run on the schema ${backup.replace(/[.]/g, '\\.')} holds\n`),
    );
    expect(await healthyVersion()).toBe('1.2.2');
  });
});
