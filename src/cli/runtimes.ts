import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Executor } from '../ops/core/exec.js';
import { DEFAULT_TARGET } from '../ops/runtimes/kubernetes/commands.js';
import type { Runtime } from '../ops/runtimes/runtime.js';
import { appRoot } from '../shared/app-root.js';
import { printable } from '../shared/version.js';
import { CliError } from './io.js';

/** What a runtime is built from: the environment, and the settings the factory read. */
export interface RuntimeEnvironment {
  env: Readonly<Record<string, string | undefined>>;
  dataDir: string;
  rolloutTimeoutMs: number;
}

/**
 * One platform tpctl works on, as the CLI knows it: the only place that names platforms. A new
 * runtime is a driver under ops/runtimes/ and an entry here.
 */
export interface RuntimeEntry {
  /** Its name in the operator's words, as the stop command's note says it. */
  title: string;
  /** Its paragraph of --help: what it works on and the variables it reads. */
  help: string;
  /** How an upgrade switches on it, for tpctl upgrade --help. */
  switching: string;
  /** How it goes back to a numbered revision, where it keeps them. */
  revisions?: string;
  /** The commands that stop and start the Tenant Plane on it, around a restore made by hand; absent where another entry's serve. */
  stop?: string;
  start?: string;
  /** Without DB_URL it works on the embedded database in ATLAS_DATA_DIR (the others need PostgreSQL). */
  embeddedDatabase: boolean;
  /** The variables it reads, which a deployment on it remembers, each with its default in the operator's words. */
  settings: Record<string, string>;
  create(e: RuntimeEnvironment, exec: Executor): Promise<Runtime>;
}

const K8S_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A Kubernetes object name from the environment, checked (it becomes a kubectl argument). */
function k8sName(env: RuntimeEnvironment['env'], variable: string, fallback: string): string {
  const name = env[variable] || fallback;
  if (!K8S_NAME.test(name)) throw new CliError(`${variable}=${printable(name, 70)} is not a Kubernetes name (lower-case letters, digits and '-', at most 63)`);
  return name;
}

const image = (e: RuntimeEnvironment) => e.env.ATLAS_IMAGE || DEFAULT_TARGET.image;
const kubernetesTarget = (e: RuntimeEnvironment) => ({
  namespace: k8sName(e.env, 'ATLAS_NAMESPACE', DEFAULT_TARGET.namespace),
  deployment: k8sName(e.env, 'ATLAS_DEPLOYMENT', DEFAULT_TARGET.deployment),
  container: DEFAULT_TARGET.container,
  image: image(e),
});
const CLUSTER_SETTINGS = { ATLAS_NAMESPACE: DEFAULT_TARGET.namespace, ATLAS_IMAGE: DEFAULT_TARGET.image };

export const KINDS = ['compose', 'kubernetes', 'helm', 'local'] as const;
export type RuntimeKind = (typeof KINDS)[number];

