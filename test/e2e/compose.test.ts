import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';
import { openDatabase } from '../../src/db/database.js';
import { RELEASE_LABEL } from '../../src/ops/release-metadata.js';
import { appRoot } from '../../src/shared/app-root.js';
import { ApiClient, eventually } from '../support/api-client.js';
import { sharedPostgres, tempDir } from '../support/backends.js';
import { buildVariant, Deployment, requireDocker } from '../support/docker.js';
import { renderTemplate } from '../support/helm-template.js';
import { buildRelease, PRIORITY, RELEASES_WITH_METADATA } from '../support/release.js';
import { PG_PASSWORD } from '../support/postgres-server.js';
import { tpctl } from '../support/tpctl.js';

/**
 * The operator guide's Options 1 and 2 on a real Docker Engine: images built by
 * scripts/build-image.sh, the repository's docker-compose.yml (on host networking), the
 * scripts run as the guide runs them, PostgreSQL on 127.0.0.1.
 */
const admin = { email: 'admin@example.com', password: 'compose-admin-pw-1' };
const deployments: Deployment[] = [];

async function deployment(version = '1.2.2', layout?: Parameters<Deployment['create']>[0], composeEnv?: Record<string, string>): Promise<Deployment> {
  const d = new Deployment({ version, dbUrl: await sharedPostgres().createDatabase('compose'), admin }, composeEnv);
  deployments.push(d);
  await d.create(layout);
  return d;
}

async function query<T extends Record<string, unknown>>(d: Deployment, sql: string): Promise<T[]> {
  const db = await openDatabase({ url: d.options.dbUrl, embeddedDir: '' });
  try {
    return await db.query<T>(sql);
  } finally {
    await db.close();
  }
}

const historyLines = (d: Deployment) => d.read('data/.atlas-upgrade-history').trim().split('\n').filter(Boolean);
const LOG = (op: string) => `log:\\S+/logs/${op}-\\d{8}T\\d{6}\\.log`;

beforeAll(() => {
  requireDocker();
  execFileSync('bash', [path.join(appRoot, 'scripts', 'build-image.sh')], { env: { ...process.env, ATLAS_VERSION: '1.2.2' }, stdio: 'ignore' });
  buildVariant('1.2.2', '1.3.0', PRIORITY);
  // A mislabelled build: tagged 1.3.3, its version file says 1.3.3-rc.9.
  buildVariant('1.2.2', '1.3.3', {}, '1.3.3-rc.9');
  // Adds the column, then crashes on start: a migration that cannot apply.
  buildVariant('1.2.2', '1.3.2', { ...PRIORITY, '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' });
  // Releases with their own release.json and migrations, built by the scripts as a developer builds them.
  for (const release of Object.values(RELEASES_WITH_METADATA)) {
    execFileSync('bash', [path.join(appRoot, 'scripts', 'build-image.sh')], { env: { ...process.env, ATLAS_VERSION: release.version, ATLAS_RELEASE_DIR: buildRelease(release) }, stdio: 'ignore' });
  }
}, 600_000);

afterAll(() => deployments.forEach((d) => d.down()));

