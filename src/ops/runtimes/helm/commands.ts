import type { Command } from '../../core/exec.js';

export interface HelmTarget {
  release: string;
  namespace: string;
  /** The chart to upgrade with: a directory (deploy/helm/atlasai-tp) or a packaged chart. */
  chart: string;
}

/** The helm commands of the Helm driver, as data. */
export class HelmCommands {
  constructor(readonly t: HelmTarget) {}

  history = () => ({ argv: ['helm', 'history', this.t.release, '-n', this.t.namespace, '-o', 'json'] });
  /** The values the operator gave at a revision (not the chart's defaults). */
  values = (revision: number) => ({ argv: ['helm', 'get', 'values', this.t.release, '-n', this.t.namespace, '--revision', String(revision), '-o', 'json'] });
  /**
   * A new revision of `version`: the operator's values are kept and the chart's new defaults
   * taken (--reset-then-reuse-values, Helm 3.14+; --reuse-values would drop values a newer
   * chart adds); the description names the version for `helm history`.
   */
  upgrade = (version: string, timeoutMs: number): Command => ({
    argv: [
      'helm',
      'upgrade',
      this.t.release,
      this.t.chart,
      '-n',
      this.t.namespace,
      '--install',
      '--reset-then-reuse-values',
      '--set-string',
      `image.tag=${version}`,
      '--set-string',
      `changeCause=tpctl: ${version}`,
      '--description',
      `tenant-plane ${version}`,
      '--wait',
      '--timeout',
      `${Math.ceil(timeoutMs / 1000)}s`,
    ],
    timeoutMs: timeoutMs + 60_000,
  });
  rollback = (revision: number, timeoutMs: number): Command => ({
    argv: ['helm', 'rollback', this.t.release, String(revision), '-n', this.t.namespace, '--wait', '--timeout', `${Math.ceil(timeoutMs / 1000)}s`],
    timeoutMs: timeoutMs + 60_000,
  });
}
