import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { appRoot } from '../../src/shared/app-root.js';
import { sharedPostgres } from './backends.js';
import { buildVariant, Deployment, IMAGE, requireDocker } from './docker.js';
import { buildOnce } from './image-cache.js';
import { composeV2Config } from './platforms.js';
import { buildRelease, type CheckoutRelease, PRIORITY, RELEASE_1_2_2, RELEASES_WITH_METADATA, UNIQUE_TITLE } from './release.js';
import { oncePerRun } from './run-once.js';

/**
 * What the Compose end-to-end test files share: the images they run (built once per test run,
 * whichever file asks first, the others waiting; kept by content between runs: image-cache.ts),
 * their deployments, and how they read them.
 */
export const admin = { email: 'admin@example.com', password: 'compose-admin-pw-1' };

function buildImages(): void {
  const script = (name: string, env: Record<string, string> = {}) =>
    execFileSync('bash', [path.join(appRoot, 'scripts', name)], { env: { ...process.env, ...env }, stdio: 'ignore' });
  buildOnce('atlasai/tenant-plane-proxy:1', 'the proxy', () => script('build-proxy-image.sh'));
  // Releases built by the scripts as a developer builds them, each with its own release.json and migrations.
  const releaseImage = (release: CheckoutRelease) =>
    buildOnce(`${IMAGE}:${release.version}`, { release }, () =>
      script('build-image.sh', { ATLAS_VERSION: release.version, ATLAS_RELEASE_DIR: buildRelease(release) }),
    );
  releaseImage(RELEASE_1_2_2);
  buildVariant('1.2.2', '1.3.0', PRIORITY);
  // A mislabelled build: tagged 1.3.3, its version file says 1.3.3-rc.9.
  buildVariant('1.2.2', '1.3.3', {}, { versionFile: '1.3.3-rc.9' });
  // Healthy, and every answer 400 ms late: the bake's slow version.
  buildVariant('1.2.2', '1.3.4', PRIORITY, { answerDelayMs: 400 });
  // Adds the column, then crashes on start: a migration that cannot apply.
  buildVariant('1.2.2', '1.3.2', { ...PRIORITY, '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' });
  // The rehearsal's finds: titles made unique over data that holds two alike; a version that will not run on a schema ahead of it.
  buildVariant('1.2.2', '1.3.5', { ...PRIORITY, ...UNIQUE_TITLE });
  buildVariant('1.2.2', '1.2.1', {}, { refusesSchemaAhead: true });
  for (const release of Object.values(RELEASES_WITH_METADATA)) releaseImage(release);
}

/** The images, built by the first file of this run that asks. */
export const imagesOnce = () => oncePerRun('compose-images', buildImages);

/** For one test file: Docker checked, Compose v2 and the images there before its tests, its deployments (on Compose v2) taken down after. */
export function composeDeployments(): (
  version?: string,
  layout?: Parameters<Deployment['create']>[0],
  composeEnv?: Record<string, string>,
) => Promise<Deployment> {
  const deployments: Deployment[] = [];
  let dockerConfig = '';
  beforeAll(async () => {
    requireDocker();
    // Compose v2, as operators run it now (built from source the first time on a machine).
    dockerConfig = composeV2Config();
    await imagesOnce();
  }, 900_000);
  afterAll(() => deployments.forEach((d) => d.down()));
  return async (version = '1.2.2', layout, composeEnv = {}) => {
    const d = new Deployment({ version, dbUrl: await sharedPostgres().createDatabase('compose'), admin }, { DOCKER_CONFIG: dockerConfig, ...composeEnv }, [
      'docker',
      'compose',
    ]);
    deployments.push(d);
    await d.create(layout);
    return d;
  };
}

export async function query<T extends Record<string, unknown>>(d: Deployment, sql: string): Promise<T[]> {
  const db = await openDatabase({ url: d.options.dbUrl, embeddedDir: '' });
  try {
    return await db.query<T>(sql);
  } finally {
    await db.close();
  }
}

export const historyLines = (d: Deployment) => d.read('data/.atlas-upgrade-history').trim().split('\n').filter(Boolean);
/** The history's lines without their time and log: `1.2.2 -> 1.3.0 SUCCESS`. */
export const historyOutcomes = (d: Deployment) => historyLines(d).map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''));
export const LOG = (op: string) => `log:\\S+/logs/${op}-\\d{8}T\\d{6}\\.log`;
