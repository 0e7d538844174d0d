import type { LockHolder } from '../shared/file-lock.js';
import { describeBreaking, type SchemaState } from '../db/migrations.js';
import { STOP_COMMANDS } from './runtimes.js';
import { recoveryTarget } from '../ops/engine/state/journal.js';
import type { Preview } from '../ops/engine/outcome.js';
import { Failed, Refused, type Next, type Setting } from '../ops/core/errors.js';
import { sinceBackupLines } from '../ops/backup/since-backup.js';
import type { LifecycleOutcome, LifecycleRecord } from '../ops/steps/outputs.js';

/**
 * What tpctl says: outcomes and next steps turned into the operator's words, with the names of
 * the scripts, commands, flags and variables to type. The only place that knows them.
 */

const SETTINGS: Record<Setting, string> = {
  database: 'set DB_URL to a postgresql:// URL that reaches the database from this host',
  'log-dir': 'set ATLAS_LOG_DIR to another directory',
  image: 'set ATLAS_IMAGE if that is intended',
  'compose-file': 'run from the deployment directory, or set COMPOSE_FILE',
  'backup-key-file': 'fix the keyring, or set ATLAS_BACKUP_KEY_FILE to the one that signed the backups',
};

export function nextWords(next: Next): string {
  switch (next.do) {
    case 'rollback':
      return next.to ? `ATLAS_VERSION=${next.to} bash scripts/rollback-tp.sh` : 'bash scripts/rollback-tp.sh';
    case 'rollback-restoring':
      return next.backup
        ? `restore the newest backup taken at or before ${next.to}: RESTORE_DB=1 DB_BACKUP_FILE=${next.backup} ATLAS_VERSION=${next.to} bash scripts/rollback-tp.sh`
        : `restore a backup taken at or before ${next.to} (there is none in ${next.backupDir}): RESTORE_DB=1 DB_BACKUP_FILE=<backup> ATLAS_VERSION=${next.to} bash scripts/rollback-tp.sh`;
    case 'upgrade':
      return `upgrade to ${next.to} first: ATLAS_VERSION=${next.to} bash scripts/upgrade-tp.sh`;
    case 'name-rollback-target':
      return `name it: ATLAS_VERSION=<version> bash scripts/rollback-tp.sh${next.available.length ? ` (versions on this host: ${next.available.join(', ')})` : ''}`;
    case 'skip-backup':
      return 'upgrade without a backup (SKIP_BACKUP=1 / --no-backup)';
    case 'skip-rehearsal':
      return 'only if you know why it failed and accept it: go on without the rehearsal (SKIP_REHEARSAL=1 / --no-rehearsal)';
    case 'set':
      return SETTINGS[next.setting];
    case 'restore-undo':
      return 'tpctl restore --undo puts back the data the restore replaced';
    case 'manual-restore':
      return 'or use the manual path: zcat FILE | psql DB_URL';
    case 'stop-tenant-plane':
      return `stop it first: ${STOP_COMMANDS.slice(0, -1).join(', ')}, or ${STOP_COMMANDS.at(-1)}`;
    case 'start-local':
      return `start it with tpctl local start${next.naming ? ' --version <version>' : ''}`;
    case 'add-release':
      return 'add it first: tpctl release add <release dir or .tar.gz>';
    case 'build-image':
      return `load or build it first (docker load, or ATLAS_VERSION=${next.version} bash scripts/build-image.sh)`;
    case 'status':
      return 'check it with tpctl status';
    case 'read-log':
      return `read ${next.log}`;
  }
}

/** What happened, then what to do. */
export function withNext(message: string, next: Next[]): string {
  return [message, ...next.map(nextWords)].join('; ');
}

/** An error of ours as the operator reads it. */
export function problem(err: Error): string {
  return withNext(err.message, err instanceof Refused || err instanceof Failed ? err.next : []);
}

const took = (r: LifecycleRecord) => `${(r.durationMs / 1000).toFixed(1)} s`;

/** The rehearsal's line, or why there was none, on a line of its own. */
function rehearsed(r: LifecycleRecord): string {
  if (!r.rehearsal) return '';
  return `\n${'line' in r.rehearsal ? r.rehearsal.line : `rehearsal: none (${r.rehearsal.skipped})`}`;
}

function done(r: LifecycleRecord): string {
  if (r.rehearseOnly)
    return `rehearsed the ${r.op} ${r.from} -> ${r.to} on a copy of the data and stopped there, as asked: production was not touched. Log: ${r.log}${rehearsed(r)}`;
  if (r.op === 'upgrade')
    return `upgraded ${r.from} -> ${r.to} in ${took(r)}; ${r.to} is healthy. Log: ${r.log}${r.backup ? `; pre-upgrade backup: ${r.backup}` : ''}${rehearsed(r)}`;
  const since = r.sinceBackup
    ? sinceBackupLines(r.sinceBackup)
        .map((line) => `\n${line}`)
        .join('')
    : '';
  return `rolled back ${r.from} -> ${r.to} in ${took(r)}; ${r.to} is healthy${r.restored ? `, on the database restored from ${r.restored}` : ''}. Log: ${r.log}${since}${rehearsed(r)}`;
}

function failed(o: LifecycleOutcome & { kind: 'failed' }): string {
  const r = o.run;
  const f = r.failure!;
  const at = `${r.op} to ${r.to} FAILED at ${f.step}`;
  if (r.switchedBack && r.op === 'upgrade') {
    return `${at}: ${f.reason}. Rolled back: ${r.from} runs and is healthy (on the schema as ${r.to} left it; migrations are additive). Log: ${r.log}${r.backup ? `; pre-upgrade backup: ${r.backup}` : ''}`;
  }
  const data = r.restoreUndone ? `, on the data from before the restore (the restored data is kept as ${r.restoreUndone})` : '';
  if (r.switchedBack) return `${at}: ${f.reason}; ${r.from} was put back and is healthy${data}. Log: ${r.log}`;
  const runs = o.now.health === 'healthy' ? 'was started again and is healthy' : 'still runs, untouched';
  return `${at}, before anything changed: ${f.reason}. ${r.from} ${runs}${data}. Log: ${r.log}`;
}

