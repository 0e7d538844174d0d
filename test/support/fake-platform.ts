import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Check } from '../../src/ops/probes/checklist.js';
import type { DatabaseWork } from '../../src/ops/backup/database-work.js';
import { stateFiles } from '../../src/ops/engine/state/files.js';
import type { HealthEvidence } from '../../src/ops/probes/health.js';
import { readJournal, type Phase } from '../../src/ops/engine/state/journal.js';
import { writePreviousVersion, type PreviousVersion } from '../../src/ops/engine/state/previous-version.js';
import type { StepName } from '../../src/ops/engine/step.js';
import { Refused } from '../../src/ops/core/errors.js';
import type { ReleaseMetadata } from '../../src/ops/core/release-metadata.js';
import type { Apart, Candidate, Candidates, Runtime, RuntimeState } from '../../src/ops/runtimes/runtime.js';
import type { JourneyResult } from '../../src/ops/probes/journey.js';
import type { TenantPlane } from '../../src/ops/probes/tenant-plane.js';

/**
 * A platform the Tenant Plane runs on, as an in-memory state machine over a temporary data
 * directory: the runtime (what is configured, what runs), the Tenant Plane as tpctl sees it
 * over HTTP (health, the checklist), and its database (the data is a label; backups are files).
 * It has the interfaces of the real drivers, so the lifecycle engine runs on it unchanged, in
 * milliseconds, with no Docker and no PostgreSQL.
 *
 * Faults are injected by step: the fake reads the engine's journal on every call, so it knows
 * the step (and phase) under way. `fail`: every call during that step fails (a query answers
 * badly, an action throws; a switch that fails has already changed the configuration, as a
 * Compose file edited before `up` fails). `die-before` / `die-after`: the first call during
 * that step never returns, before or after its effect, as when the process is killed there.
 */
export type FaultKind = 'fail' | 'die-before' | 'die-after';

export interface Fault {
  step: StepName;
  phase: Phase;
  how: FaultKind;
}

interface ArmedFault extends Fault {
  /** The run (its log file, one a run) and step it fired in; it fires in one step of one run only. */
  firedIn?: string;
  spent?: boolean;
  /** The run whose journal was there when it was injected (a killed run's): never it. */
  notIn: string | undefined;
}

export const DEAD_PID = 2 ** 22 + 1; // above Linux's highest pid_max: no process has it

const CANDIDATE_URL = 'http://candidate.fake.invalid/api/health';
const APART_URL = 'http://apart.fake.invalid/api/health';

export class FakePlatform implements Runtime, TenantPlane {
  readonly name = 'fake';
  readonly healthUrl = 'http://fake.invalid/api/health';
  configured: string;
  running: string | undefined;
  /** A version started beside the one that serves (with `beside`): it answers on its own URL only. */
  candidate: string | undefined;
  /** Zero-downtime switching, as Compose with the proxy and the local runtime have it (option `beside`). */
  readonly candidates: (() => Promise<Candidates>) | undefined;
  stopped = false;
  /** Versions that crash at start. */
  readonly broken = new Set<string>();
  /** Versions that answer health as another version (a mislabelled build). */
  readonly answersAs = new Map<string, string>();
  /** Versions that answer, but slowly: 50 ms a request instead of 1. */
  readonly slow = new Set<string>();
  /** Release metadata by version; a version without any was built before releases carried it. */
  readonly metadata = new Map<string, ReleaseMetadata>();
  /** Versions that cannot run on the schema as it is (a newer version dropped a column under a waiver). */
  readonly schemaBreaks = new Set<string>();
  /** Versions whose migrations fail on this data (a unique index over duplicated values): found on a rehearsal's copy. */
  readonly failOnData = new Set<string>();
  /** Versions whose smoke journey fails on a copy (a read answers 500). */
  readonly journeyFails = new Set<string>();
  /** The version a rehearsal started apart, on a copy; undefined when none runs. */
  apartRunning: string | undefined;
  /** The steps during which the platform was called. */
  readonly calledIn = new Set<StepName>();
  /** Calls that changed what runs: a run that made none left it untouched. */
  touched = 0;
  private faults: ArmedFault[] = [];
  /** Resolves when a `die-*` fault fires: the run is gone from then on. */
  died: Promise<Fault>;
  private onDeath!: (f: Fault) => void;

