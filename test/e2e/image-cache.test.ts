import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { requireDocker } from '../support/docker.js';
import { buildOnce, imageId } from '../support/image-cache.js';
import { tempDir } from '../support/temp.js';

/** The tests' images are kept by content: built again only when what they are made of changed, or the engine lost them. */
const image = `atlas-test/image-cache:${process.pid}`;
let builds = 0;
const build = () => {
  const dir = tempDir('atlas-image-');
  writeFileSync(path.join(dir, 'file'), String(++builds));
  execFileSync('tar', ['-cf', path.join(dir, 'root.tar'), '-C', dir, 'file']);
  execFileSync('docker', ['import', path.join(dir, 'root.tar'), image], { stdio: 'ignore' });
};

beforeAll(() => {
  requireDocker();
  process.env.XDG_CACHE_HOME = tempDir('atlas-cache-');
});
afterAll(() => {
  execFileSync('docker', ['image', 'rm', '-f', image], { stdio: 'ignore' });
});

it('builds an image once per recipe, again when the recipe changes or the image is gone, and fails when the build tags nothing', () => {
  buildOnce(image, { v: 1 }, build);
  const first = imageId(image);
  buildOnce(image, { v: 1 }, build);
  expect({ builds, id: imageId(image) }).toEqual({ builds: 1, id: first });
  buildOnce(image, { v: 2 }, build);
  expect(builds).toBe(2);
  execFileSync('docker', ['image', 'rm', '-f', image], { stdio: 'ignore' });
  buildOnce(image, { v: 2 }, build);
  expect(builds).toBe(3);
  expect(() => buildOnce(`${image}-never`, { v: 1 }, () => {})).toThrow(/tagged nothing/);
});
