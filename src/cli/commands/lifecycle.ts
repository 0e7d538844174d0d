import { mkdirSync } from 'node:fs';
import { BAKE_DEFAULTS, type BakeSettings } from '../../ops/probes/bake.js';
import { databaseWork } from '../../ops/backup/database-work.js';
import type { VerifyAuth } from '../../ops/probes/checklist.js';
import { type OpsContext } from '../../ops/engine/engine.js';
import { stateFiles } from '../../ops/engine/state/files.js';
import { Executor } from '../../ops/core/exec.js';
import { previousVersionFile } from '../../ops/engine/state/previous-version.js';
import { formatHistoryLine, readHistory } from '../../ops/engine/state/history.js';
import { type Outcome, type OutcomeKind } from '../../ops/engine/outcome.js';
import { Refused } from '../../ops/core/errors.js';
import { rollback } from '../../ops/actions/rollback.js';
import { withRunRecords } from '../../ops/engine/state/run-record.js';
import { RunLogFile } from '../../ops/engine/state/run-log.js';
import { refusal } from '../../ops/actions/operate.js';
import { readStatus } from '../../ops/actions/status.js';
import { tenantPlaneOverHttp, type TenantPlane } from '../../ops/probes/tenant-plane.js';
import { upgrade } from '../../ops/actions/upgrade.js';
import { parseVersion, printable, VersionError } from '../../shared/version.js';
import { CliError, EXIT_CODES, parseFlags, type Command, type Io } from '../command.js';
import { databaseTarget, secretsOf } from '../database.js';
import { RUNTIME_HELP, runtimeFor, runtimeKind } from '../runtimes.js';
import { describeOutcome } from '../words.js';
import { backupKeep, logDirOf } from './backup.js';

const MOVING_TAGS = new Set(['latest', 'stable', 'edge', 'main', 'master', 'nightly', 'dev', 'current', 'beta', 'lts']);

/** A version to move to, checked before anything else happens: no shell, path or moving tag passes. */
export function targetVersion(text: string, variable: string): string {
  if (MOVING_TAGS.has(text.toLowerCase())) {
    throw new CliError(
      `"${text}" is a moving tag: it names different images over time, so an upgrade to it could not be checked, recorded or rolled back to; name the exact version, e.g. ${variable}=1.3.0`,
    );
  }
  try {
    return parseVersion(text).text;
  } catch (err) {
    if (err instanceof VersionError) throw new CliError(`${variable}: ${err.message}`);
    throw err;
  }
}

export function seconds(io: Io, name: string, fallback: number): number {
  const raw = io.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new CliError(`${name}=${printable(raw, 20)} is not valid: expected seconds, from 1 to 3600`);
  return n;
}

export function healthUrlOf(io: Io): string {
  const healthUrl = io.env.HEALTH_URL || 'http://localhost:3000/api/health';
  if (!/^https?:\/\/[^\s]+$/.test(healthUrl)) throw new CliError('HEALTH_URL must be an http:// or https:// URL');
  return healthUrl;
}

/** The verification identity, from the environment only: never a password on the command line. */
export function verifyAuth(io: Io): VerifyAuth | undefined {
  if (io.env.ATLAS_VERIFY_TOKEN) return { token: io.env.ATLAS_VERIFY_TOKEN };
  if (io.env.ATLAS_VERIFY_EMAIL && io.env.ATLAS_VERIFY_PASSWORD) return { email: io.env.ATLAS_VERIFY_EMAIL, password: io.env.ATLAS_VERIFY_PASSWORD };
  if (io.env.ATLAS_VERIFY_EMAIL) throw new CliError('ATLAS_VERIFY_EMAIL is set without ATLAS_VERIFY_PASSWORD');
  return undefined;
}

export const dataDirOf = (io: Io) => io.env.ATLAS_DATA_DIR || './data';

/** The Tenant Plane as tpctl reaches it: HEALTH_URL, and the verification identity of the checklist. */
export function tenantPlaneOf(io: Io): TenantPlane {
  const auth = verifyAuth(io);
  return tenantPlaneOverHttp(healthUrlOf(io), auth && { auth, agentsWithinMs: seconds(io, 'ATLAS_VERIFY_AGENTS_WITHIN', 60) * 1000 }, io.env.ATLAS_METRICS_TOKEN || undefined);
}

export const healthTimeoutMs = (io: Io) => seconds(io, 'HEALTH_TIMEOUT', 60) * 1000;