describe('Option 1: upgrade with automatic rollback', () => {
  it('ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh: backup, previous version, history, log; 1.3.0 runs and adds its column', async () => {
    const d = await deployment();
    const composeBefore = d.read('docker-compose.yml');
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(res.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy/);
    expect(res.code).toBe(0);

    expect(d.versionFile()).toBe('1.3.0');
    expect(d.read('data/.atlas-previous-version')).toBe('1.2.2\n');
    expect(historyLines(d)).toEqual([expect.stringMatching(new RegExp(`^\\d{8}T\\d{6} 1\\.2\\.2 -> 1\\.3\\.0 SUCCESS ${LOG('upgrade')}$`))]);
    const logFile = /log:(\S+)/.exec(historyLines(d)[0]!)?.[1] ?? '';
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(/== backup: back up the database/);
    expect(log).toMatch(/\$ docker-compose -f \S+ up -d --no-deps tenant-plane\n.*→ ok in \d+ ms/);
    expect(log).toMatch(/wait-healthy ok in \d+ ms/);
    expect(log).toMatch(/PASS login: POST \/api\/login as admin@example\.com \(admin\) gave a session\n.*PASS version: GET \/api\/admin\/license shows version 1\.3\.0/);
    expect(log).not.toContain(PG_PASSWORD);
    const backups = readdirSync(d.logDir).filter((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n));
    expect(backups).toHaveLength(1);
    expect(existsSync(path.join(d.logDir, `${backups[0]}.manifest.json`))).toBe(true);

    // Only the tag changed: the operator's comments and layout are kept.
    expect(d.read('docker-compose.yml')).toBe(composeBefore.replace('atlasai/tenant-plane:1.2.2', 'atlasai/tenant-plane:1.3.0'));
    const columns = await query(d, `SELECT 1 FROM information_schema.columns WHERE table_name = 'incidents' AND column_name = 'priority'`);
    expect(columns).toHaveLength(1);

    const history = JSON.parse((await d.tpctl(['history', '--json'])).stdout) as { outcome: string; run: { steps: { step: string; durationMs: number }[]; backup: string; health: { body: string } } }[];
    expect(history[0]?.run.steps.map((s) => s.step)).toEqual(['preflight', 'path-check', 'schema-check', 'backup', 'switch', 'wait-healthy', 'verify', 'checklist']);
    expect(history[0]?.run.backup).toContain('db-backup-1.2.2-');
    expect(history[0]?.run.health.body).toContain('"version":"1.3.0"');
  });

  it('an upgrade whose login check fails rolls back to 1.2.2', async () => {
    const d = await deployment();
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_VERIFY_PASSWORD: 'not-the-password-1' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^upgrade to 1\.3\.0 FAILED at checklist: login: POST \/api\/login as admin@example\.com: HTTP 401: the email or the password is wrong.*Rolled back: 1\.2\.2 runs and is healthy/);
    expect(d.versionFile()).toBe('1.2.2');
    expect(historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''))).toEqual(['1.2.2 -> 1.3.0 FAILED', 'ROLLBACK 1.3.0 -> 1.2.2']);
  });

  it('an upgrade to a mislabelled build (its version file says 1.3.3-rc.9) is refused before anything changes: its own tpctl says what it is', async () => {
    const d = await deployment();
    const compose = d.read('docker-compose.yml');
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.3' });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("1.3.3's own tpctl says it is 1.3.3-rc.9: a mislabelled build\nnothing was changed");
    expect(d.read('data/.atlas-upgrade-history')).toBe('');
    expect(d.read('docker-compose.yml')).toBe(compose);
    expect(d.versionFile()).toBe('1.2.2');
  });

  it('an upgrade to a version that crashes on start fails fast and 1.2.2 runs healthy on the newer schema; tpctl support-bundle holds what support asks for, no password', async () => {
    const d = await deployment();
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.2', HEALTH_TIMEOUT: '60' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FAILED at wait-healthy: the Tenant Plane crashed: (restarting after exit 1|exited with 1|crash-looping: restarted \d+ times?)/);
    const logFile = /Log: (\S+?);/.exec(res.stdout)?.[1] ?? '';
    expect(readFileSync(logFile, 'utf8')).toMatch(/last log lines of the Tenant Plane:\n(.*\n)*.*migration 0901_broken\.sql failed and was rolled back/);
    expect(historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''))).toEqual(['1.2.2 -> 1.3.2 FAILED', 'ROLLBACK 1.3.2 -> 1.2.2']);
    await d.waitHealthy('1.2.2', 5);
    const health = await d.health();
    expect(health?.body).toContain('"ahead":["0900_incident_priority.sql"]');
    const record = JSON.parse((await d.tpctl(['history', '--json'])).stdout) as { run: { failure: { reason: string } } }[];
    expect(record[0]?.run.failure.reason).toMatch(/^the Tenant Plane crashed/);

    // The guide's "Getting help", as one command, while 1.2.2 runs and then with it stopped.
    const bundle = async () => {
      const res = await d.tpctl(['support-bundle', '--out', path.join(d.dir, 'support')]);
      expect(res.code).toBe(0);
      const file = /^wrote (\S+atlas-support-\d{8}T\d{6}\.tar\.gz) \(/.exec(res.stdout)?.[1] ?? '';
      const into = tempDir('atlas-support-out-');
      execFileSync('tar', ['-xzf', file, '-C', into]);
      const [top] = readdirSync(into);
      const read = (name: string) => (existsSync(path.join(into, top!, name)) ? readFileSync(path.join(into, top!, name), 'utf8') : undefined);
      const all = execFileSync('find', [path.join(into, top!), '-type', 'f'], { encoding: 'utf8' }).trim().split('\n').map((f) => readFileSync(f, 'utf8')).join('\n');
      for (const secret of [PG_PASSWORD, admin.password]) expect(all).not.toContain(secret);
      return { res, read, names: readdirSync(path.join(into, top!)) };
    };
    const up = await bundle();
    expect(up.names.sort()).toEqual(['MANIFEST.txt', 'health.json', 'history.json', 'history.txt', 'logs', 'runtime-logs.txt', 'status.json', 'versions.txt']);
    expect(up.read('versions.txt')).toMatch(/^configured: +1\.2\.2\nrunning: +1\.2\.2\n(.*\n)*last upgrade: +1\.2\.2 -> 1\.3\.2 FAILED, at \d{8}T\d{6} UTC\nlast rollback: +1\.3\.2 -> 1\.2\.2 SUCCESS/);
    expect(JSON.parse(up.read('health.json')!)).toMatchObject({ status: 'ok', version: '1.2.2' });
    expect(up.read(`logs/${path.basename(logFile)}`)).toContain('FAILED');
    expect(up.read('runtime-logs.txt')).toMatch(/Tenant Plane starting/);
    expect(up.res.stdout).not.toContain('not collected');

    d.compose('stop', 'tenant-plane');
    const down = await bundle();
    expect(down.res.stdout).toMatch(/not collected:\n\s+health\.json\s+GET http:\/\/127\.0\.0\.1:\d+\/api\/health: no answer/);
    expect(down.read('versions.txt')).toMatch(/^configured: +1\.2\.2\nrunning: +unknown/);
    expect(down.read('runtime-logs.txt')).toMatch(/Tenant Plane starting/);
    d.compose('start', 'tenant-plane');
  });
});

