import type { MigrationLock, MigrationTiming } from '../../db/migrations.js';
import { isObject, parseJson } from '../../shared/json.js';
import { scratchDatabaseName } from '../../shared/names.js';
import type { DatabaseWork } from '../backup/database-work.js';
import { Refused, type Next } from '../core/errors.js';
import type { OpsContext } from '../engine/engine.js';
import type { Output, Step, Undo } from '../engine/step.js';
import { waitHealthy } from '../probes/health.js';
import { JOURNEY_RECEIVER_HOST, type JourneyResult } from '../probes/journey.js';
import { crashOf, type Apart } from '../runtimes/runtime.js';
import { outputs, type RehearsalReport } from './outputs.js';

/**
 * The rehearsal: before production is touched, the operation is run on a copy of its data, in a
 * scratch database on the same server (`atlas_rehearsal_<stamp>`). The copy is restored from the
 * pre-upgrade backup with our own restore code (so every upgrade proves its backup restores),
 * or, going back, taken from the live data; the target's own migrations run on it, timed, with
 * the strongest lock each took; the target starts on it apart from production and passes a
 * smoke journey; the copy is dropped. What it finds refuses the operation: production was not
 * changed (see the engine: a refusal after rehearsal steps only undoes them).
 */

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The journey's checks, one line each, in the run log. */
export function logJourney(log: { write(line: string): void }, journey: JourneyResult): void {
  for (const c of journey.checks) log.write(`   ${c.skipped ? 'SKIP' : c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.evidence}`);
}
const lockWords = (l: MigrationLock) => `${l.mode} on ${l.relation}, ${l.heldMs < 1000 ? `${l.heldMs} ms` : seconds(l.heldMs)}`;

/** A refusal the rehearsal found: its log holds the detail, and the operator may choose to go on without one. */
function refusedByRehearsal(ctx: OpsContext, why: string): Refused {
  const next: Next[] = [{ do: 'read-log', log: ctx.log.file }, { do: 'skip-rehearsal' }];
  return new Refused(`the rehearsal on a copy of the data refused it, and production was not touched: ${why}`, next);
}

/** The target's `migrate up --json` answer, read as hostile input: the migrations it applied, each timed. */
export function parseMigrateAnswer(stdout: string, version: string): MigrationTiming[] {
  const o = parseJson(stdout)?.value;
  const timings = isObject(o) ? o.timings : undefined;
  const valid =
    Array.isArray(timings) &&
    timings.every(
      (t) =>
        isObject(t) &&
        typeof t.name === 'string' &&
        Number.isSafeInteger(t.durationMs) &&
        (t.lock === null ||
          (isObject(t.lock) && typeof t.lock.mode === 'string' && typeof t.lock.relation === 'string' && Number.isSafeInteger(t.lock.heldMs))),
    );
  if (!valid) throw new Refused(`${version}'s tpctl migrate up --json answered something else than the migrations it applied`);
  return timings as MigrationTiming[];
}

/** The lock held longest on a table that was there before, and by which migration. */
function longestLock(timings: MigrationTiming[]): (MigrationLock & { migration: string }) | null {
  let longest: (MigrationLock & { migration: string }) | null = null;
  for (const t of timings) if (t.lock && (!longest || t.lock.heldMs > longest.heldMs)) longest = { ...t.lock, migration: t.name };
  return longest;
}

/** The rehearsal's line: what the output, the run log and the run record say of it. */
export function rehearsalLine(r: Omit<RehearsalReport, 'line'>): string {
  const copied = r.copy.backup === 'the live data' ? `the live data copied in ${seconds(r.copy.ms)}` : `backup restored in ${seconds(r.copy.ms)}`;
  const parts = [`${copied} (row counts match)`];
  if (r.migrations) {
    const lock = r.migrations.longestLock;
    const over = r.migrations.overLimit ? `, over the ${r.migrations.limitMs} ms limit` : '';
    parts.push(`migrations ${seconds(r.migrations.ms)} (${lock ? `longest lock: ${lockWords(lock)}${over}` : 'no lock on an existing table'})`);
  }
  parts.push(`${r.version} healthy on the copy in ${seconds(r.healthyMs)}`, `journey ${r.journey.passed}/${r.journey.total}`);
  return `rehearsal: ${parts.join(', ')}`;
}

