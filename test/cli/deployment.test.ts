import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp.js';
import { tpctl } from '../support/tpctl.js';

/** A release as `tpctl release add` takes it: its version file and its server (never started here). */
function stagedRelease(version: string): string {
  const dir = tempDir('atlas-release-');
  mkdirSync(path.join(dir, 'dist', 'cli'), { recursive: true });
  writeFileSync(path.join(dir, 'dist', 'cli', 'server.js'), '');
  writeFileSync(path.join(dir, '.atlas-version'), `${version}\n`);
  return dir;
}

/** A deployment directory whose local runtime was set up by `tpctl release add` with these variables. */
async function setUp(env: Record<string, string>): Promise<string> {
  const dir = tempDir('atlas-deployment-');
  const added = await tpctl(['release', 'add', stagedRelease('1.2.2')], env, { cwd: dir });
  expect(added.code, added.stderr).toBe(0);
  return dir;
}

describe('a deployment remembers where it runs (data/deployment.json)', () => {
  it('is recorded by the first command that sets it up, and a new shell with no variables works on it', async () => {
    const dir = await setUp({ ATLAS_PORT: '3999', ATLAS_LOG_DIR: 'logs', HEALTH_URL: 'http://127.0.0.1:3999/api/health' });
    const record = JSON.parse(readFileSync(path.join(dir, 'data', 'deployment.json'), 'utf8')) as unknown;
    expect(record).toEqual({
      runtime: 'local',
      settings: { ATLAS_PORT: '3999', ATLAS_LOG_DIR: path.join(dir, 'logs'), HEALTH_URL: 'http://127.0.0.1:3999/api/health' },
      recorded: { at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown, by: 'tpctl release add' },
    });

    const shown = await tpctl(['config', 'show'], {}, { cwd: dir });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^deployment: data\/deployment\.json \(recorded by tpctl release add at \S+\)\n/);
    expect(shown.stdout).toMatch(/^ {2}ATLAS_RUNTIME +local {2}\(deployment\.json\)$/m);
    expect(shown.stdout).toMatch(/^ {2}ATLAS_PORT +3999 {2}\(deployment\.json\)$/m);
    expect(shown.stdout).toMatch(/^ {2}ATLAS_HOST +0\.0\.0\.0 {2}\(default\)$/m);
    expect(shown.stdout).toMatch(/^ {2}ATLAS_DATA_DIR +\.\/data {2}\(default\)$/m);

    // No ATLAS_RUNTIME, no HEALTH_URL: the local runtime at the recorded address.
    const status = await tpctl(['status'], {}, { cwd: dir });
    expect(status.stdout).toMatch(/^runtime: +local process \(data\/releases\)$/m);
    expect(status.stdout).toMatch(/^configured: 1\.2\.2$/m);
    const plan = await tpctl(['rollback', '--dry-run'], {}, { cwd: dir });
    expect(plan.stderr).toContain('the local runtime is not running');
    // Variables that agree with it are fine.
    expect((await tpctl(['status'], { ATLAS_RUNTIME: 'local', ATLAS_PORT: '3999' }, { cwd: dir })).stdout).toMatch(/^runtime: +local process/m);
  });

  it('refuses a runtime or a setting that says otherwise, naming both, and acts on nothing', async () => {
    const dir = await setUp({ ATLAS_PORT: '3999' });
    const before = readFileSync(path.join(dir, 'data', 'deployment.json'), 'utf8');
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        ['status'],
        { ATLAS_RUNTIME: 'compose' },
        /^tpctl status: ATLAS_RUNTIME=compose, but this deployment runs on local \(data\/deployment\.json, recorded by tpctl release add at /,
      ],
      [['rollback', '--dry-run'], { ATLAS_RUNTIME: 'kubernetes' }, /ATLAS_RUNTIME=kubernetes, but this deployment runs on local/],
      [['rollback', '--runtime', 'compose'], {}, /--runtime=compose, but this deployment runs on local .*nothing was done/],
      // A value that is no runtime at all is named as such first.
      [['status', '--runtime', 'swarm'], {}, /^tpctl status: --runtime=swarm is not valid: compose, kubernetes, helm, local\n$/],
      [['status'], { ATLAS_RUNTIME: 'k8s' }, /^tpctl status: ATLAS_RUNTIME=k8s is not valid: compose, kubernetes, helm, local\n$/],
      [
        ['upgrade', '--to', '1.3.0'],
        { ATLAS_PORT: '4000' },
        /ATLAS_PORT=4000, but this deployment has ATLAS_PORT=3999 .*unset ATLAS_PORT to use the deployment's/,
      ],
      [['status'], { ATLAS_SERVICE: 'tenant-plane', ATLAS_RUNTIME: 'compose' }, /ATLAS_RUNTIME=compose, but this deployment runs on local/],
    ];
    for (const [args, env, message] of cases) {
      const res = await tpctl(args, env, { cwd: dir });
      expect({ args, env, code: res.code, stdout: res.stdout }).toEqual({ args, env, code: 2, stdout: '' });
      expect(res.stderr).toMatch(message);
    }
    expect(readFileSync(path.join(dir, 'data', 'deployment.json'), 'utf8')).toBe(before);
    expect(existsSync(path.join(dir, 'data', '.atlas-upgrade-history'))).toBe(false);
  });

  it('a command that sets the deployment up adds a setting it did not have yet; a read-only one uses it without recording it', async () => {
    const dir = await setUp({ ATLAS_PORT: '3999' });
    const file = path.join(dir, 'data', 'deployment.json');
    const settings = () => (JSON.parse(readFileSync(file, 'utf8')) as { settings: Record<string, string> }).settings;
    const status = await tpctl(['status'], { ATLAS_HOST: '127.0.0.1' }, { cwd: dir });
    expect(status.stdout).toMatch(/^runtime: +local process/m);
    expect(settings()).toEqual({ ATLAS_PORT: '3999' });
    expect((await tpctl(['release', 'add', stagedRelease('1.3.0')], { ATLAS_HOST: '127.0.0.1' }, { cwd: dir })).code).toBe(0);
    expect(settings()).toEqual({ ATLAS_PORT: '3999', ATLAS_HOST: '127.0.0.1' });
    const other = await tpctl(['status'], { ATLAS_HOST: '0.0.0.0' }, { cwd: dir });
    expect({ code: other.code, stdout: other.stdout }).toEqual({ code: 2, stdout: '' });
    expect(other.stderr).toContain('ATLAS_HOST=0.0.0.0, but this deployment has ATLAS_HOST=127.0.0.1 (data/deployment.json, recorded by tpctl release add at ');
  });

  it('a dry run and a read-only command record nothing', async () => {
    const dir = tempDir('atlas-deployment-');
    for (const args of [['upgrade', '--to', '1.3.0', '--dry-run'], ['status'], ['config', 'show']]) {
      await tpctl(args, { ATLAS_RUNTIME: 'local' }, { cwd: dir });
      expect(existsSync(path.join(dir, 'data', 'deployment.json')), args.join(' ')).toBe(false);
    }
    const shown = await tpctl(['config', 'show', '--json'], { ATLAS_RUNTIME: 'local' }, { cwd: dir });
    const { settings } = JSON.parse(shown.stdout) as { settings: unknown[] };
    expect(settings).toContainEqual({ name: 'ATLAS_RUNTIME', value: 'local', from: 'environment' });
  });

  it('a record that is not of its form, or a link, is refused with the file named, and nothing is done', async () => {
    const records: [string, RegExp][] = [
      ['not json', /not a JSON object/],
      ['[]', /not a JSON object/],
      ['{"runtime":"nomad","settings":{},"recorded":{"at":"x","by":"y"}}', /runtime must be one of compose, kubernetes, helm, local/],
      ['{"runtime":"local","settings":{"DB_URL":"postgres://x"},"recorded":{"at":"x","by":"y"}}', /DB_URL is not a setting of the local runtime/],
      ['{"runtime":"local","settings":{"ATLAS_PORT":3999},"recorded":{"at":"x","by":"y"}}', /ATLAS_PORT must be a one-line text/],
      ['{"runtime":"local","settings":{"ATLAS_PORT":"1\\n2"},"recorded":{"at":"x","by":"y"}}', /ATLAS_PORT must be a one-line text/],
      ['{"runtime":"local","settings":{},"recorded":{}}', /recorded must say when and by which command/],
      ['{"runtime":"local","settings":{},"recorded":{"at":"x","by":"y"},"extra":1}', /unknown field extra/],
    ];
    for (const [text, why] of records) {
      const dir = tempDir('atlas-deployment-');
      mkdirSync(path.join(dir, 'data'));
      writeFileSync(path.join(dir, 'data', 'deployment.json'), text);
      const res = await tpctl(['status'], {}, { cwd: dir });
      expect({ text, code: res.code, stdout: res.stdout }).toEqual({ text, code: 2, stdout: '' });
      expect(res.stderr).toMatch(/data\/deployment\.json is not a deployment record \(/);
      expect(res.stderr).toMatch(why);
    }
    const dir = tempDir('atlas-deployment-');
    mkdirSync(path.join(dir, 'data'));
    writeFileSync(path.join(dir, 'elsewhere.json'), '{"runtime":"local","settings":{},"recorded":{"at":"x","by":"y"}}');
    symlinkSync(path.join(dir, 'elsewhere.json'), path.join(dir, 'data', 'deployment.json'));
    const linked = await tpctl(['status'], {}, { cwd: dir });
    expect(linked.code).toBe(2);
    expect(linked.stderr).toContain('data/deployment.json is a symbolic link: refused');
  });
});