describe('Option 2: manual rollback', () => {
  it('bash scripts/rollback-tp.sh finds the previous version; ATLAS_VERSION=1.2.2 names it', async () => {
    const d = await deployment();
    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' })).code).toBe(0);

    const auto = await d.script('rollback-tp.sh');
    expect(auto.stdout).toMatch(/^rolled back 1\.3\.0 -> 1\.2\.2 in [\d.]+ s; 1\.2\.2 is healthy/);
    expect(auto.code).toBe(0);
    expect(auto.stderr).toContain('rollback 1.3.0 -> 1.2.2 (target from data/.atlas-previous-version)');
    // An ordinary rollback (additive migrations only) passes the schema check, made by 1.2.2's own code; its time is in the log.
    const rollbackLog = readFileSync(/Log: (\S+)/.exec(auto.stdout)?.[1] ?? '', 'utf8');
    expect(rollbackLog).toMatch(/\$ docker run --rm --network host -e DB_URL atlasai\/tenant-plane:1\.2\.2 node \/app\/dist\/cli\/tpctl\.js migrate status --json\n/);
    expect(rollbackLog).toMatch(/ {3}schema-check ok in \d+ ms: 1\.2\.2 can run on the schema as it is\n/);
    expect(d.versionFile()).toBe('1.2.2');
    expect(d.read('docker-compose.yml')).toContain('image: atlasai/tenant-plane:1.2.2');
    await d.waitHealthy('1.2.2', 5);

    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' })).code).toBe(0);
    const named = await d.script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2' });
    expect(named.code).toBe(0);
    expect(d.versionFile()).toBe('1.2.2');
    expect(historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''))).toEqual([
      '1.2.2 -> 1.3.0 SUCCESS',
      'ROLLBACK 1.3.0 -> 1.2.2',
      '1.2.2 -> 1.3.0 SUCCESS',
      'ROLLBACK 1.3.0 -> 1.2.2',
    ]);
    expect(historyLines(d)[3]).toMatch(new RegExp(LOG('rollback')));
  });

  it('without .atlas-previous-version, the history tells the target', async () => {
    const d = await deployment();
    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1' })).code).toBe(0);
    execFileSync('rm', [path.join(d.dir, 'data', '.atlas-previous-version')]);
    const res = await d.script('rollback-tp.sh');
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/target from .*\.atlas-upgrade-history \(the upgrade to 1\.3\.0\)/);
    expect(d.versionFile()).toBe('1.2.2');
  });
});

