import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { eventually } from '../support/api-client.js';
import { imagesOnce } from '../support/compose-e2e.js';
import { chartPrerequisites, helm, inCluster, kubectl, servedVersions, testCluster, type Cluster } from '../support/cluster.js';
import { IMAGE } from '../support/docker.js';
import { tempDir } from '../support/temp.js';
import type { RunResult } from '../support/tpctl.js';

/**
 * tpctl on a real cluster (k3s built from source, scripts/test-platforms.sh), on both of its
 * runtimes: `kubernetes` drives the Deployment of deploy/k8s/, `helm` the chart; three replicas of
 * the real Tenant Plane image on PostgreSQL, each file in a namespace of its own. tpctl, kubectl
 * and helm run in the cluster's network namespace, and reach the Tenant Plane through its Service.
 */
const cluster = testCluster(async () => {
  await imagesOnce();
  return ['1.2.2', '1.3.0', '1.3.2'].map((v) => `${IMAGE}:${v}`);
});
const TPCTL = path.join(appRoot, 'dist', 'cli', 'tpctl.js');
const admin = { email: 'admin@example.com', password: 'k8s-admin-pw-12' };

/** A namespace with the database Secret, the admin user and what tpctl needs to find its way there. */
async function namespace(c: Cluster, name: string): Promise<{ env: Record<string, string>; dir: string }> {
  const dbUrl = await c.postgres.createDatabase(name.replaceAll('-', '_'));
  await kubectl(c, 'create', 'namespace', name);
  await kubectl(c, 'create', 'secret', 'generic', 'atlasai-tp-db', '-n', name, `--from-literal=url=${dbUrl}`);
  const dir = tempDir(`atlas-${name}-`);
  mkdirSync(path.join(dir, 'logs'));
  return {
    dir,
    env: {
      DB_URL: dbUrl,
      ATLAS_NAMESPACE: name,
      ATLAS_LOG_DIR: path.join(dir, 'logs'),
      ATLAS_DATA_DIR: path.join(dir, 'data'),
      ATLAS_VERIFY_EMAIL: admin.email,
      ATLAS_VERIFY_PASSWORD: admin.password,
      ATLAS_BAKE_SECONDS: '5',
      ROLLOUT_TIMEOUT: '120',
    },
  };
}

const run = (c: Cluster, env: Record<string, string>, args: string[], stdin?: string): Promise<RunResult> =>
  inCluster(c, process.execPath, [TPCTL, ...args], env, { stdin });

/** The Service's address, as users reach the Tenant Plane (a rollout replaces any one pod). */
async function healthUrl(c: Cluster, ns: string): Promise<string> {
  const ip = (await kubectl(c, 'get', 'service', 'atlasai-tp', '-n', ns, '-o', 'jsonpath={.spec.clusterIP}')).trim();
  return `http://${ip}:3000/api/health`;
}

const history = (dir: string) =>
  readFileSync(path.join(dir, 'data', '.atlas-upgrade-history'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:.*/, ''));
const backups = (dir: string, from: string) => readdirSync(path.join(dir, 'logs')).filter((n) => n.startsWith(`db-backup-${from}-`) && n.endsWith('.sql.gz'));