/** Stops the version started apart and drops the copy (either may be missing); what was removed. */
async function removeRehearsal(apart: Apart, database: DatabaseWork, name: string): Promise<string> {
  const instance = await apart.remove();
  const copy = await database.dropRehearsalCopy(name);
  const removed = [instance ? 'the version started on the copy' : '', copy ? `the copy ${name}` : ''].filter(Boolean);
  return removed.length ? `removed ${removed.join(' and ')}` : 'nothing was left';
}

/**
 * What a run killed during its rehearsal left: the run after it removes it, found by the killed
 * run's start (the copy's name) and by the runtime (the version started apart).
 */
export async function removeRehearsalLeftovers(ctx: OpsContext, killedRunStartedAt: Date): Promise<void> {
  const apart = await ctx.runtime.apart?.();
  if (!apart || 'cannot' in apart || !ctx.database?.dbUrl) return;
  const removed = await removeRehearsal(apart, ctx.database, scratchDatabaseName('rehearsal', killedRunStartedAt, ctx.database.dbUrl));
  if (removed !== 'nothing was left') ctx.log.write(`the interrupted run's rehearsal: ${removed}`);
}

export interface RehearsalPlan {
  /** The version rehearsed: the upgrade's target, or the version a rollback goes back to. */
  version: string;
  /** Where the copy comes from: the pre-upgrade backup (the output that names it), a backup file, or the live data. */
  from: Output<string> | { file: string } | 'now';
  /** The target's migrations run on the copy (an upgrade); going back, the older version runs on the schema as it is. */
  migrate: boolean;
  apart: Apart;
  database: DatabaseWork;
}

