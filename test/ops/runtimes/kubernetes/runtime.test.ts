import { afterEach, describe, expect, it } from 'vitest';
import { Executor } from '../../../../src/ops/core/exec.js';
import { KubernetesRuntime, parseRolloutHistory, parseRolloutStatus, podsState, revisionsOf } from '../../../../src/ops/runtimes/kubernetes/runtime.js';
import { DEFAULT_TARGET, KubectlCommands } from '../../../../src/ops/runtimes/kubernetes/commands.js';
import { FakeCli, type Rule } from '../../../support/fake-cli.js';
import { crashLooping, deployment, list, pod, replicaSet, running } from '../../../support/k8s-objects.js';
import { validateManifest } from '../../../support/k8s-schema.js';

// Outputs of kubectl, copied from its documentation: kubernetes/website,
// content/en/docs/concepts/workloads/controllers/deployment.md ("Checking Rollout History of a
// Deployment", "Complete Deployment", "Failed Deployment", "Rolling Back a Deployment").
const DOC_HISTORY = `deployments "nginx-deployment"
REVISION    CHANGE-CAUSE
1           kubectl apply --filename=https://k8s.io/examples/controllers/nginx-deployment.yaml
2           kubectl set image deployment/nginx-deployment nginx=nginx:1.16.1
3           kubectl set image deployment/nginx-deployment nginx=nginx:1.161
`;
const DOC_STATUS_PROGRESSING = 'Waiting for rollout to finish: 1 out of 3 new replicas have been updated...\n';
const DOC_STATUS_COMPLETE = 'Waiting for rollout to finish: 2 of 3 updated replicas are available...\ndeployment "nginx-deployment" successfully rolled out\n';
const DOC_STATUS_DEADLINE = {
  stdout: 'Waiting for rollout to finish: 2 out of 3 new replicas have been updated...\n',
  stderr: 'error: deployment "nginx" exceeded its progress deadline\n',
  code: 1,
};
// kubectl's own printer (kubernetes/kubernetes, staging/src/k8s.io/kubectl/pkg/polymorphichelpers/history.go):
// a tabwriter with padding 2, "<none>" for a revision without a change cause.
const KUBECTL_HISTORY_NONE = 'deployment.apps/atlasai-tp \nREVISION  CHANGE-CAUSE\n1         <none>\n2         tpctl: 1.3.0\n';

describe('kubectl commands', () => {
  const k = new KubectlCommands(DEFAULT_TARGET);

  it('are the exact argument lists of each operation', () => {
    const ns = ['-n', 'atlasai'];
    expect(k.getDeployment().argv).toEqual(['kubectl', 'get', 'deployment', 'atlasai-tp', '-o', 'json', ...ns]);
    expect(k.replicaSets().argv).toEqual(['kubectl', 'get', 'replicasets', '-l', 'app=atlasai-tp', '-o', 'json', ...ns]);
    expect(k.pods().argv).toEqual(['kubectl', 'get', 'pods', '-l', 'app=atlasai-tp', '-o', 'json', ...ns]);
    expect(k.rolloutStatus().argv).toEqual(['kubectl', 'rollout', 'status', 'deployment/atlasai-tp', '--watch=false', ...ns]);
    expect(k.rolloutUndo().argv).toEqual(['kubectl', 'rollout', 'undo', 'deployment/atlasai-tp', ...ns]);
    expect(k.rolloutUndo(3).argv).toEqual(['kubectl', 'rollout', 'undo', 'deployment/atlasai-tp', '--to-revision=3', ...ns]);
    expect(k.rolloutHistory().argv).toEqual(['kubectl', 'rollout', 'history', 'deployment/atlasai-tp', ...ns]);
    expect(k.scale(3).argv).toEqual(['kubectl', 'scale', 'deployment/atlasai-tp', '--replicas=3', ...ns]);
    expect(k.versionFile().argv).toEqual(['kubectl', 'exec', 'deployment/atlasai-tp', '-c', 'tenant-plane', ...ns, '--', 'cat', '/app/.atlas-version']);
    expect(k.logs(20).argv).toEqual(['kubectl', 'logs', 'deployment/atlasai-tp', '-c', 'tenant-plane', '--tail=20', ...ns]);
  });

  it('set the image, the version annotations and the change cause in one patch (one revision)', () => {
    const argv = k.setVersion('1.3.0', 'tpctl: 1.3.0').argv;
    expect(argv.slice(0, 5)).toEqual(['kubectl', 'patch', 'deployment', 'atlasai-tp', '--type=strategic']);
    expect(argv.slice(-2)).toEqual(['-n', 'atlasai']);
    expect(JSON.parse(argv[6]!)).toEqual({
      metadata: { annotations: { 'atlasai.io/version': '1.3.0', 'kubernetes.io/change-cause': 'tpctl: 1.3.0' } },
      spec: {
        template: {
          metadata: { annotations: { 'atlasai.io/version': '1.3.0' } },
          spec: { containers: [{ name: 'tenant-plane', image: 'atlasai/tenant-plane:1.3.0' }] },
        },
      },
    });
  });

  it('stop scales to zero and remembers the replica count on the Deployment', () => {
    const argv = k.stop(3).argv;
    expect(JSON.parse(argv[6]!)).toEqual({ metadata: { annotations: { 'atlasai.io/stopped-replicas': '3' } }, spec: { replicas: 0 } });
  });

  it('follow the namespace and deployment they are given', () => {
    const other = new KubectlCommands({ ...DEFAULT_TARGET, namespace: 'tp-staging', deployment: 'tp' });
    expect(other.rolloutUndo(2).argv).toEqual(['kubectl', 'rollout', 'undo', 'deployment/tp', '--to-revision=2', '-n', 'tp-staging']);
  });
});

