import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RELEASE_LABEL } from '../../src/ops/core/release-metadata.js';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { admin, composeDeployments, historyLines, historyOutcomes, LOG, query } from '../support/compose-e2e.js';
import type { Deployment } from '../support/docker.js';
import { renderChart } from '../support/deploy-files.js';
import { platformTool } from '../support/platforms.js';
import { PG_PASSWORD } from '../support/postgres-server.js';
import { measureDowntime } from '../support/downtime.js';
import { tpctl, type RunResult } from '../support/tpctl.js';

/**
 * The operator guide's Options 1 and 2 on a real Docker Engine: images built by
 * scripts/build-image.sh, the repository's docker-compose.yml (on host networking), the
 * scripts run as the guide runs them, PostgreSQL on 127.0.0.1.
 */
const deployment = composeDeployments();

describe('Option 1: upgrade with automatic rollback', () => {
  it('ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh: backup, previous version, history, log; 1.3.0 runs and adds its column', async () => {
    const d = await deployment();
    const composeBefore = d.read('docker-compose.yml');
    let res!: RunResult;
    // Users asking all along (every 20 ms, through the proxy) see no failed request.
    const downtime = await measureDowntime(d.healthUrl, async () => {
      res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    });
    expect(res.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy/);
    expect(res.code).toBe(0);
    expect(downtime).toMatchObject({ failed: 0, longestMs: 0 });

    expect(d.versionFile()).toBe('1.3.0');
    expect(d.read('data/.atlas-previous-version')).toBe('1.2.2\n');
    expect(historyLines(d)).toEqual([expect.stringMatching(new RegExp(`^\\d{8}T\\d{6} 1\\.2\\.2 -> 1\\.3\\.0 SUCCESS ${LOG('upgrade')}$`))]);
    const logFile = /log:(\S+)/.exec(historyLines(d)[0]!)?.[1] ?? '';
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(/== backup: back up the database/);
    expect(log).toMatch(/\$ docker compose -f \S+ up -d --no-deps tenant-plane\n.*→ ok in \d+ ms/);
    expect(log).toMatch(/wait-healthy ok in \d+ ms/);
    expect(log).toMatch(
      /PASS login: POST \/api\/login as admin@example\.com \(admin\) gave a session\n.*PASS version: GET \/api\/admin\/license shows version 1\.3\.0/,
    );
    expect(log).not.toContain(PG_PASSWORD);
    const backups = readdirSync(d.logDir).filter((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n));
    expect(backups).toHaveLength(1);
    expect(existsSync(path.join(d.logDir, `${backups[0]}.manifest.json`))).toBe(true);

    // Only the tag changed: the operator's comments and layout are kept.
    expect(d.read('docker-compose.yml')).toBe(composeBefore.replace('atlasai/tenant-plane:1.2.2', 'atlasai/tenant-plane:1.3.0'));
    const columns = await query(d, `SELECT 1 FROM information_schema.columns WHERE table_name = 'incidents' AND column_name = 'priority'`);
    expect(columns).toHaveLength(1);

    const history = JSON.parse((await d.tpctl(['history', '--json'])).stdout) as {
      outcome: string;
      run: { steps: { step: string; durationMs: number }[]; backup: string; health: { body: string } };
    }[];
    // Behind the proxy: the new version starts beside the old one, is checked there, then promoted.
    // First the rehearsal, on a copy of the backup in a scratch database: production untouched until it passed.
    expect(history[0]?.run.steps.map((s) => s.step)).toEqual([
      'preflight',
      'path-check',
      'schema-check',
      'backup',
      'rehearse-copy',
      'rehearse-migrate',
      'rehearse-start',
      'rehearse-journey',
      'rehearse-remove',
      'previous-version',
      'start-candidate',
      'wait-healthy',
      'verify',
      'checklist',
      'promote',
    ]);
    expect(history[0]?.run.backup).toContain('db-backup-1.2.2-');
    expect(history[0]?.run.health.body).toContain('"version":"1.3.0"');
  });

  it('an upgrade whose login check fails is refused by its rehearsal; without one, it rolls back to 1.2.2', async () => {
    const d = await deployment();
    const rehearsed = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_VERIFY_PASSWORD: 'not-the-password-1' });
    expect(rehearsed.code).toBe(2);
    expect(rehearsed.stderr).toMatch(/1\.3\.0's smoke journey on the copy failed: sign-in: POST \/api\/login as admin@example\.com: HTTP 401/);
    expect(d.read('data/.atlas-upgrade-history')).toBe('');
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_VERIFY_PASSWORD: 'not-the-password-1', SKIP_REHEARSAL: '1' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /^upgrade to 1\.3\.0 FAILED at checklist: login: POST \/api\/login as admin@example\.com: HTTP 401: the email or the password is wrong.*Rolled back: 1\.2\.2 runs and is healthy/,
    );
    expect(d.versionFile()).toBe('1.2.2');
    expect(historyOutcomes(d)).toEqual(['1.2.2 -> 1.3.0 FAILED rehearsal:skipped', 'ROLLBACK 1.3.0 -> 1.2.2']);
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
    let res!: RunResult;
    const downtime = await measureDowntime(d.healthUrl, async () => {
      // Its rehearsal would refuse it (as the rehearsal's own tests show): here the candidate crashes.
      res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.2', HEALTH_TIMEOUT: '60', SKIP_REHEARSAL: '1' });
    });
    // 1.2.2 never stopped serving.
    expect(downtime).toMatchObject({ failed: 0, longestMs: 0 });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FAILED at wait-healthy: the Tenant Plane crashed: (restarting after exit 1|exited with 1|crash-looping: restarted \d+ times?)/);
    const logFile = /Log: (\S+?);/.exec(res.stdout)?.[1] ?? '';
    expect(readFileSync(logFile, 'utf8')).toMatch(
      /last log lines of the Tenant Plane:\n(.*\n)*.*migration 0901_broken\.sql failed at statement 1 of 1 \(.*\) and was rolled back/,
    );
    expect(historyOutcomes(d)).toEqual(['1.2.2 -> 1.3.2 FAILED rehearsal:skipped', 'ROLLBACK 1.3.2 -> 1.2.2']);
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
      const all = execFileSync('find', [path.join(into, top!), '-type', 'f'], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((f) => readFileSync(f, 'utf8'))
        .join('\n');
      for (const secret of [PG_PASSWORD, admin.password]) expect(all).not.toContain(secret);
      return { res, read, names: readdirSync(path.join(into, top!)) };
    };
    const up = await bundle();
    expect(up.names.sort()).toEqual(['MANIFEST.txt', 'health.json', 'history.json', 'history.txt', 'logs', 'runtime-logs.txt', 'status.json', 'versions.txt']);
    expect(up.read('versions.txt')).toMatch(
      /^configured: +1\.2\.2\nrunning: +1\.2\.2\n(.*\n)*last upgrade: +1\.2\.2 -> 1\.3\.2 FAILED, at \d{8}T\d{6} UTC\nlast rollback: +1\.3\.2 -> 1\.2\.2 SUCCESS/,
    );
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

    let auto!: RunResult;
    const downtime = await measureDowntime(d.healthUrl, async () => {
      auto = await d.script('rollback-tp.sh');
    });
    expect(downtime).toMatchObject({ failed: 0, longestMs: 0 });
    expect(auto.stdout).toMatch(/^rolled back 1\.3\.0 -> 1\.2\.2 in [\d.]+ s; 1\.2\.2 is healthy/);
    expect(auto.code).toBe(0);
    expect(auto.stderr).toContain('rollback 1.3.0 -> 1.2.2 (target from data/.atlas-previous-version)');
    // An ordinary rollback (additive migrations only) passes the schema check, made by 1.2.2's own code; its time is in the log.
    const rollbackLog = readFileSync(/Log: (\S+)/.exec(auto.stdout)?.[1] ?? '', 'utf8');
    expect(rollbackLog).toMatch(
      /\$ docker run --rm --network host -e DB_URL atlasai\/tenant-plane:1\.2\.2 node \/app\/dist\/cli\/tpctl\.js migrate status --json\n/,
    );
    expect(rollbackLog).toMatch(/ {3}schema-check ok in \d+ ms: 1\.2\.2 can run on the schema as it is\n/);
    expect(d.versionFile()).toBe('1.2.2');
    expect(d.read('docker-compose.yml')).toContain('image: atlasai/tenant-plane:1.2.2');
    await d.waitHealthy('1.2.2', 5);

    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' })).code).toBe(0);
    const named = await d.script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2' });
    expect(named.code).toBe(0);
    expect(d.versionFile()).toBe('1.2.2');
    expect(historyOutcomes(d)).toEqual(['1.2.2 -> 1.3.0 SUCCESS', 'ROLLBACK 1.3.0 -> 1.2.2', '1.2.2 -> 1.3.0 SUCCESS', 'ROLLBACK 1.3.0 -> 1.2.2']);
    expect(historyLines(d)[3]).toMatch(new RegExp(LOG('rollback')));
  }, 150_000);

  it('without .atlas-previous-version, the history tells the target', async () => {
    const d = await deployment();
    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1' })).code).toBe(0);
    execFileSync('rm', [path.join(d.dir, 'data', '.atlas-previous-version')]);
    const res = await d.script('rollback-tp.sh');
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/target from .*\.atlas-upgrade-history \(the upgrade to 1\.3\.0\)/);
    expect(d.versionFile()).toBe('1.2.2');
  }, 120_000);
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
    const login = await fetch(`http://127.0.0.1:${d.port}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(admin),
    });
    expect(login.status).toBe(200);
  }, 120_000);
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
    expect(malformed.stderr).toMatch(
      /docker-compose\.yml service tenant-plane: Compose cannot read its configuration:\nyaml: line \d+: did not find expected ',' or '\]'/,
    );
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
    expect(upgrade.stdout).toMatch(
      /^dry run: upgrade 1\.2\.2 -> 1\.3\.0; nothing was changed\nsteps:\n {2}preflight +.*\n {2}path-check +.*\n +checked: not checked: 1\.3\.0 carries no release metadata .*\n {2}schema-check +.*\n +checked: 1\.3\.0 can run on the schema as it is\n {2}backup +back up the database before anything changes: \S+\/logs\/db-backup-1\.2\.2-<UTC time>\.sql\.gz\n {2}rehearse-copy +copy the database into atlas_rehearsal_\d{8}t\d{6}_[0-9a-f]{6} on the same server: the pre-upgrade backup restored \(its restore test\)\n +undo: remove-rehearsal: .*\n {2}rehearse-migrate .*\n {2}rehearse-start .*\n {2}rehearse-journey .*\n {2}rehearse-remove .*\n {2}previous-version +record 1\.2\.2 in \S+\.atlas-previous-version: the version a rollback goes back to\n +undo: previous-version-back: put back what \S+\.atlas-previous-version said before\n {2}start-candidate +configure \S+ service tenant-plane for 1\.3\.0 and start it behind the proxy \(\S+admin\.sock\), without traffic; 1\.2\.2 serves meanwhile\n +undo: discard-candidate: stop and remove the candidate 1\.3\.0; configure 1\.2\.2 again, which kept serving\n(.*\n)* {2}promote +move the traffic to 1\.3\.0; 1\.2\.2 finishes the requests it has and stops\n +undo: roll-back: configure \S+ service tenant-plane for 1\.2\.2 and restart it\n/,
    );
    // A rollback goes back only (to 1.3.0 from 1.2.2 is an upgrade): back onto 1.2.2 itself, with a restore.
    const rollback = await d.tpctl(['rollback', '--to', '1.2.2', '--restore', '/nonexistent.sql.gz', '--dry-run']);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stdout).toMatch(
      /^dry run: rollback 1\.2\.2 -> 1\.2\.2; .*\n {2}stop .*\n +undo: start: .*\n {2}restore +restore \/nonexistent\.sql\.gz\n +undo: undo-restore: /s,
    );
    expect(d.read('docker-compose.yml')).toBe(compose);
    // Only the proxy's socket directory, which Compose mounted.
    expect(readdirSync(path.join(d.dir, 'data'))).toEqual(['proxy']);
    expect(existsSync(d.logDir)).toBe(false);
    expect(await query(d, 'SELECT name, checksum FROM schema_migrations ORDER BY name')).toEqual(migrations);
    expect(d.versionFile()).toBe('1.2.2');
  });
});

describe('Know before switching: release metadata, upgrade paths, the target against the live schema', () => {
  const snapshot = (d: Deployment) => ({
    compose: d.read('docker-compose.yml'),
    history: d.read('data/.atlas-upgrade-history'),
    previous: d.read('data/.atlas-previous-version'),
  });

  it('2.0.0 (minimumUpgradeFrom 1.3.0, read from its image label): refused from 1.2.2 naming the stop, nothing changed; from 1.3.0 it goes through', async () => {
    const label = execFileSync('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels "${RELEASE_LABEL}" }}`, 'atlasai/tenant-plane:2.0.0'], {
      encoding: 'utf8',
    });
    expect(JSON.parse(label)).toMatchObject({
      version: '2.0.0',
      minimumUpgradeFrom: '1.3.0',
      migrations: expect.arrayContaining([expect.objectContaining({ name: '0900_incident_priority.sql', verdict: 'additive' })]) as unknown,
    });
    const d = await deployment();
    const before = snapshot(d);
    const refused = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '2.0.0' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      '2.0.0 cannot be upgraded to from 1.2.2: it needs 1.3.0 or newer (minimumUpgradeFrom in its release.json); upgrade to 1.3.0 first: ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh\nnothing was changed',
    );
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
  }, 120_000);

  it('1.3.1 drops a column under a waiver: the rollback to 1.2.2 is refused naming the migration and the 1.2.2 backup; with RESTORE_DB=1 and that file it goes through', async () => {
    const d = await deployment();
    expect((await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.1' })).code).toBe(0);
    const verdicts = await query<{ name: string; breaking_rules: string[] }>(
      d,
      `SELECT name, breaking_rules FROM schema_migrations WHERE name LIKE '091%' ORDER BY name`,
    );
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
    expect(refused.stderr).toContain(
      '1.2.2 cannot run on the schema as it is: 0911_drop_incident_nickname.sql (applied by 1.3.1) is not additive: drop-column',
    );
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
  }, 120_000);
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
  // fetched during wait-healthy: it takes no time of its own). A candidate left running is removed.
  it.each(['backup', 'start-candidate', 'wait-healthy', 'bake', 'promote'])(
    'an upgrade killed (kill -9) at step %s is recognised and led back to a healthy 1.2.2',
    async (step) => {
      const d = await deployment();
      const child = execFileSync(
        'sh',
        [
          '-c',
          `cd '${d.dir}' && (HEALTH_URL='${d.healthUrl}' ATLAS_LOG_DIR='${d.logDir}' DB_URL='${d.options.dbUrl}' ATLAS_BAKE_SECONDS=3 ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh > /dev/null 2>&1 & echo $!)`,
        ],
        { encoding: 'utf8' },
      ).trim();
      const deadline = Date.now() + 60_000;
      while (journalStep(d) !== step) {
        if (Date.now() > deadline) throw new Error(`the upgrade never reached step ${step}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      process.kill(Number(child), 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));

      const status = await d.tpctl(['status']);
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(
        new RegExp(`INTERRUPTED upgrade 1\\.2\\.2 -> 1\\.3\\.0 at step ${step} \\(pid ${child} is gone\\); run \`tpctl rollback\``),
      );

      const recover = await d.script('rollback-tp.sh');
      expect(recover.stdout).toMatch(/^recovered the interrupted upgrade 1\.2\.2 -> 1\.3\.0: 1\.2\.2 runs and is healthy/);
      expect(recover.code).toBe(0);
      expect(recover.stderr).toMatch(/took over the lock of "tpctl upgrade --to 1\.3\.0"/);
      await d.waitHealthy('1.2.2', 5);
      expect(d.versionFile()).toBe('1.2.2');
      // A ROLLBACK line follows when the killed run had already switched the configuration: surely
      // after the step that starts the candidate, perhaps during it, never before.
      const lines = historyOutcomes(d);
      const rolledBack = ['1.2.2 -> 1.3.0 INTERRUPTED', 'ROLLBACK 1.3.0 -> 1.2.2'];
      const expected = {
        backup: [rolledBack.slice(0, 1)],
        'start-candidate': [rolledBack.slice(0, 1), rolledBack],
        'wait-healthy': [rolledBack],
        bake: [rolledBack],
        promote: [rolledBack],
      }[step];
      expect(expected).toContainEqual(lines);
      expect(
        execFileSync(
          'docker',
          ['ps', '-aq', '--filter', `label=com.docker.compose.project.working_dir=${d.dir}`, '--filter', 'label=org.atlasai.candidate=true'],
          { encoding: 'utf8' },
        ).trim(),
      ).toBe('');
      expect(existsSync(path.join(d.dir, 'data', '.atlas-operation.json'))).toBe(false);
      expect((await d.tpctl(['status'])).code).toBe(0);
    },
    120_000,
  );
});

