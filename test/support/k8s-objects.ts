/**
 * What `kubectl get … -o json` prints for the Tenant Plane's objects, reduced to the fields the
 * driver reads plus those the API requires. The tests validate each one against the Kubernetes
 * API schemas, so the shapes are the API's, not ours.
 */
type Obj = Record<string, unknown>;

const labels = { app: 'atlasai-tp' };
const template = (version: string) => ({
  metadata: { labels, annotations: { 'atlasai.io/version': version } },
  spec: { containers: [{ name: 'tenant-plane', image: `atlasai/tenant-plane:${version}` }] },
});

export function deployment(version: string, replicas = 3, annotations: Record<string, string> = {}): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'atlasai-tp', namespace: 'atlasai', labels, annotations: { 'atlasai.io/version': version, ...annotations } },
    spec: { replicas, selector: { matchLabels: labels }, template: template(version) },
  };
}

export function replicaSet(revision: number, version: string, replicas: number): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: `atlasai-tp-${revision}abc`, namespace: 'atlasai', labels, annotations: { 'deployment.kubernetes.io/revision': String(revision) } },
    spec: { replicas, selector: { matchLabels: labels }, template: template(version) },
  };
}

type ContainerState = Obj;
export function pod(name: string, version: string, status: { restartCount: number; state: ContainerState; lastState?: ContainerState }): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'atlasai', labels, annotations: { 'atlasai.io/version': version } },
    spec: template(version).spec,
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'tenant-plane',
          image: `atlasai/tenant-plane:${version}`,
          imageID: '',
          ready: false,
          restartCount: status.restartCount,
          state: status.state,
          lastState: status.lastState ?? {},
        },
      ],
    },
  };
}

export const running = { restartCount: 0, state: { running: { startedAt: '2026-11-26T10:00:00Z' } } };
export const crashLooping = {
  restartCount: 3,
  state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=tenant-plane pod=atlasai-tp-2abc-x1_atlasai' } },
  lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: '2026-11-26T10:00:01Z', finishedAt: '2026-11-26T10:00:02Z' } },
};

export const list = (items: Obj[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
