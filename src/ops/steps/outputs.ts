import type { SinceBackup } from '../backup/since-backup.js';
import type { Outcome } from '../engine/outcome.js';
import { output, type Output } from '../engine/step.js';
import type { RunRecord } from '../engine/state/run-record.js';
import type { BakeReport, Baseline } from '../probes/bake.js';
import type { AgentBaseline } from '../probes/checklist.js';
import type { HealthEvidence } from '../probes/health.js';
import type { TenantPlane } from '../probes/tenant-plane.js';
import type { Candidate } from '../runtimes/runtime.js';
import type { MigrationLock, MigrationTiming } from '../../db/migrations.js';
import type { RehearsalCopy } from '../backup/rehearsal-copy.js';
import type { JourneyResult } from '../probes/journey.js';

/** A candidate once started: where the gate and the bake find it. */
export interface StartedCandidate {
  candidate: Candidate;
  tenantPlane: TenantPlane;
}

/** The target's migrations on a rehearsal's copy. */
export interface MigrationsRehearsed {
  ms: number;
  timings: MigrationTiming[];
  longestLock: (MigrationLock & { migration: string }) | null;
  /** The lock a migration may hold on the copy before it is flagged (ATLAS_REHEARSAL_LOCK_MS). */
  limitMs: number;
  overLimit: boolean;
}

/** What a rehearsal found, and its line (`rehearsal: backup restored in 4.1 s …`). */
export interface RehearsalReport {
  version: string;
  copy: { backup: string; database: string; ms: number; tables: number; rows: number };
  migrations: MigrationsRehearsed | null;
  healthyMs: number;
  journey: JourneyResult;
  line: string;
}

/** What the steps hand each other: each is produced by one step and read by later ones. */
export const outputs = {
  /** The agents online before anything changed: the checklist waits for them. */
  agentBaseline: output<AgentBaseline>('agentBaseline'),
  /** The version that ran, probed before the switch: what the bake compares with. */
  baseline: output<Baseline>('baseline'),
  candidate: output<StartedCandidate>('candidate'),
  /** The pre-upgrade backup. */
  backup: output<string>('backup', 'journal'),
  /** The backup a rollback restored (the recovery of a run killed on its way back says it may remain). */
  restored: output<string>('restored', 'journal'),
  /** What the live data held that the backup did not, and what the restore carried over. */
  sinceBackup: output<SinceBackup>('sinceBackup', 'record'),
  /** The way back put the data from before the restore back; the restored data was kept as this. */
  restoreUndone: output<string>('restoreUndone', 'record'),
  /** The health endpoint's last answer at the gate. */
  health: output<HealthEvidence>('health', 'record'),
  /** A rehearsal's copy of the database (its URL holds the password: kept within the run). */
  rehearsalCopy: output<RehearsalCopy & { name: string }>('rehearsalCopy'),
  rehearsalMigrations: output<MigrationsRehearsed>('rehearsalMigrations'),
  /** The version started on the copy, as tpctl reaches it, and how long it took to answer "ok". */
  rehearsalInstance: output<{ tenantPlane: TenantPlane; healthyMs: number }>('rehearsalInstance'),
  rehearsalJourney: output<JourneyResult>('rehearsalJourney'),
  /** What the rehearsal found; or why there was none. */
  rehearsal: output<RehearsalReport | { skipped: string }>('rehearsal', 'record'),
  /** The run rehearsed and stopped there, as asked. */
  rehearseOnly: output<boolean>('rehearseOnly', 'record'),
  /** The bake's baseline, figures and verdicts; or that it was skipped. */
  bake: output<BakeReport | { skipped: true }>('bake', 'record'),
};

type Outputs = typeof outputs;
type ValueOf<O> = O extends Output<infer T> ? T : never;

/** The run record of an upgrade or rollback: the engine's, with the outputs it keeps, typed. */
export type LifecycleRecord = RunRecord & { [K in keyof Outputs as Outputs[K]['kept'] extends 'run' ? never : K]?: ValueOf<Outputs[K]> | null };

/** The outcome of an upgrade or rollback, its record typed. */
export type LifecycleOutcome = Outcome<LifecycleRecord>;
