/**
 * Failed requests and the longest outage while the Tenant Plane is upgraded, upgraded to a
 * version that crashes on start (and rolls back), and rolled back: on Docker Compose v2 (behind
 * the proxy), on the local runtime (the supervisor on PostgreSQL, and on the embedded database
 * with its backup, where nothing can start beside it), and on Kubernetes (the chart's three
 * replicas in the test cluster, asked through their Service from inside the cluster's network
 * namespace; scripts/test-platforms.sh builds and starts it). A client asks GET /api/health
 * every 20 ms, each time on a new connection (as curl does), with a 2 s timeout; a request fails
 * when it gets no answer or anything but 200. The outage is the time from the last answer
 * before a failure to the next answer; the slowest request shows requests held. The baselines
 * are the same client during a plain switch (the tag edited and `docker compose up -d
 * tenant-plane`) of the same Compose deployment, behind the proxy, and of a Compose file
 * without the proxy, as operators wrote them before it.
 *
 *   npm run bench:downtime        (needs a Docker Engine, HAProxy and Go; builds the images and tools it uses)
 */
import { execFile, execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { tempDir } from '../test/support/temp.js';
import { buildVariant, Deployment, IMAGE, requireDocker } from '../test/support/docker.js';
import { helm, inCluster, kubectl, measureInCluster, startCluster } from '../test/support/cluster.js';
import { composeV2Config, testPlatforms } from '../test/support/platforms.js';
import { localRuntimeEnv } from '../test/support/local-runtime.js';
import { freePort, PostgresServer } from '../test/support/postgres-server.js';
import { makeRelease, PRIORITY } from '../test/support/release.js';
import { tpctl, type RunResult } from '../test/support/tpctl.js';
import { measureDowntime, type Downtime } from '../test/support/downtime.js';

const root = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);
const BROKEN = { ...PRIORITY, '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' };

const expectExit = (code: number) => (res: RunResult) => {
  if (res.code !== code) throw new Error(`expected exit ${code}, got ${res.code}: ${res.stdout}${res.stderr}`);
};

/** The switch without tpctl: the tag edited, the container recreated in place. */
async function plainSwitch(d: Deployment, version: string): Promise<Downtime> {
  return measureDowntime(d.healthUrl, async () => {
    d.setTag(version);
    // Not d.compose (synchronous): the client must keep asking meanwhile.
    await run('docker', ['compose', 'up', '-d', '--no-deps', 'tenant-plane'], { cwd: d.dir, env: { ...process.env, ...compose.env } });
    await d.waitHealthy(version);
  });
}

const rows: string[] = [];
const report = (runtime: string, operation: string, r: Downtime) =>
  rows.push(
    `${runtime.padEnd(15)} ${operation.padEnd(62)} ${String(r.failed).padStart(6)} of ${String(r.total).padEnd(5)} ${String(r.longestMs).padStart(6)} ms ${String(r.slowestMs).padStart(9)} ms ${(r.tookMs / 1000).toFixed(2).padStart(7)} s`,
  );

