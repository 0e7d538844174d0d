import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readStatus } from '../../src/ops/runtimes/local/files.js';
import { processAlive } from '../../src/shared/file-lock.js';
import { appRoot } from '../../src/shared/app-root.js';
import { eventually } from '../support/api-client.js';
import { tempDir } from '../support/temp.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease } from '../support/release.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/**
 * deploy/systemd/atlas-tenant-plane.service: checked by systemd's own `systemd-analyze verify`,
 * then run the way systemd runs it (no systemd runs here as PID 1): its Environment, its
 * WorkingDirectory and its ExecStart, an upgrade through the guide's script while it runs,
 * ExecReload, and the stop KillMode=mixed makes (SIGTERM to the main process only).
 */
const UNIT = path.join(appRoot, 'deploy', 'systemd', 'atlas-tenant-plane.service');

/** The [Service] section's settings: each key with its values in order. */
function service(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) section = header[1]!;
    const setting = /^(\w+)=(.*)$/.exec(line);
    if (section === 'Service' && setting) settings.set(setting[1]!, [...(settings.get(setting[1]!) ?? []), setting[2]!]);
  }
  return settings;
}

describe('the systemd unit of the local runtime', () => {
  const text = readFileSync(UNIT, 'utf8');
  const unit = service(text);
  const dir = tempDir('atlas-systemd-');
  // The unit's paths, moved into this test's directory.
  const moved = (value: string) =>
    value
      .replaceAll('/opt/atlas', appRoot)
      .replaceAll('/var/lib/atlas', path.join(dir, 'var-lib-atlas'))
      .replaceAll('/var/log/atlas', path.join(dir, 'var-log-atlas'));
  let supervisor: ReturnType<typeof spawn> | undefined;
  afterAll(() => supervisor?.kill('SIGKILL'));

  it('passes systemd-analyze verify', () => {
    const verify = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    expect(verify.error).toBeUndefined();
    expect({ code: verify.status, stderr: verify.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('runs the supervisor as systemd would: up on the first release added, through an upgrade, a reload and a stop', async () => {
    expect(unit.get('KillMode')).toEqual(['mixed']);
    expect(unit.get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    const port = await freePort();
    // The EnvironmentFile's settings (port, admin), then the unit's own Environment.
    const env: Record<string, string> = {
      ...localRuntimeEnv(dir, port),
      ...Object.fromEntries(
        unit
          .get('Environment')!
          .flatMap((e) => e.split(' '))
          .map((pair) => moved(pair).split('=') as [string, string]),
      ),
    };
    const dataDir = path.join(dir, 'var-lib-atlas');
    expect(env.ATLAS_DATA_DIR).toBe(dataDir);
    for (const version of ['1.2.2', '1.3.0']) expect((await tpctl(['release', 'add', makeRelease({ version })], env)).code).toBe(0);

    const [file, ...args] = moved(unit.get('ExecStart')![0]!).split(' ');
    supervisor = spawn(file!, args, { cwd: moved(unit.get('WorkingDirectory')![0]!), env, stdio: 'ignore' });
    const health = async () => {
      const res = await fetch(env.HEALTH_URL!).catch(() => undefined);
      return res?.ok ? ((await res.json()) as { version: string }).version : undefined;
    };
    expect(await eventually('1.2.2 to answer', health, 30)).toBe('1.2.2');
    expect(readStatus(dataDir)?.supervisorPid).toBe(supervisor.pid);

    // The guide's upgrade, run from the unit's WorkingDirectory, switches the supervisor systemd runs.
    const upgrade = await runProcess('bash', ['scripts/upgrade-tp.sh'], { ...env, ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1' }, { cwd: appRoot });
    expect(upgrade.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0/);
    expect(await health()).toBe('1.3.0');

    // systemctl reload: ExecReload with $MAINPID; the Tenant Plane is started again, on the same release.
    const before = readStatus(dataDir)!.childPid;
    execFileSync('/bin/kill', ['-HUP', String(supervisor.pid)]);
    await eventually('a new Tenant Plane process', async () => {
      const status = readStatus(dataDir);
      return status?.childPid !== before && status?.state === 'running' ? true : undefined;
    });
    expect(await eventually('1.3.0 to answer again', health, 30)).toBe('1.3.0');

    // systemctl stop, KillMode=mixed: SIGTERM to the supervisor alone, which stops the Tenant Plane and exits 0.
    const child = readStatus(dataDir)!.childPid!;
    const exited = new Promise<number | null>((resolve) => supervisor!.once('exit', resolve));
    supervisor.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(processAlive(child)).toBe(false);
    expect(await health()).toBeUndefined();
    supervisor = undefined;
  });
});
