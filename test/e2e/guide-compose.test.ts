import { beforeAll, describe, expect, it } from 'vitest';
import { composeDeployments } from '../support/compose-e2e.js';
import { blocksOf, installTpctl, runBlock, title, type Place } from '../support/doc-test.js';

/**
 * The operator guide's doc test on Docker Compose: every shell block of
 * docs/operations/rollback-and-recovery.md that names `compose`, in order, on a deployment of the
 * repository's docker-compose.yml (the proxy, PostgreSQL) driven by Compose v2.
 */
const blocks = blocksOf('rollback-and-recovery.md');
const on = (runtime: string) => blocks.filter((b) => b.runtimes.includes(runtime));

describe('the guide on Docker Compose (v2, built from source), the proxy and PostgreSQL', () => {
  const deploy = composeDeployments();
  let place: Place;
  beforeAll(async () => {
    const d = await deploy('1.2.2');
    place = { dir: d.dir, env: { ...d.env }, logDir: d.logDir, port: d.port, dbUrl: d.options.dbUrl };
    installTpctl(place);
  }, 900_000);

  for (const block of on('compose')) {
    it(title(block), async () => {
      expect(await runBlock(block, place)).toBeUndefined();
    });
  }
});

describe('the guides under systemd', () => {
  // No systemd runs as PID 1 on these machines (Kubernetes and Helm: guide-kubernetes.test.ts).
  const elsewhere = [...blocks, ...blocksOf('local-runtime.md')].filter((b) => b.runtimes.includes('systemd'));
  for (const block of elsewhere) it.todo(`${block.runtimes.join(' ')}: ${title(block)}`);
});