function stuck(o: LifecycleOutcome & { kind: 'needs-human' }): string {
  const r = o.run;
  const f = r.failure!;
  const recovering = o.recovery && o.recovery.run === r;
  const what = recovering
    ? `the interrupted ${o.recovery!.interrupted.op} ${o.recovery!.interrupted.from} -> ${o.recovery!.interrupted.to} could not be led back to ${r.to}: ${f.step} FAILED (${f.reason})`
    : `${r.op} to ${r.to} FAILED at ${f.step} (${f.reason})${r.wayBack ? ` and the way back to ${r.from} FAILED at ${r.wayBack.step} too (${r.wayBack.reason})` : ', after a change that cannot be put back'}`;
  const facts = [
    ...(r.backup ? [`the pre-upgrade backup is ${r.backup}`] : []),
    ...(r.restored && !r.restoreUndone ? [`the database was restored from ${r.restored} (tpctl restore --undo puts back the data it replaced)`] : []),
  ];
  return `${what}. The Tenant Plane is not healthy and needs a human: ${o.next.map(nextWords).join(', then ')}${facts.map((x) => `; ${x}`).join('')}`;
}

function recovered(o: LifecycleOutcome): string | undefined {
  const r = o.recovery;
  if (!r || o.kind === 'needs-human') return undefined;
  const data = r.restoredMayRemain
    ? `; it was putting back the data a restore replaced: the data restored from ${r.restoredMayRemain} may still be in place (${nextWords({ do: 'restore-undo' })})`
    : '';
  return `recovered the interrupted ${r.interrupted.op} ${r.interrupted.from} -> ${r.interrupted.to}: ${r.target} runs and is healthy${data}`;
}

function previewed(p: Preview): string {
  const width = Math.max(...p.steps.map((s) => s.step.length));
  const killed = p.interrupted
    ? [
        `first, the killed ${p.interrupted.op} ${p.interrupted.from} -> ${p.interrupted.to} (at step ${p.interrupted.step}) would be led back to ${recoveryTarget(p.interrupted)}`,
      ]
    : [];
  return [
    `dry run: ${p.op} ${p.from} -> ${p.to}; nothing was changed`,
    ...killed,
    'steps:',
    ...p.steps.map((s) => {
      const under = (label: string, text: string) => `\n  ${''.padEnd(width)}  ${label}: ${text}`;
      return `  ${s.step.padEnd(width)}  ${s.what}${s.checked ? under('checked', s.checked) : ''}${s.undo ? under('undo', `${s.undo.step}: ${s.undo.what}`) : ''}`;
    }),
    `on a failure: the undos of the steps done, newest first${p.confirmBack.length ? `, then ${p.confirmBack.map((s) => s.step).join(', ')} for ${p.from}` : ''}`,
  ].join('\n');
}

/** An operation's outcome, in words: what happened, where the Tenant Plane is now, and what to do. */
export function describeOutcome(o: LifecycleOutcome): string {
  const main = ((): string | undefined => {
    switch (o.kind) {
      case 'done':
        if (o.preview) return previewed(o.preview);
        if (o.unchanged)
          return o.unchanged.op === 'upgrade'
            ? `already configured for ${o.unchanged.version}: nothing to do`
            : `${o.unchanged.version} is configured and healthy: nothing to roll back`;
        return o.run && o.run !== o.recovery?.run ? done(o.run) : undefined;
      case 'failed':
        return failed(o);
      case 'needs-human':
        return stuck(o);
      case 'refused':
        return `${withNext(o.reason, o.next)}\nnothing ${o.recovery ? 'else ' : ''}was changed`;
      case 'locked':
        return lockedWords(o.holder);
    }
  })();
  return [recovered(o), main].filter(Boolean).join('\n');
}

/** Another operation holds the lock: who, since when, and what to do. */
export function lockedWords(holder: LockHolder): string {
  return `another operation is under way: "${holder.what}" (pid ${holder.pid} on ${holder.host}) has held the lock since ${holder.since}; wait for it, or check it with tpctl status`;
}

/** What `tpctl migrate status` and `migrate up` say of the schema. */
export function describeSchemaState(state: SchemaState): string {
  const lines = [
    `applied: ${state.applied.length}${state.applied.length ? ` (last: ${state.applied.at(-1)?.name}, by ${state.applied.at(-1)?.appVersion})` : ''}`,
    `pending: ${state.pending.length ? state.pending.join(', ') : 'none'}`,
    `ahead:   ${state.ahead.length ? `${state.ahead.join(', ')} (applied by a newer version; this version ignores them)` : 'none'}`,
  ];
  if (state.changed.length) lines.push(`changed: ${state.changed.map((c) => c.name).join(', ')} (edited after being applied)`);
  if (state.breaking.length) lines.push(`breaking: ${describeBreaking(state.breaking)}`);
  lines.push(
    state.canRun
      ? 'this version can run on this schema'
      : state.changed.length
        ? 'this version cannot run on this schema: an applied migration was edited'
        : state.breaking.length
          ? 'this version cannot run on this schema: a newer version applied a migration that is not additive; restore a backup taken at or before this version'
          : 'this version cannot run on this schema yet: apply the pending migrations with `tpctl migrate up` (the server also does at start)',
  );
  return lines.join('\n');
}
