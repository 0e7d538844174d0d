import { mkdirSync, rmSync } from 'node:fs';
import { refusal } from '../ops/actions/operate.js';
import { databaseWork } from '../ops/backup/database-work.js';
import { Refused } from '../ops/core/errors.js';
import type { OpsContext } from '../ops/engine/engine.js';
import type { OutcomeKind } from '../ops/engine/outcome.js';
import { stateFiles } from '../ops/engine/state/files.js';
import { readHistory } from '../ops/engine/state/history.js';
import { previousVersionFile } from '../ops/engine/state/previous-version.js';
import { RunLogFile } from '../ops/engine/state/run-log.js';
import type { LifecycleOutcome } from '../ops/steps/outputs.js';
import { EXIT_CODES } from './command.js';
import { CliError } from './io.js';
import type { Factory } from './factory.js';
import { RUNTIMES } from './runtimes.js';
import { describeOutcome } from './words.js';
import { RunReporter } from './report.js';
import { utcStamp } from '../shared/names.js';

/**
 * Runs an upgrade or rollback: the environment the scripts document is read and checked first,
 * then the run gets its log, and its outcome is printed (text, or --json) and ends the command.
 */
export async function runOperation(
  f: Factory,
  op: 'upgrade' | 'rollback',
  flags: { json?: boolean; runtime?: string; 'bake-seconds'?: string; 'dry-run'?: boolean; 'trust-unsigned'?: boolean },
  action: (ctx: OpsContext) => Promise<LifecycleOutcome>,
): Promise<OutcomeKind> {
  const { io } = f;
  const kind = f.runtimeKind(flags.runtime);
  const dataDir = f.dataDir;
  const settings = { dataDir, healthTimeoutMs: f.healthTimeoutMs, bake: f.bakeSettings(flags['bake-seconds']), rehearsal: f.rehearsalSettings };
  const tenantPlane = f.tenantPlane;
  const logDir = f.logDir;
  const keep = f.backupKeep;
  // Clusters and Compose run PostgreSQL, reached through DB_URL; a runtime on this host may use the embedded database.
  const target = io.env.DB_URL || RUNTIMES[kind].embeddedDatabase ? f.databaseTrusting(flags['trust-unsigned']) : undefined;
  mkdirSync(dataDir, { recursive: true });
  // A dry run records nothing; a run sets the deployment up, the first time.
  if (!flags['dry-run']) f.remember(kind, `tpctl ${op}`);
  const echo = flags.json ? undefined : (line: string) => io.err(line);
  // A dry run leaves no trace: its lines go to the terminal only.
  const log = flags['dry-run']
    ? { file: '(dry run: no log)', write: (line: string) => echo?.(line) }
    : RunLogFile.forRun(logDir, op, new Date(), f.secrets, echo);
  const exec = f.executor(log);
  // Told with the verification identity (an admin's): without one, the run log already says the checklist is not run.
  const reporter =
    log instanceof RunLogFile && tenantPlane.checklist
      ? new RunReporter(
          (path, body) => tenantPlane.tell(path, body),
          { id: utcStamp(log.startedAt), log: log.file, logDir, history: () => readHistory(stateFiles(dataDir).history) },
          (line) => log.write(line),
        )
      : undefined;
  let outcome: LifecycleOutcome;
  try {
    const runtime = await f.runtime(kind, exec);
    const previousVersion = previousVersionFile(stateFiles(dataDir).previous);
    outcome = await action({
      settings,
      runtime,
      tenantPlane,
      database: target && databaseWork(target, { logDir, keep, room: f.copyRoom }, exec),
      log,
      previousVersion,
      ...(reporter ? { onStep: reporter.step } : {}),
    });
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    outcome = refusal(err, log);
  }
  // A refusal changed nothing and its reason is printed: its log is removed, unless a history line
  // names it (a killed run led back before the refusal) or the refusal points to it (what a
  // rehearsal found), so no run log is left that nothing points to.
  const pointedTo = (o: LifecycleOutcome) => o.kind === 'refused' && o.next.some((n) => n.do === 'read-log' && n.log === log.file);
  if (
    (outcome.kind === 'refused' || outcome.kind === 'locked') &&
    log instanceof RunLogFile &&
    !pointedTo(outcome) &&
    !readHistory(stateFiles(dataDir).history).some((e) => e.log === log.file)
  )
    rmSync(log.file, { force: true });
  const message = describeOutcome(outcome);
  const untold = await reporter?.finish(outcome, message);
  if (untold) io.err(`note: the Tenant Plane was not told of this run (${untold}); tpctl tells it with its next run`);
  const { kind: ended, ...facts } = outcome;
  if (flags.json) io.out(JSON.stringify({ outcome: ended, exitCode: EXIT_CODES[ended], message, ...facts }, null, 2));
  else if (ended === 'refused' || ended === 'locked') throw new CliError(message, ended);
  else io.out(message);
  return ended;
}