describe('Compose files as operators write them: upgrade to 1.3.0 and back, each character kept', () => {
  /** The Tenant Plane's settings for the test, as YAML lines at `indent` spaces. */
  const settings = (service: Record<string, unknown>, indent: number) => stringify(service).trimEnd().replace(/^/gm, ' '.repeat(indent));

  async function upgradeAndBack(d: Deployment, edited: Record<string, (before: string) => string>): Promise<void> {
    const before = Object.fromEntries(Object.keys(edited).map((f) => [f, d.read(f)]));
    const up = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1' });
    expect(up.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in /);
    expect(up.code).toBe(0);
    expect(d.versionFile()).toBe('1.3.0');
    expect(d.read('data/.atlas-previous-version')).toBe('1.2.2\n');
    for (const [file, change] of Object.entries(edited)) expect({ file, text: d.read(file) }).toEqual({ file, text: change(before[file]!) });

    const back = await d.script('rollback-tp.sh');
    expect(back.stdout).toMatch(/^rolled back 1\.3\.0 -> 1\.2\.2 in /);
    expect(back.code).toBe(0);
    expect(d.versionFile()).toBe('1.2.2');
    for (const [file, text] of Object.entries(before)) expect({ file, text: d.read(file) }).toEqual({ file, text });
    expect(historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''))).toEqual(['1.2.2 -> 1.3.0 SUCCESS', 'ROLLBACK 1.3.0 -> 1.2.2']);
  }

  const upgrade = (from: string, to: string) => (text: string) => text.replace(from, to);

  it('compose.yaml with the settings in an anchor (`<<: *tp`): the anchor is edited', async () => {
    const d = await deployment('1.2.2', (service) => ({
      'compose.yaml': `# Our Tenant Plane.\nx-tenant-plane: &tp\n  image: atlasai/tenant-plane:1.2.2 # the release we run\n  restart: unless-stopped\n${settings(service, 2)}\n\nservices:\n  tenant-plane:\n    <<: *tp\n`,
    }));
    await upgradeAndBack(d, { 'compose.yaml': upgrade(':1.2.2 #', ':1.3.0 #') });
  });

  it('docker-compose.yml says 1.0.0, docker-compose.override.yml pins 1.2.2: 1.2.2 is what runs, and the override is edited', async () => {
    const d = await deployment('1.2.2', (service) => ({
      'docker-compose.yml': `services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.0.0\n${settings(service, 4)}\n`,
      'docker-compose.override.yml': '# pinned while 1.0.0 is retired\nservices:\n  tenant-plane:\n    image: "atlasai/tenant-plane:1.2.2"\n',
    }));
    const status = await d.tpctl(['status']);
    expect(status.stdout).toMatch(/^configured: 1\.2\.2$/m);
    await upgradeAndBack(d, { 'docker-compose.override.yml': upgrade(':1.2.2"', ':1.3.0"'), 'docker-compose.yml': (t) => t });
  });

  it('COMPOSE_FILE=a.yml:b.yml, the tag in the second', async () => {
    const d = await deployment(
      '1.2.2',
      (service) => ({
        'a.yml': `services:\n  tenant-plane:\n${settings(service, 4)}\n`,
        'b.yml': 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.2.2\n',
      }),
      { COMPOSE_FILE: 'a.yml:b.yml' },
    );
    await upgradeAndBack(d, { 'b.yml': upgrade(':1.2.2', ':1.3.0'), 'a.yml': (t) => t });
  });

  it('a tag from ${ATLAS_VERSION} in .env (the scripts\' own ATLAS_VERSION does not leak into Compose); a digest pin is refused, nothing changed', async () => {
    const d = await deployment('1.2.2', (service) => ({
      'docker-compose.yml': `services:\n  tenant-plane:\n    image: atlasai/tenant-plane:\${ATLAS_VERSION}\n${settings(service, 4)}\n`,
      '.env': '# the release we run\nATLAS_VERSION=1.2.2\nOTHER=kept\n',
    }));
    await upgradeAndBack(d, { '.env': upgrade('=1.2.2', '=1.3.0'), 'docker-compose.yml': (t) => t });

    const digest = `sha256:${'0'.repeat(64)}`;
    const pinned = d.read('docker-compose.yml').replace('${ATLAS_VERSION}', `\${ATLAS_VERSION}@${digest}`);
    writeFileSync(path.join(d.dir, 'docker-compose.yml'), pinned);
    const refused = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`tenant-plane is pinned by digest (atlasai/tenant-plane:1.2.2@${digest}): Docker runs that digest whatever the tag says, so changing the tag would change nothing. Remove "@${digest}"`);
    expect(refused.stderr).toContain('nothing was changed');
    expect(d.read('docker-compose.yml')).toBe(pinned);
    expect(d.read('.env')).toContain('ATLAS_VERSION=1.2.2\n');
    expect(d.versionFile()).toBe('1.2.2');
  });
});

