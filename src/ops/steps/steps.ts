import path from 'node:path';
import { backupFilePattern } from '../../shared/names.js';
import { bake, takeBaseline, type Figures } from '../probes/bake.js';
import type { DatabaseWork } from '../backup/database-work.js';
import { StepFailed, type OpsContext, type Run, type Step, type Undo } from '../engine/engine.js';
import { crashOf, type Candidate, type Candidates, type Runtime } from '../runtimes/runtime.js';
import type { TenantPlane } from '../probes/tenant-plane.js';
import { waitHealthy } from '../probes/health.js';

/**
 * The steps operations are made of. Each says what it does and, where it changes something,
 * how that is put back; the engine runs them and takes the way back.
 */

/** Reads only: the checks that need the plan's versions, and the agents online before anything changes. */
export function preflight(ctx: OpsContext, check: (run: Run) => Promise<string>): Step {
  return {
    name: 'preflight',
    what: 'check that the target can be worked on; note the agents online',
    async run(run) {
      const detail = await check(run);
      run.agentBaseline = await ctx.tenantPlane.onlineAgents();
      if (run.agentBaseline) ctx.log.write(`agents online before the switch: ${Object.values(run.agentBaseline.agents).join(', ') || 'none'}`);
      return detail;
    },
  };
}

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

/** A verified backup of the database as it is before anything changes (kept, whatever follows). */
export function backupDatabase(database: DatabaseWork, version: string): Step {
  return {
    name: 'backup',
    what: `back up the database before anything changes: ${path.join(database.backupDir, backupFilePattern(version))}`,
    async run(run) {
      const backup = await database.backup(version);
      run.backup = backup.file;
      return backup.detail;
    },
  };
}

/** Restores a backup, all or nothing (the Tenant Plane stopped); its undo puts back the data it replaced. */
export function restoreDatabase(ctx: OpsContext, database: DatabaseWork, file: string, keepNew: boolean): Step {
  return {
    name: 'restore',
    what: `restore ${file}${keepNew ? ', carrying over the rows created since the backup' : ''}`,
    atomic: true,
    async run(run) {
      const restored = await database.restore(file, keepNew);
      run.restored = file;
      run.sinceBackup = restored.sinceBackup;
      return restored.detail;
    },
    undo: {
      name: 'undo-restore',
      what: 'stop the Tenant Plane and put back the data the restore replaced',
      restarts: false,
      async run(run) {
        await ctx.runtime.stop();
        const undone = await database.undoRestore();
        run.restoreUndone = undone.restored.name;
        return `put back ${undone.putBack.kind} ${undone.putBack.name}; the restored data is kept as ${undone.restored.kind} ${undone.restored.name}`;
      },
    },
  };
}

const configure = (ctx: OpsContext, version: string, revision?: number) => `configure ${ctx.runtime.describe()} for ${version}${revision ? ` (revision ${revision})` : ''} and restart it`;

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

/** A run's candidate, once started: where its gate and bake find it. */
export interface CandidateRef {
  started?: { candidate: Candidate; tenantPlane: TenantPlane };
}

/** What a gate checks: the candidate when there is one, else what runs. */
const checked = (ctx: OpsContext, ref: CandidateRef | undefined) => (): { runtime: Pick<Runtime, 'state' | 'runningVersion' | 'logsTail'>; tenantPlane: TenantPlane } => {
  if (!ref) return ctx;
  if (!ref.started) throw new Error('no candidate was started');
  return { runtime: ref.started.candidate, tenantPlane: ref.started.tenantPlane };
};

/**
 * Starts `version` beside what serves (`back`), with no traffic; its undo removes it, and `back`,
 * which never stopped serving, is configured again and confirmed.
 */
