import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import parsePrometheus from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { scratchOwner } from '../../src/shared/names.js';
import { processAlive } from '../../src/shared/file-lock.js';
import { ApiClient, eventually } from '../support/api-client.js';
import { sharedPostgres } from '../support/backends.js';
import { measureDowntime } from '../support/downtime.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease, PRIORITY, UNIQUE_TITLE } from '../support/release.js';
import { tempDir } from '../support/temp.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/**
 * The rehearsal, for real: the local runtime on PostgreSQL, releases side by side. Production
 * holds two incidents titled alike; 1.3.1 makes titles unique (its migration passes the linter
 * under a waiver and every test on an empty database), and 1.2.1 refuses to start on a schema a
 * newer version moved ahead. The rehearsal finds both on a copy; a client asking every 20 ms sees
 * no failure; production's schema, version and history stay as they were.
 */
const dir = tempDir('atlas-rehearsal-local-');
let env: Record<string, string>;
let dbUrl: string;
const data = (file: string) => path.join(dir, 'data', file);
const local = (args: string[]) => tpctl(args, env, { cwd: dir });
const script = (name: string, extra: Record<string, string>) => runProcess('bash', [`scripts/${name}`], { ...env, ...extra }, { cwd: dir });

async function sql<R extends pg.QueryResultRow>(text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/** What an operation must leave as it was when the rehearsal refuses it. */
async function production() {
  const health = (await (await fetch(env.HEALTH_URL!)).json()) as { version: string };
  return {
    serving: health.version,
    current: readFileSync(data('releases/current'), 'utf8').trim(),
    migrations: (await sql<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name')).map((r) => r.name),
    history: existsSync(data('.atlas-upgrade-history')) ? readFileSync(data('.atlas-upgrade-history'), 'utf8') : '',
  };
}

/** This deployment's scratch databases (other tests' share the server). */
const scratchDatabases = async (purpose = 'rehearsal') =>
  (await sql<{ datname: string }>(`SELECT datname FROM pg_database`))
    .map((r) => r.datname)
    .filter((n) => n.startsWith(`atlas_${purpose}_`) && n.endsWith(`_${scratchOwner(dbUrl)}`));

beforeAll(async () => {
  const port = await freePort();
  dbUrl = await sharedPostgres().createDatabase('rehearsal');
  const base = localRuntimeEnv(dir, port);
  // The journey signs in as the admin the first start creates.
  env = { ...base, DB_URL: dbUrl, ATLAS_VERIFY_EMAIL: base.ATLAS_ADMIN_EMAIL!, ATLAS_VERIFY_PASSWORD: base.ATLAS_ADMIN_PASSWORD! };
  symlinkSync(path.join(appRoot, 'scripts'), path.join(dir, 'scripts'));
  for (const release of [
    makeRelease({ version: '1.2.1', refusesSchemaAhead: true }),
    makeRelease({ version: '1.2.2' }),
    makeRelease({ version: '1.3.0', migrations: PRIORITY }),
    makeRelease({ version: '1.3.1', migrations: { ...PRIORITY, ...UNIQUE_TITLE } }),
  ]) {
    expect((await local(['release', 'add', release])).code).toBe(0);
  }
  expect((await local(['local', 'start', '--version', '1.2.2'])).code).toBe(0);
  const admin = await ApiClient.login(env.HEALTH_URL!.replace(/\/api\/health$/, ''), env.ATLAS_VERIFY_EMAIL!, env.ATLAS_VERIFY_PASSWORD!);
  for (const title of ['Disk full', 'Disk full', 'Fan noise']) {
    expect((await admin.post('/api/incidents', { title, severity: 'low' })).status).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await local(['local', 'stop']);
});

describe('the rehearsal on the local runtime with PostgreSQL', () => {
  it('refuses an upgrade whose migration fails on this data, naming the migration, the statement, the error and the key; production as it was, no request failed', async () => {
    const before = await production();
    let res!: Awaited<ReturnType<typeof script>>;
    const downtime = await measureDowntime(env.HEALTH_URL!, async () => {
      res = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.1' });
    });
    expect(res.code, res.stdout + res.stderr).toBe(2);
    expect(res.stderr).toContain(
      'the rehearsal on a copy of the data refused it, and production was not touched: migration 0920_unique_incident_title.sql failed at statement 1 of 1 ' +
        '(CREATE UNIQUE INDEX incidents_title_key ON incidents (title)) and was rolled back: could not create unique index "incidents_title_key" (Key (title)=(Disk full) is duplicated.)',
    );
    expect(downtime).toMatchObject({ failed: 0 });
    expect(downtime.total).toBeGreaterThan(10);
    expect(await production()).toEqual(before);
    expect(before.migrations).not.toContain('0900_incident_priority.sql');
    expect(await scratchDatabases()).toEqual([]);
    // The refusal names its log, which is kept: the rehearsal's steps are there.
    const log = /read (\S+\.log)/.exec(res.stderr)?.[1];
    expect(readFileSync(log!, 'utf8')).toMatch(
      /rehearse-copy ok in \d+ ms: \S+db-backup-1\.2\.2-\S+ restored into atlas_rehearsal_\d{8}t\d{6}_[0-9a-f]{6} in [\d.]+ s: \d+ tables, \d+ rows, row counts match/,
    );
    expect(readFileSync(log!, 'utf8')).toMatch(/rehearse-migrate FAILED/);
  }, 180_000);

  it('upgrades after a passing rehearsal: its figures in the output and the run record, its backup proven to restore in /metrics, nothing of the journey in production', async () => {
    const res = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const line = res.stdout.split('\n').find((l) => l.startsWith('rehearsal: '));
    expect(line).toMatch(
      /^rehearsal: backup restored in [\d.]+ s \(row counts match\), migrations [\d.]+ s \(longest lock: ACCESS EXCLUSIVE on incidents, \d+ ms\), 1\.3\.0 healthy on the copy in [\d.]+ s, journey (\d+)\/\1$/,
    );
    const runs = JSON.parse((await local(['history', '--json'])).stdout) as {
      run: { backup: string; rehearsal: { line: string; journey: { checks: { name: string; ok: boolean }[] } } };
    }[];
    const run = runs.at(-1)!.run;
    expect(run.rehearsal.line).toBe(line);
    const checks = Object.fromEntries(run.rehearsal.journey.checks.map((c) => [c.name, c.ok]));
    expect(checks).toMatchObject({
      health: true,
      'sign-in': true,
      'GET /api/incidents': true,
      'GET /api/admin/users': true,
      'agent check-in': true,
      'webhook delivery': true,
    });
    expect(await scratchDatabases()).toEqual([]);

    const origin = env.HEALTH_URL!.replace(/\/api\/health$/, '');
    const admin = await ApiClient.login(origin, env.ATLAS_VERIFY_EMAIL!, env.ATLAS_VERIFY_PASSWORD!);
    const metrics = new Map(parsePrometheus(await (await fetch(`${origin}/metrics`, { headers: { cookie: admin.cookie } })).text()).map((f) => [f.name, f]));
    expect(metrics.get('atlas_backup_last_proven_restore_timestamp_seconds')?.metrics).toEqual([
      { value: expect.stringMatching(/^\d+(\.\d+)?$/) as unknown, labels: { backup: path.basename(run.backup) } },
    ]);
    // The journey enrolled an agent and made a webhook on the copy, not here.
    expect((await admin.get<{ agents: unknown[] }>('/api/agents')).body.agents).toEqual([]);
    expect((await admin.get<{ webhooks: unknown[] }>('/api/admin/webhooks')).body.webhooks).toEqual([]);
  }, 180_000);

  it("refuses a rollback to a version that will not start on today's schema: found on a copy of the live data, production untouched", async () => {
    const before = await production();
    let res!: Awaited<ReturnType<typeof script>>;
    const downtime = await measureDowntime(env.HEALTH_URL!, async () => {
      res = await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.1' });
    });
    expect(res.code, res.stdout + res.stderr).toBe(2);
    expect(res.stderr).toMatch(/1\.2\.1 did not become healthy on a copy of the data: the Tenant Plane crashed: 1\.2\.1 apart exited with 1/);
    const log = /read (\S+\.log)/.exec(res.stderr)?.[1];
    expect(readFileSync(log!, 'utf8')).toMatch(/this version runs only on its own latest migration; the schema is ahead: 0900_incident_priority\.sql/);
    expect(downtime).toMatchObject({ failed: 0 });
    expect(await production()).toEqual({ ...before, serving: '1.3.0' });
    expect(await scratchDatabases()).toEqual([]);
  }, 180_000);

  it('REHEARSE_ONLY=1 rehearses a rollback and stops: production still 1.3.0, no history line', async () => {
    const before = await production();
    const res = await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2', REHEARSE_ONLY: '1' });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout.trimEnd()).toMatch(
      /^rehearsed the rollback 1\.3\.0 -> 1\.2\.2 on a copy of the data and stopped there, as asked: production was not touched\. Log: \S+\nrehearsal: the live data copied in [\d.]+ s \(row counts match\), 1\.2\.2 healthy on the copy in [\d.]+ s, journey (\d+)\/\1$/,
    );
    expect(await production()).toEqual(before);
  }, 180_000);

  it('tpctl backup drill proves the newest backup restores and starts its version on it; a tampered backup is refused; it waits for no operation', async () => {
    const drilled = await local(['backup', 'drill']);
    expect(drilled.code, drilled.stdout + drilled.stderr).toBe(0);
    expect(drilled.stdout).toMatch(
      /^drill of db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz: proven to restore \(restored in [\d.]+ s \(row counts match\), 1\.2\.2 healthy on the copy in [\d.]+ s, journey (\d+)\/\1\)\. Log: (\S+drill-\d{8}T\d{6}\.log)\n$/,
    );
    const record = JSON.parse(readFileSync(/Log: (\S+)\.log/.exec(drilled.stdout)![1]! + '.json', 'utf8')) as {
      ok: boolean;
      version: string;
      database: string;
    };
    expect(record).toMatchObject({ ok: true, version: '1.2.2', database: expect.stringMatching(/^atlas_drill_\d{8}t\d{6}_[0-9a-f]{6}$/) as unknown });
    expect(await scratchDatabases('drill')).toEqual([]);

    // A backup whose bytes changed after it was taken is not restored, nor anything started.
    const newest = /drill of (\S+):/.exec(drilled.stdout)![1]!;
    const tampered = path.join(dir, 'logs', newest.replace('.sql.gz', '-copy.sql.gz'));
    const bytes = readFileSync(path.join(dir, 'logs', newest));
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 20) ^ 0xff, bytes.length - 20);
    writeFileSync(tampered, bytes);
    copyFileSync(path.join(dir, 'logs', `${newest}.manifest.json`), `${tampered}.manifest.json`);
    const refused = await local(['backup', 'drill', tampered]);
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/the backup failed verification, nothing was changed: .*sha256: /);

    writeFileSync(
      data('.atlas-operation.lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), what: 'tpctl upgrade --to 9.9.9' }),
    );
    try {
      const locked = await local(['backup', 'drill']);
      expect(locked.code).toBe(4);
      expect(locked.stderr).toMatch(/another operation is under way: "tpctl upgrade --to 9\.9\.9"/);
    } finally {
      rmSync(data('.atlas-operation.lock'));
    }
  }, 180_000);

  it('a run killed in its rehearsal leaves the copy and the version started on it to the next run, which removes both; nothing else to lead back', async () => {
    const child = spawn(process.execPath, [path.join(appRoot, 'dist', 'cli', 'tpctl.js'), 'rollback', '--to', '1.2.2'], { cwd: dir, env, stdio: 'ignore' });
    await eventually(
      'the rehearsal to start 1.2.2 on the copy',
      async () =>
        existsSync(data('.atlas-operation.json')) && readFileSync(data('.atlas-operation.json'), 'utf8').includes('"step": "rehearse-start"')
          ? true
          : undefined,
      120,
    );
    const instance = await eventually('the version on the copy', async () =>
      existsSync(data('rehearsal/instance.json')) ? (JSON.parse(readFileSync(data('rehearsal/instance.json'), 'utf8')) as { pid: number }) : undefined,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(processAlive(instance.pid)).toBe(true);
    expect(await scratchDatabases()).toHaveLength(1);

    const res = await local(['rollback']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stderr).toMatch(/the interrupted run's rehearsal: removed the version started on the copy and the copy atlas_rehearsal_\d{8}t\d{6}_[0-9a-f]{6}/);
    expect(processAlive(instance.pid)).toBe(false);
    expect(await scratchDatabases()).toEqual([]);
    // Killed before it changed anything: recorded as the rollback it was, and not completed.
    expect(readFileSync(data('.atlas-upgrade-history'), 'utf8').trim().split('\n').at(-1)).toMatch(/ ROLLBACK 1\.3\.0 -> 1\.2\.2 INTERRUPTED log:/);
    expect((await production()).serving).toBe('1.3.0');
  }, 240_000);
});
