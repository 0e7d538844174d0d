import { describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/db/migrations.js';
import { embeddedDir, sharedPostgres } from '../support/backends.js';
import { PG_PASSWORD } from '../support/postgres-server.js';
import { tpctl } from '../support/tpctl.js';

describe('tpctl migrate and user, on PostgreSQL and embedded', () => {
  it.each(['postgres', 'embedded'] as const)('%s: status says pending, up applies, status says it can run', async (kind) => {
    const env: Record<string, string> = kind === 'postgres' ? { DB_URL: await sharedPostgres().createDatabase() } : { ATLAS_DATA_DIR: embeddedDir() };
    const before = await tpctl(['migrate', 'status'], env);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain(
      `pending: ${loadMigrations()
        .map((m) => m.name)
        .join(', ')}`,
    );
    expect(before.stdout).toContain('cannot run on this schema yet');

    const up = await tpctl(['migrate', 'up'], env);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('this version can run on this schema');

    const after = await tpctl(['migrate', 'status', '--json'], env);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ version: '1.3.0', pending: [], ahead: [], canRun: true });
    expect(after.stdout + after.stderr + up.stdout + up.stderr).not.toContain(PG_PASSWORD);

    const created = await tpctl(['user', 'create', '--email', 'Ops@Example.com', '--password-stdin'], env, { stdin: 'a-long-password-1\n' });
    expect(created).toMatchObject({ code: 0, stdout: expect.stringMatching(/^created admin ops@example\.com/) as string });
    const again = await tpctl(['user', 'create', '--email', 'ops@example.com', '--password-stdin'], env, { stdin: 'a-long-password-1' });
    expect(again).toMatchObject({ code: 2, stderr: expect.stringContaining('already exists') as string });
  });

  it('refuses bad input with exit code 2 and a clear message, before touching the database', async () => {
    const env = { DB_URL: await sharedPostgres().createDatabase() };
    const cases: [string[], string, string?][] = [
      [['user', 'create', '--email', 'a@b.cd'], 'give the password on standard input with --password-stdin'],
      [['user', 'create', '--email', 'a@b.cd', '--role', 'root', '--password-stdin'], '--role must be one of admin, operator, viewer', 'a-long-password-1'],
      [['user', 'create', '--email', 'a@b.cd', '--password-stdin'], 'at least 12 characters', 'short'],
      [['user', 'create', '--password-stdin'], '--email is required', 'a-long-password-1'],
      [['migrate', 'up', '--force'], "Unknown option '--force'"],
      [['migrate', 'status', 'extra'], "Unexpected argument 'extra'"],
      [['migrate', 'sideways'], 'unknown command "migrate sideways"'],
    ];
    for (const [args, message, stdin] of cases) {
      const res = await tpctl(args, env, { stdin });
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toContain(message);
    }
    const status = await tpctl(['migrate', 'status'], env);
    expect(status.stdout).toContain('applied: 0');
  });

  it('says where the database is and why when it cannot reach it, without the password', async () => {
    const res = await tpctl(['migrate', 'status'], { DB_URL: `postgresql://atlasusr:${PG_PASSWORD}@127.0.0.1:1/atlas` });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('cannot reach the database at postgresql://atlasusr:***@127.0.0.1:1/atlas');
    expect(res.stderr).not.toContain(PG_PASSWORD);
  });
});