describe("the Helm chart's pre-upgrade backup Job", () => {
  beforeAll(() => platformTool('helm3'), 900_000);

  it('runs in the image as the chart renders it: a verified backup with its manifest on the volume, as the non-root user', async () => {
    const job = renderChart({ image: { tag: '1.2.2' } }).find((d) => d.kind === 'Job') as {
      spec: {
        template: {
          spec: {
            securityContext: { runAsUser: number; runAsGroup: number };
            containers: { image: string; command: string[]; env: { name: string; value?: string }[]; volumeMounts: { mountPath: string }[] }[];
          };
        };
      };
    };
    const pod = job.spec.template.spec;
    const container = pod.containers[0]!;
    const dbUrl = await sharedPostgres().createDatabase('hook');
    expect((await tpctl(['migrate', 'up'], { DB_URL: dbUrl })).code).toBe(0);
    const volume = tempDir('atlas-backups-');
    chmodSync(volume, 0o777);
    // The keyring Secret, as the pod sees it: readable by its group (fsGroup), mode 0440.
    const keys = tempDir('atlas-keys-');
    const keyFile = path.join(keys, 'backup-keys');
    expect((await tpctl(['backup', 'rotate-key'], { ATLAS_BACKUP_KEY_FILE: keyFile })).code).toBe(0);
    chownSync(keys, 0, pod.securityContext.runAsGroup);
    chmodSync(keys, 0o750);
    chownSync(keyFile, 0, pod.securityContext.runAsGroup);
    chmodSync(keyFile, 0o440);
    // The Secret's key becomes DB_URL; the other variables are the Job's own.
    const env = container.env.flatMap((e) => ['-e', `${e.name}=${e.value ?? dbUrl}`]);
    const user = `${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`;
    execFileSync(
      'docker',
      [
        'run',
        '--rm',
        '--network',
        'host',
        '--user',
        user,
        '-v',
        `${volume}:${container.volumeMounts[0]!.mountPath}`,
        '-v',
        `${keys}:${container.volumeMounts[1]!.mountPath}:ro`,
        ...env,
        container.image,
        ...container.command,
      ],
      { stdio: 'pipe' },
    );

    const files = readdirSync(volume);
    const backup = files.find((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n));
    expect(backup).toBeDefined();
    expect(files).toContain(`${backup}.manifest.json`);
    const verified = await tpctl(['backup', 'verify', path.join(volume, backup!)], { ATLAS_BACKUP_KEY_FILE: keyFile });
    expect(verified.stdout).toMatch(/\.sql\.gz: verified\n {2}ok {3}manifest: version 1\.2\.2, postgres.*\n {2}ok {3}signature: signed by key /);
    expect(verified.code).toBe(0);
  });
});