export function startCandidate(ctx: OpsContext, candidates: Candidates, version: string, back: string, ref: CandidateRef): Step {
  return {
    name: 'start-candidate',
    what: `configure ${ctx.runtime.describe()} for ${version} and start it ${candidates.describe()}, without traffic; ${back} serves meanwhile`,
    async run() {
      const candidate = await candidates.start(version);
      ref.started = { candidate, tenantPlane: ctx.tenantPlane.at(candidate.healthUrl) };
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

/**
 * The gate after a switch: the health endpoint answers "ok" for the version (failing at once
 * when it crashes), the version file inside what runs says it, and the recovery checklist
 * passes. On the way back to the known version (`decisive` false) the checklist is reported,
 * not acted on: there is nowhere safer to go.
 */
export function gate(ctx: OpsContext, version: string, options: { decisive: boolean; candidate?: CandidateRef }): Step[] {
  const { settings, log } = ctx;
  const on = checked(ctx, options.candidate);
  const where = options.candidate ? `the candidate's own health endpoint` : ctx.tenantPlane.healthUrl;
  const steps: Step[] = [
    {
      name: 'wait-healthy',
      what: `wait until ${where} answers "ok" for ${version} (up to ${Math.round(settings.healthTimeoutMs / 1000)} s)`,
      async run(run) {
        const { runtime, tenantPlane } = on();
        const wait = await waitHealthy({ probe: () => tenantPlane.health(), version, timeoutMs: settings.healthTimeoutMs, crashed: crashOf(runtime) });
        run.health = wait.evidence;
        if (!wait.healthy) {
          const logsTail = await runtime.logsTail(20).catch(() => undefined);
          if (logsTail) log.write(`   last log lines of the Tenant Plane:\n${logsTail.split('\n').map((l) => `     | ${l}`).join('\n')}`);
          throw new StepFailed('wait-healthy', wait.reason, undefined, wait.evidence, logsTail);
        }
        return `healthy after ${wait.elapsedMs} ms: ${wait.evidence?.body ?? ''}`;
      },
    },
    {
      name: 'verify',
      what: `check the version file inside the running ${options.candidate ? 'candidate' : 'Tenant Plane'}`,
      async run() {
        const running = await on().runtime.runningVersion();
        if (running !== version) throw new Error(`the running Tenant Plane's /app/.atlas-version says ${running ?? 'nothing'}, not ${version}`);
        return `/app/.atlas-version is ${running}`;
      },
    },
  ];
  if (!ctx.tenantPlane.checklist) return steps;
  steps.push({
    name: 'checklist',
    what: `the recovery checklist${options.candidate ? ' on the candidate' : ''}: health, version in /api/admin/license, a login, the agents back`,
    async run(run) {
      const result = await on().tenantPlane.checklist!(version, run.agentBaseline);
      for (const c of result.checks) log.write(`   ${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.evidence}`);
      if (!result.ok && options.decisive) throw new Error(result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.evidence}`).join('; '));
      return result.ok ? `${result.checks.length} checks passed` : 'checks failed (see above); kept going back to the known version';
    },
  });
  return steps;
}

const figuresLine = (f: Figures) =>
  `${Object.entries(f.routes).map(([route, r]) => `${route} p95 ${r.p95} ms (${r.n})`).join(', ')}; 5xx: ${f.errors5xx ?? 'not read'}; agents online: ${f.agentsOnline ?? 'not read'}`;

/** Before anything changes, on the version that runs: what the bake compares the new version with. */
export function baselineStep(ctx: OpsContext): Step {
  const s = ctx.settings.bake;
  return {
    name: 'baseline',
    what: `probe ${ctx.tenantPlane.probeRoutes.join(', ')} for ${s.baselineMs / 1000} s (a round every ${s.roundMs} ms) and read the server's counters`,
    async run(run) {
      run.baseline = await takeBaseline(ctx.tenantPlane, s);
      const webhooks = run.baseline.webhooksDelivering.map((w) => w.name);
      return `${figuresLine(run.baseline)}; webhooks delivering: ${webhooks.join(', ') || 'none'}`;
    },
  };
}

/**
 * After the gate: the new version watched for `ATLAS_BAKE_SECONDS`, against the baseline (see
 * bake.ts). The first decisive signal fails the step, and with it the upgrade.
 */
export function bakeStep(ctx: OpsContext, version: string, candidate?: CandidateRef): Step {
  const s = ctx.settings.bake;
  const on = checked(ctx, candidate);
  return {
    name: 'bake',
    what: `watch ${version}${candidate ? ', the candidate,' : ''} for ${s.seconds} s: health, authenticated reads, webhooks, latency (p95 within x${s.maxLatencyRatio} of the baseline), 5xx answers`,
    async run(run) {
      if (!run.baseline) throw new Error('no baseline was taken to compare with');
      const report = await bake(on().tenantPlane, version, run.baseline, s, (line) => ctx.log.write(line));
      run.bake = report;
      ctx.log.write(`   baseline: ${figuresLine(report.baseline)}`);
      ctx.log.write(`   bake:     ${figuresLine(report.bake)}`);
      if (report.signals.length) throw new Error(report.signals.join('; '));
      return `nothing to roll back for in ${s.seconds} s`;
    },
  };
}