describe('Restoring from a database backup', () => {
  it('RESTORE_DB=1 DB_BACKUP_FILE=… DB_URL=… bash scripts/rollback-tp.sh: rows after the backup are gone, rows before are there', async () => {
    const d = await deployment();
    await query(d, `INSERT INTO incidents (title, severity) VALUES ('before the upgrade', 'high')`);
    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' })).code).toBe(0);
    await query(d, `INSERT INTO incidents (title, severity, priority) VALUES ('after the upgrade', 'low', 1)`);
    const backup = readdirSync(d.logDir).find((n) => n.startsWith('db-backup-1.2.2-') && n.endsWith('.sql.gz'))!;

    const res = await d.script('rollback-tp.sh', { RESTORE_DB: '1', DB_BACKUP_FILE: path.join(d.logDir, backup), DB_URL: d.options.dbUrl });
    expect(res.stdout).toMatch(/^rolled back 1\.3\.0 -> 1\.2\.2 in [\d.]+ s; 1\.2\.2 is healthy, on the database restored from /);
    expect(res.code).toBe(0);
    const titles = await query<{ title: string }>(d, 'SELECT title FROM incidents ORDER BY id');
    expect(titles.map((t) => t.title)).toEqual(['before the upgrade']);
    const migrations = await query<{ name: string }>(d, 'SELECT name FROM schema_migrations ORDER BY name');
    expect(migrations.map((m) => m.name)).not.toContain('0900_incident_priority.sql');
    expect(historyLines(d).at(-1)).toMatch(new RegExp(`ROLLBACK 1\\.3\\.0 -> 1\\.2\\.2 restored:\\S+${backup.replace(/\./g, '\\.')} ${LOG('rollback')}$`));
    await d.waitHealthy('1.2.2', 5);
    const login = await fetch(`http://127.0.0.1:${d.port}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(admin) });
    expect(login.status).toBe(200);
  });
});

describe('Refused before anything changes (exit 2)', () => {
  it('a missing image that cannot be pulled, a malformed compose file, an invalid or hostile ATLAS_VERSION', async () => {
    const d = await deployment();
    const compose = d.read('docker-compose.yml');
    const untouched = () => {
      expect(d.read('docker-compose.yml')).toBe(compose);
      expect(d.read('data/.atlas-upgrade-history')).toBe('');
      expect(d.read('data/.atlas-previous-version')).toBe('');
    };

    const missing = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '9.9.9' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/the image atlasai\/tenant-plane:9\.9\.9 is not on this host and cannot be pulled .*\nnothing was changed/);
    untouched();

    for (const [version, message] of [
      ['latest', /"latest" is a moving tag/],
      ['1.3.0; touch /tmp/atlas-pwned', /is not a release version/],
      ['$(touch /tmp/atlas-pwned)', /is not a release version/],
      ['../../etc/passwd', /is not a release version/],
      ['1.3.0\nROLLBACK', /is not a release version/],
      // A version is a value, never a flag: not tpctl's help, exit 0, with nothing upgraded.
      ['--help', /"--help" is not a release version/],
      ['', /set ATLAS_VERSION to the version to upgrade to/],
    ] as const) {
      const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: version });
      expect({ version, code: res.code }).toEqual({ version, code: 2 });
      expect(res.stderr).toMatch(message);
      untouched();
    }
    const rollbackHostile = await d.script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2 && reboot' });
    expect(rollbackHostile.code).toBe(2);
    expect(existsSync('/tmp/atlas-pwned')).toBe(false);

    writeFileSync(d.composeFile, `${compose}\n  broken: [unclosed\n`);
    const malformed = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(malformed.code).toBe(2);
    // Compose's own reading, with where.
    expect(malformed.stderr).toMatch(/docker-compose\.yml service tenant-plane: Compose cannot read its configuration:\n.*ParserError: while parsing a flow sequence\n\s+in "\S+docker-compose\.yml", line \d+, column \d+/);
    expect(d.read('data/.atlas-upgrade-history')).toBe('');
    writeFileSync(d.composeFile, compose);
    untouched();
  });
});

describe('Dry runs', () => {
  it('tpctl upgrade --dry-run and rollback --dry-run print the plan and leave the Compose file, the state files, the logs and the database as they were', async () => {
    const d = await deployment();
    const compose = d.read('docker-compose.yml');
    const migrations = await query(d, 'SELECT name, checksum FROM schema_migrations ORDER BY name');
    const upgrade = await d.tpctl(['upgrade', '--to', '1.3.0', '--dry-run']);
    expect(upgrade.code).toBe(0);
    expect(upgrade.stdout).toMatch(/^dry run: upgrade 1\.2\.2 -> 1\.3\.0; nothing was changed\nsteps:\n {2}preflight +.*\n {2}path-check +.*\n +checked: not checked: 1\.3\.0 carries no release metadata .*\n {2}schema-check +.*\n +checked: 1\.3\.0 can run on the schema as it is\n {2}backup +back up the database before anything changes: \S+\/logs\/db-backup-1\.2\.2-<UTC time>\.sql\.gz\n {2}switch +configure \S+ service tenant-plane for 1\.3\.0 and restart it\n +undo: roll-back: configure \S+ service tenant-plane for 1\.2\.2 and restart it\n/);
    const rollback = await d.tpctl(['rollback', '--to', '1.3.0', '--restore', '/nonexistent.sql.gz', '--dry-run']);
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toMatch(/^dry run: rollback 1\.2\.2 -> 1\.3\.0; .*\n {2}stop .*\n +undo: start: .*\n {2}restore +restore \/nonexistent\.sql\.gz\n +undo: undo-restore: /s);
    expect(d.read('docker-compose.yml')).toBe(compose);
    expect(readdirSync(path.join(d.dir, 'data'))).toEqual([]);
    expect(existsSync(d.logDir)).toBe(false);
    expect(await query(d, 'SELECT name, checksum FROM schema_migrations ORDER BY name')).toEqual(migrations);
    expect(d.versionFile()).toBe('1.2.2');
  });
});

describe('Know before switching: release metadata, upgrade paths, the target against the live schema', () => {
  const snapshot = (d: Deployment) => ({ compose: d.read('docker-compose.yml'), history: d.read('data/.atlas-upgrade-history'), previous: d.read('data/.atlas-previous-version') });

  it('2.0.0 (minimumUpgradeFrom 1.3.0, read from its image label): refused from 1.2.2 naming the stop, nothing changed; from 1.3.0 it goes through', async () => {
    const label = execFileSync('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels "${RELEASE_LABEL}" }}`, 'atlasai/tenant-plane:2.0.0'], { encoding: 'utf8' });
    expect(JSON.parse(label)).toMatchObject({ version: '2.0.0', minimumUpgradeFrom: '1.3.0', migrations: expect.arrayContaining([expect.objectContaining({ name: '0900_incident_priority.sql', verdict: 'additive' })]) as unknown });
    const d = await deployment();
    const before = snapshot(d);
    const refused = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '2.0.0' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('2.0.0 cannot be upgraded to from 1.2.2: it needs 1.3.0 or newer (minimumUpgradeFrom in its release.json); upgrade to 1.3.0 first: ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh\nnothing was changed');
    expect(snapshot(d)).toEqual(before);
    expect(d.versionFile()).toBe('1.2.2');

    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' })).code).toBe(0);
    const upgraded = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '2.0.0' });
    expect(upgraded.stdout).toMatch(/^upgraded 1\.3\.0 -> 2\.0\.0 in/);
    expect(upgraded.code).toBe(0);
    const log = readFileSync(/Log: (\S+?);/.exec(upgraded.stdout)?.[1] ?? '', 'utf8');
    expect(log).toMatch(/ {3}path-check ok in \d+ ms: 2\.0\.0 can be upgraded to from 1\.3\.0 or newer; 1\.3\.0 runs\n/);
    expect(log).toMatch(/ {3}schema-check ok in \d+ ms: 2\.0\.0 can run on the schema as it is\n/);
    expect(d.versionFile()).toBe('2.0.0');
  });

  it('1.3.1 drops a column under a waiver: the rollback to 1.2.2 is refused naming the migration and the 1.2.2 backup; with RESTORE_DB=1 and that file it goes through', async () => {
    const d = await deployment();
    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.1' })).code).toBe(0);
    const verdicts = await query<{ name: string; breaking_rules: string[] }>(d, `SELECT name, breaking_rules FROM schema_migrations WHERE name LIKE '091%' ORDER BY name`);
    expect(verdicts).toEqual([
      { name: '0910_incident_nickname.sql', breaking_rules: [] },
      { name: '0911_drop_incident_nickname.sql', breaking_rules: ['drop-column'] },
    ]);
    const backup = path.join(d.logDir, readdirSync(d.logDir).find((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n)) ?? '');
    const before = snapshot(d);
    const safePath = `RESTORE_DB=1 DB_BACKUP_FILE=${backup} ATLAS_VERSION=1.2.2 bash scripts/rollback-tp.sh`;

    const dry = await d.tpctl(['rollback', '--to', '1.2.2', '--dry-run']);
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain(safePath);
    const refused = await d.script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('1.2.2 cannot run on the schema as it is: 0911_drop_incident_nickname.sql (applied by 1.3.1) is not additive: drop-column');
    expect(refused.stderr).toContain(`restore the newest backup taken at or before 1.2.2: ${safePath}\nnothing was changed`);
    expect(snapshot(d)).toEqual(before);
    expect(d.versionFile()).toBe('1.3.1');

    const restored = await d.script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2', RESTORE_DB: '1', DB_BACKUP_FILE: backup });
    expect(restored.stdout).toMatch(/^rolled back 1\.3\.1 -> 1\.2\.2 in [\d.]+ s; 1\.2\.2 is healthy, on the database restored from/);
    expect(restored.code).toBe(0);
    const log = readFileSync(/Log: (\S+)/.exec(restored.stdout)?.[1] ?? '', 'utf8');
    expect(log).toContain(`schema-check ok in`);
    expect(log).toMatch(/schema-check ok in \d+ ms: 1\.2\.2 can run on the schema \S+db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz holds\n/);
    await d.waitHealthy('1.2.2', 5);
    expect(await query(d, `SELECT name FROM schema_migrations WHERE name LIKE '091%'`)).toEqual([]);
  });
});