/** The bake's settings: ATLAS_BAKE_SECONDS (or --bake-seconds; 0 skips it), ATLAS_BAKE_MAX_LATENCY_RATIO, ATLAS_BAKE_WEBHOOK_TEST. */
function bakeSettings(io: Io, flag: string | undefined): BakeSettings {
  const [name, raw] = flag === undefined ? ['ATLAS_BAKE_SECONDS', io.env.ATLAS_BAKE_SECONDS] : ['--bake-seconds', flag];
  const secondsText = raw === undefined || raw === '' ? String(BAKE_DEFAULTS.seconds) : raw;
  const bakeSeconds = Number(secondsText);
  if (!/^\d{1,4}$/.test(secondsText) || bakeSeconds > 3600) throw new CliError(`${name}=${printable(secondsText, 20)} is not valid: expected whole seconds, from 0 (no bake) to 3600`);
  const ratioText = io.env.ATLAS_BAKE_MAX_LATENCY_RATIO || String(BAKE_DEFAULTS.maxLatencyRatio);
  const ratio = Number(ratioText);
  if (!Number.isFinite(ratio) || ratio < 1 || ratio > 100) throw new CliError(`ATLAS_BAKE_MAX_LATENCY_RATIO=${printable(ratioText, 20)} is not valid: expected a number from 1 to 100`);
  const test = io.env.ATLAS_BAKE_WEBHOOK_TEST ?? '1';
  if (test !== '0' && test !== '1') throw new CliError('ATLAS_BAKE_WEBHOOK_TEST must be 0 or 1');
  return { ...BAKE_DEFAULTS, seconds: bakeSeconds, maxLatencyRatio: ratio, webhookTest: test === '1' };
}
export const rolloutTimeoutMs = (io: Io) => seconds(io, 'ROLLOUT_TIMEOUT', 300) * 1000;

/**
 * Runs an upgrade or rollback: the environment the scripts document is read and checked first,
 * then the run gets its log, and its outcome is printed (text, or --json) and ends the command.
 */
async function runOperation(
  io: Io,
  op: 'upgrade' | 'rollback',
  flags: { json?: boolean; runtime?: string; 'bake-seconds'?: string; 'dry-run'?: boolean },
  action: (ctx: OpsContext) => Promise<Outcome>,
): Promise<OutcomeKind> {
  const kind = runtimeKind(io, flags.runtime);
  const dataDir = dataDirOf(io);
  const settings = { dataDir, healthTimeoutMs: healthTimeoutMs(io), bake: bakeSettings(io, flags['bake-seconds']) };
  const tenantPlane = tenantPlaneOf(io);
  const logDir = logDirOf(io);
  const keep = backupKeep(io);
  // Compose and clusters run PostgreSQL, reached through DB_URL; the local runtime may use the embedded database.
  const target = io.env.DB_URL || kind === 'local' ? databaseTarget(io) : undefined;
  const timeoutMs = rolloutTimeoutMs(io);
  mkdirSync(dataDir, { recursive: true });
  const echo = flags.json ? undefined : (line: string) => io.err(line);
  // A dry run leaves no trace: its lines go to the terminal only.
  const log = flags['dry-run'] ? { file: '(dry run: no log)', write: (line: string) => echo?.(line) } : RunLogFile.forRun(logDir, op, new Date(), secretsOf(io), echo);
  const exec = new Executor(log, secretsOf(io));
  let outcome: Outcome;
  try {
    const runtime = await runtimeFor(kind, io, exec, timeoutMs);
    outcome = await action({ settings, runtime, tenantPlane, database: target && databaseWork(target, { logDir, keep }, exec), log, previousVersion: previousVersionFile(stateFiles(dataDir).previous) });
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    outcome = refusal(err, log);
  }
  const message = describeOutcome(outcome);
  const { kind: ended, ...facts } = outcome;
  if (flags.json) io.out(JSON.stringify({ outcome: ended, exitCode: EXIT_CODES[ended], message, ...facts }, null, 2));
  else if (ended === 'refused' || ended === 'locked') throw new CliError(message, ended);
  else io.out(message);
  return ended;
}