  readonly database: FakeDatabase;
  /** The file an upgrade records the version it leaves in, written through the platform's faults too. */
  readonly previousVersion: PreviousVersion;

  constructor(
    readonly dataDir: string,
    version: string,
    readonly versions: string[],
    options: { embedded?: boolean; checklist?: boolean; beside?: boolean } = {},
  ) {
    this.candidates = options.beside ? async () => this.besides : undefined;
    this.configured = version;
    this.running = version;
    this.database = new FakeDatabase(this, options.embedded ?? false);
    const file = stateFiles(dataDir).previous;
    this.previousVersion = { file, write: (v) => this.call({ mutates: true }, () => writePreviousVersion(file, v), fail('previous-version')) };
    this.died = this.nextDeath();
    if (options.checklist === false) this.checklist = undefined;
  }

  private nextDeath(): Promise<Fault> {
    return new Promise((resolve) => (this.onDeath = resolve));
  }

  /** Arms faults for the runs to come (not for a killed run whose journal is still there). */
  inject(...faults: Fault[]): void {
    // A run is known by its log file, not by its start: a run killed in its first step and the
    // next run can start in the same millisecond.
    const notIn = readJournal(stateFiles(this.dataDir).journal)?.log;
    this.faults.push(...faults.map((f) => ({ ...f, notIn })));
    this.died = this.nextDeath();
  }

  /** Faults that never fired (a test that injects one expects it to). */
  unfired(): Fault[] {
    return this.faults.filter((f) => !f.firedIn);
  }

  get healthy(): boolean {
    return this.running !== undefined && !this.stopped;
  }

  /** Every call goes through here: it finds the step under way and applies a fault armed for it. */
  async call<T>(what: { mutates: boolean }, effect: () => T, failure: () => T): Promise<T> {
    const journal = readJournal(stateFiles(this.dataDir).journal);
    const where = journal ? `${journal.log} ${journal.step} ${journal.phase}` : undefined;
    if (journal) this.calledIn.add(journal.step);
    for (const f of this.faults) if (f.firedIn && f.firedIn !== where) f.spent = true;
    const fault =
      journal &&
      this.faults.find(
        (f) => !f.spent && f.notIn !== journal.log && f.step === journal.step && f.phase === journal.phase && (!f.firedIn || f.firedIn === where),
      );
    if (!fault) return effect();
    fault.firedIn = where;
    if (fault.how === 'fail') return failure();
    fault.spent = true;
    if (fault.how === 'die-after' && what.mutates) effect();
    this.onDeath(fault);
    return new Promise<T>(() => {});
  }

  // The runtime.
  describe = () => 'the fake platform';
  check = () => this.call({ mutates: false }, () => undefined, fail('check'));
  configuredVersion = () => this.call({ mutates: false }, () => this.configured, fail('configuredVersion'));
  ensureAvailable = (version: string) =>
    this.call(
      { mutates: false },
      () => {
        if (!this.versions.includes(version)) throw new Refused(`version ${version} is not available`);
      },
      fail('ensureAvailable'),
    );
  availableVersions = async () => this.versions;
  switchTo = (version: string) =>
    this.call(
      { mutates: true },
      () => this.start_(version),
      () => {
        this.touched++;
        this.configured = version;
        this.running = undefined;
        throw new Error(`fault: switchTo ${version} changed the configuration, then failed`);
      },
    );
  stop = () =>
    this.call(
      { mutates: true },
      () => {
        this.touched++;
        this.stopped = true;
        this.running = undefined;
      },
      fail('stop'),
    );
  start = () => this.call({ mutates: true }, () => this.start_(this.configured), fail('start'));
  state = () =>
    this.call(
      { mutates: false },
      (): RuntimeState => {
        const crashed = !this.stopped && this.broken.has(this.configured);
        return {
          running: this.healthy,
          crashed,
          exitCode: crashed ? 1 : undefined,
          detail: crashed ? `${this.configured} exited with 1` : this.stopped ? 'stopped' : 'running',
        };
      },
      (): RuntimeState => ({ running: false, crashed: true, exitCode: 1, detail: 'fault: crashed' }),
    );
  runningVersion = () =>
    this.call(
      { mutates: false },
      () => this.running,
      () => undefined,
    );
  releaseMetadata = (version: string) => this.call({ mutates: false }, () => this.metadata.get(version), fail('releaseMetadata'));
  targetSchemaStatus = (version: string) =>
    this.call(
      { mutates: false },
      () =>
        JSON.stringify({
          version,
          changed: [],
          breaking: this.schemaBreaks.has(version) ? [{ name: '0900_drop_nickname.sql', rules: ['drop-column'], appliedBy: this.configured }] : [],
        }),
      fail('targetSchemaStatus'),
    );
  logsTail = async () => '';

