import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelmCommands } from '../../src/ops/runtimes/helm/commands.js';
import { KubectlCommands, DEFAULT_TARGET } from '../../src/ops/runtimes/kubernetes/commands.js';
import { appRoot } from '../../src/shared/app-root.js';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { FakeCli } from '../support/fake-cli.js';
import { crashLooping, deployment, list, pod, replicaSet, running } from '../support/k8s-objects.js';
import { makeRelease } from '../support/release.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tpctl } from '../support/tpctl.js';

/**
 * `tpctl upgrade --runtime kubernetes|helm` end to end, as far as these machines allow: the
 * real tpctl, a real Tenant Plane 1.2.3 answering the health checks, a real PostgreSQL for the
 * pre-upgrade backup; kubectl and helm (no cluster here) answer with the outputs of their
 * documentation and test data, in phases that follow what tpctl asked of them.
 */
const dir = tempDir('atlas-k8s-');
const kubectl = new KubectlCommands(DEFAULT_TARGET);
const status = {
  // kubernetes/website, content/en/docs/concepts/workloads/controllers/deployment.md
  progressing: 'Waiting for rollout to finish: 1 out of 3 new replicas have been updated...\n',
  complete: 'deployment "atlasai-tp" successfully rolled out\n',
};
const fake = new FakeCli(
  ['kubectl'],
  [
    { when: 'initial', match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }] },
    { when: 'initial', match: ['get', 'replicasets'], replies: [{ stdout: list([replicaSet(1, '1.2.3', 3)]) }] },
    { when: 'initial', match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }], then: 'upgraded' },
    { when: 'upgraded', match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
    { when: 'upgraded', match: ['get', 'replicasets'], replies: [{ stdout: list([replicaSet(1, '1.2.3', 2), replicaSet(2, '1.3.0', 1)]) }] },
    { when: 'upgraded', match: ['rollout', 'status'], replies: [{ stdout: status.progressing }] },
    {
      when: 'upgraded',
      match: ['get', 'pods'],
      replies: [{ stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', crashLooping), pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }],
    },
    { when: 'upgraded', match: ['rollout', 'undo', '--to-revision=1'], replies: [{ stdout: 'deployment.apps/atlasai-tp rolled back\n' }], then: 'rolled-back' },
    { when: 'rolled-back', match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }] },
    // The undo moves revision 1 to the top as revision 3 (the documentation's "DeploymentRollback").
    { when: 'rolled-back', match: ['get', 'replicasets'], replies: [{ stdout: list([replicaSet(2, '1.3.0', 0), replicaSet(3, '1.2.3', 3)]) }] },
    { when: 'rolled-back', match: ['rollout', 'status'], replies: [{ stdout: status.complete }] },
    { when: 'rolled-back', match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }] },
    {
      when: 'rolled-back',
      match: ['rollout', 'history'],
      replies: [{ stdout: 'deployment.apps/atlasai-tp \nREVISION  CHANGE-CAUSE\n2         tpctl: 1.3.0\n3         <none>\n' }],
    },
    { when: 'rolled-back', match: ['exec', '-n', 'atlasai', '--', 'cat', '/app/.atlas-version'], replies: [{ stdout: '1.2.3\n' }] },
  ],
);
/** `helm history -o json` entries, in the shape of helm/helm pkg/cmd/testdata/output/history.json. */
const entry = (revision: number, status: string, description: string) => ({
  revision,
  updated: '2026-11-26T10:00:00Z',
  status,
  chart: 'atlasai-tp-0.1.0',
  app_version: '1.2.3',
  description,
});
const helmFake = new FakeCli(
  ['helm', 'kubectl'],
  [
    { when: 'initial', match: ['kubectl', 'get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }] },
    { when: 'initial', match: ['helm', 'history'], replies: [{ stdout: JSON.stringify([entry(1, 'deployed', 'Install complete')]) }] },
    { when: 'initial', match: ['helm', 'upgrade'], replies: [{ stderr: 'Error: UPGRADE FAILED: context deadline exceeded\n', code: 1 }], then: 'upgraded' },
    { when: 'upgraded', match: ['kubectl', 'get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
    { when: 'upgraded', match: ['kubectl', 'get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', crashLooping)]) }] },
    {
      when: 'upgraded',
      match: ['helm', 'history'],
      replies: [
        { stdout: JSON.stringify([entry(1, 'deployed', 'Install complete'), entry(2, 'failed', 'Upgrade "atlasai-tp" failed: context deadline exceeded')]) },
      ],
    },
    { when: 'upgraded', match: ['helm', 'rollback', '1'], replies: [{ stdout: 'Rollback was a success! Happy Helming!\n' }], then: 'rolled-back' },
    { when: 'rolled-back', match: ['kubectl', 'get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }] },
    { when: 'rolled-back', match: ['kubectl', 'get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }] },
    { when: 'rolled-back', match: ['kubectl', 'exec'], replies: [{ stdout: '1.2.3\n' }] },
    { match: ['helm', 'get', 'values', '1'], replies: [{ stdout: '{"image":{"tag":"1.2.3"}}' }] },
    { match: ['helm', 'get', 'values', '2'], replies: [{ stdout: '{"image":{"tag":"1.3.0"}}' }] },
  ],
);
let server: ServerProcess & { url: string };
let env: Record<string, string>;

beforeAll(async () => {
  const dbUrl = await sharedPostgres().createDatabase('k8s');
  server = await startServer(
    { DB_URL: dbUrl, ATLAS_ADMIN_EMAIL: 'admin@example.com', ATLAS_ADMIN_PASSWORD: 'k8s-admin-pw-12' },
    makeRelease({ version: '1.2.3' }),
  );
  env = {
    PATH: fake.path,
    DB_URL: dbUrl,
    HEALTH_URL: `${server.url}/api/health`,
    HEALTH_TIMEOUT: '20',
    ATLAS_LOG_DIR: path.join(dir, 'logs'),
    ATLAS_DATA_DIR: path.join(dir, 'data'),
  };
});

afterAll(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
});

describe('tpctl on Kubernetes', () => {
  it('an upgrade whose new pods crash is undone: backup, patch, rollout undo to the revision of 1.2.3, healthy, recorded', async () => {
    const result = await tpctl(['upgrade', '--to', '1.3.0', '--runtime', 'kubernetes'], env);
    expect(result.stdout).toMatch(
      /upgrade to 1\.3\.0 FAILED at switch: the new pods crash: pod atlasai-tp-2abc-x1: CrashLoopBackOff.*Rolled back: 1\.2\.3 runs and is healthy/,
    );
    expect(result.code).toBe(1);

    const calls = fake.calls();
    const patch = calls.findIndex((c) => c[1] === 'patch');
    const undo = calls.findIndex((c) => c[1] === 'rollout' && c[2] === 'undo');
    expect(calls[patch]).toEqual(kubectl.setVersion('1.3.0', 'tpctl: 1.3.0').argv);
    expect(calls[undo]).toEqual(['kubectl', 'rollout', 'undo', 'deployment/atlasai-tp', '--to-revision=1', '-n', 'atlasai']);
    expect(patch).toBeGreaterThan(0);
    expect(undo).toBeGreaterThan(patch);

    const backups = readdirSync(env.ATLAS_LOG_DIR!).filter((n) => /^db-backup-1\.2\.3-\d{8}T\d{6}\.sql\.gz$/.test(n));
    expect(backups).toHaveLength(1);
    const history = readFileSync(path.join(dir, 'data', '.atlas-upgrade-history'), 'utf8');
    expect(history).toMatch(/^\d{8}T\d{6} 1\.2\.3 -> 1\.3\.0 FAILED log:\S+upgrade-\d{8}T\d{6}\.log\n\d{8}T\d{6} ROLLBACK 1\.3\.0 -> 1\.2\.3 log:/);
    const log = readFileSync(
      path.join(
        env.ATLAS_LOG_DIR!,
        readdirSync(env.ATLAS_LOG_DIR!).find((n) => n.startsWith('upgrade-') && n.endsWith('.log'))!,
      ),
      'utf8',
    );
    expect(log).toContain('$ kubectl rollout undo deployment/atlasai-tp --to-revision=1 -n atlasai');
    expect(log).toContain('verify ok in');
    expect(log).toContain("the running Tenant Plane's version file (.atlas-version) says 1.2.3");
  });

  it('tpctl revisions lists what the cluster keeps, with versions', async () => {
    const text = await tpctl(['revisions', '--runtime', 'kubernetes'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('revisions of deployment/atlasai-tp in namespace atlasai:');
    expect(text.stdout).toMatch(/ {3}2 {2}1\.3\.0 +tpctl: 1\.3\.0/);
    const json = await tpctl(['revisions', '--runtime', 'kubernetes', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual([
      { revision: 2, version: '1.3.0', note: 'tpctl: 1.3.0' },
      { revision: 3, version: '1.2.3', note: '' },
    ]);
  });

  it('bad input is refused before kubectl is called', async () => {
    const before = fake.calls().length;
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['upgrade', '--to', '1.3.0', '--runtime', 'swarm'], {}, /--runtime=swarm is not valid: compose, kubernetes, helm, local/],
      [['upgrade', '--to', '1.3.0'], { ATLAS_RUNTIME: 'k8s' }, /ATLAS_RUNTIME=k8s is not valid/],
      [['upgrade', '--to', '1.3.0', '--runtime', 'kubernetes'], { ATLAS_NAMESPACE: 'Atlas AI' }, /ATLAS_NAMESPACE="?Atlas AI"? is not a Kubernetes name/],
      [['rollback', '--to-revision', '0', '--runtime', 'kubernetes'], {}, /--to-revision 0 is not a revision number/],
      [['rollback', '--to-revision', '2; rm -rf /', '--runtime', 'kubernetes'], {}, /is not a revision number/],
      [['rollback', '--to', '1.2.3', '--to-revision', '1', '--runtime', 'kubernetes'], {}, /--to and --to-revision name the target twice/],
      // Where no deployment was set up yet (this one's is on Kubernetes, which would be named instead).
      [['revisions', '--runtime', 'local'], { ATLAS_DATA_DIR: path.join(dir, 'no-deployment') }, /keeps no numbered revisions/],
    ];
    for (const [args, extra, message] of cases) {
      const result = await tpctl(args, { ...env, ...extra });
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.code, args.join(' ')).toBe(2);
    }
    expect(fake.calls().length).toBe(before);
    expect(existsSync(path.join(dir, 'data', '.atlas-upgrade.lock'))).toBe(false);
  });
});

describe('tpctl on Helm', () => {
  it('a failed helm upgrade is undone with helm rollback to the revision of 1.2.3, healthy, recorded', async () => {
    const helmEnv = { ...env, PATH: helmFake.path, ATLAS_LOG_DIR: path.join(dir, 'helm-logs'), ATLAS_DATA_DIR: path.join(dir, 'helm-data') };
    const result = await tpctl(['upgrade', '--to', '1.3.0', '--runtime', 'helm'], helmEnv);
    expect(result.stdout).toMatch(
      /upgrade to 1\.3\.0 FAILED at switch: helm upgrade failed: Error: UPGRADE FAILED: context deadline exceeded; pod atlasai-tp-2abc-x1: CrashLoopBackOff.*Rolled back: 1\.2\.3 runs and is healthy/,
    );
    expect(result.code).toBe(1);

    const helmCalls = helmFake.calls().filter((c) => c[0] === 'helm');
    const chart = path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');
    const commands = new HelmCommands({ release: 'atlasai-tp', namespace: 'atlasai', chart });
    expect(helmCalls).toContainEqual(commands.upgrade('1.3.0', 300_000).argv);
    expect(helmCalls.at(-1)).toEqual(commands.rollback(1, 300_000).argv);
    expect(readdirSync(helmEnv.ATLAS_LOG_DIR).filter((n) => /^db-backup-1\.2\.3-\d{8}T\d{6}\.sql\.gz$/.test(n))).toHaveLength(1);
    expect(readFileSync(path.join(helmEnv.ATLAS_DATA_DIR, '.atlas-upgrade-history'), 'utf8')).toMatch(
      / 1\.2\.3 -> 1\.3\.0 FAILED log:.*\n.* ROLLBACK 1\.3\.0 -> 1\.2\.3 log:/,
    );
  });
});
