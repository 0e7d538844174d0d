import { holderAlive } from '../../shared/file-lock.js';
import { stateFiles } from '../engine/state/files.js';
import { healthProblem, type HealthEvidence } from '../probes/health.js';
import { readHistory, type HistoryEntry } from '../engine/state/history.js';
import { readJournal, recoveryTarget, type Journal } from '../engine/state/journal.js';
import { readPreviousVersion } from '../engine/state/previous-version.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { TenantPlane } from '../probes/tenant-plane.js';

export interface OpsStatus {
  /** Where the Tenant Plane runs, or why that cannot be read. */
  runtime: string | { error: string };
  configuredVersion: string | null;
  healthy: boolean;
  /** `ok`, or what is wrong. */
  health: string;
  previousVersion: string | null;
  /** An operation under way, or one that was killed (with the version the next run leads back to). */
  operation: (Journal & { state: 'under way' | 'interrupted'; leadsBackTo: string }) | { error: string } | null;
  /** The last lines of the history. */
  history: HistoryEntry[];
}

/** What runs, whether it is healthy, and any operation under way or interrupted: reads only. */
export async function readStatus(dataDir: string, runtime: Runtime | Error, tenantPlane: TenantPlane): Promise<OpsStatus> {
  return statusWith(dataDir, runtime, await tenantPlane.health());
}

/** The status, judged on a health answer already had. */
export async function statusWith(dataDir: string, runtime: Runtime | Error, evidence: HealthEvidence): Promise<OpsStatus> {
  const files = stateFiles(dataDir);
  const configured = runtime instanceof Error ? undefined : await runtime.configuredVersion().catch(() => undefined);
  const problem = configured ? healthProblem(evidence, configured) : evidence.error;
  let operation: OpsStatus['operation'] = null;
  try {
    const journal = readJournal(files.journal);
    if (journal) operation = { ...journal, state: holderAlive(journal) ? 'under way' : 'interrupted', leadsBackTo: recoveryTarget(journal) };
  } catch (err) {
    operation = { error: (err as Error).message };
  }
  return {
    runtime: runtime instanceof Error ? { error: runtime.message } : runtime.describe(),
    configuredVersion: configured ?? null,
    healthy: !problem,
    health: problem ?? 'ok',
    previousVersion: readPreviousVersion(files.previous) ?? null,
    operation,
    history: readHistory(files.history).slice(-5),
  };
}
