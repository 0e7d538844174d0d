import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/db/migrations.js';
import { appRoot } from '../../src/shared/app-root.js';
import { eventually, loginFrom } from '../support/api-client.js';
import { tempDir } from '../support/temp.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease } from '../support/release.js';
import { runProcess, tpctl, type RunResult } from '../support/tpctl.js';
import { measureDowntime } from '../support/downtime.js';

/** The same flow with no container engine: releases side by side, a supervised local process, the embedded database. */
const dir = tempDir('atlas-local-');
let env: Record<string, string>;

const script = (name: string, extra: Record<string, string> = {}) => runProcess('bash', [`scripts/${name}`], { ...env, ...extra }, { cwd: dir });
const local = (args: string[]) => tpctl(args, env, { cwd: dir });
const history = () =>
  readFileSync(path.join(dir, 'data', '.atlas-upgrade-history'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''));
async function health(): Promise<{ version: string; checks: { schema: { applied: number } } }> {
  return (await (await fetch(env.HEALTH_URL!)).json()) as { version: string; checks: { schema: { applied: number } } };
}

beforeAll(async () => {
  const port = await freePort();
  env = { ...localRuntimeEnv(dir, port) };
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
  it('the scripts take no arguments: --help and -h print their usage, anything else is refused with exit 2; neither acts', async () => {
    const state = async () => ({
      history: existsSync(path.join(dir, 'data', '.atlas-upgrade-history')) ? history() : [],
      current: readFileSync(path.join(dir, 'data', 'releases', 'current'), 'utf8'),
      serving: (await health()).version,
    });
    const before = await state();
    const dryRun = { 'upgrade-tp.sh': 'npx tpctl upgrade --to VERSION --dry-run', 'rollback-tp.sh': 'npx tpctl rollback --dry-run' };
    for (const name of ['upgrade-tp.sh', 'rollback-tp.sh'] as const) {
      const run = (args: string[]) => runProcess('bash', [`scripts/${name}`, ...args], { ...env, ATLAS_VERSION: '1.3.0' }, { cwd: dir });
      for (const args of [['--help'], ['-h']]) {
        const res = await run(args);
        expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
        expect(res.stdout).toMatch(/^(Upgrades|Rolls) the Tenant Plane of the deployment in the current directory/);
        expect(res.stdout).toContain(`bash scripts/${name}`);
      }
      for (const args of [['--dry-run'], ['-x'], ['now'], ['--help', 'please']]) {
        const res = await run(args);
        expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 2, stdout: '' });
        expect(res.stderr).toBe(
          `${name}: takes no arguments (given: ${args.join(' ')}); its settings are environment variables (bash scripts/${name} --help). ` +
            `A plan without acting: ${dryRun[name]}\n`,
        );
      }
    }
    expect(await state()).toEqual(before);
  });

  it('upgrades 1.2.2 -> 1.3.0 with a backup of the embedded database, though another client just sent 500 wrong logins for the verification identity', async () => {
    const base = env.HEALTH_URL!.replace(/\/api\/health$/, '');
    const identity = { email: env.ATLAS_ADMIN_EMAIL!, password: env.ATLAS_ADMIN_PASSWORD! };
    for (let i = 0; i < 500; i++) await loginFrom('127.0.0.2', base, { email: identity.email, password: `guess-${i}` });
    expect(await loginFrom('127.0.0.2', base, identity)).toBe(429);
    // The checklist and the bake sign in as that identity from this host.
    let res!: RunResult;
    const upgrade = async () => {
      res = await script('upgrade-tp.sh', {
        ATLAS_VERSION: '1.3.0',
        ATLAS_BAKE_SECONDS: '3',
        ATLAS_VERIFY_EMAIL: identity.email,
        ATLAS_VERIFY_PASSWORD: identity.password,
      });
    };
    // The Tenant Plane stops for the backup and restarts on 1.3.0: a client that waits as long as
    // the supervisor holds a connection (30 s) has every request answered, none refused.
    const downtime = await measureDowntime(env.HEALTH_URL!, upgrade, 30_000);
    expect(downtime).toMatchObject({ failed: 0 });
    expect(downtime.total).toBeGreaterThan(20);
    const runLog = / log:(\S+)/.exec(readFileSync(path.join(dir, 'data', '.atlas-upgrade-history'), 'utf8'))?.[1];
    expect(readFileSync(runLog!, 'utf8')).toMatch(/PASS login: POST \/api\/login as admin@example\.com/);
    expect(res.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy/);
    expect(res.code).toBe(0);
    expect(await health()).toMatchObject({ version: '1.3.0', checks: { schema: { applied: loadMigrations().length + 1 } } }); // ours and 0900
    expect(history()).toEqual(['1.2.2 -> 1.3.0 SUCCESS']);
    expect(readdirSync(path.join(dir, 'logs')).filter((n) => /^db-backup-1\.2\.2-\d{8}T\d{6}\.sql\.gz$/.test(n))).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'data', 'releases', 'current'), 'utf8')).toBe('1.3.0\n');
    // It passed the bake, against a baseline taken on 1.2.2 before the switch.
    const [entry] = JSON.parse((await local(['history', '--json'])).stdout) as {
      run: {
        steps: { step: string }[];
        bake: {
          seconds: number;
          signals: string[];
          verdicts: { signal: string; result: string }[];
          baseline: { routes: Record<string, { n: number }> };
          bake: { routes: Record<string, { n: number }> };
        };
      };
    }[];
    expect(entry?.run.steps.map((s) => s.step)).toEqual([
      'preflight',
      'path-check',
      'schema-check',
      'baseline',
      'stop',
      'backup',
      'previous-version',
      'switch',
      'wait-healthy',
      'verify',
      'checklist', // the verification identity's login among its checks
      'bake',
    ]);
    expect(entry?.run.bake).toMatchObject({ seconds: 3, signals: [] });
    // The same, as data: each signal's verdict.
    expect(entry?.run.bake.verdicts).toContainEqual(expect.objectContaining({ signal: 'answers', route: 'GET /api/health', result: 'pass' }));
    expect(entry?.run.bake.verdicts.filter((v) => v.result === 'fail')).toEqual([]);
    expect(entry?.run.bake.baseline.routes['GET /api/health']?.n).toBeGreaterThan(5);
    expect(entry?.run.bake.bake.routes['GET /api/health']?.n).toBeGreaterThan(5);
  });

  it('a new shell with no ATLAS_ variables works on the local runtime it started; ATLAS_RUNTIME=compose there is refused, naming both', async () => {
    const shell = { PATH: process.env.PATH ?? '' };
    const status = await tpctl(['status'], shell, { cwd: dir });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^runtime: +local process \(data\/releases\)$/m);
    expect(status.stdout).toMatch(/^health: +ok \(http:\/\/127\.0\.0\.1:\d+\/api\/health\)$/m);
    expect(status.stdout).toMatch(/^configured: 1\.3\.0$/m);
    const plan = await tpctl(['rollback', '--dry-run'], shell, { cwd: dir });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toContain('rollback 1.3.0 -> 1.2.2 (target from data/.atlas-previous-version) on local process (data/releases)');
    // Refusals change nothing and leave no run log behind; a "rollback" forward is one.
    const logs = readdirSync(path.join(dir, 'logs'));
    const missing = await tpctl(['upgrade', '--to', '9.9.9'], shell, { cwd: dir });
    expect({ code: missing.code, stdout: missing.stdout }).toEqual({ code: 2, stdout: '' });
    const forward = await script('rollback-tp.sh', { ATLAS_VERSION: '1.3.2' });
    expect({ code: forward.code, stdout: forward.stdout }).toEqual({ code: 2, stdout: '' });
    expect(forward.stderr).toContain(
      '1.3.2 is newer than 1.3.0, which runs: a rollback goes back; going forward is an upgrade: ATLAS_VERSION=1.3.2 bash scripts/upgrade-tp.sh',
    );
    expect(readdirSync(path.join(dir, 'logs'))).toEqual(logs);
    const other = await tpctl(['rollback', '--dry-run'], { ...shell, ATLAS_RUNTIME: 'compose' }, { cwd: dir });
    expect({ code: other.code, stdout: other.stdout }).toEqual({ code: 2, stdout: '' });
    expect(other.stderr).toMatch(/ATLAS_RUNTIME=compose, but this deployment runs on local \(data\/deployment\.json, recorded by tpctl release add at /);
  });

  it('an upgrade to a release that crashes on start rolls itself back to 1.3.0', async () => {
    const res = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.2' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /FAILED at wait-healthy: the Tenant Plane crashed: crashed 1\.3\.2 \(exit 1, 1 restart\).*Rolled back: 1\.3\.0 runs and is healthy/,
    );
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

  it('an upgrade killed with kill -9 at random moments, round after round, is led back by the next rollback to a healthy 1.2.2, with a truthful history', async () => {
    // A seeded sequence of moments: a failing round can be replayed.
    let seed = Number(process.env.ATLAS_KILL_SEED ?? 20261201);
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // The moments span an upgrade as long as one takes on this machine now, timed whole first:
    // a fixed span would fall wholly before the switch on a loaded machine.
    const timed = Date.now();
    expect((await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' })).code).toBe(0);
    const spanMs = Date.now() - timed;
    expect((await script('rollback-tp.sh', { ATLAS_VERSION: '1.2.2' })).code).toBe(0);
    const deadline = Date.now() + 150_000;
    const outcomes = new Set<string>();
    const journal = path.join(dir, 'data', '.atlas-operation.json');
    for (let round = 1; round <= 10 && Date.now() < deadline; round++) {
      const before = history().length;
      const delayMs = Math.round(random() * spanMs);
      const child = spawn('bash', ['scripts/upgrade-tp.sh'], { cwd: dir, env: { ...env, ATLAS_VERSION: '1.3.0' }, stdio: 'ignore' });
      let gone = false;
      const exited = new Promise((resolve) => child.once('exit', resolve)).then(() => (gone = true));
      // The moment is counted from when the upgrade is under way (its journal written), so that a
      // slow start-up of the process on a loaded machine does not shift every moment before it.
      await eventually('the upgrade to start', async () => (gone || existsSync(journal) ? true : undefined), 60);
      await Promise.race([exited, new Promise((r) => setTimeout(r, delayMs))]);
      child.kill('SIGKILL');
      await exited;
      const configuredAtDeath = readFileSync(path.join(dir, 'data', 'releases', 'current'), 'utf8').trim();

      const res = await script('rollback-tp.sh');
      const lines = history().slice(before);
      const where = { round, delayMs, lines, stdout: res.stdout, stderr: res.stderr.slice(-2000) };
      expect(res.code, JSON.stringify(where)).toBe(0);
      expect((await health()).version, JSON.stringify(where)).toBe('1.2.2');
      expect(readFileSync(path.join(dir, 'data', 'releases', 'current'), 'utf8').trim()).toBe('1.2.2');
      // Every way these lines may truthfully read: killed before anything was written; killed
      // before or after the switch (the ROLLBACK line says the configuration was switched back);
      // the upgrade finished first (the rollback then went back by the previous version); or
      // killed between its SUCCESS line and its end.
      expect(
        [
          [],
          ['1.2.2 -> 1.3.0 INTERRUPTED'],
          ['1.2.2 -> 1.3.0 INTERRUPTED', 'ROLLBACK 1.3.0 -> 1.2.2'],
          ['1.2.2 -> 1.3.0 SUCCESS', 'ROLLBACK 1.3.0 -> 1.2.2'],
          ['1.2.2 -> 1.3.0 SUCCESS', '1.2.2 -> 1.3.0 INTERRUPTED', 'ROLLBACK 1.3.0 -> 1.2.2'],
        ],
        JSON.stringify(where),
      ).toContainEqual(lines);
      if (configuredAtDeath === '1.3.0') expect(lines.at(-1), JSON.stringify(where)).toBe('ROLLBACK 1.3.0 -> 1.2.2');
      expect(existsSync(path.join(dir, 'data', '.atlas-operation.json'))).toBe(false);
      expect((await local(['status'])).code).toBe(0);
      outcomes.add(lines.join(' / ') || 'nothing written');
    }
    // The moments reached more than one of those states.
    expect(outcomes.size, JSON.stringify({ spanMs, outcomes: [...outcomes] })).toBeGreaterThan(1);
  }, 240_000);

  it('a rollback whose target and way back both fail to start exits 3, records both failures, and says what to run; that works once they start', async () => {
    const up = await script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const broken = ['1.2.2', '1.3.0'].map((v) => path.join(dir, 'data', 'releases', v, 'migrations', '0999_broken.sql'));
    for (const file of broken) writeFileSync(file, 'SELECT * FROM no_such_table;\n');
    const res = await local(['rollback']);
    expect(res.code).toBe(3);
    expect(history().slice(-2)).toEqual(['ROLLBACK 1.3.0 -> 1.2.2 FAILED', 'ROLLBACK 1.2.2 -> 1.3.0 FAILED']);
    expect(res.stdout).toMatch(
      /^rollback to 1\.2\.2 FAILED at wait-healthy \(the Tenant Plane crashed: .*\) and the way back to 1\.3\.0 FAILED at wait-healthy too \(.*\)\. The Tenant Plane is not healthy and needs a human: read \S+, then ATLAS_VERSION=1\.3\.0 bash scripts\/rollback-tp\.sh/,
    );
    const record = JSON.parse((await local(['history', '--json'])).stdout) as {
      run: { outcome: string; failure: { step: string }; wayBack: { step: string } };
    }[];
    expect(record.at(-1)?.run).toMatchObject({ outcome: 'needs-human', failure: { step: 'wait-healthy' }, wayBack: { step: 'wait-healthy' } });

    for (const file of broken) rmSync(file);
    const again = await script('rollback-tp.sh', { ATLAS_VERSION: '1.3.0' });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect((await health()).version).toBe('1.3.0');
  });
});