export const RUNTIMES: Record<RuntimeKind, RuntimeEntry> = {
  compose: {
    title: 'Docker Compose',
    help: `the files Compose reads here (COMPOSE_FILE, else compose.yaml, docker-compose.yml, …
              and the override file), ATLAS_SERVICE (tenant-plane), ATLAS_IMAGE`,
    switching: `the image tag set where the Compose files take it from (the file, the override
    file, an anchor, .env, a \${VAR:-default}), docker compose up -d tenant-plane; beside the
    old version where the proxy runs (./data/proxy/admin.sock)`,
    stop: 'docker compose stop tenant-plane',
    start: 'docker compose up -d tenant-plane',
    embeddedDatabase: false,
    settings: { COMPOSE_FILE: 'the files Compose reads in the current directory', ATLAS_SERVICE: 'tenant-plane', ATLAS_IMAGE: DEFAULT_TARGET.image },
    create: async (e, exec) =>
      (await import('../ops/runtimes/compose/runtime.js')).ComposeRuntime.create(exec, {
        cwd: process.cwd(),
        env: e.env,
        service: e.env.ATLAS_SERVICE || 'tenant-plane',
        image: image(e),
        dataDir: e.dataDir,
      }),
  },
  kubernetes: {
    title: 'Kubernetes',
    help: `deployment ATLAS_DEPLOYMENT (atlasai-tp) in ATLAS_NAMESPACE (atlasai), container
              tenant-plane, image ATLAS_IMAGE; kubectl's current context; ROLLOUT_TIMEOUT (300 s)`,
    switching: 'image, version annotation and change cause patched, rollout followed',
    revisions: 'kubectl rollout undo --to-revision',
    stop: 'kubectl scale deployment/atlasai-tp --replicas=0 -n atlasai',
    start: 'kubectl scale deployment/atlasai-tp --replicas=3 -n atlasai',
    embeddedDatabase: false,
    settings: { ...CLUSTER_SETTINGS, ATLAS_DEPLOYMENT: DEFAULT_TARGET.deployment },
    create: async (e, exec) => new (await import('../ops/runtimes/kubernetes/runtime.js')).KubernetesRuntime(exec, kubernetesTarget(e), e.rolloutTimeoutMs),
  },
  helm: {
    title: 'Helm',
    help: `release ATLAS_HELM_RELEASE (atlasai-tp) in ATLAS_NAMESPACE, chart ATLAS_HELM_CHART
              (this release's deploy/helm/atlasai-tp); Helm 3.14 or later; ROLLOUT_TIMEOUT`,
    switching: 'helm upgrade --install --wait --timeout',
    revisions: 'helm rollback REV --wait',
    embeddedDatabase: false,
    settings: { ...CLUSTER_SETTINGS, ATLAS_HELM_RELEASE: DEFAULT_TARGET.deployment, ATLAS_HELM_CHART: "this release's deploy/helm/atlasai-tp" },
    async create(e, exec) {
      const release = k8sName(e.env, 'ATLAS_HELM_RELEASE', DEFAULT_TARGET.deployment);
      const chart = e.env.ATLAS_HELM_CHART || path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');
      if (!e.env.ATLAS_HELM_CHART && !existsSync(chart)) throw new CliError(`no chart at ${chart}: set ATLAS_HELM_CHART to the chart to upgrade with`);
      const { HelmRuntime } = await import('../ops/runtimes/helm/runtime.js');
      return new HelmRuntime(exec, { ...kubernetesTarget(e), release, chart }, e.rolloutTimeoutMs);
    },
  },
  local: {
    title: 'local runtime',
    help: 'releases side by side in ATLAS_DATA_DIR (see tpctl local --help)',
    switching: 'the current release changed, beside the old one on PostgreSQL (not on the embedded database)',
    stop: 'tpctl local stop',
    start: 'tpctl local start',
    embeddedDatabase: true,
    settings: { ATLAS_HOST: '0.0.0.0', ATLAS_PORT: '3000' },
    create: async (e, exec) => new (await import('../ops/runtimes/local/runtime.js')).LocalRuntime(e.dataDir, exec),
  },
};

export const RUNTIME_HELP = `Runtime (--runtime, or ATLAS_RUNTIME; default compose):
${KINDS.map((k) => `  ${k.padEnd(10)}  ${RUNTIMES[k].help}`).join('\n')}`;

/** How each runtime switches, for tpctl upgrade --help. */
export const SWITCHING_HELP = KINDS.map((k) => `  ${RUNTIMES[k].title}: ${RUNTIMES[k].switching}`).join('\n');

/** How the runtimes that keep numbered revisions go back to one, for tpctl rollback --help. */
export const REVISIONS_HELP = KINDS.flatMap((k) => RUNTIMES[k].revisions ?? []).join(', ');

/** How to stop or start the Tenant Plane on each runtime that has a command of its own. */
const commandsTo = (what: 'stop' | 'start') =>
  KINDS.flatMap((k) => {
    const { [what]: command, title } = RUNTIMES[k];
    return command ? [`${command} (${title})`] : [];
  });
export const STOP_COMMANDS = commandsTo('stop');
export const START_COMMANDS = commandsTo('start');

/** The runtime to work on: --runtime, else ATLAS_RUNTIME, else compose. */
export function runtimeKind(env: RuntimeEnvironment['env'], flag?: string): RuntimeKind {
  const kind = flag ?? (env.ATLAS_RUNTIME || 'compose');
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw new CliError(`${flag === undefined ? 'ATLAS_RUNTIME' : '--runtime'}=${printable(kind, 20)} is not valid: ${KINDS.join(', ')}`);
  }
  return kind as RuntimeKind;
}
