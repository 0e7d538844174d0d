import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Executor } from '../ops/core/exec.js';
import { ComposeRuntime } from '../ops/runtimes/compose/runtime.js';
import { HelmRuntime } from '../ops/runtimes/helm/runtime.js';
import { KubernetesRuntime } from '../ops/runtimes/kubernetes/runtime.js';
import { DEFAULT_TARGET } from '../ops/runtimes/kubernetes/commands.js';
import { LocalRuntime } from '../ops/runtimes/local/runtime.js';
import type { Runtime } from '../ops/runtimes/runtime.js';
import { appRoot } from '../shared/app-root.js';
import { printable } from '../shared/version.js';
import { CliError, type Io } from './command.js';

const KINDS = ['compose', 'kubernetes', 'helm', 'local'] as const;
export type RuntimeKind = (typeof KINDS)[number];

export const RUNTIME_HELP = `Runtime (--runtime, or ATLAS_RUNTIME; default compose):
  compose     the files Compose reads here (COMPOSE_FILE, else compose.yaml, docker-compose.yml, …
              and the override file), ATLAS_SERVICE (tenant-plane), ATLAS_IMAGE
  kubernetes  deployment ATLAS_DEPLOYMENT (atlasai-tp) in ATLAS_NAMESPACE (atlasai), container
              tenant-plane, image ATLAS_IMAGE; kubectl's current context; ROLLOUT_TIMEOUT (300 s)
  helm        release ATLAS_HELM_RELEASE (atlasai-tp) in ATLAS_NAMESPACE, chart ATLAS_HELM_CHART
              (this release's deploy/helm/atlasai-tp); Helm 3.14 or later; ROLLOUT_TIMEOUT
  local       releases side by side in ATLAS_DATA_DIR (see tpctl local --help)`;

/** The runtime to work on: --runtime, else ATLAS_RUNTIME, else compose. */
export function runtimeKind(io: Io, flag?: string): RuntimeKind {
  const kind = flag ?? (io.env.ATLAS_RUNTIME || 'compose');
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw new CliError(`${flag === undefined ? 'ATLAS_RUNTIME' : '--runtime'}=${printable(kind, 20)} is not valid: ${KINDS.join(', ')}`);
  }
  return kind as RuntimeKind;
}

const K8S_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A Kubernetes object name from the environment, checked (it becomes a kubectl argument). */
function k8sName(io: Io, variable: string, fallback: string): string {
  const name = io.env[variable] || fallback;
  if (!K8S_NAME.test(name)) throw new CliError(`${variable}=${printable(name, 70)} is not a Kubernetes name (lower-case letters, digits and '-', at most 63)`);
  return name;
}

export async function runtimeFor(kind: RuntimeKind, io: Io, exec: Executor, rolloutTimeoutMs: number): Promise<Runtime> {
  const image = io.env.ATLAS_IMAGE || DEFAULT_TARGET.image;
  const dataDir = io.env.ATLAS_DATA_DIR || './data';
  switch (kind) {
    case 'local':
      return new LocalRuntime(dataDir, exec);
    case 'compose':
      return ComposeRuntime.create(exec, { cwd: process.cwd(), env: io.env, service: io.env.ATLAS_SERVICE || 'tenant-plane', image, dataDir });
    case 'kubernetes':
    case 'helm': {
      const target = {
        namespace: k8sName(io, 'ATLAS_NAMESPACE', DEFAULT_TARGET.namespace),
        deployment: k8sName(io, 'ATLAS_DEPLOYMENT', DEFAULT_TARGET.deployment),
        container: DEFAULT_TARGET.container,
        image,
      };
      if (kind === 'kubernetes') return new KubernetesRuntime(exec, target, rolloutTimeoutMs);
      const release = k8sName(io, 'ATLAS_HELM_RELEASE', DEFAULT_TARGET.deployment);
      const chart = io.env.ATLAS_HELM_CHART || path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');
      if (!io.env.ATLAS_HELM_CHART && !existsSync(chart)) throw new CliError(`no chart at ${chart}: set ATLAS_HELM_CHART to the chart to upgrade with`);
      return new HelmRuntime(exec, { ...target, release, chart }, rolloutTimeoutMs);
    }
  }
}