  /** A candidate that crashes at start answers nothing, as on the real runtimes. */
  private get candidateAnswers(): string | undefined {
    return this.candidate && !this.broken.has(this.candidate) ? this.candidate : undefined;
  }

  private readonly besides: Candidates = {
    describe: () => 'beside it',
    start: (version) =>
      this.call(
        { mutates: true },
        (): Candidate => {
          this.touched++;
          this.configured = version;
          this.candidate = version;
          return {
            healthUrl: CANDIDATE_URL,
            state: () =>
              this.call(
                { mutates: false },
                (): RuntimeState => {
                  const crashed = this.candidate === undefined || this.broken.has(this.candidate);
                  return { running: !crashed, crashed, exitCode: crashed ? 1 : undefined, detail: crashed ? `candidate ${version} exited with 1` : 'running' };
                },
                (): RuntimeState => ({ running: false, crashed: true, exitCode: 1, detail: 'fault: crashed' }),
              ),
            runningVersion: () =>
              this.call(
                { mutates: false },
                () => this.candidateAnswers,
                () => undefined,
              ),
            logsTail: async () => '',
          };
        },
        () => {
          this.touched++;
          this.configured = version;
          throw new Error(`fault: the candidate ${version} was configured, then did not start`);
        },
      ),
    promote: (version) =>
      this.call(
        { mutates: true },
        () => {
          if (this.candidateAnswers !== version) throw new Error(`no healthy candidate ${version} to promote`);
          this.touched++;
          this.running = version;
          this.candidate = undefined;
        },
        fail('promote'),
      ),
    discard: (configured) =>
      this.call(
        { mutates: true },
        () => {
          const had = this.candidate !== undefined;
          this.candidate = undefined;
          if (configured) this.configured = configured;
          return had;
        },
        fail('discard'),
      ),
  };

  /** A rehearsal's versions apart: on a copy, so nothing they do touches production (`touched`). */
  apart = async (): Promise<Apart> => ({
    migrate: (version: string, dbUrl: string) =>
      this.call(
        { mutates: true },
        () => {
          if (!this.database.copies.has(new URL(dbUrl).pathname.slice(1))) throw new Error(`no copy at ${dbUrl}`);
          if (this.failOnData.has(version)) {
            throw new Refused(
              'migration 0901_unique_title.sql failed at statement 1 of 1 (CREATE UNIQUE INDEX incidents_title_key ON incidents (title)) and was rolled back: could not create unique index "incidents_title_key" (Key (title)=(Disk full) is duplicated.)',
            );
          }
          return JSON.stringify({
            timings: [{ name: '0901_priority.sql', durationMs: 3, lock: { mode: 'ACCESS EXCLUSIVE', relation: 'incidents', heldMs: 2 } }],
          });
        },
        fail('apart migrate'),
      ),
    start: (version: string) =>
      this.call(
        { mutates: true },
        (): Candidate => {
          this.apartRunning = version;
          // A version that crashes at start crashes on a copy too.
          const crashed = this.broken.has(version);
          return {
            healthUrl: APART_URL,
            state: async () => ({
              running: !crashed,
              crashed,
              exitCode: crashed ? 1 : undefined,
              detail: crashed ? `${version} apart exited with 1` : 'running apart',
            }),
            runningVersion: async () => version,
            logsTail: async () => '',
          };
        },
        fail('apart start'),
      ),
    remove: () =>
      this.call(
        { mutates: true },
        () => {
          const had = this.apartRunning !== undefined;
          this.apartRunning = undefined;
          return had;
        },
        fail('apart remove'),
      ),
  });

