import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchOwner } from '../../src/shared/names.js';
import { ApiClient } from '../support/api-client.js';
import { admin, composeDeployments, query } from '../support/compose-e2e.js';
import type { Deployment } from '../support/docker.js';
import { measureDowntime } from '../support/downtime.js';

/**
 * The rehearsal on Docker Compose with the proxy (Compose v2, host networking, PostgreSQL on
 * 127.0.0.1): the version is run apart, by the docker CLI, with the service's settings, on a copy
 * in a scratch database. Production holds two incidents titled alike: 1.3.5 makes titles unique;
 * 1.2.1 refuses to start on a schema a newer version moved ahead. Both are refused on the copy,
 * a client asking through the proxy every 20 ms sees no failure, and production is as it was.
 */
const deployment = composeDeployments();

/** What a refused operation must leave as it was. */
async function production(d: Deployment) {
  return {
    serving: (await d.health())?.version,
    composeFile: d.read('docker-compose.yml'),
    migrations: (await query<{ name: string }>(d, 'SELECT name FROM schema_migrations ORDER BY name')).map((r) => r.name),
    history: existsSync(path.join(d.dir, 'data', '.atlas-upgrade-history')) ? d.read('data/.atlas-upgrade-history') : '',
  };
}

/** What a rehearsal may leave behind: a scratch database, a container run apart. Nothing, once it is over. */
async function leftovers(d: Deployment) {
  return {
    // This deployment's (other tests' share the server).
    copies: (await query<{ datname: string }>(d, 'SELECT datname FROM pg_database'))
      .map((r) => r.datname)
      .filter((n) => /^atlas_(rehearsal|drill)_/.test(n) && n.endsWith(`_${scratchOwner(d.options.dbUrl)}`)),
    apart: execFileSync(
      'docker',
      ['ps', '-aq', '--filter', 'label=org.atlasai.rehearsal=true', '--filter', `label=com.docker.compose.project.working_dir=${d.dir}`],
      {
        encoding: 'utf8',
      },
    ).trim(),
  };
}

describe('the rehearsal on Docker Compose', () => {
  it('refuses an upgrade whose migration fails on this data and a rollback to a version that refuses the schema; upgrades after a passing one; no request failed', async () => {
    const d = await deployment('1.2.2');
    const api = await ApiClient.login(d.healthUrl.replace(/\/api\/health$/, ''), admin.email, admin.password);
    for (const title of ['Disk full', 'Disk full', 'Fan noise']) expect((await api.post('/api/incidents', { title, severity: 'low' })).status).toBe(201);

    const before = await production(d);
    let refused!: Awaited<ReturnType<Deployment['script']>>;
    const first = await measureDowntime(d.healthUrl, async () => {
      refused = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.5' });
    });
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      'the rehearsal on a copy of the data refused it, and production was not touched: migration 0920_unique_incident_title.sql failed at statement 1 of 1 ' +
        '(CREATE UNIQUE INDEX incidents_title_key ON incidents (title)) and was rolled back: could not create unique index "incidents_title_key" (Key (title)=(Disk full) is duplicated.)',
    );
    expect(first).toMatchObject({ failed: 0 });
    expect(await production(d)).toEqual(before);
    expect(await leftovers(d)).toEqual({ copies: [], apart: '' });

    const upgraded = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(upgraded.code, upgraded.stdout + upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toMatch(
      /\nrehearsal: backup restored in [\d.]+ s \(row counts match\), migrations [\d.]+ s \(longest lock: ACCESS EXCLUSIVE on incidents, \d+ ms\), 1\.3\.0 healthy on the copy in [\d.]+ s, journey (\d+)\/\1\n/,
    );
    const runs = JSON.parse((await d.tpctl(['history', '--json'])).stdout) as {
      run: { rehearsal: { journey: { checks: { name: string; ok: boolean }[] } } };
    }[];
    expect(Object.fromEntries(runs.at(-1)!.run.rehearsal.journey.checks.map((c) => [c.name, c.ok]))).toMatchObject({
      'sign-in': true,
      'agent check-in': true,
      'webhook delivery': true,
    });
    expect(await leftovers(d)).toEqual({ copies: [], apart: '' });

    const upgradedState = await production(d);
    let back!: Awaited<ReturnType<Deployment['script']>>;
    const second = await measureDowntime(d.healthUrl, async () => {
      back = await d.script('rollback-tp.sh', { ATLAS_VERSION: '1.2.1' });
    });
    expect(back.code, back.stdout + back.stderr).toBe(2);
    expect(back.stderr).toMatch(/1\.2\.1 did not become healthy on a copy of the data: the Tenant Plane crashed: exited with 1/);
    expect(second).toMatchObject({ failed: 0 });
    expect(await production(d)).toEqual({ ...upgradedState, serving: '1.3.0' });
    expect(await leftovers(d)).toEqual({ copies: [], apart: '' });

    // A drill of the newest backup (the pre-upgrade one): its version, 1.2.2, run apart on it.
    const drilled = await d.tpctl(['backup', 'drill']);
    expect(drilled.code, drilled.stdout + drilled.stderr).toBe(0);
    expect(drilled.stdout).toMatch(
      /^drill of db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz: proven to restore \(.*1\.2\.2 healthy on the copy in [\d.]+ s, journey (\d+)\/\1\)/,
    );
    expect(await leftovers(d)).toEqual({ copies: [], apart: '' });
  }, 600_000);
});
