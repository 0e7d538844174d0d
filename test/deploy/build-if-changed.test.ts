import { cpSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { tempDir } from '../support/temp.js';
import { runProcess } from '../support/tpctl.js';

describe('npm start builds only what changed (scripts/build-if-changed.sh)', () => {
  it('builds when there is no build, not again while nothing changed, and again once a source file is newer than the build', async () => {
    // A project of its own, whose build only counts itself: the script is what is tested.
    const dir = tempDir('atlas-build-if-changed-');
    mkdirSync(path.join(dir, 'scripts'));
    cpSync(path.join(appRoot, 'scripts', 'build-if-changed.sh'), path.join(dir, 'scripts', 'build-if-changed.sh'));
    for (const d of ['src', 'migrations']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'src', 'a.ts'), 'export const a = 1;\n');
    for (const f of ['tsconfig.json', 'tsconfig.build.json']) writeFileSync(path.join(dir, f), '{}\n');
    writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'x', private: true, scripts: { build: 'mkdir -p dist && echo built >> dist/builds' } }),
    );
    const builds = async () => {
      const res = await runProcess('bash', ['scripts/build-if-changed.sh'], { PATH: process.env.PATH ?? '' }, { cwd: dir });
      expect(res).toMatchObject({ code: 0, stderr: '' });
      return readFileSync(path.join(dir, 'dist', 'builds'), 'utf8')
        .split('\n')
        .filter(Boolean).length;
    };
    expect(await builds()).toBe(1);
    expect(await builds()).toBe(1);
    // The build is older than a source file now.
    const earlier = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'dist', '.tsbuildinfo'), earlier, earlier);
    expect(await builds()).toBe(2);
    expect(await builds()).toBe(2);
  });
});
