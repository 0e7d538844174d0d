import { spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { readStatus } from '../../src/ops/runtimes/local/files.js';
import { eventually } from '../support/api-client.js';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { measureDowntime } from '../support/downtime.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease, PRIORITY } from '../support/release.js';
import { tpctl } from '../support/tpctl.js';

/**
 * The local runtime on PostgreSQL: a new version starts beside the one that serves, is checked on
 * its own port, then takes the connections the supervisor hands over. A client asking every 20 ms
 * sees no failed request, for an upgrade, a crashing upgrade and a rollback.
 */
const dir = tempDir('atlas-local-beside-');
let env: Record<string, string>;
const local = (args: string[]) => tpctl(args, env, { cwd: dir });
const data = (file: string) => path.join(dir, 'data', file);

beforeAll(async () => {
  const port = await freePort();
  env = { ...localRuntimeEnv(dir, port), DB_URL: await sharedPostgres().createDatabase('beside') };
  symlinkSync(path.join(appRoot, 'scripts'), path.join(dir, 'scripts'));
  for (const release of [
    makeRelease({ version: '1.2.2' }),
    makeRelease({ version: '1.3.0', migrations: PRIORITY }),
    makeRelease({ version: '1.3.2', migrations: { ...PRIORITY, '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' } }),
  ]) {
    expect((await local(['release', 'add', release])).code).toBe(0);
  }
  expect((await local(['local', 'start', '--version', '1.2.2'])).code).toBe(0);
});

afterAll(async () => {
  await local(['local', 'stop']);
});

describe('the local runtime on PostgreSQL: the new version beside the old one', () => {
  it('upgrades, fails to upgrade to a version that crashes, and rolls back, with no request failed', async () => {
    const steps = async (args: string[], code: number) => {
      const res = await local(args);
      expect(res.code, res.stdout + res.stderr).toBe(code);
      const runs = JSON.parse((await local(['history', '--json'])).stdout) as { run: { steps: { step: string }[] } | null }[];
      return runs.at(-1)?.run?.steps.map((s) => s.step);
    };
    let taken: (string[] | undefined)[] = [];
    const url = env.HEALTH_URL!;
    const downtime = await measureDowntime(url, async () => {
      taken = [
        await steps(['upgrade', '--to', '1.3.0', '--no-backup'], 0),
        // Its rehearsal would refuse it (the rehearsal's own tests): here the candidate must fail.
        await steps(['upgrade', '--to', '1.3.2', '--no-backup', '--no-rehearsal'], 1),
        await steps(['rollback', '--to', '1.2.2'], 0),
      ];
    });
    expect(downtime).toMatchObject({ failed: 0 });
    expect(downtime.total).toBeGreaterThan(20);
    const rehearsal = ['rehearse-copy', 'rehearse-start', 'rehearse-journey', 'rehearse-remove'];
    expect(taken[0]).toEqual([
      'preflight',
      'path-check',
      'schema-check',
      rehearsal[0],
      'rehearse-migrate',
      ...rehearsal.slice(1),
      'previous-version',
      'start-candidate',
      'wait-healthy',
      'verify',
      'promote',
    ]);
    // The crashing candidate was removed and the previous version's record put back; 1.3.0, which never stopped, was confirmed.
    expect(taken[1]).toEqual([
      'preflight',
      'path-check',
      'schema-check',
      'previous-version',
      'start-candidate',
      'wait-healthy',
      'discard-candidate',
      'previous-version-back',
      'wait-healthy',
      'verify',
    ]);
    expect(taken[2]).toEqual(['preflight', 'schema-check', ...rehearsal, 'start-candidate', 'wait-healthy', 'verify', 'promote']);
    expect(readStatus(path.join(dir, 'data'))).toMatchObject({ version: '1.2.2', state: 'running' });
    expect(readStatus(path.join(dir, 'data'))?.candidate).toBeUndefined();
  }, 120_000);

  it('a run killed while its candidate bakes leaves it to the next run, which removes it first', async () => {
    const child = spawn(process.execPath, [path.join(appRoot, 'dist', 'cli', 'tpctl.js'), 'upgrade', '--to', '1.3.0', '--no-backup', '--no-rehearsal'], {
      cwd: dir,
      env: { ...env, ATLAS_BAKE_SECONDS: '60' },
      stdio: 'ignore',
    });
    await eventually(
      'the bake',
      async () =>
        existsSync(data('.atlas-operation.json')) && readFileSync(data('.atlas-operation.json'), 'utf8').includes('"step": "bake"') ? true : undefined,
      60,
    );
    // The supervisor writes its status on its own: the journal can reach the bake before it says "running".
    await eventually('the candidate running', async () => (readStatus(path.join(dir, 'data'))?.candidate?.state === 'running' ? true : undefined), 30);
    expect(readStatus(path.join(dir, 'data'))?.candidate).toMatchObject({ version: '1.3.0', state: 'running' });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(data('.atlas-operation.json'))).toBe(true);
    const res = await local(['rollback']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stderr).toMatch(/removed the candidate the interrupted run had started/);
    expect(readFileSync(data('.atlas-upgrade-history'), 'utf8')).toMatch(/1\.2\.2 -> 1\.3\.0 INTERRUPTED/);
    expect(readStatus(path.join(dir, 'data'))).toMatchObject({ version: '1.2.2', state: 'running' });
    expect(readStatus(path.join(dir, 'data'))?.candidate).toBeUndefined();
    expect(existsSync(data('releases/candidate'))).toBe(false);
    expect((await (await fetch(env.HEALTH_URL!)).json()) as { version: string }).toMatchObject({ version: '1.2.2' });
  }, 120_000);
});
