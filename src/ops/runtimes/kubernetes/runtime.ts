import { setTimeout as sleep } from 'node:timers/promises';
import { parseVersion } from '../../../shared/version.js';
import { tail, type Executor } from '../../core/exec.js';
import { Refused } from '../../core/errors.js';
import type { PlatformRevision, Runtime, RuntimeState } from '../runtime.js';
import { KubectlCommands, REVISION_ANNOTATION, STOPPED_REPLICAS_ANNOTATION, VERSION_ANNOTATION, type KubernetesTarget } from './commands.js';

export interface RolloutRevision {
  revision: number;
  changeCause: string | null;
}

/** Reads `kubectl rollout history deployment/…` (a header, then REVISION  CHANGE-CAUSE lines). */
export function parseRolloutHistory(text: string): RolloutRevision[] {
  return text.split('\n').flatMap((line) => {
    const m = /^\s*(\d+)\s+(.*?)\s*$/.exec(line);
    if (!m) return [];
    return [{ revision: Number(m[1]), changeCause: m[2] === '<none>' || !m[2] ? null : m[2] }];
  });
}

export type RolloutState = 'complete' | 'progressing' | 'deadline-exceeded';

/** Reads `kubectl rollout status` output (and its exit code: 1 with "exceeded its progress deadline"). */
export function parseRolloutStatus(output: string): { state: RolloutState; message: string } {
  const lines = output.trim().split('\n').filter(Boolean);
  const message = lines.at(-1) ?? '';
  if (/exceeded its progress deadline/.test(output)) return { state: 'deadline-exceeded', message: lines.find((l) => l.includes('deadline')) ?? message };
  if (/successfully rolled out/.test(message)) return { state: 'complete', message };
  return { state: 'progressing', message };
}

type Json = Record<string, unknown>;
const annotations = (o: Json | undefined) => ((o?.metadata as Json | undefined)?.annotations ?? {}) as Record<string, string>;

/** The version a pod (or a pod template) runs: our annotation, else its first container's image tag. */
function podVersion(pod: Json | undefined): string | undefined {
  const annotated = annotations(pod)[VERSION_ANNOTATION];
  if (annotated) return annotated;
  const image = ((((pod?.spec as Json | undefined)?.containers as Json[] | undefined) ?? [])[0]?.image as string | undefined) ?? '';
  const tag = image.slice(image.lastIndexOf('/') + 1).split(':')[1];
  return tag || undefined;
}

/** The version a Deployment (or a ReplicaSet) runs, from its pod template. */
export function templateVersion(object: Json): string | undefined {
  return podVersion((object.spec as Json | undefined)?.template as Json | undefined);
}

/** Each revision of the Deployment and the version it runs, from `kubectl get replicasets -o json`. */
export function revisionsOf(replicaSetList: string): { revision: number; version: string | undefined }[] {
  const list = JSON.parse(replicaSetList) as { items?: Json[] };
  return (list.items ?? [])
    .map((rs) => ({ revision: Number(annotations(rs)[REVISION_ANNOTATION]), version: templateVersion(rs) }))
    .filter((r) => Number.isInteger(r.revision))
    .sort((a, b) => a.revision - b.revision);
}

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  terminated?: { reason?: string; exitCode?: number };
}
/** The parts of a Pod (`kubectl get pods -o json`) that say whether it crashes. */
interface Pod {
  metadata?: { name?: string };
  status?: { containerStatuses?: { restartCount?: number; state?: ContainerState; lastState?: ContainerState }[] };
}

const replicasOf = (deployment: Json) => Number((deployment.spec as Json | undefined)?.replicas ?? 1);
/** The count stop() recorded; else the manifests' 3 (the Deployment was scaled to 0 by hand). */
const replicasBeforeStop = (deployment: Json) => Number(annotations(deployment)[STOPPED_REPLICAS_ANNOTATION]) || 3;

const CRASHING = new Set(['CrashLoopBackOff', 'Error', 'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError']);

/** Whether the pods of a version are crashing (or cannot start), from `kubectl get pods -o json`. */
export function podsState(podList: string, version: string): RuntimeState {
  const pods = ((JSON.parse(podList) as { items?: Pod[] }).items ?? []).filter((p) => podVersion(p as Json) === version);
  for (const pod of pods) {
    for (const c of pod.status?.containerStatuses ?? []) {
      const terminated = c.lastState?.terminated ?? c.state?.terminated;
      const reason = c.state?.waiting?.reason ?? terminated?.reason;
      if ((reason && CRASHING.has(reason)) || (c.restartCount ?? 0) > 0) {
        const message = c.state?.waiting?.message ? ` (${c.state.waiting.message})` : '';
        return {
          running: false,
          crashed: true,
          exitCode: terminated?.exitCode,
          detail: `pod ${pod.metadata?.name ?? '?'}: ${reason ?? 'restarted'}${message}, ${c.restartCount ?? 0} restarts`,
        };
      }
    }
  }
  return { running: pods.length > 0, crashed: false, exitCode: undefined, detail: `${pods.length} pod(s) of ${version}` };
}

/** The names of the pods that run another version than this one (stopping ones included), from `kubectl get pods -o json`. */
export function podsOfOtherVersions(podList: string, version: string): string[] {
  return ((JSON.parse(podList) as { items?: Pod[] }).items ?? []).filter((p) => podVersion(p as Json) !== version).map((p) => p.metadata?.name ?? '?');
}

/**
 * The Tenant Plane as a Deployment: switching patches the image and version annotations (or,
 * to a version an earlier revision ran, `kubectl rollout undo --to-revision`) and follows the
 * rollout, stopping at once when the new pods crash or the progress deadline passes.
 */
