import type { OpsContext } from '../engine/engine.js';
import { readPreviousVersion } from '../engine/state/previous-version.js';
import type { Step, Undo } from '../engine/step.js';
import type { Candidates } from '../runtimes/runtime.js';
import { outputs } from './outputs.js';

/** Stops the Tenant Plane; its undo starts it again. */
export function stopTenantPlane(ctx: OpsContext, why: string): Step {
  return {
    name: 'stop',
    what: `stop the Tenant Plane ${why}`,
    run: async () => {
      await ctx.runtime.stop();
      return 'stopped';
    },
    undo: {
      name: 'start',
      what: 'start the Tenant Plane again',
      restarts: true,
      run: async () => {
        await ctx.runtime.start();
        return 'started';
      },
    },
  };
}

/**
 * Records the version an upgrade leaves, which a rollback with no target goes back to. An upgrade
 * that goes back puts the record back too: after it, a rollback still means the version before.
 */
export function recordPreviousVersion(ctx: OpsContext, version: string): Step {
  const { file } = ctx.previousVersion;
  let before: string | undefined;
  return {
    name: 'previous-version',
    what: `record ${version} in ${file}: the version a rollback goes back to`,
    atomic: true,
    run: async () => {
      before = readPreviousVersion(file);
      await ctx.previousVersion.write(version);
      return `${version} recorded`;
    },
    undo: {
      name: 'previous-version-back',
      what: `put back what ${file} said before`,
      restarts: false,
      run: async () => {
        await ctx.previousVersion.write(before);
        return before ? `${before} recorded again` : 'removed: there was none before';
      },
    },
  };
}

const configure = (ctx: OpsContext, version: string, revision?: number) =>
  `configure ${ctx.runtime.describe()} for ${version}${revision ? ` (revision ${revision})` : ''} and restart it`;

/**
 * Switches what runs to `version`. Its undo switches back to `back`; without one (the version
 * does not change, or nothing else is known to run) the switch cannot be put back.
 */
export function switchVersion(ctx: OpsContext, version: string, options: { back: string | undefined; revision?: number; name?: 'switch' | 'roll-back' }): Step {
  const step: Step = {
    name: options.name ?? 'switch',
    what: configure(ctx, version, options.revision),
    run: async () => {
      await ctx.runtime.switchTo(version, options.revision);
      return `${version} configured and started`;
    },
  };
  if (options.back === undefined) return { ...step, final: true };
  return { ...step, undo: switchBack(ctx, options.back) };
}

const switchBack = (ctx: OpsContext, back: string): Undo => ({
  name: 'roll-back',
  what: configure(ctx, back),
  restarts: true,
  switchesBack: true,
  run: async () => {
    await ctx.runtime.switchTo(back);
    return `${back} configured and started`;
  },
});

/**
 * Starts `version` beside what serves (`back`), with no traffic; its undo removes it, and `back`,
 * which never stopped serving, is configured again and confirmed.
 */
export function startCandidate(ctx: OpsContext, candidates: Candidates, version: string, back: string): Step {
  return {
    name: 'start-candidate',
    what: `configure ${ctx.runtime.describe()} for ${version} and start it ${candidates.describe()}, without traffic; ${back} serves meanwhile`,
    produces: [outputs.candidate],
    async run(facts) {
      const candidate = await candidates.start(version);
      facts.put(outputs.candidate, { candidate, tenantPlane: ctx.tenantPlane.at(candidate.healthUrl) });
      return `${version} started beside ${back}, answering at ${candidate.healthUrl}`;
    },
    undo: {
      name: 'discard-candidate',
      what: `stop and remove the candidate ${version}; configure ${back} again, which kept serving`,
      restarts: true,
      switchesBack: true,
      async run() {
        await candidates.discard(back);
        return `the candidate is removed; ${back} is configured and serves`;
      },
    },
  };
}

/** Moves the traffic to the candidate, checked; what served finishes its requests and stops. Its undo switches back to `back`. */
export function promoteCandidate(ctx: OpsContext, candidates: Candidates, version: string, back: string): Step {
  return {
    name: 'promote',
    what: `move the traffic to ${version}; ${back} finishes the requests it has and stops`,
    async run() {
      await candidates.promote(version, ctx.settings.healthTimeoutMs);
      return `${version} serves; ${back} is stopped`;
    },
    undo: switchBack(ctx, back),
  };
}
