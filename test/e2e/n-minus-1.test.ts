import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { readAppVersion } from '../../src/shared/version.js';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { smokeCheck } from '../support/smoke.js';
import { tpctl } from '../support/tpctl.js';

const git = (...args: string[]) => execFileSync('git', args, { cwd: appRoot, encoding: 'utf8' }).trim();

/** The previous release: the latest tag before HEAD, or HEAD's parent where there is no tag. */
function previousRelease(): { ref: string; label: string } {
  try {
    const tag = git('describe', '--tags', '--abbrev=0', 'HEAD^');
    return { ref: tag, label: `tag ${tag}` };
  } catch {
    const parent = git('rev-parse', '--verify', 'HEAD^');
    return { ref: parent, label: `parent commit ${parent.slice(0, 10)}` };
  }
}

/** Exports a commit into a temporary directory and builds it there, as its own release. */
function buildRelease(ref: string): string {
  const dir = tempDir('atlas-previous-');
  execFileSync('sh', ['-c', `git archive --format=tar "$1" | tar -x -C "$2"`, 'sh', ref, dir], { cwd: appRoot });
  const sameLock = readFileSync(path.join(dir, 'package-lock.json'), 'utf8') === readFileSync(path.join(appRoot, 'package-lock.json'), 'utf8');
  if (sameLock) symlinkSync(path.join(appRoot, 'node_modules'), path.join(dir, 'node_modules'));
  else execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
  execFileSync(path.join(dir, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: dir });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  return dir;
}

const running: ServerProcess[] = [];
afterAll(() => running.forEach((s) => s.child.kill('SIGKILL')));

describe('N-1 on N: the previous release runs on the schema the current code migrated', () => {
  it('health, login, reads of what the current version wrote, and writes', async () => {
    const previous = previousRelease();
    const dir = buildRelease(previous.ref);
    expect(existsSync(path.join(dir, 'dist', 'cli', 'server.js'))).toBe(true);
    const previousVersion = readAppVersion(dir);

    const admin = { email: 'admin@example.com', password: 'compat-password-1' };
    const env = { DB_URL: await sharedPostgres().createDatabase('compat'), ATLAS_ADMIN_EMAIL: admin.email, ATLAS_ADMIN_PASSWORD: admin.password };
    const up = await tpctl(['migrate', 'up'], { DB_URL: env.DB_URL });
    expect(up.code).toBe(0);

    const current = await startServer(env);
    running.push(current);
    await smokeCheck(current.url, admin, readAppVersion(), 'current');
    current.child.kill('SIGTERM');
    await current.exited;

    const old = await startServer(env, dir);
    running.push(old);
    const { routes, settingKeys } = await smokeCheck(old.url, admin, previousVersion, 'previous');
    expect(routes, `routes of ${previous.label}`).toContain('GET /api/health');
    expect(settingKeys, 'the previous release reads what the current one wrote').toContain('smoke.current');
    const schema = old.logs.find((l) => l.msg === 'schema ready');
    expect(schema?.applied, `${previous.label} must not need to migrate a schema the current code made`).toEqual([]);
  });
});
