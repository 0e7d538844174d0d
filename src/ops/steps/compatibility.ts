import { compareSchema, describeBreaking, type BreakingMigration } from '../../db/migrations.js';
import { isObject, isStringList, parseJson } from '../../shared/json.js';
import { compareVersions, isVersion } from '../../shared/version.js';
import { backupMigrations } from '../backup/backup-migrations.js';
import { listBackups } from '../backup/retention.js';
import type { OpsContext } from '../engine/engine.js';
import { Skipped, type Step } from '../engine/step.js';
import { Refused, type Next } from '../core/errors.js';
import type { ReleaseMetadata } from '../core/release-metadata.js';

/**
 * The checks before a switch, which only read and refuse (changing nothing): the upgrade path
 * the target declares, and whether the target can run on the schema it would find.
 */

/** The target's release metadata, or why it cannot be had. */
async function metadataOf(ctx: OpsContext, version: string): Promise<{ metadata: ReleaseMetadata } | { missing: string }> {
  const { runtime } = ctx;
  if (!runtime.releaseMetadata) return { missing: `on ${runtime.name} the cluster pulls the image: its release metadata is not read from here` };
  const metadata = await runtime.releaseMetadata(version);
  if (!metadata) return { missing: `${version} carries no release metadata (built before releases did)` };
  if (metadata.version !== version) throw new Refused(`the release metadata of ${version} is that of ${metadata.version}: a mislabelled build`);
  return { metadata };
}

/** An upgrade from a version older than the target's minimumUpgradeFrom is refused, naming the stop. */
export function pathCheck(ctx: OpsContext, from: string, to: string): Step {
  return {
    name: 'path-check',
    what: `check that ${to} can be upgraded to from ${from} (its minimumUpgradeFrom)`,
    readsOnly: true,
    async run() {
      const found = await metadataOf(ctx, to);
      if ('missing' in found) return new Skipped(found.missing);
      const minimum = found.metadata.minimumUpgradeFrom;
      if (!minimum) return `${to} declares no minimum version to upgrade from`;
      if (compareVersions(from, minimum) < 0) {
        throw new Refused(`${to} cannot be upgraded to from ${from}: it needs ${minimum} or newer (minimumUpgradeFrom in its release.json)`, [
          { do: 'upgrade', to: minimum },
        ]);
      }
      return `${to} can be upgraded to from ${minimum} or newer; ${from} runs`;
    },
  };
}

interface TargetAnswer {
  changed: string[];
  breaking: BreakingMigration[];
}

/** A target's `tpctl migrate status --json`, read as hostile input. Releases before verdicts were recorded answer without `breaking`. */
function parseTargetAnswer(stdout: string, version: string): TargetAnswer {
  const parsed = parseJson(stdout);
  if (!parsed) throw new Refused(`${version}'s tpctl migrate status did not answer JSON`);
  const o = parsed.value;
  const changed = isObject(o) && Array.isArray(o.changed) ? o.changed.map((c) => (isObject(c) ? c.name : undefined)) : undefined;
  const breaking = isObject(o) ? (o.breaking ?? []) : undefined;
  const validBreaking =
    Array.isArray(breaking) && breaking.every((b) => isObject(b) && typeof b.name === 'string' && typeof b.appliedBy === 'string' && isStringList(b.rules));
  if (isObject(o) && isVersion(o.version) && o.version !== version) throw new Refused(`${version}'s own tpctl says it is ${o.version}: a mislabelled build`);
  if (!isObject(o) || o.version !== version || !isStringList(changed) || !validBreaking) {
    throw new Refused(`${version}'s tpctl migrate status answered something else than its schema status`);
  }
  return { changed, breaking: breaking as BreakingMigration[] };
}

/** The newest backup taken at or before `version`: the one to restore for running it again. */
function backupForVersion(backupDir: string, version: string): string | undefined {
  return listBackups(backupDir).find((b) => b.manifest && isVersion(b.version) && compareVersions(b.version, version) <= 0)?.file;
}

function refuse(ctx: OpsContext, to: string, answer: TargetAnswer, where: string, back: boolean): never {
  const why = [
    ...(answer.breaking.length ? [describeBreaking(answer.breaking)] : []),
    ...(answer.changed.length
      ? [`${answer.changed.join(', ')} differ${answer.changed.length === 1 ? 's' : ''} from ${to}'s file of the same name (checksum)`]
      : []),
  ].join('; ');
  const next: Next[] =
    back && ctx.database ? [{ do: 'rollback-restoring', to, backup: backupForVersion(ctx.database.backupDir, to), backupDir: ctx.database.backupDir }] : [];
  throw new Refused(`${to} cannot run on ${where}: ${why}`, next);
}

/**
 * Whether the target can run on the schema it would find: the live one, checked by the
 * target's own code; or, with a restore, the one the backup holds, against the target's
 * release metadata. Going back (`back`), the refusal names the backup to restore. Refused when a newer version applied a migration that is not additive, or
 * an applied migration differs from the target's file of that name.
 */
export function schemaCheck(ctx: OpsContext, to: string, options: { restore: string | undefined; back: boolean }): Step {
  const { restore, back } = options;
  const { runtime, database } = ctx;
  return {
    name: 'schema-check',
    what: restore
      ? `check that ${to} can run on the schema ${restore} holds`
      : `check with ${to}'s own tpctl migrate status that it can run on the schema as it is`,
    readsOnly: true,
    async run() {
      if (restore) {
        const found = await metadataOf(ctx, to);
        if ('missing' in found) return new Skipped(found.missing);
        const answer = compareSchema(await backupMigrations(restore), found.metadata.migrations);
        if (answer.breaking.length || answer.changed.length)
          refuse(ctx, to, { breaking: answer.breaking, changed: answer.changed.map((c) => c.name) }, `the schema ${restore} holds`, back);
        return `${to} can run on the schema ${restore} holds${answer.pending.length ? ` (it applies ${answer.pending.join(', ')})` : ''}`;
      }
      if (!runtime.targetSchemaStatus)
        return new Skipped(
          `on ${runtime.name} the target's code runs in the cluster, not here; ${to} refuses to start on a schema it cannot run on, and the health gate then goes back`,
        );
      if (!database?.dbUrl)
        return new Skipped(
          `${database ? 'the embedded database is open by the running Tenant Plane' : 'the database is not reachable from here'}; ${to} refuses to start on a schema it cannot run on, and the health gate then goes back`,
        );
      const answer = parseTargetAnswer(await runtime.targetSchemaStatus(to, database.dbUrl), to);
      if (answer.breaking.length || answer.changed.length) refuse(ctx, to, answer, 'the schema as it is', back);
      return `${to} can run on the schema as it is`;
    },
  };
}
