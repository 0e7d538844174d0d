import { spawn } from 'node:child_process';
import { chownSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { eventually } from './api-client.js';
import type { Downtime } from './downtime.js';
import { PostgresServer } from './postgres-server.js';
import { oncePerRun } from './run-once.js';
import { testPlatforms } from './platforms.js';
import { tempDir } from './temp.js';
import { runProcess, tpctl, type RunResult } from './tpctl.js';

/**
 * The single-node k3s cluster of scripts/test-platforms.sh, for a test file. It runs in a
 * network namespace of its own: everything that talks to it (kubectl, helm, tpctl, a client of
 * its Service) runs in there too, through `inCluster`.
 */

/** What a shell needs for the cluster (KUBECONFIG, kubectl and helm on PATH, where it is), from the script's `env`. */
function clusterEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of testPlatforms('env').split('\n')) {
    if (!line.startsWith('export ')) continue;
    for (const [, name, value] of line.slice('export '.length).matchAll(/(\w+)=(\S+)/g)) env[name!] = value!.replace('$PATH', process.env.PATH ?? '');
  }
  return env;
}

export interface Cluster {
  env: Record<string, string>;
  /** The cluster's network namespace, as nsenter --net= takes it. */
  netns: string;
  /** A PostgreSQL server in the namespace: pods and tpctl reach it at the node's address. */
  postgres: PostgresServer;
}

const fresh = () => {
  testPlatforms('cluster', 'down');
  testPlatforms('cluster', 'up');
};

/** The cluster, fresh (one an earlier run left is taken down first), with these Docker images loaded into it. */
export async function startCluster(images: string[]): Promise<Cluster> {
  fresh();
  return clusterWith(images);
}

async function clusterWith(images: string[]): Promise<Cluster> {
  testPlatforms('load', ...images);
  const env = clusterEnv();
  const netns = env.ATLAS_K3S_NETNS!;
  const postgres = await PostgresServer.start({ inNamespace: { netns, address: env.ATLAS_K3S_NODE_IP! } });
  return { env, netns, postgres };
}

/** The name of the run's cluster for oncePerRun: the run's global teardown takes down a cluster it started. */
export const CLUSTER_RUN = 'cluster';

/**
 * For one test file: the run's cluster (the first file to ask starts it fresh, the run's end
 * takes it down), with these Docker images loaded into it. Files share it: each works in
 * namespaces of its own.
 */
export function testCluster(images: () => Promise<string[]>): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    // The ceiling covers building k3s, when no earlier run on this machine did (.ci/run does it first).
    await oncePerRun(CLUSTER_RUN, fresh, 1_800_000);
    cluster = await clusterWith(await images());
  }, 1_800_000);
  afterAll(() => cluster?.postgres.destroy());
  return () => {
    if (!cluster) throw new Error('the cluster is not up: call testCluster() at the top of the test file');
    return cluster;
  };
}

/** Runs a program inside the cluster's namespace, with the cluster's environment added to `env`. */
export function inCluster(
  cluster: Cluster,
  file: string,
  args: string[],
  env: Record<string, string> = {},
  options: { cwd?: string; stdin?: string } = {},
): Promise<RunResult> {
  return runProcess('nsenter', [`--net=${cluster.netns}`, file, ...args], { ...process.env, ...cluster.env, ...env } as Record<string, string>, options);
}

/** A program in the cluster's namespace that must succeed: its output (else it throws with what the program said). */
async function succeed(cluster: Cluster, file: string, args: string[]): Promise<string> {
  const res = await inCluster(cluster, file, args);
  if (res.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${res.code}: ${res.stderr}${res.stdout}`);
  return res.stdout;
}
export const kubectl = (cluster: Cluster, ...args: string[]) => succeed(cluster, 'kubectl', args);
export const helm = (cluster: Cluster, ...args: string[]) => succeed(cluster, 'helm', args);

/**
 * What the chart needs in a namespace besides the database Secret: the Secret with the keyring
 * that signs the backups (made by tpctl backup rotate-key), and the backups volume, which this
 * cluster, with no storage provisioner, makes of a directory of the node's, bound to the chart's
 * claim in this namespace only. Returns that directory.
 */
export async function chartPrerequisites(cluster: Cluster, namespace: string): Promise<string> {
  const keys = path.join(tempDir('atlas-keys-'), 'backup-keys');
  const made = await tpctl(['backup', 'rotate-key'], { ATLAS_BACKUP_KEY_FILE: keys });
  if (made.code !== 0) throw new Error(`tpctl backup rotate-key: ${made.stderr}`);
  await kubectl(cluster, 'create', 'secret', 'generic', 'atlasai-tp-backup-keys', '-n', namespace, `--from-file=backup-keys=${keys}`);
  const dir = tempDir(`atlas-volume-${namespace}-`);
  chownSync(dir, 10001, 10001);
  const volume = {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `${namespace}-backups` },
    spec: {
      capacity: { storage: '20Gi' },
      accessModes: ['ReadWriteOnce'],
      hostPath: { path: dir },
      claimRef: { namespace, name: 'atlasai-tp-backups' },
    },
  };
  const applied = await inCluster(cluster, 'kubectl', ['apply', '-f', '-'], {}, { stdin: JSON.stringify(volume) });
  if (applied.code !== 0) throw new Error(`kubectl apply (the backups volume): ${applied.stderr}`);
  return dir;
}

interface PodList {
  items: {
    metadata: { name: string; deletionTimestamp?: string };
    status: { podIP?: string; conditions?: { type: string; status: string }[] };
  }[];
}

/**
 * The version each pod of the Deployment serves, asked of the pod itself (GET /api/health at its
 * address), once the rollout has settled: no pod terminating, every pod Ready.
 */
export async function servedVersions(cluster: Cluster, namespace = 'atlasai', app = 'atlasai-tp'): Promise<string[]> {
  await kubectl(cluster, 'rollout', 'status', `deployment/${app}`, '-n', namespace, '--timeout=300s');
  const settled = async () => {
    const pods = (JSON.parse(await kubectl(cluster, 'get', 'pods', '-n', namespace, '-l', `app=${app}`, '-o', 'json')) as PodList).items;
    return pods.every((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? pods : undefined;
  };
  const versions: string[] = [];
  for (const pod of await eventually('the pods to settle (none stopping, all Ready)', settled, 120)) {
    const res = await inCluster(cluster, 'curl', ['-sf', '--max-time', '5', `http://${pod.status.podIP}:3000/api/health`]);
    versions.push(res.code === 0 ? (JSON.parse(res.stdout) as { version: string }).version : `no answer from ${pod.metadata.name} (curl exit ${res.code})`);
  }
  return versions.sort();
}

/** Failed requests while `operation` runs, asked of `url` every 20 ms from inside the cluster's namespace (test/support/downtime-probe.ts). */
export async function measureInCluster(cluster: Cluster, url: string, operation: () => Promise<void>): Promise<Downtime> {
  const probe = spawn(
    'nsenter',
    [`--net=${cluster.netns}`, process.execPath, '--import', 'tsx', path.join(appRoot, 'test', 'support', 'downtime-probe.ts'), url],
    {
      env: { ...process.env, ...cluster.env },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  // Buffered: a line that comes while nobody waits is kept.
  const lines = createInterface({ input: probe.stdout })[Symbol.asyncIterator]();
  const next = async () => ((await lines.next()).value as string | undefined) ?? '';
  if ((await next()) !== 'asking') throw new Error('the downtime probe did not start');
  try {
    await operation();
  } finally {
    probe.stdin.end();
  }
  return JSON.parse(await next()) as Downtime;
}
