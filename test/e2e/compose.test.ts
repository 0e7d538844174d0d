import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { appRoot } from '../../src/shared/app-root.js';
import { sharedPostgres } from '../support/backends.js';
import { buildVariant, Deployment, requireDocker } from '../support/docker.js';
import { PG_PASSWORD } from '../support/postgres-server.js';

/**
 * The operator guide's Options 1 and 2 on a real Docker Engine: images built by
 * scripts/build-image.sh, the repository's docker-compose.yml (on host networking), the
 * scripts run as the guide runs them, PostgreSQL on 127.0.0.1.
 */
const admin = { email: 'admin@example.com', password: 'compose-admin-pw-1' };
const deployments: Deployment[] = [];

async function deployment(version = '1.2.2'): Promise<Deployment> {
  const d = new Deployment({ version, dbUrl: await sharedPostgres().createDatabase('compose'), admin });
  deployments.push(d);
  await d.create();
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
  const priority = { '0900_incident_priority.sql': 'ALTER TABLE incidents ADD COLUMN priority integer;\n' };
  buildVariant('1.2.2', '1.3.0', priority);
  // Answers, but as another version: a mislabelled build never counts as healthy.
  buildVariant('1.2.2', '1.3.1', {}, '1.3.1-rc.9');
  // Adds the column, then crashes on start: a migration that cannot apply.
  buildVariant('1.2.2', '1.3.2', { ...priority, '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' });
}, 300_000);

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
    expect(log).not.toContain(PG_PASSWORD);
    const backups = readdirSync(d.logDir).filter((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n));
    expect(backups).toHaveLength(1);
    expect(existsSync(path.join(d.logDir, `${backups[0]}.manifest.json`))).toBe(true);

    // Only the tag changed: the operator's comments and layout are kept.
    expect(d.read('docker-compose.yml')).toBe(composeBefore.replace('atlasai/tenant-plane:1.2.2', 'atlasai/tenant-plane:1.3.0'));
    const columns = await query(d, `SELECT 1 FROM information_schema.columns WHERE table_name = 'incidents' AND column_name = 'priority'`);
    expect(columns).toHaveLength(1);

    const history = JSON.parse((await d.tpctl(['history', '--json'])).stdout) as { outcome: string; run: { steps: { step: string; durationMs: number }[]; backup: string; health: { body: string } } }[];
    expect(history[0]?.run.steps.map((s) => s.step)).toEqual(['preflight', 'backup', 'switch', 'wait-healthy', 'verify']);
    expect(history[0]?.run.backup).toContain('db-backup-1.2.2-');
    expect(history[0]?.run.health.body).toContain('"version":"1.3.0"');
  });

  it('an upgrade to a version that never answers healthy as itself rolls back to 1.2.2 after HEALTH_TIMEOUT', async () => {
    const d = await deployment();
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.1', HEALTH_TIMEOUT: '6' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^upgrade to 1\.3\.1 FAILED at wait-healthy: not healthy after 6 s: it answers for version 1\.3\.1-rc\.9, not 1\.3\.1.*Rolled back: 1\.2\.2 runs and is healthy/);
    expect(historyLines(d)).toEqual([
      expect.stringMatching(new RegExp(`^\\d{8}T\\d{6} 1\\.2\\.2 -> 1\\.3\\.1 FAILED ${LOG('upgrade')}$`)),
      expect.stringMatching(new RegExp(`^\\d{8}T\\d{6} ROLLBACK 1\\.3\\.1 -> 1\\.2\\.2 ${LOG('upgrade')}$`)),
    ]);
    expect(d.versionFile()).toBe('1.2.2');
    expect(d.read('docker-compose.yml')).toContain('atlasai/tenant-plane:1.2.2');
  });

  it('an upgrade to a version that crashes on start fails fast and 1.2.2 runs healthy on the newer schema', async () => {
    const d = await deployment();
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.2', HEALTH_TIMEOUT: '60' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FAILED at wait-healthy: the Tenant Plane crashed: (restarting|running|exited) \(exit 1, \d+ restarts?\)/);
    const logFile = /Log: (\S+?);/.exec(res.stdout)?.[1] ?? '';
    expect(readFileSync(logFile, 'utf8')).toMatch(/last log lines of the Tenant Plane:\n(.*\n)*.*migration 0901_broken\.sql failed and was rolled back/);
    expect(historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''))).toEqual(['1.2.2 -> 1.3.2 FAILED', 'ROLLBACK 1.3.2 -> 1.2.2']);
    await d.waitHealthy('1.2.2', 5);
    const health = await d.health();
    expect(health?.body).toContain('"ahead":["0900_incident_priority.sql"]');
    const record = JSON.parse((await d.tpctl(['history', '--json'])).stdout) as { run: { failure: { reason: string } } }[];
    expect(record[0]?.run.failure.reason).toMatch(/^the Tenant Plane crashed/);
  });
});