export class KubernetesRuntime implements Runtime {
  readonly name: string = 'kubernetes';
  readonly commands: KubectlCommands;

  constructor(
    protected readonly exec: Executor,
    readonly target: KubernetesTarget,
    /** How long a rollout may take. */
    protected readonly timeoutMs: number,
  ) {
    this.commands = new KubectlCommands(target);
  }

  describe(): string {
    return `deployment/${this.target.deployment} in namespace ${this.target.namespace}`;
  }

  private async deployment(): Promise<Json> {
    const result = await this.exec.run(this.commands.getDeployment());
    if (result.code !== 0) throw new Refused(`cannot read ${this.describe()}: ${result.stderr.trim() || `kubectl exited with ${result.code}`}`);
    return JSON.parse(result.stdout) as Json;
  }

  async check(_thorough: boolean): Promise<void> {
    await this.deployment();
  }

  async configuredVersion(): Promise<string> {
    const version = templateVersion(await this.deployment());
    try {
      return parseVersion(version ?? '').text;
    } catch {
      throw new Refused(`${this.describe()} runs "${version ?? '?'}", not a release version`);
    }
  }

  /** The cluster pulls images itself: an image it cannot pull shows as ErrImagePull and ends the wait. */
  async ensureAvailable(_version: string): Promise<void> {}

  private async replicaSetRevisions() {
    return revisionsOf((await this.exec.check(this.commands.replicaSets())).stdout);
  }

  async availableVersions(): Promise<string[]> {
    return [...new Set((await this.replicaSetRevisions()).flatMap((r) => (r.version ? [r.version] : [])))];
  }

  async versionAtRevision(revision: number): Promise<string> {
    const found = (await this.replicaSetRevisions()).find((r) => r.revision === revision);
    if (!found?.version)
      throw new Refused(
        `${this.describe()} has no revision ${revision} (kubectl rollout history deployment/${this.target.deployment} -n ${this.target.namespace})`,
      );
    return found.version;
  }

  async revisions(): Promise<PlatformRevision[]> {
    const [history, revisions] = await Promise.all([this.exec.check(this.commands.rolloutHistory()), this.replicaSetRevisions()]);
    return parseRolloutHistory(history.stdout).map((r) => ({
      revision: r.revision,
      version: revisions.find((x) => x.revision === r.revision)?.version ?? null,
      note: r.changeCause ?? '',
    }));
  }

  /**
   * To `revision` when named, else to the newest earlier revision that ran `version`, else a new
   * revision. A Deployment at 0 replicas (stopped for a restore) is scaled back up: a switch is
   * always followed by the health gate.
   */
  async switchTo(version: string, revision?: number): Promise<void> {
    const [revisions, deployment] = await Promise.all([this.replicaSetRevisions(), this.deployment()]);
    const current = revisions.at(-1);
    const earlier = revision ?? revisions.filter((r) => r.version === version && r !== current).at(-1)?.revision;
    await this.exec.check(earlier ? this.commands.rolloutUndo(earlier) : this.commands.setVersion(version, `tpctl: ${version}`));
    if (replicasOf(deployment) === 0) await this.exec.check(this.commands.scale(replicasBeforeStop(deployment)));
    await this.followRollout(version);
  }

  /**
   * Polls the rollout until it is complete and no pod of another version is left: a pod that is
   * stopping still answers through the Service until every node has dropped it (its preStop
   * wait is for that), and the health gate and the bake would meet the old version there. A
   * crashing new pod or a passed progress deadline ends it at once.
   */
  protected async followRollout(version: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const status = await this.exec.run(this.commands.rolloutStatus());
      const parsed = parseRolloutStatus(`${status.stdout}\n${status.stderr}`);
      let waitingFor = parsed.message;
      if (parsed.state === 'complete') {
        const others = podsOfOtherVersions((await this.exec.check(this.commands.pods())).stdout, version);
        if (others.length === 0) return;
        waitingFor = `pods of an earlier version are still stopping: ${others.join(', ')}`;
      } else {
        if (parsed.state === 'deadline-exceeded') throw new Error(parsed.message);
        if (status.code !== 0) throw new Error(`kubectl rollout status failed: ${tail(status.stderr || status.stdout, 3)}`);
        const pods = await this.state().catch(() => undefined);
        if (pods?.crashed) throw new Error(`the new pods crash: ${pods.detail}`);
      }
      if (Date.now() > deadline) throw new Error(`the rollout did not finish in ${Math.round(this.timeoutMs / 1000)} s: ${waitingFor}`);
      await sleep(1000);
    }
  }

  async state(): Promise<RuntimeState> {
    const [version, pods] = await Promise.all([this.configuredVersion(), this.exec.check(this.commands.pods())]);
    return podsState(pods.stdout, version);
  }

  async runningVersion(): Promise<string | undefined> {
    const result = await this.exec.run(this.commands.versionFile());
    return result.code === 0 ? result.stdout.trim() : undefined;
  }

  async logsTail(lines: number): Promise<string> {
    return (await this.exec.run(this.commands.logs(lines))).stdout.trimEnd();
  }

  /** Scales to zero, remembering the replica count on the Deployment for start(). */
  async stop(): Promise<void> {
    const replicas = replicasOf(await this.deployment());
    // Stopping twice must not record zero as the count to come back to.
    if (replicas > 0) await this.exec.check(this.commands.stop(replicas));
  }

  async start(): Promise<void> {
    await this.exec.check(this.commands.scale(replicasBeforeStop(await this.deployment())));
  }
}