  private journeyOf(version: string): JourneyResult {
    const ok = !this.journeyFails.has(version);
    const checks = [
      { name: 'health', ok: true, evidence: 'ok' },
      { name: 'GET /api/incidents', ok, evidence: ok ? 'HTTP 200' : 'GET /api/incidents: HTTP 500: internal error' },
    ];
    return { passed: checks.filter((c) => c.ok).length, total: checks.length, checks };
  }

  /** The candidate, over HTTP: health and the checklist answer for it; and a version apart, on a copy. */
  at = (url: string): TenantPlane => {
    if (url === APART_URL) {
      const answers = () => (this.apartRunning && !this.broken.has(this.apartRunning) ? this.apartRunning : undefined);
      return {
        ...this,
        healthUrl: url,
        health: () => this.call({ mutates: false }, () => this.evidence(answers()), fail('apart health')),
        journey: (version) => this.call({ mutates: false }, () => this.journeyOf(version), fail('apart journey')),
      };
    }
    if (url !== CANDIDATE_URL) return this;
    const answers = () => this.candidateAnswers;
    return {
      ...this,
      healthUrl: url,
      health: () => this.call({ mutates: false }, () => this.evidence(answers()), fail('candidate health')),
      checklist: this.checklist && ((version) => this.call({ mutates: false }, () => this.checks(answers(), version), fail('candidate checklist'))),
      probe: (route, version) => this.call({ mutates: false }, () => this.probed(route, answers(), version), fail('candidate probe')),
    };
  };

  private evidence(answering: string | undefined): HealthEvidence {
    const at = new Date().toISOString();
    if (!answering) return { at, status: undefined, body: undefined, error: 'ECONNREFUSED' };
    return { at, status: 200, body: JSON.stringify({ status: 'ok', version: this.answersAs.get(answering) ?? answering }), error: undefined };
  }

  private checks(answering: string | undefined, version: string): { ok: boolean; checks: Check[] } {
    const checks: Check[] = [{ name: 'version', ok: answering === version, evidence: `shows version ${answering ?? '?'}` }];
    return { ok: checks.every((c) => c.ok), checks };
  }

  private probed(route: string, answering: string | undefined, version: string | undefined) {
    const ok = answering !== undefined && (version === undefined || answering === version);
    return { route, ok, ms: answering && this.slow.has(answering) ? 50 : 1, detail: ok ? 'ok' : `not answering for ${version ?? 'any version'}` };
  }

  private start_(version: string): void {
    this.touched++;
    this.configured = version;
    this.stopped = false;
    this.running = this.broken.has(version) ? undefined : version;
  }

  // The Tenant Plane over HTTP.
  health = () =>
    this.call(
      { mutates: false },
      () => this.evidence(this.healthy ? this.running : undefined),
      (): HealthEvidence => ({ at: new Date().toISOString(), status: undefined, body: undefined, error: 'fault: ECONNREFUSED' }),
    );
  checklist: TenantPlane['checklist'] = (version: string) =>
    this.call(
      { mutates: false },
      () => this.checks(this.running, version),
      () => ({ ok: false, checks: [{ name: 'login', ok: false, evidence: 'fault: HTTP 401' }] }),
    );
  onlineAgents = () => this.call({ mutates: false }, () => ({ agents: { a1: 'edge-1' }, since: new Date() }), fail('onlineAgents'));
  readonly probeRoutes = ['GET /api/health', 'GET /api/incidents'];
  probe = (route: string, version: string | undefined) =>
    this.call(
      { mutates: false },
      () => this.probed(route, this.healthy ? this.running : undefined, version),
      () => ({ route, ok: false, ms: 1, detail: 'fault: HTTP 500' }),
    );
  counters = () =>
    this.call(
      { mutates: false },
      () => ({ errors5xx: 0, webhookFailures: 0, agentsOnline: 1 }),
      () => undefined,
    );
  webhooks = async () => [];
  testWebhook = async () => ({ ok: true, detail: 'delivered' });
  tell = async () => undefined;
  journey = async (): Promise<JourneyResult> => {
    throw new Error('the journey runs against a version apart, never against production');
  };
}

