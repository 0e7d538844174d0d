import type { SinceBackup } from '../backup/since-backup.js';
import type { Outcome } from '../engine/outcome.js';
import { output, type Output } from '../engine/step.js';
import type { RunRecord } from '../engine/state/run-record.js';
import type { BakeReport, Baseline } from '../probes/bake.js';
import type { AgentBaseline } from '../probes/checklist.js';
import type { HealthEvidence } from '../probes/health.js';
import type { TenantPlane } from '../probes/tenant-plane.js';
import type { Candidate } from '../runtimes/runtime.js';

/** A candidate once started: where the gate and the bake find it. */
export interface StartedCandidate {
  candidate: Candidate;
  tenantPlane: TenantPlane;
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
  /** The bake's baseline, figures and verdicts; or that it was skipped. */
  bake: output<BakeReport | { skipped: true }>('bake', 'record'),
};

type Outputs = typeof outputs;
type ValueOf<O> = O extends Output<infer T> ? T : never;

/** The run record of an upgrade or rollback: the engine's, with the outputs it keeps, typed. */
export type LifecycleRecord = RunRecord & { [K in keyof Outputs as Outputs[K]['kept'] extends 'run' ? never : K]?: ValueOf<Outputs[K]> | null };

/** The outcome of an upgrade or rollback, its record typed. */
export type LifecycleOutcome = Outcome<LifecycleRecord>;
