import type { CommandResult } from '../core/exec.js';
import { Refused } from '../core/errors.js';
import type { ReleaseMetadata } from '../core/release-metadata.js';

/** What an upgrade needs to know of the thing running the Tenant Plane, to fail fast. */
export interface RuntimeState {
  /** The process or container is up (it may not be healthy yet). */
  running: boolean;
  /** It has exited or is being restarted after a crash: waiting for health is pointless. */
  crashed: boolean;
  exitCode: number | undefined;
  /** What the runtime says, for the run log: `restarting (exit 1)`, `running`. */
  detail: string;
}

/**
 * One platform the Tenant Plane runs on (Docker Compose, Kubernetes, Helm, a local process).
 * Drivers build their commands as data and run them through the one Executor; the actions
 * (upgrade, rollback) use only this interface.
 */
export interface Runtime {
  readonly name: string;
  /** Where, for messages: `docker-compose.yml service tenant-plane`. */
  describe(): string;
  /**
   * Checks the set-up can be worked on (files parse, tools present); `thorough` also has the
   * platform validate its whole configuration (slower). Throws Refused.
   */
  check(thorough: boolean): Promise<void>;
  /** The version it is configured to run. */
  configuredVersion(): Promise<string>;
  /** Makes the version available (image present or pulled, release unpacked); throws Refused when it cannot. */
  ensureAvailable(version: string): Promise<void>;
  /** Versions available without a download (for finding a rollback target). */
  availableVersions(): Promise<string[]>;
  /**
   * Configures the version and (re)starts the Tenant Plane on it; on platforms with numbered
   * revisions, `revision` names the one to go back to (it runs `version`).
   */
  switchTo(version: string, revision?: number): Promise<void>;
  state(): Promise<RuntimeState>;
  /** The version file inside what runs (`cat /app/.atlas-version`). */
  runningVersion(): Promise<string | undefined>;
  logsTail(lines: number): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * What the release of `version` says about itself (its release.json), read without starting
   * it; undefined when it carries none (built before releases did). Absent where the release is
   * not on this host (Kubernetes, Helm: the cluster pulls the image).
   */
  releaseMetadata?(version: string): Promise<ReleaseMetadata | undefined>;
  /**
   * The answer of the release's own `tpctl migrate status --json` against the database at
   * `dbUrl`: its code decides whether it can run on that schema. Absent where it cannot be run
   * from here (Kubernetes, Helm).
   */
  targetSchemaStatus?(version: string, dbUrl: string): Promise<string>;
  /**
   * Switching without a moment of downtime, where this set-up can (Compose with the proxy, the
   * local runtime on PostgreSQL); undefined where it cannot, and absent where the platform does
   * it itself (a Kubernetes rolling update). Throws Refused when it is set up but not working.
   */
  candidates?(): Promise<Candidates | undefined>;
  /**
   * Running a version apart from production (a rehearsal's): on a copy of the database, at an
   * address of its own, with no traffic; or why this set-up cannot. Absent where it cannot be done
   * from here (Kubernetes, Helm).
   */
  apart?(): Promise<Apart | { cannot: string }>;
  /** Platforms with numbered revisions (Kubernetes, Helm): the version a revision runs. */
  versionAtRevision?(revision: number): Promise<string>;
  /** Platforms with numbered revisions: each, oldest first, with the version it runs. */
  revisions?(): Promise<PlatformRevision[]>;
}

/** A version running beside the one that serves, without its traffic: what the gate checks. */
export interface Candidate extends Pick<Runtime, 'state' | 'runningVersion' | 'logsTail'> {
  /** Its own health endpoint, not the public one. */
  readonly healthUrl: string;
}

/** Start a candidate, check it, then move the traffic: the old version serves until then. */
export interface Candidates {
  /** What moves the traffic, for messages. */
  describe(): string;
  /** Configures `version` and starts it beside what serves, which is left alone. */
  start(version: string): Promise<Candidate>;
  /**
   * Moves the traffic to the candidate of `version`; what served finishes its requests in flight
   * and stops. Where the platform then runs `version` anew as itself (Compose's service), that
   * waits up to `timeoutMs` to be healthy before it takes the traffic back from the candidate.
   */
  promote(version: string, timeoutMs: number): Promise<void>;
  /**
   * Stops and removes the candidate (one a killed run left behind too), with the traffic on
   * what serves; with `configured`, that version is configured again. Says whether there was one.
   */
  discard(configured?: string): Promise<boolean>;
}

/** A version run apart from production, on a copy of its database: what a rehearsal starts. */
export interface Apart {
  /** `version`'s own `tpctl migrate up --json` against the database at `dbUrl`: its answer; Refused, with its error, when a migration fails. */
  migrate(version: string, dbUrl: string): Promise<string>;
  /**
   * Starts `version` on the database at `dbUrl`, at an address of its own. Its webhooks may go to
   * internal addresses only at `webhookAllow` (the journey's receiver).
   */
  start(version: string, dbUrl: string, webhookAllow: string): Promise<Candidate>;
  /** Stops and removes what `start` started, or what a killed run left. Says whether there was one. */
  remove(): Promise<boolean>;
}

export interface PlatformRevision {
  revision: number;
  version: string | null;
  /** The change cause (Kubernetes), or status and description (Helm). */
  note: string;
}

/** The output of a release's `tpctl migrate status --json` (exit 0: it can run, 1: it cannot); anything else is refused. */
export function migrateStatusOutput(result: CommandResult, version: string): string {
  if (result.code === 0 || result.code === 1) return result.stdout;
  const why = result.stderr.trim().split('\n').at(-1) || (result.signal ? `killed by ${result.signal}` : `exit ${result.code}`);
  throw new Refused(`${version}'s own tpctl migrate status could not check the database: ${why}`);
}

/** The last line a release's own tpctl printed on failure, without its `tpctl <command>: ` prefix: what went wrong, in its words. */
export function releaseError(result: CommandResult, what: string): string {
  const last = result.stderr
    .trim()
    .split('\n')
    .at(-1)
    ?.replace(/^tpctl [a-z -]+: /, '');
  return last || `${what} ended with ${result.signal ? `signal ${result.signal}` : `exit ${result.code}`}`;
}

/** What a wait for health asks the platform: the crash it shows, or undefined while there is none. */
export const crashOf = (running: Pick<Runtime, 'state'>) => async (): Promise<string | undefined> => {
  const state = await running.state();
  return state.crashed ? state.detail : undefined;
};