const fail = (what: string) => () => {
  throw new Error(`fault: ${what} failed`);
};

/** The database of the fake platform: `data` says whose it is; a restore sets the live data aside. */
export class FakeDatabase implements DatabaseWork {
  data = 'live';
  setAside: string[] = [];
  /** The rehearsals' copies on the server, by name. */
  readonly copies = new Set<string>();
  /** The backups proven to restore, in order. */
  readonly proven: string[] = [];
  get backupDir(): string {
    return this.platform.dataDir;
  }
  get dbUrl(): string | undefined {
    return this.embedded ? undefined : 'postgresql://fake.invalid/atlas';
  }
  private backups = 0;

  constructor(
    private readonly platform: FakePlatform,
    readonly embedded: boolean,
  ) {}

  backup = (appVersion: string) =>
    this.platform.call(
      { mutates: true },
      () => {
        // One process at a time may open the embedded database: the Tenant Plane must be stopped.
        if (this.embedded && !this.platform.stopped) throw new Error('the embedded database is in use by the Tenant Plane');
        const file = path.join(this.platform.dataDir, `db-backup-${appVersion}-${++this.backups}.sql.gz`);
        writeFileSync(file, this.data);
        return { file, detail: file };
      },
      fail('backup'),
    );
  checkBackup = (file: string) =>
    this.platform.call(
      { mutates: false },
      () => {
        if (!existsSync(file)) throw new Refused(`${file} does not exist`);
      },
      fail('checkBackup'),
    );
  restore = (file: string, keepNew: boolean) =>
    this.platform.call(
      { mutates: true },
      () => {
        if (!this.platform.stopped) throw new Refused('the Tenant Plane is still connected to this database');
        this.setAside.push(this.data);
        this.data = `restored from ${path.basename(file)}${keepNew ? ', with the rows created since' : ''}`;
        // What the live data held beyond the backup: one incident created since.
        const incidents = {
          table: 'incidents',
          kind: 'compared' as const,
          created: 1,
          changed: 0,
          deleted: 0,
          columnsNotInBackup: [],
          keys: { created: ['7'], changed: [], deleted: [] },
        };
        const carried = keepNew ? [{ table: 'incidents', carried: 1, columnsLeftBehind: [], leftOut: [], sequences: {} }] : undefined;
        return { sinceBackup: { tables: [incidents], carried, compareMs: 0, carryMs: 0 }, detail: 'restored' };
      },
      fail('restore'),
    );
  rehearsalCopy = (name: string, from: string) =>
    this.platform.call(
      { mutates: true },
      () => {
        this.copies.add(name);
        return {
          url: `postgresql://fake.invalid/${name}`,
          backup: from === 'now' ? 'the live data' : from,
          tables: 1,
          rows: 1,
          ms: 1,
          room: 'room not checked',
        };
      },
      fail('rehearsalCopy'),
    );
  dropRehearsalCopy = (name: string) => this.platform.call({ mutates: true }, () => this.copies.delete(name), fail('dropRehearsalCopy'));
  recordProven = (backup: string) => this.platform.call({ mutates: true }, () => void this.proven.push(backup), fail('recordProven'));
  undoRestore = () =>
    this.platform.call(
      { mutates: true },
      () => {
        if (!this.platform.stopped) throw new Refused('the Tenant Plane is still connected to this database');
        const back = this.setAside.pop();
        if (back === undefined) throw new Refused('no restore to undo');
        const restored = this.data;
        this.data = back;
        return { putBack: { kind: 'schema' as const, name: back }, restored: { kind: 'schema' as const, name: restored } };
      },
      fail('undoRestore'),
    );
}