/** The rehearsal's steps; each is a `rehearsal` step: what fails in one refuses the operation and removes the copy. */
export function rehearsalSteps(ctx: OpsContext, plan: RehearsalPlan): Step[] {
  const { version, apart, database } = plan;
  const name = scratchDatabaseName('rehearsal', ctx.log.startedAt ?? new Date(), database.dbUrl ?? '');
  const backupOutput = typeof plan.from === 'object' && 'name' in plan.from ? plan.from : undefined;
  const remove: Undo = {
    name: 'remove-rehearsal',
    what: `stop ${version} where it runs on the copy and drop the copy ${name}`,
    restarts: false,
    run: () => removeRehearsal(apart, database, name),
  };
  const copyStep: Step = {
    name: 'rehearse-copy',
    what: `copy the database into ${name} on the same server: ${
      backupOutput
        ? 'the pre-upgrade backup restored (its restore test)'
        : plan.from === 'now'
          ? 'the live data as it is'
          : `${(plan.from as { file: string }).file} restored`
    }`,
    rehearsal: true,
    reads: backupOutput ? [backupOutput] : [],
    produces: [outputs.rehearsalCopy],
    async run(facts) {
      const from = backupOutput ? facts.get(backupOutput) : plan.from === 'now' ? 'now' : (plan.from as { file: string }).file;
      if (!from) throw new Error('no backup was taken to rehearse on');
      const copy = await database.rehearsalCopy(name, from);
      facts.put(outputs.rehearsalCopy, { name, ...copy });
      return `${copy.backup} restored into ${name} in ${seconds(copy.ms)}: ${copy.tables} tables, ${copy.rows} rows, row counts match; ${copy.room}`;
    },
    undo: remove,
  };
  const migrateStep: Step = {
    name: 'rehearse-migrate',
    what: `run ${version}'s own migrations on the copy, timing each and reading the strongest lock it takes`,
    rehearsal: true,
    reads: [outputs.rehearsalCopy],
    produces: [outputs.rehearsalMigrations],
    async run(facts) {
      const copy = facts.get(outputs.rehearsalCopy)!;
      let answer: string;
      try {
        answer = await apart.migrate(version, copy.url);
      } catch (err) {
        throw err instanceof Refused ? refusedByRehearsal(ctx, err.message) : err;
      }
      const timings = parseMigrateAnswer(answer, version);
      const longest = longestLock(timings);
      const limitMs = ctx.settings.rehearsal.lockLimitMs;
      const migrations = {
        ms: timings.reduce((s, t) => s + t.durationMs, 0),
        timings,
        longestLock: longest,
        limitMs,
        overLimit: (longest?.heldMs ?? 0) > limitMs,
      };
      facts.put(outputs.rehearsalMigrations, migrations);
      for (const t of timings) ctx.log.write(`   ${t.name}: ${t.durationMs} ms${t.lock ? `, ${lockWords(t.lock)}` : ''}`);
      if (migrations.overLimit) {
        ctx.log.write(
          `   FLAGGED: ${longest!.migration} held ${lockWords(longest!)} on the copy, over the ${limitMs} ms limit: production would wait that long`,
        );
      }
      return `${timings.length} migration${timings.length === 1 ? '' : 's'} in ${seconds(migrations.ms)}${longest ? `; longest lock: ${lockWords(longest)} (${longest.migration})` : ''}`;
    },
  };
  const startStep: Step = {
    name: 'rehearse-start',
    what: `start ${version} on the copy, apart from production, and wait until it answers "ok" (up to ${Math.round(ctx.settings.healthTimeoutMs / 1000)} s)`,
    rehearsal: true,
    reads: [outputs.rehearsalCopy],
    produces: [outputs.rehearsalInstance],
    async run(facts) {
      const copy = facts.get(outputs.rehearsalCopy)!;
      const candidate = await apart.start(version, copy.url, JOURNEY_RECEIVER_HOST);
      const tenantPlane = ctx.tenantPlane.at(candidate.healthUrl);
      const wait = await waitHealthy({ probe: () => tenantPlane.health(), version, timeoutMs: ctx.settings.healthTimeoutMs, crashed: crashOf(candidate) });
      if (!wait.healthy) {
        const tail = await candidate.logsTail(10).catch(() => '');
        if (tail) ctx.log.write(`   last log lines of ${version} on the copy:\n${tail.replace(/^/gm, '     | ')}`);
        throw refusedByRehearsal(ctx, `${version} did not become healthy on a copy of the data: ${wait.reason}`);
      }
      facts.put(outputs.rehearsalInstance, { tenantPlane, healthyMs: wait.elapsedMs });
      return `${version} answers "ok" on the copy (${candidate.healthUrl}) after ${wait.elapsedMs} ms`;
    },
  };
  const journeyStep: Step = {
    name: 'rehearse-journey',
    what: `the smoke journey on ${version} on the copy: health, a sign-in, a read of every resource, an agent check-in, a webhook test delivery to a receiver on loopback`,
    rehearsal: true,
    reads: [outputs.rehearsalInstance],
    produces: [outputs.rehearsalJourney],
    async run(facts) {
      const instance = facts.get(outputs.rehearsalInstance)!;
      const journey = await instance.tenantPlane.journey(version, name.replace(/_/g, '-'));
      facts.put(outputs.rehearsalJourney, journey);
      logJourney(ctx.log, journey);
      const failed = journey.checks.filter((c) => !c.ok && !c.skipped);
      if (failed.length)
        throw refusedByRehearsal(ctx, `${version}'s smoke journey on the copy failed: ${failed.map((c) => `${c.name}: ${c.evidence}`).join('; ')}`);
      return `journey ${journey.passed}/${journey.total}`;
    },
  };
  const removeStep: Step = {
    name: 'rehearse-remove',
    what: `stop ${version} on the copy and drop the copy ${name}`,
    rehearsal: true,
    reads: [outputs.rehearsalCopy, outputs.rehearsalMigrations, outputs.rehearsalInstance, outputs.rehearsalJourney],
    produces: [outputs.rehearsal],
    async run(facts) {
      const copy = facts.get(outputs.rehearsalCopy)!;
      const removed = await removeRehearsal(apart, database, name);
      const report = {
        version,
        copy: { backup: copy.backup, database: name, ms: copy.ms, tables: copy.tables, rows: copy.rows },
        migrations: facts.get(outputs.rehearsalMigrations) ?? null,
        healthyMs: facts.get(outputs.rehearsalInstance)!.healthyMs,
        journey: facts.get(outputs.rehearsalJourney)!,
      };
      const line = rehearsalLine(report);
      facts.put(outputs.rehearsal, { ...report, line });
      // The backup restored whole: /metrics tells how old the newest backup known to restore is.
      if (copy.backup !== 'the live data') await database.recordProven(copy.backup);
      return `${removed}; ${line}`;
    },
  };
  return [copyStep, ...(plan.migrate ? [migrateStep] : []), startStep, journeyStep, removeStep];
}