describe('Locks and crashes', () => {
  const journalStep = (d: Deployment) => {
    try {
      return (JSON.parse(d.read('data/.atlas-operation.json')) as { step: string }).step;
    } catch {
      return undefined;
    }
  };

  it('a second upgrade while one runs exits 4 and says who holds the lock since when', async () => {
    const d = await deployment();
    const first = d.tpctl(['upgrade', '--to', '1.3.0']);
    while (!journalStep(d)) await new Promise((r) => setTimeout(r, 20));
    const second = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/another operation is under way: "tpctl upgrade --to 1\.3\.0" \(pid \d+ on \S+\) has held the lock since \d{4}-\d\d-\d\dT/);
    expect((await first).code).toBe(0);
    expect(historyLines(d)).toHaveLength(1);
  });

  // Every step that lasts long enough to be killed in (verify reads a version file that was
  // fetched during wait-healthy: it takes no time of its own).
  it.each(['backup', 'switch', 'wait-healthy'])('an upgrade killed (kill -9) at step %s is recognised and led back to a healthy 1.2.2', async (step) => {
    const d = await deployment();
    const child = execFileSync('sh', ['-c', `cd '${d.dir}' && (HEALTH_URL='${d.healthUrl}' ATLAS_LOG_DIR='${d.logDir}' DB_URL='${d.options.dbUrl}' ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh > /dev/null 2>&1 & echo $!)`], { encoding: 'utf8' }).trim();
    const deadline = Date.now() + 60_000;
    while (journalStep(d) !== step) {
      if (Date.now() > deadline) throw new Error(`the upgrade never reached step ${step}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    process.kill(Number(child), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));

    const status = await d.tpctl(['status']);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(new RegExp(`INTERRUPTED upgrade 1\\.2\\.2 -> 1\\.3\\.0 at step ${step} \\(pid ${child} is gone\\); run \`tpctl rollback\``));

    const recover = await d.script('rollback-tp.sh');
    expect(recover.stdout).toMatch(/^recovered the interrupted upgrade 1\.2\.2 -> 1\.3\.0: 1\.2\.2 runs and is healthy/);
    expect(recover.code).toBe(0);
    expect(recover.stderr).toMatch(/took over the lock of "tpctl upgrade --to 1\.3\.0"/);
    await d.waitHealthy('1.2.2', 5);
    expect(d.versionFile()).toBe('1.2.2');
    // A ROLLBACK line follows when the killed run had already switched the configuration: surely
    // after the switch step, perhaps during it, never before.
    const lines = historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''));
    const rolledBack = ['1.2.2 -> 1.3.0 INTERRUPTED', 'ROLLBACK 1.3.0 -> 1.2.2'];
    const expected = { backup: [rolledBack.slice(0, 1)], switch: [rolledBack.slice(0, 1), rolledBack], 'wait-healthy': [rolledBack] }[step];
    expect(expected).toContainEqual(lines);
    expect(existsSync(path.join(d.dir, 'data', '.atlas-operation.json'))).toBe(false);
    expect((await d.tpctl(['status'])).code).toBe(0);
  });
});

