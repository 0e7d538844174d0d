import path from 'node:path';
import type { Command } from '../../core/exec.js';
import type { RuntimeState } from '../runtime.js';
import type { ComposeCli } from './files.js';

/**
 * The scripts' ATLAS_VERSION names the version a run goes to: Compose must not read it as the
 * deployment's own variable (a file with `${ATLAS_VERSION}` would then seem to run the target).
 */
export const COMPOSE_ENV = { ATLAS_VERSION: undefined };
const CANDIDATE_LABEL = 'org.atlasai.candidate=true';
const APART_LABEL = 'org.atlasai.rehearsal=true';

/** The commands of the Compose driver, as data: what they are is tested without Docker. */
export class ComposeCommands {
  /** Compose's project directory: the first file's (where .env is read and labels point). */
  readonly projectDir: string;

  constructor(
    readonly cli: ComposeCli,
    readonly files: readonly string[],
    readonly service: string,
  ) {
    this.projectDir = path.dirname(files[0]!);
  }

  private compose(...args: string[]): Command {
    return this.inProject(undefined, args);
  }

  private inProject(project: string | undefined, args: string[]): Command {
    return {
      argv: [...this.cli, ...(project ? ['-p', project] : []), ...this.files.flatMap((f) => ['-f', f]), ...args],
      cwd: this.projectDir,
      env: COMPOSE_ENV,
    };
  }

  /** The merged configuration (overrides, merge keys, variables resolved): what Compose will run. */
  config = () => this.compose('config');
  /** Recreates only the Tenant Plane (--no-deps: the database is left alone). */
  up = () => this.compose('up', '-d', '--no-deps', this.service);
  stop = () => this.compose('stop', this.service);
  start = () => this.compose('up', '-d', '--no-deps', this.service);
  logs = (lines: number) => this.compose('logs', '--no-color', '--tail', String(lines), this.service);

