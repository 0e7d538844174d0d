import { afterEach, describe, expect, it } from 'vitest';
import { Executor } from '../../../../src/ops/core/exec.js';
import { HelmRuntime, imageTagOf, parseHelmHistory } from '../../../../src/ops/runtimes/helm/runtime.js';
import { HelmCommands } from '../../../../src/ops/runtimes/helm/commands.js';
import { DEFAULT_TARGET } from '../../../../src/ops/runtimes/kubernetes/commands.js';
import { FakeCli, type Rule } from '../../../support/fake-cli.js';
import { crashLooping, deployment, list, pod } from '../../../support/k8s-objects.js';

// `helm history -o json`, copied from Helm's own test data: helm/helm,
// pkg/cmd/testdata/output/history.json and history-with-rollback.json.
const HELM_HISTORY_JSON =
  '[{"revision":3,"updated":"1977-09-02T22:04:05Z","status":"superseded","chart":"foo-0.1.0-beta.1","app_version":"1.0","description":"Release mock"},{"revision":4,"updated":"1977-09-02T22:04:05Z","status":"deployed","chart":"foo-0.1.0-beta.1","app_version":"1.0","description":"Release mock"}]\n';
const HELM_HISTORY_WITH_ROLLBACK_JSON =
  '[{"revision":1,"updated":"1977-09-02T22:04:05Z","status":"superseded","chart":"foo-0.1.0-beta.1","app_version":"1.0","description":"Install complete"},{"revision":2,"updated":"1977-09-02T22:04:05Z","status":"superseded","chart":"foo-0.1.0-beta.1","app_version":"1.0","description":"Upgrade complete"},{"revision":3,"updated":"1977-09-02T22:04:05Z","status":"deployed","chart":"foo-0.1.0-beta.1","app_version":"1.0","rollback_revision":1,"description":"Rollback to 1"}]\n';

/** A history in the same shape, of the Tenant Plane's chart. */
const entry = (revision: number, status: string, description: string) => ({
  revision,
  updated: '2026-11-26T10:00:00Z',
  status,
  chart: 'atlasai-tp-0.1.0',
  app_version: '1.2.3',
  description,
});
const values = (tag: string) => ({ stdout: JSON.stringify({ image: { tag } }) });
const target = { ...DEFAULT_TARGET, release: 'atlasai-tp', chart: '/opt/atlasai/deploy/helm/atlasai-tp' };

describe('helm commands', () => {
  const h = new HelmCommands(target);

  it('are the exact argument lists of each operation', () => {
    expect(h.history().argv).toEqual(['helm', 'history', 'atlasai-tp', '-n', 'atlasai', '-o', 'json']);
    expect(h.values(2).argv).toEqual(['helm', 'get', 'values', 'atlasai-tp', '-n', 'atlasai', '--revision', '2', '-o', 'json']);
    expect(h.upgrade('1.3.0', 120_000).argv).toEqual([
      'helm',
      'upgrade',
      'atlasai-tp',
      '/opt/atlasai/deploy/helm/atlasai-tp',
      '-n',
      'atlasai',
      '--install',
      '--reset-then-reuse-values',
      '--set-string',
      'image.tag=1.3.0',
      '--set-string',
      'changeCause=tpctl: 1.3.0',
      '--description',
      'tenant-plane 1.3.0',
      '--wait',
      '--timeout',
      '120s',
    ]);
    expect(h.rollback(2, 90_500).argv).toEqual(['helm', 'rollback', 'atlasai-tp', '2', '-n', 'atlasai', '--wait', '--timeout', '91s']);
  });

  it('give helm its own --timeout and kill it only well after (a killed helm leaves the release pending)', () => {
    expect(h.upgrade('1.3.0', 120_000).timeoutMs).toBe(180_000);
    expect(h.rollback(2, 120_000).timeoutMs).toBe(180_000);
  });
});

describe('parsing helm output', () => {
  it("reads the history of Helm's test data, oldest first", () => {
    expect(parseHelmHistory(HELM_HISTORY_JSON)).toEqual([
      { revision: 3, status: 'superseded', chart: 'foo-0.1.0-beta.1', appVersion: '1.0', description: 'Release mock' },
      { revision: 4, status: 'deployed', chart: 'foo-0.1.0-beta.1', appVersion: '1.0', description: 'Release mock' },
    ]);
    expect(parseHelmHistory(HELM_HISTORY_WITH_ROLLBACK_JSON).map((e) => [e.revision, e.status, e.description])).toEqual([
      [1, 'superseded', 'Install complete'],
      [2, 'superseded', 'Upgrade complete'],
      [3, 'deployed', 'Rollback to 1'],
    ]);
  });

  it('refuses what is not a helm history', () => {
    expect(() => parseHelmHistory('{"revision":1}')).toThrow('did not print a list');
    expect(() => parseHelmHistory('[{"status":"deployed"}]')).toThrow('an entry without a revision number');
    expect(() => parseHelmHistory('Error: release: not found')).toThrow();
  });

  it("reads the image tag of a revision's values, and none when there are no values", () => {
    expect(imageTagOf('{"image":{"tag":"1.3.0"},"replicas":3}')).toBe('1.3.0');
    expect(imageTagOf('null')).toBeUndefined();
    expect(imageTagOf('{"image":{"repository":"registry.example/atlasai/tenant-plane"}}')).toBeUndefined();
    expect(imageTagOf('{"image":{"tag":""}}')).toBeUndefined();
  });
});

