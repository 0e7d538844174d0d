import { symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { blocksOf, installTpctl, runBlock, title, type Place } from '../support/doc-test.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease } from '../support/release.js';
import { tempDir } from '../support/temp.js';
import { tpctl } from '../support/tpctl.js';

/**
 * The operator guide's doc test on the local runtime: every shell block of
 * docs/operations/rollback-and-recovery.md that names `local`, in order, and the same with a flag
 * deleted, which must fail where the flag was.
 */
const on = (runtime: string) => blocksOf('rollback-and-recovery.md').filter((b) => b.runtimes.includes(runtime));

/** A local deployment at 1.2.2 on the embedded database, 1.3.0 (adds a column) and 1.3.2 (its migration fails) beside it. */
async function localPlace(): Promise<Place> {
  const dir = tempDir('atlas-guide-local-');
  const port = await freePort();
  const env = localRuntimeEnv(dir, port);
  const place: Place = { dir, env, logDir: env.ATLAS_LOG_DIR!, port };
  symlinkSync(path.join(appRoot, 'scripts'), path.join(dir, 'scripts'));
  installTpctl(place);
  const priority = { '0900_incident_priority.sql': 'ALTER TABLE incidents ADD COLUMN priority integer;\n' };
  for (const release of [
    makeRelease({ version: '1.2.2' }),
    makeRelease({ version: '1.3.0', migrations: priority }),
    makeRelease({ version: '1.3.2', migrations: { ...priority, '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' } }),
  ]) {
    expect((await tpctl(['release', 'add', release], env, { cwd: dir })).code).toBe(0);
  }
  expect((await tpctl(['local', 'start', '--version', '1.2.2'], env, { cwd: dir })).code).toBe(0);
  return place;
}

/** A local deployment for the tests of one describe block: started before them, stopped after. */
function localDeployment(): () => Place {
  let place: Place;
  beforeAll(async () => {
    place = await localPlace();
  }, 120_000);
  afterAll(() => tpctl(['local', 'stop'], place.env, { cwd: place.dir }));
  return () => place;
}

describe('the guide on the local runtime (embedded database)', () => {
  const place = localDeployment();

  for (const block of on('local')) {
    it(title(block), async () => {
      expect(await runBlock(block, place())).toBeUndefined();
    });
  }

  it('the release that crashes was declared crashed, not waited for: its wait for health ended with the crash', async () => {
    const res = await tpctl(['history', '--json'], place().env, { cwd: place().dir });
    const runs = JSON.parse(res.stdout) as { to: string; run?: { steps: { step: string; ok: boolean; durationMs: number; detail: string }[] } }[];
    const wait = runs.find((r) => r.to === '1.3.2')!.run!.steps.find((s) => s.step === 'wait-healthy' && !s.ok)!;
    // Ended by the crash (a timeout would say it never answered, after HEALTH_TIMEOUT's 30 s).
    expect(wait.detail).toMatch(/^the Tenant Plane crashed: crashed 1\.3\.2 \(exit 1/);
  });
});

describe('the guide with a flag deleted fails where the flag was', () => {
  const place = localDeployment();

  it('without --dry-run, `npx tpctl rollback` rolls back for real and its block fails; the blocks before it pass', async () => {
    const mutated = on('local').map((b) => ({ ...b, script: b.script.replace('npx tpctl rollback --dry-run', 'npx tpctl rollback') }));
    const at = mutated.findIndex((b, i) => b.script !== on('local')[i]!.script);
    expect(at).toBeGreaterThan(0);
    for (const block of mutated.slice(0, at)) expect(await runBlock(block, place())).toBeUndefined();
    expect(await runBlock(mutated[at]!, place())).toMatch(/did not print\n {2}missing: dry run: rollback 1\.3\.0 -> 1\.2\.2; nothing was changed/);
  });
});