  /**
   * The service's container, found by the labels Compose (v1 and v2) puts on it: the docker CLI
   * answers in milliseconds where Compose v1 takes a Python start-up (~0.3 s) per call, which
   * matters while polling a new container.
   */
  containerId = (): Command => ({
    argv: ['docker', 'ps', '-aq', ...this.labelled(`com.docker.compose.service=${this.service}`, 'com.docker.compose.oneoff=False')],
  });
  /** The candidates of this deployment: one-off containers of the service, labelled by tpctl. */
  candidateIds = (): Command => ({ argv: ['docker', 'ps', '-aq', ...this.labelled(CANDIDATE_LABEL)] });
  /** What a rehearsal ran apart for this deployment (the project's directory labels it). */
  apartIds = (): Command => ({ argv: ['docker', 'ps', '-aq', ...this.labelled(APART_LABEL)] });
  /**
   * A version apart, for a rehearsal: the image of `version` with the service's environment (the
   * values travel in the environment of the docker CLI, never in argv: `-e NAME`), on the host's
   * network at `port`, labelled for this deployment.
   */
  runApart = (image: string, names: readonly string[], env: Record<string, string>): Command => ({
    argv: [
      'docker',
      'run',
      '-d',
      '--network',
      'host',
      '-l',
      APART_LABEL,
      '-l',
      `com.docker.compose.project.working_dir=${this.projectDir}`,
      ...names.flatMap((n) => ['-e', n]),
      image,
    ],
    env,
    timeoutMs: 120_000,
  });
  private labelled = (...labels: string[]) =>
    [`com.docker.compose.project.working_dir=${this.projectDir}`, ...labels].flatMap((l) => ['--filter', `label=${l}`]);
  /**
   * A candidate: a one-off container of the service (its configuration, the new tag), on the
   * port where the proxy expects it; named when the proxy finds it by name (a bridge network).
   */
  // Under a project of its own: Compose v1 links a one-off container to its service's
  // containers, which host networking refuses.
  runCandidate = (project: string, port: number, name: string | undefined): Command =>
    this.inProject(`${project}-candidate`, [
      'run',
      '-d',
      '--no-deps',
      '-l',
      CANDIDATE_LABEL,
      '-e',
      `ATLAS_PORT=${port}`,
      ...(name ? ['--name', name] : []),
      this.service,
    ]);
  static projectOf = (container: string): Command => ({
    argv: ['docker', 'inspect', '--format', '{{index .Config.Labels "com.docker.compose.project"}}', container],
  });
  static remove = (container: string): Command => ({ argv: ['docker', 'rm', '-f', container] });
  static logsOf = (container: string, lines: number): Command => ({ argv: ['docker', 'logs', '--tail', String(lines), container] });
  static addressOf = (container: string): Command => ({
    argv: ['docker', 'inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', container],
  });
  /** `docker compose exec tenant-plane cat /app/.atlas-version`, on the container found above. */
  static execIn = (container: string, ...command: string[]): Command => ({ argv: ['docker', 'exec', container, ...command] });
  static inspectState = (container: string): Command => ({ argv: ['docker', 'inspect', '--format', '{{.RestartCount}} {{json .State}}', container] });
  static imagePresent = (image: string): Command => ({ argv: ['docker', 'image', 'inspect', '--format', '{{.Id}}', image] });
  static pull = (image: string): Command => ({ argv: ['docker', 'pull', image], timeoutMs: 300_000 });
  static imageTags = (repository: string): Command => ({ argv: ['docker', 'images', repository, '--format', '{{.Tag}}'] });
  static imageLabels = (image: string): Command => ({ argv: ['docker', 'image', 'inspect', '--format', '{{json .Config.Labels}}', image] });
  /**
   * The image's own `tpctl migrate status --json` in a one-off container on the host network,
   * against the same database (DB_URL travels in the environment, never in argv).
   */
  static migrateStatus = (image: string, dbUrl: string): Command => ComposeCommands.imageTpctl(image, dbUrl, ['migrate', 'status', '--json'], 120_000);
  /** The image's own `tpctl migrate up --json`, the same way: a rehearsal's migrations on its copy. */
  static migrateUp = (image: string, dbUrl: string): Command => ComposeCommands.imageTpctl(image, dbUrl, ['migrate', 'up', '--json'], 3_600_000);
  private static imageTpctl = (image: string, dbUrl: string, args: string[], timeoutMs: number): Command => ({
    argv: ['docker', 'run', '--rm', '--network', 'host', '-e', 'DB_URL', image, 'node', '/app/dist/cli/tpctl.js', ...args],
    env: { DB_URL: dbUrl },
    timeoutMs,
  });
}

/** Reads `docker inspect --format '{{.RestartCount}} {{json .State}}'`. */
export function parseContainerState(output: string): RuntimeState {
  const space = output.indexOf(' ');
  const restarts = Number(output.slice(0, space));
  const s = JSON.parse(output.slice(space + 1)) as { Status?: string; Running?: boolean; Restarting?: boolean; ExitCode?: number; Error?: string };
  // A crash-looping container is sometimes caught between two restarts, running: a new
  // container that has restarted at all has crashed.
  const crashed = Boolean(s.Restarting) || s.Status === 'exited' || s.Status === 'dead' || restarts > 0;
  const times = `${restarts} time${restarts === 1 ? '' : 's'}`;
  const detail = s.Restarting
    ? `restarting after exit ${s.ExitCode ?? '?'} (restarted ${times})`
    : s.Status === 'exited' || s.Status === 'dead'
      ? `exited with ${s.ExitCode ?? '?'}`
      : restarts > 0
        ? `crash-looping: restarted ${times}`
        : (s.Status ?? 'unknown');
  return {
    running: Boolean(s.Running) && !s.Restarting,
    crashed,
    exitCode: s.Restarting || s.Status === 'exited' || s.Status === 'dead' ? s.ExitCode : undefined,
    detail: `${detail}${s.Error ? `: ${s.Error}` : ''}`,
  };
}
