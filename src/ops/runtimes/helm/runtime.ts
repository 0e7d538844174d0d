import { tail, type Executor } from '../../core/exec.js';
import { KubernetesRuntime } from '../kubernetes/runtime.js';
import { type KubernetesTarget } from '../kubernetes/commands.js';
import { Refused } from '../../core/errors.js';
import type { PlatformRevision } from '../runtime.js';
import { HelmCommands, type HelmTarget } from './commands.js';

export interface HelmRevision {
  revision: number;
  status: string;
  chart: string;
  appVersion: string;
  description: string;
}

interface HelmHistoryEntry {
  revision?: number;
  status?: string;
  chart?: string;
  app_version?: string;
  description?: string;
}

/** Reads `helm history RELEASE -o json`. */
export function parseHelmHistory(json: string): HelmRevision[] {
  const entries = JSON.parse(json) as unknown;
  if (!Array.isArray(entries)) throw new Error('helm history -o json did not print a list');
  return (entries as HelmHistoryEntry[])
    .map((e) => {
      if (!Number.isInteger(e.revision)) throw new Error(`helm history -o json: an entry without a revision number: ${JSON.stringify(e).slice(0, 100)}`);
      return { revision: Number(e.revision), status: e.status ?? '', chart: e.chart ?? '', appVersion: e.app_version ?? '', description: e.description ?? '' };
    })
    .sort((a, b) => a.revision - b.revision);
}

/** The image tag in `helm get values -o json` (`null` when no values were given). */
export function imageTagOf(valuesJson: string): string | undefined {
  const values = JSON.parse(valuesJson) as { image?: { tag?: unknown } } | null;
  const tag = values?.image?.tag;
  return typeof tag === 'string' && tag ? tag : undefined;
}

/** Revisions a rollback can go to: ones that ran (a failed or pending one never served). */
const SERVED = new Set(['deployed', 'superseded']);

/**
 * The Tenant Plane as the Helm release `atlasai-tp`: switching is `helm upgrade --wait` (or,
 * to a version an earlier revision ran, `helm rollback REV --wait`); pods, version file, logs
 * and scaling are the Deployment's, through kubectl. Helm is never interrupted: a helm killed
 * mid-upgrade leaves the release `pending-upgrade`, which refuses every later upgrade, so a
 * crash ends the wait at helm's --timeout (HEALTH_TIMEOUT) instead of at once.
 */
export class HelmRuntime extends KubernetesRuntime {
  override readonly name = 'helm';
  readonly helm: HelmCommands;

  constructor(exec: Executor, target: KubernetesTarget & HelmTarget, timeoutMs: number) {
    super(exec, target, timeoutMs);
    this.helm = new HelmCommands(target);
  }

  override describe(): string {
    return `Helm release ${this.helm.t.release} in namespace ${this.helm.t.namespace}`;
  }

  override async check(thorough: boolean): Promise<void> {
    await super.check(thorough);
    await this.history();
  }

  private async history(): Promise<HelmRevision[]> {
    const result = await this.exec.run(this.helm.history());
    if (result.code !== 0) throw new Refused(`cannot read the history of ${this.describe()}: ${tail(result.stderr || result.stdout, 3)}`);
    return parseHelmHistory(result.stdout);
  }

  /** The image tag the revision's values set, else the chart's appVersion (the chart's default tag). */
  private async revisionVersion(entry: HelmRevision): Promise<string> {
    return imageTagOf((await this.exec.check(this.helm.values(entry.revision))).stdout) ?? entry.appVersion;
  }

  override async availableVersions(): Promise<string[]> {
    const served = (await this.history()).filter((e) => SERVED.has(e.status));
    return [...new Set(await Promise.all(served.map((e) => this.revisionVersion(e))))];
  }

  override async versionAtRevision(revision: number): Promise<string> {
    const entry = (await this.history()).find((e) => e.revision === revision);
    if (!entry) throw new Refused(`${this.describe()} has no revision ${revision} (helm history ${this.helm.t.release} -n ${this.helm.t.namespace})`);
    return this.revisionVersion(entry);
  }

  override async revisions(): Promise<PlatformRevision[]> {
    const entries = await this.history();
    const versions = await Promise.all(entries.map((e) => this.revisionVersion(e)));
    return entries.map((e, i) => ({ revision: e.revision, version: versions[i] ?? null, note: `${e.status}: ${e.description}` }));
  }

  /** To `revision` when named, else the newest earlier revision that ran `version`, else a new revision. */
  override async switchTo(version: string, revision?: number): Promise<void> {
    let target = revision;
    if (target === undefined) {
      for (const e of (await this.history()).slice(0, -1).reverse()) {
        if (SERVED.has(e.status) && (await this.revisionVersion(e)) === version) {
          target = e.revision;
          break;
        }
      }
    }
    const command = target ? this.helm.rollback(target, this.timeoutMs) : this.helm.upgrade(version, this.timeoutMs);
    const result = await this.exec.run(command);
    if (result.code !== 0) {
      const pods = await this.state().catch(() => undefined);
      throw new Error(`${command.argv.slice(0, 2).join(' ')} failed: ${tail(result.stderr || result.stdout, 3)}${pods?.crashed ? `; ${pods.detail}` : ''}`);
    }
    // helm --wait ends when the new pods are ready, not when the old ones have stopped.
    await this.followRollout(version);
  }
}
