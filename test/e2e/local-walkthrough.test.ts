import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NPM_OFFLINE, blocksOf, runBlock, title, type Place } from '../support/doc-test.js';
import { freePort } from '../support/postgres-server.js';
import { copyCheckout } from '../support/release.js';
import { tempDir } from '../support/temp.js';
import { tpctl } from '../support/tpctl.js';

/** The local runtime's walkthrough (docs/operations/local-runtime.md), as written, in a copy of the checkout. */
describe("the local runtime's walkthrough, in a copy of the checkout", () => {
  const walkthrough = blocksOf('local-runtime.md');
  let place: Place;
  beforeAll(async () => {
    const dir = copyCheckout(tempDir('atlas-guide-checkout-'));
    const port = await freePort();
    // The checkout's own `npx tpctl` (its package.json's bin), built by the walkthrough's first build.
    const env = {
      PATH: process.env.PATH ?? '',
      ...NPM_OFFLINE,
      ATLAS_HOST: '127.0.0.1',
      ATLAS_PORT: String(port),
      HEALTH_URL: `http://127.0.0.1:${port}/api/health`,
    };
    place = { dir, env, logDir: path.join(dir, 'logs'), port };
  });
  afterAll(() => tpctl(['local', 'stop'], place.env, { cwd: place.dir }));

  for (const block of walkthrough.filter((b) => b.runtimes.includes('checkout'))) {
    it(
      title(block),
      async () => {
        expect(await runBlock(block, place)).toBeUndefined();
      },
      300_000,
    );
  }
});
