import { readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { imagesOnce } from '../support/compose-e2e.js';
import { chartPrerequisites, helm, kubectl, servedVersions, testCluster, type Cluster } from '../support/cluster.js';
import { blocksOf, runBlock, title, type Place } from '../support/doc-test.js';
import { buildVariant, IMAGE } from '../support/docker.js';

/**
 * The operator guide's Option 3 and its Kubernetes restore, as written, on a real cluster (k3s
 * built from source, scripts/test-platforms.sh): the chart we ship, installed and upgraded with
 * the real Helm 3, three replicas of the real Tenant Plane image on PostgreSQL. After each block,
 * every pod is asked which version it serves.
 *
 * The history the blocks find: Helm revisions 1.2.2, 1.2.3, 1.3.0 (the last adds a column),
 * each upgrade preceded by the chart's backup Job; so the Deployment's revisions 1, 2, 3 too.
 */
const VERSIONS = ['1.2.2', '1.2.3', '1.3.0'];
const blocks = blocksOf('rollback-and-recovery.md').filter((b) => b.runtimes.includes('kubernetes') || b.runtimes.includes('helm'));

/** What every pod serves after the block that contains this text ([] : no pod). */
const AFTER: [string, string[]][] = [
  ['kubectl rollout undo deployment/atlasai-tp -n atlasai', ['1.2.3', '1.2.3', '1.2.3']],
  ['--to-revision=3', ['1.3.0', '1.3.0', '1.3.0']],
  ['helm rollback atlasai-tp 2', ['1.2.3', '1.2.3', '1.2.3']],
  ['--replicas=0', []],
  ['--replicas=3', ['1.2.3', '1.2.3', '1.2.3']],
];

const chart = path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');

describe('the guide on Kubernetes and Helm: a real cluster, the chart, three replicas on PostgreSQL', () => {
  const cluster = testCluster(async () => {
    await imagesOnce();
    buildVariant('1.2.2', '1.2.3', {});
    return VERSIONS.map((v) => `${IMAGE}:${v}`);
  });
  let c: Cluster;
  let place: Place;
  let dbUrl: string;
  let backups: string;
  const priorityColumn = async () =>
    (
      await c.postgres.sql(
        `SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'incidents' AND column_name = 'priority'`,
        dbUrl.split('/').pop(),
      )
    ).rowCount;

  beforeAll(async () => {
    c = cluster();
    dbUrl = await c.postgres.createDatabase('k8s');
    await kubectl(c, 'create', 'namespace', 'atlasai');
    await kubectl(c, 'create', 'secret', 'generic', 'atlasai-tp-db', '-n', 'atlasai', `--from-literal=url=${dbUrl}`);
    backups = await chartPrerequisites(c, 'atlasai');
    await helm(c, 'install', 'atlasai-tp', chart, '-n', 'atlasai', '--set', 'image.tag=1.2.2', '--wait', '--timeout', '300s');
    expect(await servedVersions(c)).toEqual(['1.2.2', '1.2.2', '1.2.2']);
    for (const version of ['1.2.3', '1.3.0']) {
      await helm(c, 'upgrade', 'atlasai-tp', chart, '-n', 'atlasai', '--reuse-values', '--set', `image.tag=${version}`, '--wait', '--timeout', '300s');
      expect(await servedVersions(c)).toEqual([version, version, version]);
    }
    // Each upgrade's pre-upgrade Job left a backup, and its manifest, where the docs say.
    const files = readdirSync(backups);
    for (const from of ['1.2.2', '1.2.3']) {
      expect(files.filter((f) => new RegExp(`^db-backup-${from.replaceAll('.', '\\.')}-\\d{8}T\\d{6}\\.sql\\.gz(\\.manifest\\.json)?$`).test(f))).toHaveLength(
        2,
      );
    }
    expect(await priorityColumn()).toBe(1);
    place = { dir: appRoot, env: { ...process.env, ...c.env } as Record<string, string>, logDir: backups, port: 3000, enter: ['nsenter', `--net=${c.netns}`] };
  }, 1_800_000);

  for (const block of blocks) {
    it(`${block.runtimes.join(' ')}: ${title(block)}`, async () => {
      expect(await runBlock(block, place)).toBeUndefined();
      const after = AFTER.find(([text]) => block.script.includes(text));
      if (after) expect(await servedVersions(c)).toEqual(after[1]);
    }, 600_000);
  }

  it('the restore took the database back to before 1.3.0: the column 1.3.0 added is gone', async () => {
    expect(await priorityColumn()).toBe(0);
  });
});
