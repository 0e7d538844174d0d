import type { Executor } from './exec.js';
import { appendHistory, utcStamp } from './history.js';
import { clearJournal, readJournal } from './journal.js';
import { Run, stateFiles, type OpsSettings } from './operation.js';
import type { RunLogFile } from './run-log.js';
import type { Runtime } from './runtimes/runtime.js';

/**
 * Finds a run that was killed (its journal is still there, and the caller holds the lock, so
 * its owner is gone), records the truth (INTERRUPTED), and leads back to a known, healthy
 * version: an interrupted upgrade goes back to the version it left, an interrupted rollback is
 * completed. Returns what was done, or undefined when there was nothing to recover.
 */
export async function recoverInterrupted(settings: OpsSettings, runtime: Runtime, log: RunLogFile, exec: Executor): Promise<string | undefined> {
  const files = stateFiles(settings.dataDir);
  const journal = readJournal(files.journal);
  if (!journal) return undefined;
  log.write(
    `found an interrupted ${journal.op} ${journal.from} -> ${journal.to}, stopped at step ${journal.step} (pid ${journal.pid} on ${journal.host} is gone; its log: ${journal.log})`,
  );
  appendHistory(files.history, {
    at: utcStamp(new Date()),
    kind: journal.op,
    from: journal.from,
    to: journal.to,
    outcome: 'INTERRUPTED',
    log: journal.log,
  });
  const target = journal.op === 'upgrade' ? journal.from : journal.to;
  const configured = await runtime.configuredVersion();
  const run = new Run('rollback', configured, target, settings, runtime, log, exec);
  // Also when the configuration never changed: the killed run may have left it stopped.
  await run.switchAndConfirm(target, 'roll-back');
  if (configured !== target) run.history({ kind: 'rollback', from: configured, to: target, outcome: 'SUCCESS' });
  clearJournal(files.journal);
  return `recovered the interrupted ${journal.op} ${journal.from} -> ${journal.to}: ${target} runs and is healthy`;
}