export const upgradeCommand: Command = {
  help: `Usage: tpctl upgrade --to VERSION [--runtime KIND] [--no-backup] [--bake-seconds S] [--dry-run] [--json]

Upgrades the Tenant Plane (on Docker Compose: the deployment in the current directory):

  lock → preflight (current version, image present or pulled) → pre-upgrade backup
  (db-backup-<current>-<time>.sql.gz in ATLAS_LOG_DIR; needs DB_URL) → ./data/.atlas-previous-version
  → switch: Compose: the image tag set where the Compose files take it from (the file, the override
    file, an anchor, .env, a \${VAR:-default}), docker compose up -d tenant-plane;
    with the proxy (./data/proxy/admin.sock) the new version starts beside the old one instead,
    without traffic, and the checks below are made on it; the local runtime does the same on
    PostgreSQL (not on the embedded database);
    Kubernetes: image, version annotation and change cause patched, rollout followed;
    Helm: helm upgrade --install --wait --timeout
  → wait until HEALTH_URL (or the candidate's own address) answers "ok" for VERSION
    (HEALTH_TIMEOUT s; at once if it crashes)
  → /app/.atlas-version checked → recovery checklist (with ATLAS_VERIFY_*)
  → bake: for ATLAS_BAKE_SECONDS (--bake-seconds; default 60, 0 skips it) the new version is
    watched against a baseline taken on the old one: health, authenticated reads (with
    ATLAS_VERIFY_*), webhooks that delivered before (a test delivery each unless
    ATLAS_BAKE_WEBHOOK_TEST=0), p95 latency within ATLAS_BAKE_MAX_LATENCY_RATIO (3) times the
    baseline's (at least 10 ms), and no 5xx where there were none (ATLAS_METRICS_TOKEN or the
    verification identity reads /metrics)
  → promote (beside the old version only): the traffic moves to it, the old one finishes its
    requests and stops; on Compose the service is then recreated on VERSION and takes it back
  → ./data/.atlas-upgrade-history

A candidate that fails is removed, and the old version never stopped serving. Any failure after
the switch takes the one way back: the previous version is put back (on
Kubernetes kubectl rollout undo, on Helm helm rollback) and confirmed healthy, and both lines are
recorded. Every command is in ATLAS_LOG_DIR/upgrade-<time>.log. A run killed earlier is led back
to a known version first (see tpctl status).

--dry-run prints the plan (each step, its undo, the way back) and changes nothing: no lock,
no log, no state file; the preflight's checks (which may pull an image) are not run.

${RUNTIME_HELP}

Exit code: 0 upgraded, 1 failed and rolled back (or stopped before any change), 2 refused
(bad version, missing image, bad Compose file), 3 failed and needs a human, 4 locked.`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      to: { type: 'string' },
      runtime: { type: 'string' },
      'no-backup': { type: 'boolean' },
      'bake-seconds': { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (!values.to) throw new CliError('name the version: tpctl upgrade --to 1.3.0');
    const to = targetVersion(values.to, '--to');
    return runOperation(io, 'upgrade', values, (ctx) => upgrade({ to, backup: !values['no-backup'], label: `tpctl upgrade --to ${to}`, dryRun: values['dry-run'] }, ctx));
  },
};

/** A revision number from the command line. */
function revisionNumber(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new CliError(`--to-revision ${printable(text, 20)} is not a revision number (see tpctl revisions)`);
  return Number(text);
}

export const rollbackCommand: Command = {
  help: `Usage: tpctl rollback [--to VERSION | --to-revision N] [--runtime KIND] [--restore BACKUP_FILE [--keep-new]] [--dry-run] [--json]

Switches the Tenant Plane back to VERSION, by default the one in ./data/.atlas-previous-version
(or, without it, the one the history's last upgrade came from); checks the image is here (or
pulls it); restarts; waits until HEALTH_URL answers "ok" for it; records a ROLLBACK line.
The database schema is not reversed: migrations are additive and the previous version runs on it.

On Kubernetes and Helm the switch goes back to the newest earlier revision that ran VERSION
(kubectl rollout undo --to-revision, helm rollback REV --wait); --to-revision N names the
revision itself (tpctl revisions lists them with their versions).

With --restore, the Tenant Plane is stopped (on Kubernetes: scaled to 0) and the backup
restored (all or nothing; see tpctl restore --help) before the switch. Needs DB_URL. The
output lists, per table, the rows created, changed and deleted since the backup: what the
restore discards. --keep-new (KEEP_NEW=1) carries the rows created since into the restored
data, within the same swap (see tpctl restore --help).

If VERSION does not become healthy, the way back puts back what ran before (and, after a
restore, the data the restore replaced) and confirms it is healthy. Without --to, a run killed
earlier (see tpctl status) is led back to a known version, and that is all.

--dry-run prints the plan (each step, its undo, the way back) and changes nothing.

${RUNTIME_HELP}

Exit code: 0 rolled back, 1 failed (the version before was put back), 2 refused, 3 needs a
human, 4 locked.`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      to: { type: 'string' },
      'to-revision': { type: 'string' },
      runtime: { type: 'string' },
      restore: { type: 'string' },
      'keep-new': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.to !== undefined && values['to-revision'] !== undefined) throw new CliError('--to and --to-revision name the target twice: give one');
    const to = values.to === undefined ? undefined : targetVersion(values.to, '--to');
    const revision = values['to-revision'] === undefined ? undefined : revisionNumber(values['to-revision']);
    if (values['keep-new'] && values.restore === undefined) throw new CliError('--keep-new carries rows into a restored database: it needs --restore BACKUP_FILE');
    const label = `tpctl rollback${to ? ` --to ${to}` : ''}${revision ? ` --to-revision ${revision}` : ''}`;
    return runOperation(io, 'rollback', values, (ctx) => rollback({ to, revision, restore: values.restore, keepNew: values['keep-new'], label, dryRun: values['dry-run'] }, ctx));
  },
};