describe('parsing kubectl output', () => {
  it('reads the rollout history of the documentation', () => {
    expect(parseRolloutHistory(DOC_HISTORY)).toEqual([
      { revision: 1, changeCause: 'kubectl apply --filename=https://k8s.io/examples/controllers/nginx-deployment.yaml' },
      { revision: 2, changeCause: 'kubectl set image deployment/nginx-deployment nginx=nginx:1.16.1' },
      { revision: 3, changeCause: 'kubectl set image deployment/nginx-deployment nginx=nginx:1.161' },
    ]);
  });

  it('reads "<none>" as no change cause, and an empty history as none', () => {
    expect(parseRolloutHistory(KUBECTL_HISTORY_NONE)).toEqual([
      { revision: 1, changeCause: null },
      { revision: 2, changeCause: 'tpctl: 1.3.0' },
    ]);
    expect(parseRolloutHistory('No rollout history found.')).toEqual([]);
  });

  it('reads rollout status: progressing, complete, deadline exceeded', () => {
    expect(parseRolloutStatus(DOC_STATUS_PROGRESSING)).toEqual({
      state: 'progressing',
      message: 'Waiting for rollout to finish: 1 out of 3 new replicas have been updated...',
    });
    expect(parseRolloutStatus(DOC_STATUS_COMPLETE)).toEqual({ state: 'complete', message: 'deployment "nginx-deployment" successfully rolled out' });
    expect(parseRolloutStatus(`${DOC_STATUS_DEADLINE.stdout}${DOC_STATUS_DEADLINE.stderr}`)).toEqual({
      state: 'deadline-exceeded',
      message: 'error: deployment "nginx" exceeded its progress deadline',
    });
  });

  const replicaSets = [replicaSet(1, '1.2.2', 0), replicaSet(3, '1.2.3', 0), replicaSet(2, '1.3.0', 3)];
  const pods = [pod('atlasai-tp-2abc-x1', '1.3.0', crashLooping), pod('atlasai-tp-1abc-y1', '1.2.3', running)];

  it('the objects below are what the Kubernetes API returns (validated against its schemas)', () => {
    for (const object of [...replicaSets, ...pods, deployment('1.3.0')]) expect(validateManifest(object)).toEqual([]);
  });

  it('finds each revision and the version it runs from the ReplicaSets, oldest first', () => {
    expect(revisionsOf(list(replicaSets))).toEqual([
      { revision: 1, version: '1.2.2' },
      { revision: 2, version: '1.3.0' },
      { revision: 3, version: '1.2.3' },
    ]);
  });

  it('sees a crash-looping pod of a version, and only of that version', () => {
    const crashed = podsState(list(pods), '1.3.0');
    expect(crashed).toMatchObject({ crashed: true, running: false, exitCode: 1 });
    expect(crashed.detail).toContain('pod atlasai-tp-2abc-x1: CrashLoopBackOff');
    expect(podsState(list(pods), '1.2.3')).toEqual({ running: true, crashed: false, exitCode: undefined, detail: '1 pod(s) of 1.2.3' });
    expect(podsState(list(pods), '9.9.9')).toMatchObject({ running: false, crashed: false });
  });
});