describe('the Helm driver, on helm and kubectl replies', () => {
  let fake: FakeCli;
  const savedPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  // After helm --wait, the driver follows the rollout until no old pod is left: here, none is.
  const settled: Rule[] = [
    { match: ['kubectl', 'rollout', 'status'], replies: [{ stdout: 'deployment "atlasai-tp" successfully rolled out\n' }] },
    { match: ['kubectl', 'get', 'pods'], replies: [{ stdout: JSON.stringify({ items: [] }) }] },
  ];
  function driver(rules: Rule[]): HelmRuntime {
    fake = new FakeCli(['helm', 'kubectl'], [...rules, ...settled]);
    process.env.PATH = fake.path;
    return new HelmRuntime(new Executor(undefined, []), target, 120_000);
  }
  const helmCalls = () => fake.calls().filter((argv) => argv[0] === 'helm');

  it('upgrades to a new version with helm upgrade --wait', async () => {
    const helm = driver([
      { match: ['history'], replies: [{ stdout: JSON.stringify([entry(1, 'deployed', 'Install complete')]) }] },
      { match: ['get', 'values', '1'], replies: [values('1.2.3')] },
      { match: ['upgrade'], replies: [{ stdout: 'Release "atlasai-tp" has been upgraded. Happy Helming!\n' }] },
    ]);
    await helm.switchTo('1.3.0');
    expect(helmCalls().at(-1)).toEqual(new HelmCommands(target).upgrade('1.3.0', 120_000).argv);
    // Then the rollout is followed until no pod of the old version is left.
    expect(
      fake
        .calls()
        .slice(-2)
        .map((argv) => argv.slice(0, 3).join(' ')),
    ).toEqual(['kubectl rollout status', 'kubectl get pods']);
  });

  it('goes back with helm rollback to the newest earlier revision that served the version', async () => {
    const helm = driver([
      {
        match: ['history'],
        replies: [
          {
            stdout: JSON.stringify([
              entry(1, 'superseded', 'Install complete'),
              entry(2, 'superseded', 'tenant-plane 1.2.3'),
              entry(3, 'failed', 'Upgrade "atlasai-tp" failed: context deadline exceeded'),
            ]),
          },
        ],
      },
      { match: ['get', 'values', '1'], replies: [values('1.2.2')] },
      { match: ['get', 'values', '2'], replies: [values('1.2.3')] },
      { match: ['get', 'values', '3'], replies: [values('1.3.0')] },
      { match: ['rollback'], replies: [{ stdout: 'Rollback was a success! Happy Helming!\n' }] },
    ]);
    await helm.switchTo('1.2.3');
    expect(helmCalls().at(-1)).toEqual(['helm', 'rollback', 'atlasai-tp', '2', '-n', 'atlasai', '--wait', '--timeout', '120s']);
  });

  it('never rolls back to a revision that failed: a new upgrade instead', async () => {
    const helm = driver([
      { match: ['history'], replies: [{ stdout: JSON.stringify([entry(1, 'superseded', 'x'), entry(2, 'failed', 'y'), entry(3, 'deployed', 'z')]) }] },
      { match: ['get', 'values', '1'], replies: [values('1.2.2')] },
      { match: ['get', 'values', '2'], replies: [values('1.2.4')] },
      { match: ['upgrade'], replies: [{ stdout: 'Release "atlasai-tp" has been upgraded. Happy Helming!\n' }] },
    ]);
    await helm.switchTo('1.2.4');
    expect(helmCalls().at(-1)?.[1]).toBe('upgrade');
  });

  it("goes to the revision it is told, and finds the version of a revision (values, else the chart's appVersion)", async () => {
    const helm = driver([
      { match: ['history'], replies: [{ stdout: HELM_HISTORY_WITH_ROLLBACK_JSON }] },
      { match: ['get', 'values', '2'], replies: [values('1.2.3')] },
      { match: ['get', 'values'], replies: [{ stdout: 'null\n' }] },
      { match: ['rollback'], replies: [{ stdout: 'Rollback was a success! Happy Helming!\n' }] },
    ]);
    expect(await helm.versionAtRevision(2)).toBe('1.2.3');
    expect(await helm.versionAtRevision(1)).toBe('1.0');
    await expect(helm.versionAtRevision(9)).rejects.toThrow('has no revision 9 (helm history atlasai-tp -n atlasai)');
    await helm.switchTo('1.2.3', 2);
    expect(helmCalls().at(-1)?.slice(0, 4)).toEqual(['helm', 'rollback', 'atlasai-tp', '2']);
    expect(await helm.revisions()).toEqual([
      { revision: 1, version: '1.0', note: 'superseded: Install complete' },
      { revision: 2, version: '1.2.3', note: 'superseded: Upgrade complete' },
      { revision: 3, version: '1.0', note: 'deployed: Rollback to 1' },
    ]);
  });

  it('a failed upgrade says what helm said and what the pods do', async () => {
    const helm = driver([
      { match: ['history'], replies: [{ stdout: JSON.stringify([entry(1, 'deployed', 'Install complete')]) }] },
      { match: ['get', 'values'], replies: [values('1.2.3')] },
      { match: ['upgrade'], replies: [{ stderr: 'Error: UPGRADE FAILED: context deadline exceeded\n', code: 1 }] },
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
      { match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', crashLooping)]) }] },
    ]);
    await expect(helm.switchTo('1.3.0')).rejects.toThrow(
      /helm upgrade failed: Error: UPGRADE FAILED: context deadline exceeded; pod atlasai-tp-2abc-x1: CrashLoopBackOff/,
    );
  });

  it('refuses a release it cannot read, saying so', async () => {
    const helm = driver([
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }] },
      { match: ['history'], replies: [{ stderr: 'Error: release: not found\n', code: 1 }] },
    ]);
    await expect(helm.check(false)).rejects.toThrow('cannot read the history of Helm release atlasai-tp in namespace atlasai: Error: release: not found');
  });
});
