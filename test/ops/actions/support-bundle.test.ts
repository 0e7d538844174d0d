import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Executor } from '../../../src/ops/core/exec.js';
import { redactForSupport, supportBundle } from '../../../src/ops/actions/support-bundle.js';
import { UnsafePathError } from '../../../src/shared/files.js';
import { tempDir } from '../../support/temp.js';
import { FakePlatform } from '../../support/fake-platform.js';

/** The support bundle over the fake platform: what goes in, what is named as missing, what is redacted, and no half-written archive. */
function setUp() {
  const dir = tempDir('atlas-bundle-');
  const dataDir = path.join(dir, 'data');
  const logDir = path.join(dir, 'logs');
  mkdirSync(dataDir);
  mkdirSync(logDir);
  const platform = new FakePlatform(dataDir, '1.2.2', ['1.2.2', '1.3.0']);
  const inputs = {
    dataDir,
    logDir,
    runtime: platform,
    tenantPlane: platform,
    exec: new Executor(undefined, []),
    secrets: ['s3cret-db-pw'],
    outDir: path.join(dir, 'out'),
    runs: 2,
    now: new Date('2026-12-01T02:03:04Z'),
  };
  return { dir, dataDir, logDir, platform, inputs };
}

function unpack(file: string): Map<string, string> {
  const into = tempDir('atlas-bundle-in-');
  execFileSync('tar', ['-xzf', file, '-C', into]);
  const top = path.join(into, 'atlas-support-20261201T020304');
  const files = execFileSync('find', [top, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
  return new Map(files.map((f) => [path.relative(top, f), readFileSync(f, 'utf8')]));
}

describe('tpctl support-bundle', () => {
  it('redacts known secrets, passwords in URLs and the credentials the Tenant Plane issues', () => {
    const text =
      'DB_URL=postgresql://atlas:pa%40ss@db:5432/atlas s3cret-db-pw token atp_0123456789abcdefABCDEF_- agent aga_abcdefghijklmnopqrstu whs_xxxxxxxxxxxxxxxxxxxxxxxx atp_short';
    expect(redactForSupport(text, ['s3cret-db-pw'])).toBe('DB_URL=postgresql://atlas:***@db:5432/atlas *** token atp_*** agent aga_*** whs_*** atp_short');
  });

  it('holds the newest run logs with their records, redacted, mode 0600, named by its UTC stamp', async () => {
    const { logDir, inputs } = setUp();
    for (const [name, text] of [
      ['upgrade-20261130T010000.log', 'old run\n'],
      ['upgrade-20261201T010000.log', 'pg_dump postgresql://atlas:s3cret-db-pw@127.0.0.1/atlas\n'],
      ['upgrade-20261201T010000.json', '{"outcome":"failed"}\n'],
      ['rollback-20261201T010500.log', 'rolled back\n'],
      ['drill-20261201T010400.log', 'drill of db-backup-1.2.2-20261201T010000.sql.gz: proven to restore\n'],
      ['db-backup-1.2.2-20261201T010000.sql.gz', 'not a log'],
    ])
      writeFileSync(path.join(logDir, name!), text!);
    const bundle = await supportBundle({ ...inputs, runs: 3 });
    expect(bundle.file).toBe(path.join(inputs.outDir, 'atlas-support-20261201T020304.tar.gz'));
    expect(statSync(bundle.file).mode & 0o777).toBe(0o600);
    const files = unpack(bundle.file);
    expect([...files.keys()].filter((f) => f.startsWith('logs/')).sort()).toEqual([
      'logs/drill-20261201T010400.log',
      'logs/rollback-20261201T010500.log',
      'logs/upgrade-20261201T010000.json',
      'logs/upgrade-20261201T010000.log',
    ]);
    expect(files.get('logs/upgrade-20261201T010000.log')).toBe('pg_dump postgresql://atlas:***@127.0.0.1/atlas\n');
    expect(files.get('versions.txt')).toMatch(
      /^configured: +1\.2\.2\nrunning: +1\.2\.2\nprevious: +none recorded\nlast upgrade: +none recorded\nlast rollback: +none recorded\nlast rehearsal: none recorded\n$/,
    );
    expect(files.get('MANIFEST.txt')).toContain('logs/upgrade-20261201T010000.log');
    expect(readdirSync(inputs.outDir)).toEqual(['atlas-support-20261201T020304.tar.gz']);
  });

  it("says the last rehearsal's figures, from the newest run record that has them", async () => {
    const { dataDir, logDir, inputs } = setUp();
    const line =
      'rehearsal: backup restored in 4.1 s (row counts match), migrations 0.8 s (longest lock: ACCESS EXCLUSIVE on incidents, 120 ms), 1.3.0 healthy on the copy in 1.9 s, journey 16/16';
    for (const [stamp, rehearsal] of [
      ['20261201T010000', { line }],
      ['20261201T020000', { skipped: 'skipped, as asked (--no-rehearsal)' }],
    ] as const) {
      const log = path.join(logDir, `upgrade-${stamp}.log`);
      writeFileSync(log, 'run\n');
      writeFileSync(log.replace(/\.log$/, '.json'), JSON.stringify({ outcome: 'done', rehearsal }));
      writeFileSync(path.join(dataDir, '.atlas-upgrade-history'), `${stamp} 1.2.2 -> 1.3.0 SUCCESS log:${log}\n`, { flag: 'a' });
    }
    const versions = unpack((await supportBundle(inputs)).file).get('versions.txt');
    expect(versions?.split('\n').at(-2)).toBe(`last ${line}`);
  });

  it('names what it could not collect, with why, and still writes the rest', async () => {
    const { platform, inputs } = setUp();
    platform.stopped = true;
    platform.logsTail = () => Promise.reject(new Error('docker: Cannot connect to the Docker daemon'));
    const bundle = await supportBundle(inputs);
    expect(bundle.missing.map((m) => m.name).sort()).toEqual(['health.json', 'history.txt', 'logs/', 'runtime-logs.txt']);
    expect(bundle.missing.find((m) => m.name === 'runtime-logs.txt')?.what).toMatch(/Cannot connect to the Docker daemon$/);
    expect(unpack(bundle.file).get('MANIFEST.txt')).toMatch(/not collected:\n(.*\n)*runtime-logs\.txt +the Tenant Plane's logs.*Cannot connect/);
  });

  it('copies regular files only: a run log planted as a link is named as not collected, its target left out; a history that is a link refuses the bundle', async () => {
    const { dataDir, logDir, inputs } = setUp();
    const victim = path.join(tempDir(), 'shadow');
    writeFileSync(victim, 'root:$6$secret-hash:19000:0:99999:7:::\n');
    symlinkSync(victim, path.join(logDir, 'upgrade-20261201T010000.log'));
    const bundle = await supportBundle(inputs);
    expect([...unpack(bundle.file).values()].some((text) => text.includes('secret-hash'))).toBe(false);
    expect(bundle.missing.find((m) => m.name === 'logs/upgrade-20261201T010000.log')?.what).toMatch(/is a symbolic link: refused/);

    symlinkSync(victim, path.join(dataDir, '.atlas-upgrade-history'));
    await expect(supportBundle({ ...inputs, now: new Date('2026-12-01T02:03:05Z') })).rejects.toThrow(UnsafePathError);
  });

  it('leaves no archive, whole or half, when it cannot be written', async () => {
    const { inputs } = setUp();
    const failing = { check: () => Promise.reject(new Error('tar: no space left on device')) } as unknown as Executor;
    await expect(supportBundle({ ...inputs, exec: failing })).rejects.toThrow('no space left on device');
    expect(readdirSync(inputs.outDir)).toEqual([]);
  });
});
