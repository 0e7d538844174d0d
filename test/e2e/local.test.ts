import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { tempDir } from '../support/backends.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease } from '../support/release.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/** The same flow with no container engine: releases side by side, a supervised local process, the embedded database. */
const dir = tempDir('atlas-local-');
let env: Record<string, string>;

const script = (name: string, extra: Record<string, string> = {}) => runProcess('bash', [`scripts/${name}`], { ...env, ...extra }, { cwd: dir });
const local = (args: string[]) => tpctl(args, env, { cwd: dir });
const history = () => readFileSync(path.join(dir, 'data', '.atlas-upgrade-history'), 'utf8').trim().split('\n').map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''));
async function health(): Promise<{ version: string; checks: { schema: { applied: number } } }> {
  return (await (await fetch(env.HEALTH_URL!)).json()) as { version: string; checks: { schema: { applied: number } } };
}

beforeAll(async () => {
  const port = await freePort();
  env = {
    PATH: process.env.PATH ?? '',
    ATLAS_RUNTIME: 'local',
    ATLAS_PORT: String(port),
    ATLAS_HOST: '127.0.0.1',
    HEALTH_URL: `http://127.0.0.1:${port}/api/health`,
    HEALTH_TIMEOUT: '30',
    ATLAS_LOG_DIR: path.join(dir, 'logs'),
    ATLAS_ADMIN_EMAIL: 'admin@example.com',
    ATLAS_ADMIN_PASSWORD: 'local-admin-pw-1',
  };
  symlinkSync(path.join(appRoot, 'scripts'), path.join(dir, 'scripts'));
  const priority = { '0900_incident_priority.sql': 'ALTER TABLE incidents ADD COLUMN priority integer;\n' };
  for (const release of [
    makeRelease({ version: '1.2.2' }),
    makeRelease({ version: '1.3.0', migrations: priority }),
    makeRelease({ version: '1.3.2', migrations: { ...priority, '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' } }),
  ]) {
    expect((await local(['release', 'add', release])).code).toBe(0);
  }
  const started = await local(['local', 'start', '--version', '1.2.2']);
  expect(started.stdout).toMatch(/the Tenant Plane 1\.2\.2 runs \(supervisor pid \d+\) and is healthy/);
});

afterAll(async () => {
  await local(['local', 'stop']);
});

describe('the local runtime (no Docker), on the embedded database', () => {
  it('upgrades 1.2.2 -> 1.3.0 with a backup of the embedded database', async () => {
    const res = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(res.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy/);
    expect(res.code).toBe(0);
    expect(await health()).toMatchObject({ version: '1.3.0', checks: { schema: { applied: 3 } } });
    expect(history()).toEqual(['1.2.2 -> 1.3.0 SUCCESS']);
    expect(readdirSync(path.join(dir, 'logs')).filter((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n))).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'data', 'releases', 'current'), 'utf8')).toBe('1.3.0\n');
  });

  it('an upgrade to a release that crashes on start rolls itself back to 1.3.0', async () => {
    const res = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.2' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FAILED at wait-healthy: the Tenant Plane crashed: crashed 1\.3\.2 \(exit 1, 1 restart\).*Rolled back: 1\.3\.0 runs and is healthy/);
    expect((await health()).version).toBe('1.3.0');
    expect(history().slice(1)).toEqual(['1.3.0 -> 1.3.2 FAILED', 'ROLLBACK 1.3.2 -> 1.3.0']);
  });

  it('rolls back to 1.2.2 on the schema 1.3.0 left', async () => {
    const res = await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2' });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^rolled back 1\.3\.0 -> 1\.2\.2/);
    const h = (await health()) as unknown as { version: string; checks: { schema: { ahead: string[] } } };
    expect(h).toMatchObject({ version: '1.2.2', checks: { schema: { ahead: ['0900_incident_priority.sql'] } } });
    expect(history().at(-1)).toBe('ROLLBACK 1.3.0 -> 1.2.2');
    const status = await local(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('configured: 1.2.2');
  });
});