describe('the bake: after the gate, the guide\'s reasons to roll back watched against a baseline', () => {
  type Figures = { routes: Record<string, { n: number; p95: number }>; errors5xx: number };
  const lastRun = async (d: Deployment) =>
    (JSON.parse((await d.tpctl(['history', '--json'])).stdout) as { run: { steps: { step: string }[]; bake: { seconds: number; signals: string[]; baseline: Figures; bake: Figures } } }[]).at(-1)?.run;

  it('a normal upgrade passes the bake; the baseline and bake figures are in tpctl history --json', async () => {
    const d = await deployment();
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '4' });
    expect(res.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy/);
    expect(res.code).toBe(0);
    const run = await lastRun(d);
    expect(run?.steps.map((s) => s.step)).toEqual(['preflight', 'path-check', 'schema-check', 'baseline', 'backup', 'switch', 'wait-healthy', 'verify', 'checklist', 'bake']);
    expect(run?.bake).toMatchObject({ seconds: 4, signals: [], baseline: { errors5xx: 0 }, bake: { errors5xx: 0 } });
    for (const route of ['GET /api/health', 'GET /api/incidents', 'GET /api/settings', 'GET /api/agents']) {
      expect(run?.bake.baseline.routes[route]?.n, route).toBeGreaterThan(10);
      expect(run?.bake.bake.routes[route]?.n, route).toBeGreaterThan(10);
    }
  });

  it('a version that is healthy but slow is rolled back during the bake, naming the latency figures', async () => {
    const d = await deployment();
    const upgrading = d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '30' });
    // Slow for real: once the bake has begun, Docker gives the new container 2% of one CPU. (A
    // tenth of one, from its start, left a warm process room for the bake's light probing.)
    await eventually('the bake', async () => (d.read('data/.atlas-operation.json').includes('"step": "bake"') ? true : undefined), 90);
    const container = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project.working_dir=${d.dir}`, '--filter', 'ancestor=atlasai/tenant-plane:1.3.0'], { encoding: 'utf8' }).trim();
    execFileSync('docker', ['update', '--cpus', '0.02', container], { stdio: 'ignore' });
    const res = await upgrading;
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^upgrade to 1\.3\.0 FAILED at bake: p95 of GET \/api\/\w+ \d+ ms against \d+ ms before \(x[\d.]+ > x3, floor 10 ms\).*Rolled back: 1\.2\.2 runs and is healthy/);
    expect(historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''))).toEqual(['1.2.2 -> 1.3.0 FAILED', 'ROLLBACK 1.3.0 -> 1.2.2']);
    expect(d.versionFile()).toBe('1.2.2');
    expect((await lastRun(d))?.bake.signals[0]).toMatch(/^p95 of GET/);
  }, 150_000);

  it('a wrong verification password still fails the gate with the bake on; sign-ins that stop working during the bake fail the bake', async () => {
    const d = await deployment();
    const wrong = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '10', ATLAS_VERIFY_PASSWORD: 'not-the-password-1' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^upgrade to 1\.3\.0 FAILED at checklist: login: .*HTTP 401.*Rolled back: 1\.2\.2 runs and is healthy/);

    const upgrading = d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '30' });
    await eventually('the bake', async () => (d.read('data/.atlas-operation.json').includes('"step": "bake"') ? true : undefined), 60);
    await query(d, `UPDATE users SET disabled = true WHERE email = '${admin.email}'`);
    const res = await upgrading;
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^upgrade to 1\.3\.0 FAILED at bake: GET \/api\/\w+ failed: HTTP 401: .*Rolled back: 1\.2\.2 runs and is healthy/);
  }, 150_000);

  it('a version whose webhook deliveries are refused is rolled back, naming the webhook', async () => {
    // The receiver refuses what 1.3.0 sends (it names itself in User-Agent) and takes what 1.2.2 sends.
    const seen: string[] = [];
    const receiver = http.createServer((req, res) => {
      const agent = req.headers['user-agent'] ?? '';
      seen.push(agent);
      res.statusCode = agent === 'AtlasAI-TenantPlane/1.3.0' ? 500 : 200;
      res.end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const d = await deployment();
      const api = await ApiClient.login(`http://127.0.0.1:${d.port}`, admin.email, admin.password);
      const hook = await api.post<{ webhook: { id: string } }>('/api/admin/webhooks', { name: 'pager', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, events: ['incident.created'] });
      expect((await api.post(`/api/admin/webhooks/${hook.body.webhook.id}/test`)).body).toMatchObject({ status: 'delivered' });

      const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '10' });
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/^upgrade to 1\.3\.0 FAILED at bake: webhook pager delivered before the switch and its test delivery now fails: HTTP 500.*Rolled back: 1\.2\.2 runs and is healthy/);
      expect(seen).toEqual(['AtlasAI-TenantPlane/1.2.2', 'AtlasAI-TenantPlane/1.3.0']);
      expect(d.versionFile()).toBe('1.2.2');
    } finally {
      receiver.close();
    }
  });
});

