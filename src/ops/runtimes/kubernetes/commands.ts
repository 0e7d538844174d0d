import type { Command } from '../../core/exec.js';

/** The annotation that carries the Tenant Plane version on the Deployment and on each revision's pod template. */
export const VERSION_ANNOTATION = 'atlasai.io/version';
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const STOPPED_REPLICAS_ANNOTATION = 'atlasai.io/stopped-replicas';

export interface KubernetesTarget {
  namespace: string;
  deployment: string;
  container: string;
  image: string;
}

export const DEFAULT_TARGET: KubernetesTarget = { namespace: 'atlasai', deployment: 'atlasai-tp', container: 'tenant-plane', image: 'atlasai/tenant-plane' };

/** The kubectl commands of the Kubernetes driver, as data. */
export class KubectlCommands {
  constructor(readonly t: KubernetesTarget) {}

  /** `-n NAMESPACE` ends the command, as in the operator guide; before a `--`, whose words belong to the container. */
  private kubectl = (...args: string[]): Command => {
    const end = args.includes('--') ? args.indexOf('--') : args.length;
    return { argv: ['kubectl', ...args.slice(0, end), '-n', this.t.namespace, ...args.slice(end)] };
  };
  private get ref() {
    return `deployment/${this.t.deployment}`;
  }

  getDeployment = () => this.kubectl('get', 'deployment', this.t.deployment, '-o', 'json');
  replicaSets = () => this.kubectl('get', 'replicasets', '-l', `app=${this.t.deployment}`, '-o', 'json');
  pods = () => this.kubectl('get', 'pods', '-l', `app=${this.t.deployment}`, '-o', 'json');
  /** Image, version annotations and change cause in one patch: one new revision that says what it is. */
  setVersion = (version: string, cause: string) =>
    this.kubectl(
      'patch',
      'deployment',
      this.t.deployment,
      '--type=strategic',
      '-p',
      JSON.stringify({
        metadata: { annotations: { [VERSION_ANNOTATION]: version, 'kubernetes.io/change-cause': cause } },
        spec: {
          template: {
            metadata: { annotations: { [VERSION_ANNOTATION]: version } },
            spec: { containers: [{ name: this.t.container, image: `${this.t.image}:${version}` }] },
          },
        },
      }),
    );
  /** Where the rollout stands now (no watching: the driver polls, so that a crash ends the wait at once). */
  rolloutStatus = () => this.kubectl('rollout', 'status', this.ref, '--watch=false');
  rolloutUndo = (revision?: number) => this.kubectl('rollout', 'undo', this.ref, ...(revision ? [`--to-revision=${revision}`] : []));
  rolloutHistory = () => this.kubectl('rollout', 'history', this.ref);
  stop = (replicas: number) =>
    this.kubectl(
      'patch',
      'deployment',
      this.t.deployment,
      '--type=strategic',
      '-p',
      JSON.stringify({ metadata: { annotations: { [STOPPED_REPLICAS_ANNOTATION]: String(replicas) } }, spec: { replicas: 0 } }),
    );
  scale = (replicas: number) => this.kubectl('scale', this.ref, `--replicas=${replicas}`);
  versionFile = () => this.kubectl('exec', this.ref, '-c', this.t.container, '--', 'cat', '/app/.atlas-version');
  logs = (lines: number) => this.kubectl('logs', this.ref, '-c', this.t.container, `--tail=${lines}`);
}