describe('tpctl --runtime kubernetes: the Deployment of deploy/k8s/, on a real cluster', () => {
  const ns = 'atlasai-k8s';
  let c: Cluster;
  let env: Record<string, string>;
  let dir: string;
  beforeAll(async () => {
    c = cluster();
    ({ env, dir } = await namespace(c, ns));
    env.ATLAS_RUNTIME = 'kubernetes';
    // The manifests as shipped, in this file's namespace, installing 1.2.2.
    for (const file of ['deployment.yaml', 'service.yaml', 'pdb.yaml']) {
      const text = readFileSync(path.join(appRoot, 'deploy', 'k8s', file), 'utf8')
        .replaceAll('namespace: atlasai', `namespace: ${ns}`)
        .replaceAll('1.3.0', '1.2.2');
      expect((await inCluster(c, 'kubectl', ['apply', '-f', '-'], {}, { stdin: text })).code).toBe(0);
    }
    expect(await servedVersions(c, ns)).toEqual(['1.2.2', '1.2.2', '1.2.2']);
    env.HEALTH_URL = await healthUrl(c, ns);
    expect((await run(c, { ...env, ATLAS_ADMIN_PASSWORD: admin.password }, ['user', 'create', '--email', admin.email])).code).toBe(0);
  }, 1_800_000);

  it('the manifests, the example Secret and the rendered chart pass the real apiserver (kubectl apply --dry-run=server)', async () => {
    const k8s = path.join(appRoot, 'deploy', 'k8s');
    const files = [...readdirSync(k8s).filter((f) => f.endsWith('.yaml') && f !== 'namespace.yaml'), 'examples/secret.yaml'];
    const manifests = files.map((f) => readFileSync(path.join(k8s, f), 'utf8').replaceAll('namespace: atlasai', `namespace: ${ns}`));
    const chart = await helm(c, 'template', 'atlasai-tp', path.join(appRoot, 'deploy', 'helm', 'atlasai-tp'), '-n', ns);
    for (const text of [...manifests, chart]) {
      const res = await inCluster(c, 'kubectl', ['apply', '--dry-run=server', '-f', '-'], {}, { stdin: text });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/\(server dry run\)/);
    }
    // And it refuses what the API does not define.
    const wrong = manifests[0]!.replace('revisionHistoryLimit:', 'revisionHistoryLimt:');
    const refused = await inCluster(c, 'kubectl', ['apply', '--dry-run=server', '-f', '-'], {}, { stdin: wrong });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/unknown field "spec.revisionHistoryLimt"/);
  });

  it('an upgrade: the backup, the patch, the rollout, the health gate, the checklist and the bake; every pod then serves 1.3.0', async () => {
    const res = await run(c, env, ['upgrade', '--to', '1.3.0']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy/);
    expect(await servedVersions(c, ns)).toEqual(['1.3.0', '1.3.0', '1.3.0']);
    expect(backups(dir, '1.2.2')).toHaveLength(1);
    const record = JSON.parse((await run(c, env, ['history', '--json'])).stdout) as { run: { steps: { step: string }[] } }[];
    expect(record.at(-1)?.run.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['backup', 'switch', 'wait-healthy', 'verify', 'checklist', 'bake']));
    expect(history(dir)).toEqual(['1.2.2 -> 1.3.0 SUCCESS']);
    // The Deployment's revision says what it is.
    expect(await kubectl(c, 'rollout', 'history', 'deployment/atlasai-tp', '-n', ns)).toMatch(/tpctl: 1\.3\.0/);
  }, 600_000);

  it('a version whose pods crash is undone by itself: rollout undo to the revision of 1.3.0, healthy, recorded', async () => {
    const res = await run(c, env, ['upgrade', '--to', '1.3.2']);
    expect(res.code, res.stdout + res.stderr).toBe(1);
    expect(res.stdout).toMatch(/^upgrade to 1\.3\.2 FAILED at \S+: .*Rolled back: 1\.3\.0 runs and is healthy/s);
    expect(await servedVersions(c, ns)).toEqual(['1.3.0', '1.3.0', '1.3.0']);
    expect(history(dir).slice(-2)).toEqual(['1.3.0 -> 1.3.2 FAILED', 'ROLLBACK 1.3.2 -> 1.3.0']);
  }, 600_000);

  it('tpctl killed with kill -9 in the middle of a rollout is led back by the next command', async () => {
    const child = spawn('nsenter', [`--net=${c.netns}`, process.execPath, TPCTL, 'rollback', '--to', '1.2.2'], {
      env: { ...process.env, ...c.env, ...env },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.once('exit', r));
    // The moment: the Deployment patched to 1.2.2, its rollout under way.
    await eventually(
      'the rollout to 1.2.2 to begin',
      async () =>
        (await kubectl(c, 'get', 'deployment', 'atlasai-tp', '-n', ns, '-o', 'jsonpath={.metadata.annotations.atlasai\\.io/version}')).trim() === '1.2.2' ||
        undefined,
      120,
    );
    child.kill('SIGKILL');
    await exited;
    const status = await run(c, env, ['status']);
    expect(status.stdout + status.stderr).toMatch(/interrupted/i);
    const before = history(dir).length;
    const res = await run(c, env, ['rollback', '--to', '1.2.2']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(await servedVersions(c, ns)).toEqual(['1.2.2', '1.2.2', '1.2.2']);
    // The killed run is recorded as interrupted; its way back led the Deployment on to 1.2.2 (the
    // rollout was under way), or back to 1.3.0 and then the new rollback went to 1.2.2.
    expect([['ROLLBACK 1.3.0 -> 1.2.2 INTERRUPTED'], ['ROLLBACK 1.3.0 -> 1.2.2 INTERRUPTED', 'ROLLBACK 1.3.0 -> 1.2.2']]).toContainEqual(
      history(dir).slice(before),
    );
    expect((await run(c, env, ['status'])).code).toBe(0);
  }, 600_000);

  it("the support bundle holds the pods' logs", async () => {
    const out = tempDir('atlas-bundle-');
    const res = await run(c, env, ['support-bundle', '--out', out]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const archive = readdirSync(out).find((n) => n.endsWith('.tar.gz'))!;
    const listing = execFileSync('tar', ['-xzOf', path.join(out, archive)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    // The server's own start-up line, as kubectl logs gives it from a pod.
    expect(listing).toMatch(/"msg":"Tenant Plane starting"/);
    expect(listing).not.toContain(admin.password);
  }, 300_000);

  it('bad input is refused with exit 2 before the cluster is touched', async () => {
    const generation = () => kubectl(c, 'get', 'deployment', 'atlasai-tp', '-n', ns, '-o', 'jsonpath={.metadata.generation}');
    const before = await generation();
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['upgrade', '--to', '1.3.0', '--runtime', 'swarm'], {}, /--runtime=swarm is not valid: compose, kubernetes, helm, local/],
      // Another namespace than the one this deployment remembers; a name Kubernetes refuses, where none is remembered.
      [
        ['upgrade', '--to', '1.3.0'],
        { ATLAS_NAMESPACE: 'atlasai' },
        /ATLAS_NAMESPACE=atlasai, but this deployment has ATLAS_NAMESPACE=atlasai-k8s .*nothing was done/,
      ],
      [['upgrade', '--to', '1.3.0'], { ATLAS_NAMESPACE: 'Atlas AI', ATLAS_DATA_DIR: tempDir() }, /ATLAS_NAMESPACE="?Atlas AI"? is not a Kubernetes name/],
      [['rollback', '--to-revision', '0'], {}, /--to-revision 0 is not a revision number/],
      [['rollback', '--to-revision', '2; rm -rf /'], {}, /is not a revision number/],
      [['rollback', '--to', '1.2.3', '--to-revision', '1'], {}, /--to and --to-revision name the target twice/],
    ];
    for (const [args, extra, message] of cases) {
      const res = await run(c, { ...env, ...extra }, args);
      expect(res.stderr, args.join(' ')).toMatch(message);
      expect(res.code, args.join(' ')).toBe(2);
    }
    expect(await generation()).toBe(before);
  });
});

describe('tpctl --runtime helm: the chart, on a real cluster', () => {
  const ns = 'atlasai-helm';
  let c: Cluster;
  let env: Record<string, string>;
  let dir: string;
  beforeAll(async () => {
    c = cluster();
    ({ env, dir } = await namespace(c, ns));
    env.ATLAS_RUNTIME = 'helm';
    await chartPrerequisites(c, ns);
    const chart = path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');
    await helm(c, 'install', 'atlasai-tp', chart, '-n', ns, '--set', 'image.tag=1.2.2', '--wait', '--timeout', '300s');
    expect(await servedVersions(c, ns)).toEqual(['1.2.2', '1.2.2', '1.2.2']);
    env.HEALTH_URL = await healthUrl(c, ns);
    expect((await run(c, { ...env, ATLAS_ADMIN_PASSWORD: admin.password }, ['user', 'create', '--email', admin.email])).code).toBe(0);
  }, 1_800_000);

  it('an upgrade with helm upgrade --wait, then a version that crashes undone with helm rollback; every pod serves what tpctl says', async () => {
    const up = await run(c, env, ['upgrade', '--to', '1.3.0']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(await servedVersions(c, ns)).toEqual(['1.3.0', '1.3.0', '1.3.0']);
    expect(backups(dir, '1.2.2')).toHaveLength(1);

    const crash = await run(c, { ...env, ROLLOUT_TIMEOUT: '45' }, ['upgrade', '--to', '1.3.2']);
    expect(crash.code, crash.stdout + crash.stderr).toBe(1);
    expect(crash.stdout).toMatch(/^upgrade to 1\.3\.2 FAILED at \S+: helm upgrade failed: .*Rolled back: 1\.3\.0 runs and is healthy/s);
    expect(await servedVersions(c, ns)).toEqual(['1.3.0', '1.3.0', '1.3.0']);
    expect(history(dir)).toEqual(['1.2.2 -> 1.3.0 SUCCESS', '1.3.0 -> 1.3.2 FAILED', 'ROLLBACK 1.3.2 -> 1.3.0']);
    // Helm's own record: the upgrade to 1.3.2 failed, and the rollback went to the revision of 1.3.0.
    const revisions = (await helm(c, 'history', 'atlasai-tp', '-n', ns)).trim().split('\n');
    expect(revisions.at(-3)).toMatch(/^2\s.*superseded.*tenant-plane 1\.3\.0/);
    expect(revisions.at(-2)).toMatch(/^3\s.*failed/);
    expect(revisions.at(-1)).toMatch(/^4\s.*deployed.*Rollback to 2/);
  }, 600_000);
});