describe("the Helm chart's pre-upgrade backup Job", () => {
  it('runs in the image as the chart renders it: a verified backup with its manifest on the volume, as the non-root user', async () => {
    const chartDir = path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');
    const values = parseDocument(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')).toJS() as { image: { tag: string } };
    values.image.tag = '1.2.2';
    const context = { Values: values, Chart: { AppVersion: '1.2.2', Name: 'atlasai-tp' }, Release: { Name: 'atlasai-tp', Namespace: 'atlasai' } };
    const job = parseDocument(renderTemplate(readFileSync(path.join(chartDir, 'templates', 'backup-job.yaml'), 'utf8'), context)).toJS() as {
      spec: { template: { spec: { securityContext: { runAsUser: number; runAsGroup: number }; containers: { image: string; command: string[]; env: { name: string; value?: string }[]; volumeMounts: { mountPath: string }[] }[] } } };
    };
    const pod = job.spec.template.spec;
    const container = pod.containers[0]!;
    const dbUrl = await sharedPostgres().createDatabase('hook');
    expect((await tpctl(['migrate', 'up'], { DB_URL: dbUrl })).code).toBe(0);
    const volume = tempDir('atlas-backups-');
    chmodSync(volume, 0o777);
    // The Secret's key becomes DB_URL; the other variables are the Job's own.
    const env = container.env.flatMap((e) => ['-e', `${e.name}=${e.value ?? dbUrl}`]);
    const user = `${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`;
    execFileSync('docker', ['run', '--rm', '--network', 'host', '--user', user, '-v', `${volume}:${container.volumeMounts[0]!.mountPath}`, ...env, container.image, ...container.command], { stdio: 'pipe' });

    const files = readdirSync(volume);
    const backup = files.find((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n));
    expect(backup).toBeDefined();
    expect(files).toContain(`${backup}.manifest.json`);
    const verified = await tpctl(['backup', 'verify', path.join(volume, backup!)], {});
    expect(verified.stdout).toMatch(/\.sql\.gz: verified\n {2}ok {3}manifest: version 1\.2\.2, postgres/);
    expect(verified.code).toBe(0);
  });
});