describe('the Kubernetes driver, on kubectl replies', () => {
  let fake: FakeCli;
  const savedPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  function driver(rules: Rule[], timeoutMs = 30_000): KubernetesRuntime {
    fake = new FakeCli(['kubectl'], rules);
    process.env.PATH = fake.path;
    return new KubernetesRuntime(new Executor(undefined, []), DEFAULT_TARGET, timeoutMs);
  }
  const verbs = () => fake.calls().map((argv) => argv.slice(1, argv[1] === 'rollout' ? 3 : 2).join(' '));
  const history = list([replicaSet(1, '1.2.3', 3)]);

  it('upgrades with one patch, then follows the rollout until it is complete', async () => {
    const k8s = driver([
      { match: ['get', 'replicasets'], replies: [{ stdout: history }] },
      { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
      { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_PROGRESSING }, { stdout: DOC_STATUS_COMPLETE }] },
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
      { match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', running)]) }] },
    ]);
    await k8s.switchTo('1.3.0');
    expect(verbs()).toEqual(['get', 'get', 'patch', 'rollout status', 'get', 'get', 'rollout status', 'get']);
    expect(fake.calls()[2]).toEqual(new KubectlCommands(DEFAULT_TARGET).setVersion('1.3.0', 'tpctl: 1.3.0').argv);
  });

  it('once the rollout is complete, waits until no pod of the old version is left (a stopping pod still answers through the Service)', async () => {
    const stopping = { ...pod('atlasai-tp-1abc-y1', '1.2.3', running), metadata: { name: 'atlasai-tp-1abc-y1', deletionTimestamp: '2026-12-05T22:39:30Z' } };
    const k8s = driver([
      { match: ['get', 'replicasets'], replies: [{ stdout: history }] },
      { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
      { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_COMPLETE }] },
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
      {
        match: ['get', 'pods'],
        replies: [{ stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', running), stopping]) }, { stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', running)]) }],
      },
    ]);
    await k8s.switchTo('1.3.0');
    expect(verbs().filter((v) => v === 'get').length).toBe(4);
    expect(verbs().at(-1)).toBe('get');
  });

  it('says which pods of the old version it waited for, when they outlast its deadline', async () => {
    const k8s = driver(
      [
        { match: ['get', 'replicasets'], replies: [{ stdout: history }] },
        { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
        { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_COMPLETE }] },
        { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
        { match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', running), pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }] },
      ],
      1,
    );
    await expect(k8s.switchTo('1.3.0')).rejects.toThrow(
      /the rollout did not finish in 0 s: pods of an earlier version are still stopping: atlasai-tp-1abc-y1$/,
    );
  });

  it('goes back to a version an earlier revision ran with rollout undo --to-revision', async () => {
    const k8s = driver([
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
      { match: ['get', 'replicasets'], replies: [{ stdout: list([replicaSet(1, '1.2.3', 0), replicaSet(2, '1.3.0', 3)]) }] },
      { match: ['rollout', 'undo'], replies: [{ stdout: 'deployment.apps/atlasai-tp rolled back\n' }] },
      { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_COMPLETE }] },
      { match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }] },
    ]);
    await k8s.switchTo('1.2.3');
    expect(fake.calls()[2]).toEqual(['kubectl', 'rollout', 'undo', 'deployment/atlasai-tp', '--to-revision=1', '-n', 'atlasai']);
    expect(verbs()).not.toContain('scale');
  });

  it('goes to the revision it is told', async () => {
    const k8s = driver([
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
      { match: ['get', 'replicasets'], replies: [{ stdout: list([replicaSet(1, '1.2.3', 0), replicaSet(2, '1.2.3', 0), replicaSet(3, '1.3.0', 3)]) }] },
      { match: ['rollout', 'undo'], replies: [{ stdout: 'deployment.apps/atlasai-tp rolled back\n' }] },
      { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_COMPLETE }] },
      { match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }] },
    ]);
    await k8s.switchTo('1.2.3', 1);
    expect(fake.calls()[2]).toContain('--to-revision=1');
  });

  it.each([
    ['stopped by tpctl with 5 replicas', { 'atlasai.io/stopped-replicas': '5' }, '--replicas=5'],
    ["scaled to 0 by hand, as the guide's restore steps do", {}, '--replicas=3'],
  ])('a switch on a Deployment %s scales it back up (the health gate follows)', async (_how, annotations, expected) => {
    const k8s = driver([
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0', 0, annotations)) }] },
      { match: ['get', 'replicasets'], replies: [{ stdout: list([replicaSet(1, '1.2.3', 0), replicaSet(2, '1.3.0', 0)]) }] },
      { match: ['rollout', 'undo'], replies: [{ stdout: 'deployment.apps/atlasai-tp rolled back\n' }] },
      { match: ['scale'], replies: [{ stdout: 'deployment.apps/atlasai-tp scaled\n' }] },
      { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_COMPLETE }] },
      { match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }] },
    ]);
    await k8s.switchTo('1.2.3');
    expect(verbs()).toEqual(['get', 'get', 'rollout undo', 'scale', 'rollout status', 'get']);
    expect(fake.calls()[3]).toEqual(['kubectl', 'scale', 'deployment/atlasai-tp', expected, '-n', 'atlasai']);
  });

  it('stops following at once when the new pods crash', async () => {
    const k8s = driver([
      { match: ['get', 'replicasets'], replies: [{ stdout: history }] },
      { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
      { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_PROGRESSING }] },
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
      { match: ['get', 'pods'], replies: [{ stdout: list([pod('atlasai-tp-2abc-x1', '1.3.0', crashLooping), pod('atlasai-tp-1abc-y1', '1.2.3', running)]) }] },
    ]);
    await expect(k8s.switchTo('1.3.0')).rejects.toThrow(/the new pods crash: pod atlasai-tp-2abc-x1: CrashLoopBackOff/);
    expect(verbs().filter((v) => v === 'rollout status')).toHaveLength(1);
  });

  it("stops when the progress deadline is exceeded, with kubectl's words", async () => {
    const k8s = driver([
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }] },
      { match: ['get', 'replicasets'], replies: [{ stdout: history }] },
      { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
      { match: ['rollout', 'status'], replies: [DOC_STATUS_DEADLINE] },
    ]);
    await expect(k8s.switchTo('1.3.0')).rejects.toThrow('error: deployment "nginx" exceeded its progress deadline');
  });

  it('gives up after its own deadline when the rollout only progresses', async () => {
    const k8s = driver(
      [
        { match: ['get', 'replicasets'], replies: [{ stdout: history }] },
        { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
        { match: ['rollout', 'status'], replies: [{ stdout: DOC_STATUS_PROGRESSING }] },
        { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.3.0')) }] },
        { match: ['get', 'pods'], replies: [{ stdout: list([]) }] },
      ],
      1,
    );
    await expect(k8s.switchTo('1.3.0')).rejects.toThrow(/the rollout did not finish in 0 s: Waiting for rollout to finish/);
  });

  it('reports kubectl failing (no cluster, no rights) rather than waiting', async () => {
    const forbidden =
      'Error from server (Forbidden): deployments.apps "atlasai-tp" is forbidden: User "ops" cannot get resource "deployments" in API group "apps" in the namespace "atlasai"\n';
    const k8s = driver([
      { match: ['get', 'replicasets'], replies: [{ stdout: history }] },
      { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
      { match: ['rollout', 'status'], replies: [{ stderr: forbidden, code: 1 }] },
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }, { stderr: forbidden, code: 1 }] },
    ]);
    await expect(k8s.switchTo('1.3.0')).rejects.toThrow(/kubectl rollout status failed: Error from server \(Forbidden\)/);
    await expect(k8s.check(false)).rejects.toThrow(/cannot read deployment\/atlasai-tp in namespace atlasai: Error from server \(Forbidden\)/);
  });

  it('reads the configured version from the Deployment, and refuses one that is not a release', async () => {
    const k8s = driver([
      { match: ['get', 'deployment'], replies: [{ stdout: JSON.stringify(deployment('1.2.3')) }, { stdout: JSON.stringify(deployment('latest')) }] },
    ]);
    expect(await k8s.configuredVersion()).toBe('1.2.3');
    await expect(k8s.configuredVersion()).rejects.toThrow('runs "latest", not a release version');
  });

  it('stop scales to zero once and start brings back the replicas it had', async () => {
    const k8s = driver([
      {
        match: ['get', 'deployment'],
        replies: [
          { stdout: JSON.stringify(deployment('1.2.3', 3)) },
          { stdout: JSON.stringify(deployment('1.2.3', 0, { 'atlasai.io/stopped-replicas': '3' })) },
        ],
      },
      { match: ['patch'], replies: [{ stdout: 'deployment.apps/atlasai-tp patched\n' }] },
      { match: ['scale'], replies: [{ stdout: 'deployment.apps/atlasai-tp scaled\n' }] },
    ]);
    await k8s.stop();
    await k8s.stop();
    await k8s.start();
    expect(verbs()).toEqual(['get', 'patch', 'get', 'get', 'scale']);
    expect(fake.calls().at(-1)).toEqual(['kubectl', 'scale', 'deployment/atlasai-tp', '--replicas=3', '-n', 'atlasai']);
  });

  it('lists the revisions with the versions their ReplicaSets carry, and finds the version of one', async () => {
    const k8s = driver([
      { match: ['rollout', 'history'], replies: [{ stdout: KUBECTL_HISTORY_NONE }] },
      { match: ['get', 'replicasets'], replies: [{ stdout: list([replicaSet(1, '1.2.3', 0), replicaSet(2, '1.3.0', 3)]) }] },
    ]);
    expect(await k8s.revisions()).toEqual([
      { revision: 1, version: '1.2.3', note: '' },
      { revision: 2, version: '1.3.0', note: 'tpctl: 1.3.0' },
    ]);
    expect(await k8s.versionAtRevision(1)).toBe('1.2.3');
    await expect(k8s.versionAtRevision(7)).rejects.toThrow('has no revision 7');
  });
});