export const statusCommand: Command = {
  help: `Usage: tpctl status [--runtime KIND] [--json]

Shows the configured version, what the health endpoint says, the recorded previous version,
the last history lines, and any upgrade or rollback under way or interrupted (a killed run:
\`tpctl rollback\` or \`tpctl upgrade\` recognises it and leads back to a healthy version).

Exit code: 0 healthy and nothing interrupted, 1 otherwise.`,
  async run(args, io) {
    const { values } = parseFlags(args, { runtime: { type: 'string' }, json: { type: 'boolean' } });
    const kind = runtimeKind(io, values.runtime);
    const tenantPlane = tenantPlaneOf(io);
    const runtime = await runtimeFor(kind, io, new Executor(undefined, secretsOf(io)), rolloutTimeoutMs(io)).catch((err: Error) => err);
    const status = await readStatus(dataDirOf(io), runtime, tenantPlane);
    const op = status.operation;
    const interrupted = op !== null && ('error' in op || op.state === 'interrupted');
    if (values.json) {
      io.out(JSON.stringify(status, null, 2));
    } else {
      const lines = [
        `runtime:    ${typeof status.runtime === 'string' ? status.runtime : status.runtime.error}`,
        `configured: ${status.configuredVersion ?? 'unknown'}`,
        `health:     ${status.healthy ? `ok (${tenantPlane.healthUrl})` : `NOT healthy: ${status.health}`}`,
        `previous:   ${status.previousVersion ?? 'none recorded'}`,
      ];
      if (op && 'error' in op) lines.push(`operation:  ${op.error}`);
      else if (op) {
        lines.push(
          op.state === 'under way'
            ? `operation:  ${op.op} ${op.from} -> ${op.to} under way (pid ${op.pid}), at step ${op.step}`
            : `operation:  INTERRUPTED ${op.op} ${op.from} -> ${op.to} at step ${op.step}${op.phase === 'way-back' ? ' on its way back' : ''} (pid ${op.pid} is gone); run \`tpctl rollback\` to lead back to ${op.leadsBackTo}`,
        );
      }
      lines.push('history:', ...(status.history.length ? status.history.map((h) => `  ${formatHistoryLine(h)}`) : ['  (none)']));
      io.out(lines.join('\n'));
    }
    return status.healthy && !interrupted ? 'done' : 'failed';
  },
};

export const historyCommand: Command = {
  help: `Usage: tpctl history [--json]

Prints ./data/.atlas-upgrade-history. With --json, each record also carries what its run
log's record holds: the steps with their durations, the backup, the health evidence.`,
  async run(args, io) {
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const entries = readHistory(stateFiles(dataDirOf(io)).history);
    if (values.json) {
      io.out(JSON.stringify(withRunRecords(entries), null, 2));
    } else {
      io.out(entries.length ? entries.map(formatHistoryLine).join('\n') : 'no upgrades or rollbacks recorded');
    }
    return 'done';
  },
};

export const revisionsCommand: Command = {
  help: `Usage: tpctl revisions [--runtime kubernetes|helm] [--json]

Lists the revisions Kubernetes (kubectl rollout history and the ReplicaSets' version
annotations) or Helm (helm history -o json and each revision's image.tag) keeps, oldest first,
with the version each runs: what \`tpctl rollback --to-revision N\` takes.

${RUNTIME_HELP}`,
  async run(args, io) {
    const { values } = parseFlags(args, { runtime: { type: 'string' }, json: { type: 'boolean' } });
    const kind = runtimeKind(io, values.runtime);
    const exec = new Executor(undefined, secretsOf(io));
    const runtime = await runtimeFor(kind, io, exec, rolloutTimeoutMs(io));
    if (!runtime.revisions) throw new CliError(`${runtime.describe()} keeps no numbered revisions: tpctl history lists what tpctl did`);
    const revisions = await runtime.revisions().catch((err: Error) => {
      throw new CliError(err.message, 'failed');
    });
    if (values.json) io.out(JSON.stringify(revisions, null, 2));
    else io.out([`revisions of ${runtime.describe()}:`, ...revisions.map((r) => `  ${String(r.revision).padStart(4)}  ${(r.version ?? '?').padEnd(12)} ${r.note}`)].join('\n'));
    return 'done';
  },
};