/** The local runtime's switches, on PostgreSQL (the new version starts beside the old) or the embedded database (stop and start, with the backup). */
async function measureLocal(runtime: string, database: Record<string, string>, backup: string[]): Promise<void> {
  const dir = tempDir('atlas-bench-local-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/api/health`;
  const env = { ...localRuntimeEnv(dir, port), ...database, ...skip };
  symlinkSync(path.join(root, 'scripts'), path.join(dir, 'scripts'));
  const local = (args: string[]) => tpctl(args, env, { cwd: dir });
  for (const release of [
    makeRelease({ version: '1.2.2' }),
    makeRelease({ version: '1.3.0', migrations: PRIORITY }),
    makeRelease({ version: '1.3.2', migrations: BROKEN }),
  ]) {
    expectExit(0)(await local(['release', 'add', release]));
  }
  expectExit(0)(await local(['local', 'start', '--version', '1.2.2']));
  const said = backup.length ? '' : ', with its backup';
  try {
    report(runtime, `upgrade --to 1.3.0${said}`, await measureDowntime(url, async () => expectExit(0)(await local(['upgrade', '--to', '1.3.0', ...backup]))));
    report(runtime, 'rollback', await measureDowntime(url, async () => expectExit(0)(await local(['rollback']))));
    report(
      runtime,
      `upgrade to 1.3.2, which crashes (rolled back)${said}`,
      await measureDowntime(url, async () => expectExit(1)(await local(['upgrade', '--to', '1.3.2', ...backup]))),
    );
  } finally {
    await local(['local', 'stop']);
  }
}

/**
 * On Kubernetes: the chart's three replicas on PostgreSQL; `helm upgrade --wait`, `kubectl
 * rollout undo` (followed to its end), and tpctl's upgrade to a version whose pods crash.
 */
async function measureKubernetes(): Promise<void> {
  const c = await startCluster(['1.2.2', '1.3.0', '1.3.2'].map((v) => `${IMAGE}:${v}`));
  const ns = 'atlasai';
  try {
    const dbUrl = await c.postgres.createDatabase('k8s');
    await kubectl(c, 'create', 'namespace', ns);
    await kubectl(c, 'create', 'secret', 'generic', 'atlasai-tp-db', '-n', ns, `--from-literal=url=${dbUrl}`);
    const chart = path.join(root, 'deploy', 'helm', 'atlasai-tp');
    const values = ['--set', 'backup.enabled=false'];
    await helm(c, 'install', 'atlasai-tp', chart, '-n', ns, ...values, '--set', 'image.tag=1.2.2', '--wait', '--timeout', '300s');
    const ip = (await kubectl(c, 'get', 'service', 'atlasai-tp', '-n', ns, '-o', 'jsonpath={.spec.clusterIP}')).trim();
    const url = `http://${ip}:3000/api/health`;
    report(
      'kubernetes',
      'helm upgrade --set image.tag=1.3.0 --wait',
      await measureInCluster(c, url, async () => {
        await helm(c, 'upgrade', 'atlasai-tp', chart, '-n', ns, ...values, '--set', 'image.tag=1.3.0', '--wait', '--timeout', '300s');
      }),
    );
    report(
      'kubernetes',
      'kubectl rollout undo, then rollout status',
      await measureInCluster(c, url, async () => {
        await kubectl(c, 'rollout', 'undo', 'deployment/atlasai-tp', '-n', ns);
        await kubectl(c, 'rollout', 'status', 'deployment/atlasai-tp', '-n', ns, '--timeout=300s');
      }),
    );
    const tpctlEnv = { DB_URL: dbUrl, HEALTH_URL: url, ATLAS_DATA_DIR: tempDir('atlas-bench-k8s-'), ATLAS_LOG_DIR: tempDir('atlas-bench-k8s-logs-'), ...skip };
    report(
      'kubernetes',
      'tpctl upgrade to 1.3.2, which crashes (rollout undo)',
      await measureInCluster(c, url, async () => {
        const tpctl = path.join(root, 'dist', 'cli', 'tpctl.js');
        expectExit(1)(await inCluster(c, process.execPath, [tpctl, 'upgrade', '--to', '1.3.2', '--runtime', 'kubernetes', '--no-backup'], tpctlEnv));
      }),
    );
  } finally {
    await c.postgres.destroy();
    testPlatforms('cluster', 'down');
  }
}

requireDocker();
process.stdout.write('building images… ');
execFileSync('bash', [path.join(root, 'scripts', 'build-proxy-image.sh')], { stdio: 'ignore' });
execFileSync('bash', [path.join(root, 'scripts', 'build-image.sh')], { env: { ...process.env, ATLAS_VERSION: '1.2.2' }, stdio: 'ignore' });
buildVariant('1.2.2', '1.3.0', PRIORITY);
buildVariant('1.2.2', '1.3.2', BROKEN);
console.log('done');

const compose = { env: { DOCKER_CONFIG: composeV2Config() }, cli: ['docker', 'compose'] };
const pg = await PostgresServer.start();
const admin = { email: 'a@example.com', password: 'bench-password-1' };
const skip = { ATLAS_VERIFY_EMAIL: '', ATLAS_VERIFY_PASSWORD: '' };
try {
  const d = new Deployment({ version: '1.2.2', dbUrl: await pg.createDatabase('compose'), admin }, compose.env, compose.cli);
  try {
    await d.create();
    report(
      'compose',
      'ATLAS_VERSION=1.3.0 upgrade-tp.sh',
      await measureDowntime(d.healthUrl, async () => expectExit(0)(await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1', ...skip }))),
    );
    report('compose', 'rollback-tp.sh', await measureDowntime(d.healthUrl, async () => expectExit(0)(await d.script('rollback-tp.sh', skip))));
    report(
      'compose',
      'upgrade to 1.3.2, which crashes (rolled back)',
      await measureDowntime(d.healthUrl, async () => expectExit(1)(await d.tpctl(['upgrade', '--to', '1.3.2', '--no-backup'], skip))),
    );
    report('compose', 'baseline: edit tag + docker compose up -d', await plainSwitch(d, '1.3.0'));
  } finally {
    d.down();
  }
  const plain = new Deployment({ version: '1.2.2', dbUrl: await pg.createDatabase('plain'), admin }, compose.env, compose.cli);
  try {
    await plain.create((service) => ({
      'docker-compose.yml': stringify({ services: { 'tenant-plane': { image: 'atlasai/tenant-plane:1.2.2', ...service } } }),
    }));
    report('compose', 'the same, without the proxy', await plainSwitch(plain, '1.3.0'));
  } finally {
    plain.down();
  }

  await measureLocal('local', { DB_URL: await pg.createDatabase('local') }, ['--no-backup']);
  // The embedded database is one process's: the Tenant Plane stops for the backup and the switch.
  await measureLocal('local, embedded', {}, []);
} finally {
  await pg.destroy();
}
await measureKubernetes();

console.log('\nGET /api/health every 20 ms on a new connection, during each operation (no bake; no backup but where said)\n');
console.log(`${'runtime'.padEnd(15)} ${'operation'.padEnd(62)} ${'failed'.padStart(6)} of reqs  longest outage  slowest request   took`);
for (const row of rows) console.log(row);
