import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { appRoot } from '../../src/shared/app-root.js';
import { ApiClient } from '../support/api-client.js';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease, PRIORITY } from '../support/release.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/**
 * The restore an operator runs after a bad upgrade, keeping what was written since: a backup
 * taken at 1.2.2 by the upgrade to 1.3.0 (whose migration adds a column), work done on 1.3.0,
 * then the rollback to 1.2.2 restoring that backup with KEEP_NEW=1 through rollback-tp.sh. On the
 * local runtime, on PostgreSQL (DB_URL) and on the embedded database (no DB_URL).
 */
describe.each(['postgres', 'embedded'] as const)('a rollback restoring the 1.2.2 backup with KEEP_NEW=1, on %s', (kind) => {
  const dir = tempDir('atlas-keep-new-');
  let env: Record<string, string>;
  const script = (name: string, extra: Record<string, string> = {}) => runProcess('bash', [`scripts/${name}`], { ...env, ...extra }, { cwd: dir });
  const local = (args: string[]) => tpctl(args, env, { cwd: dir });
  const signIn = () => ApiClient.login(new URL(env.HEALTH_URL!).origin, env.ATLAS_ADMIN_EMAIL!, env.ATLAS_ADMIN_PASSWORD!);

  beforeAll(async () => {
    env = { ...localRuntimeEnv(dir, await freePort()), ...(kind === 'postgres' ? { DB_URL: await sharedPostgres().createDatabase('keepnew') } : {}) };
    symlinkSync(path.join(appRoot, 'scripts'), path.join(dir, 'scripts'));
    for (const release of [makeRelease({ version: '1.2.2' }), makeRelease({ version: '1.3.0', migrations: PRIORITY })])
      expect((await local(['release', 'add', release])).code).toBe(0);
    expect((await local(['local', 'start', '--version', '1.2.2'])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await local(['local', 'stop']);
  });

  it('KEEP_NEW without RESTORE_DB=1, or not 1, is refused with exit 2 before anything runs', async () => {
    for (const [extra, message] of [
      [{ KEEP_NEW: '1' }, 'KEEP_NEW=1 carries rows into a restored database: it needs RESTORE_DB=1'],
      [{ KEEP_NEW: 'yes', RESTORE_DB: '1', DB_BACKUP_FILE: '/nonexistent.sql.gz', DB_URL: 'postgresql://x@127.0.0.1/x' }, 'KEEP_NEW must be 1 or unset'],
      [{ RESTORE_DB: '1' }, 'RESTORE_DB=1 needs DB_BACKUP_FILE, the backup to restore'],
    ] as const) {
      const res = await script('rollback-tp.sh', extra);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(`rollback-tp.sh: ${message}\n`);
    }
    expect(existsSync(path.join(dir, 'data', '.atlas-upgrade-history'))).toBe(false);
  });

  it("1.2.2 is healthy; every row created on 1.3.0 is there and readable through its API; the 1.3.0 column is gone; rows changed since have the backup's values and are listed", async () => {
    // Before the backup, on 1.2.2: an agent, an incident and a setting.
    let api = await signIn();
    const token = (await api.post<{ enrollmentToken: { token: string } }>('/api/admin/enrollment-tokens', { name: 'edge-1', labels: ['site-a'] })).body
      .enrollmentToken.token;
    const agent = (await api.post<{ agent: { id: string } }>('/api/agents/enroll', { token, name: 'edge-1', runbooks: ['disk-usage'] })).body.agent;
    const before = (await api.post<{ incident: { id: number } }>('/api/incidents', { title: 'before the backup', severity: 'low' })).body.incident;
    expect((await api.call('PUT', '/api/admin/settings/support.email', { value: 'ops@example.com' })).status).toBe(200);

    const upgraded = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(upgraded.code).toBe(0);
    const backup = /pre-upgrade backup: (\S+)/.exec(upgraded.stdout)?.[1] ?? '';
    expect(path.basename(backup)).toMatch(/^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/);

    // On 1.3.0: an incident with a comment and a runbook started from it, a new user; the incident and the setting from before changed.
    api = await signIn();
    const created = (await api.post<{ incident: { id: number } }>('/api/incidents', { title: 'written on 1.3.0', severity: 'high' })).body.incident;
    expect((await api.post(`/api/incidents/${created.id}/comments`, { text: 'a comment on 1.3.0' })).status).toBe(201);
    const execution = (await api.post<{ executions: { id: string }[] }>(`/api/incidents/${created.id}/runbooks`, { runbook: 'disk-usage', agentId: agent.id }))
      .body.executions[0]!;
    const user = await api.post<{ user: { id: string } }>('/api/admin/users', {
      email: 'new-on-130@example.com',
      password: 'a-long-password-1',
      role: 'operator',
    });
    expect(user.status).toBe(201);
    expect((await api.post(`/api/incidents/${before.id}/acknowledge`)).status).toBe(200);
    expect((await api.call('PUT', '/api/admin/settings/support.email', { value: 'changed@example.com' })).status).toBe(200);

    // Named relative to the deployment's directory; the history names it absolute.
    const restore = { RESTORE_DB: '1', KEEP_NEW: '1', DB_BACKUP_FILE: path.relative(dir, backup), ATLAS_VERSION: '1.2.2' };
    const res = await script('rollback-tp.sh', restore);
    expect(res.stderr).not.toMatch(/FAILED/);
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/^rolled back 1\.3\.0 -> 1\.2\.2 in [\d.]+ s; 1\.2\.2 is healthy, on the database restored from \S+\.sql\.gz\. Log: /);
    const historyFile = readFileSync(path.join(dir, 'data', '.atlas-upgrade-history'), 'utf8');
    expect(historyFile.trim().split('\n').at(-1)).toMatch(
      new RegExp(`^\\d{8}T\\d{6} ROLLBACK 1\\.3\\.0 -> 1\\.2\\.2 restored:${backup.replace(/[.]/g, '\\.')} log:/`),
    );
    expect(lines).toContain('incidents: 1 created, 1 changed, 0 deleted since the backup');
    expect(lines).toContain("  changed (the backup's values are restored): " + String(before.id));
    expect(lines).toContain('  columns the backup does not have (their values are discarded): priority');
    expect(lines).toContain('  carried over: 1 of 1');
    expect(lines).toContain('runbook_executions: 1 created, 0 changed, 0 deleted since the backup');
    // On PostgreSQL the upgrade's rehearsal proved the backup after taking it, and recorded so in a setting: one created since.
    expect(lines).toContain(`settings: ${kind === 'postgres' ? 1 : 0} created, 1 changed, 0 deleted since the backup`);
    expect(lines).toContain("  changed (the backup's values are restored): support.email");
    expect(lines.filter((l) => l.startsWith('sessions: '))).toHaveLength(1);
    expect(lines).toContain('  not carried: sign-ins end with a restore: everyone signs in again');

    // 1.2.2 serves it all (sessions were not carried: sign in again).
    expect(((await (await fetch(env.HEALTH_URL!)).json()) as { version: string }).version).toBe('1.2.2');
    api = await signIn();
    const read = await api.get<{ incident: { title: string }; timeline: { kind: string; detail: { text?: string } }[]; executions: { id: string }[] }>(
      `/api/incidents/${created.id}`,
    );
    expect(read.status).toBe(200);
    expect(read.body.incident.title).toBe('written on 1.3.0');
    expect(read.body.timeline.map((e) => e.kind)).toEqual(expect.arrayContaining(['created', 'comment', 'execution_started']));
    expect(read.body.executions.map((e) => e.id)).toEqual([execution.id]);
    expect((await api.get(`/api/executions/${execution.id}`)).status).toBe(200);
    expect((await api.get<{ users: { email: string }[] }>('/api/admin/users')).body.users.map((u) => u.email)).toContain('new-on-130@example.com');
    expect((await api.get<{ incident: { status: string } }>(`/api/incidents/${before.id}`)).body.incident.status).toBe('open');
    expect((await api.get<{ setting: { value: string } }>('/api/settings/support.email')).body.setting.value).toBe('ops@example.com');
    // New incidents continue past the carried id.
    expect((await api.post<{ incident: { id: number } }>('/api/incidents', { title: 'after the restore', severity: 'low' })).body.incident.id).toBeGreaterThan(
      created.id,
    );

    if (kind === 'postgres') {
      const db = await openDatabase({ url: env.DB_URL, embeddedDir: '', applicationName: 'tpctl' });
      const columns = await db
        .query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'incidents' AND column_name = 'priority'`)
        .finally(() => db.close());
      expect(columns).toEqual([]);
    }
    // The run record holds the same report, as data.
    const entries = JSON.parse((await local(['history', '--json'])).stdout) as {
      run?: { sinceBackup: { carried: { table: string; carried: number }[] } | null };
    }[];
    const entry = entries.find((e) => e.run?.sinceBackup);
    expect(entry?.run?.sinceBackup?.carried.find((c) => c.table === 'incidents')?.carried).toBe(1);
  }, 240_000);
});
